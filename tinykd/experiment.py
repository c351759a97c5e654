"""The founding report's Table 1 protocol, shared by ``examples/mnist_adv_kd.py`` and ``reproduce_table.py``.

1. Load the data, hold out a stratified validation split of the training set, and fingerprint the result.
2. Train the teacher (dropout, jitter) on the labels; reuse a checkpoint only when it was produced from the same
   data fingerprint with the same settings.
3. Train the student alone on the labels: this is "S (initial)"; every student variant starts from it. Compare
   teacher and S (initial) on validation and flag a teacher that is not better.
4. For each seed, continue the initial student for the same budget with each objective: labels only
   ("S w/o KD"), KD, adversarial KD (the report's recipe and variants that avoid its traps).
5. Count test misclassifications once per final model (every model keeps its last weights: a fixed budget,
   nothing chosen); report mean ± std over seeds, validation errors per epoch, parameter counts and wall time.
   Results are rewritten after every finished model.

Steps 1 and 2 (and the training of S (initial)) are ``tinykd/prepare.py``'s, which every example shares.
"""
import dataclasses
import os
import re
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import plots, registry, report
from .backend import debug, resolve, to_device, to_host
from .checks import check_int, check_real
from .discriminator import Discriminator
from .distill import check_pair, row_classes
from .layers import MLP
from .optim import Adam
from .prepare import ConfigError, log, logit_stats, model_record, prepare, train_or_load
from .train import cosine_lr, errors, fit
from .transfer import UNLABELLED, partly_labelled

SIZES = {"mnist": ([784, 1200, 1200, 10], [784, 800, 800, 10]),
         "notmnist": ([784, 1200, 1200, 1200, 10], [784, 800, 800, 800, 10]),
         "svhn": ([784, 4096, 4096, 10], [784, 3072, 3072, 10])}


LABELLED_SEED = 0   # which rows keep their labels in the few-labels regime


def variant_id(name):
    """The short id of a variant, given its id or its table name."""
    vid = registry.find(name)
    if vid is None:
        raise ConfigError(f"unknown variant {name!r}: expected one of {', '.join(registry.BY_ID)}")
    return vid


@dataclass
class Config:
    dataset: str = "mnist"             # the recipe (network sizes) and, without `data`, the named data set
    data: str = None                   # your own data: a folder of MNIST-format IDX files or an .npz file
    data_dir: str = None               # where the named data set's files are (only there; no fallback)
    teacher_sizes: list = None
    student_sizes: list = None
    teacher_epochs: int = 60
    student_epochs: int = 20           # S (initial): the student alone on the labels
    finetune_epochs: int = 15          # every variant's budget, starting from S (initial)
    batch_size: int = 128
    teacher_lr: float = 1e-3
    student_lr: float = 1e-3
    finetune_lr: float = 3e-4
    teacher_dropout: float = 0.5
    teacher_input_dropout: float = 0.2
    jitter: int = 2
    seeds: int = 5
    ablation_seeds: int = 1
    variants: list = field(default_factory=lambda: registry.in_preset("full"))
    val: int = None                    # validation images held out of training; None: 5,000 per 60,000 (1/12)
    val_seed: int = 0
    subset: int = 0                    # train on the first N training images only (smoke tests); 0: all
    transfer_size: int = 0             # the students train on the first N training images (the teacher on all)
    labelled: float = 1.0              # fraction of the students' rows that keep their label (stratified); the rest
                                       # are unlabelled (-1), and S (initial) trains on the labelled rows only
    backend: str = None                # None: $TINYKD_BACKEND, else numpy
    split_test: float = None           # notMNIST without its training split
    checkpoint_dir: str = "checkpoints"
    out_dir: str = "results"
    preset: str = "full"

    def __post_init__(self):
        if self.dataset not in SIZES:
            raise ConfigError(f"unknown data set {self.dataset!r}: expected one of {sorted(SIZES)}")
        t, s = SIZES[self.dataset]
        self.teacher_sizes = [int(v) for v in (self.teacher_sizes or t)]
        self.student_sizes = [int(v) for v in (self.student_sizes or s)]
        self.variants = [variant_id(v) for v in self.variants]
        if not self.variants:
            raise ConfigError("no variants to run")
        twice = sorted({v for v in self.variants if self.variants.count(v) > 1})
        if twice:
            raise ConfigError(f"variants listed more than once: {', '.join(twice)}; list each once")
        for name in ("teacher_epochs", "student_epochs", "finetune_epochs", "seeds", "ablation_seeds", "batch_size",
                     "jitter", "subset", "transfer_size", "val_seed") + (() if self.val is None else ("val",)):
            # every variant trains from S (initial) for finetune_epochs: 0 would train teacher and S (initial) first
            # and only then find it has nothing to run (a teacher or S (initial) of 0 epochs is an untrained network)
            check_int(name, getattr(self, name), 1 if name in ("seeds", "batch_size", "finetune_epochs") else 0,
                      ConfigError)
        for name in ("teacher_lr", "student_lr", "finetune_lr"):
            check_real(name, getattr(self, name), low_open=True, error=ConfigError)
        for name in ("teacher_dropout", "teacher_input_dropout"):
            check_real(name, getattr(self, name), high=1.0, error=ConfigError)
        if not (isinstance(self.labelled, (int, float)) and not isinstance(self.labelled, bool)
                and 0 < self.labelled <= 1):
            raise ConfigError(f"labelled must be a fraction in (0, 1], got {self.labelled!r}")
        if self.labelled < 1:
            refused = [v for v in self.variants if not registry.BY_ID[v].unlabelled]
            if refused:
                raise ConfigError(f"variants {', '.join(refused)} cannot train on unlabelled rows; with labelled < 1 "
                                  "run only " + ", ".join(k for k, v in registry.BY_ID.items() if v.unlabelled))
        if self.split_test is not None and (self.dataset != "notmnist" or self.data):
            raise ConfigError("split_test (--split-test) is only for the named notMNIST data set, whose training "
                              "split may be missing")
        if self.split_test is not None and not (isinstance(self.split_test, (int, float))
                                                and 0 < self.split_test < 1):
            raise ConfigError(f"split_test must be a fraction in (0, 1), got {self.split_test!r}")
        if self.data and self.data_dir:
            raise ConfigError("give either data (--data, your own files) or data_dir (--data-dir, where the named "
                              "data set is), not both")
        try:
            resolve(self.backend)
            debug()   # a bad TINYKD_DEBUG is a setting's mistake too: said now, not deep inside the first step
        except (RuntimeError, ValueError, TypeError) as e:
            raise ConfigError(str(e)) from None
        self.backend = self.backend or os.environ.get("TINYKD_BACKEND") or "numpy"

    def deviations(self):
        """What this configuration changes from its preset's reference run, in what shapes the numbers. (A split of
        notMNIST's test file is part of the results' name instead: ``results_base``.)"""
        reference = Config(dataset=self.dataset, backend="numpy", **preset(self.preset))
        ignore = {"data_dir", "checkpoint_dir", "out_dir", "backend", "preset", "split_test"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ignore and getattr(self, f.name) != getattr(reference, f.name)}


    def results_base(self, data_name):
        """The results' file name without extension, before any ``_custom-<hash>``: ``mnist_table``,
        ``mnist_quick_table``, ``notmnist_split0.5_table``; with your own data, named after it (``data_name``, the
        loaded data set's name): ``digits_quick_table``."""
        split = f"_split{self.split_test:g}" if self.split_test else ""
        return f"{data_label(self, data_name)}{split}{'_' + self.preset if self.preset != 'full' else ''}_table"


def data_label(cfg, data_name):
    """What a run's results are named after: the named data set, or your own data's name (``--data``) made safe
    for a file name (a result on your files is never named after MNIST)."""
    if not cfg.data:
        return cfg.dataset
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(data_name)).strip("-") or "data"


def data_deviations(cfg, ds):
    """What the loaded files change from the preset's reference run (the settings' changes are
    ``Config.deviations``): files of a named data set that are not its canonical ones (``Dataset.canonical``)
    make a custom run, named by their fingerprint, never written under the reference name. Your own data
    (``data``) is a deviation already."""
    if cfg.data or ds.canonical:
        return {}
    return {"data_files": f"not the canonical {ds.name} files (fingerprint {ds.fingerprint()[:16]})"}


# The quick preset (about 3 minutes on 2 cores) keeps the full run's networks and objectives but gives the students
# a 5,000-image transfer set: a 10-epoch teacher knows far more than 5,000 labels teach, so KD's gain shows within
# seconds per run, with 3 seeds to measure it against (the full run's gain needs its 15 epochs on 55,000 images).
# The labels5 preset is the few-labels regime on the full run's budget: 5% of the students' training rows
# keep their labels, S (initial) learns from those alone, and every variant sees all rows (soft targets everywhere,
# labels on 5%).
PRESETS = {"full": {},    # each preset's settings; which variants it runs is the registry's (``preset``)
           "quick": dict(teacher_epochs=10, student_epochs=5, finetune_epochs=10, seeds=3, transfer_size=5000),
           "labels5": dict(labelled=0.05)}


def preset(name):
    """The ``Config`` keywords of the preset ``name``: its settings, its name and the variants the registry lists
    for it."""
    return dict(PRESETS[name], preset=name, variants=registry.in_preset(name))


# ------------------------------------------------------------------------------------------------ the protocol
def teacher_check(t, s, student="S (initial)"):
    """``teacher_not_better`` (on validation) and the line that says so, or (None, reason) without validation.
    ``t`` and ``s`` hold ``validation_errors`` of the teacher and of the ``student`` it is compared with."""
    if t["validation_errors"] is None:
        return None, f"no validation split (val = 0): whether the teacher beats {student} was not checked"
    if t["validation_errors"] >= s["validation_errors"]:
        return True, (f"WARNING: the teacher is NOT better than {student} on validation ({t['validation_errors']:g} "
                      f"vs {s['validation_errors']:g} errors); KD from it is still run, but flagged")
    return False, (f"the teacher beats {student} on validation ({t['validation_errors']:g} vs "
                   f"{s['validation_errors']:g} errors)")


def run(cfg):
    """Run the protocol; returns the results record, written as JSON and Markdown after every finished model."""
    t_start = time.perf_counter()
    xp = resolve(cfg.backend)
    ds, arrays, teacher, d, t_rec = prepare(cfg)
    deviations = {**cfg.deviations(), **data_deviations(cfg, ds)}
    out = report.stem(cfg.out_dir, cfg.results_base(d["name"]), deviations, d["fingerprint"])   # the data loaded
    x, y, xv, yv, xt, yt = arrays
    if cfg.transfer_size:      # the students' transfer set: the first rows of the teacher's training set
        x, y = x[:cfg.transfer_size], y[:cfg.transfer_size]
    ignore_label, extra = None, None
    x0, y0 = x, y              # what S (initial) learns from: every row, or (few labels) the labelled ones
    if cfg.labelled < 1:
        y_host = partly_labelled(to_host(y), cfg.labelled, seed=LABELLED_SEED)
        y, keep = to_device(y_host, xp), to_device(np.flatnonzero(y_host != UNLABELLED), xp)
        x0, y0, ignore_label = x[keep], y[keep], UNLABELLED
        extra = {"labelled": cfg.labelled, "labelled_seed": LABELLED_SEED}
        log(f"few labels: {int(keep.shape[0]):,} of {int(y.shape[0]):,} student training rows keep their label")
    student0, trained = train_or_load(cfg, d["fingerprint"], "student", cfg.student_sizes, cfg.student_epochs,
                                      cfg.student_lr, 0.0, 0.0, 0, (x0, y0, xv, yv), seed=0,
                                      transfer_rows=cfg.transfer_size, extra_identity=extra)
    check_pair(teacher, student0)
    # the logits' drift is measured on the validation split; without one, on the students' training rows (and the
    # record and the tables say which)
    x_stats, stats_on = (xv, "validation") if xv is not None else (x, "training")
    s_rec = {**model_record(student0, trained, arrays), **logit_stats(student0.logits(x_stats))}
    flag, line = teacher_check(t_rec, s_rec)
    record = {"config": asdict(cfg), "deviations": deviations, "data": d, "n_test": d["n_test"],
              "machine": report.machine(), "logit_stats_on": stats_on,
              "teacher": t_rec, "student_initial": s_rec, "teacher_not_better": flag, "teacher_check": line,
              "variants": {}, "complete": False}
    log(f"teacher errors {t_rec['errors']}/{d['n_test']}; student (initial) errors {s_rec['errors']}/{d['n_test']}")
    log(line)
    _write(out, record, cfg, time.perf_counter() - t_start)

    teacher_logits = teacher.logits(x)
    teacher_val_logits = teacher.logits(xv) if xv is not None else None
    initial_state = student0.state_dict()
    student0_logits = student0.logits(x)
    classes = row_classes(y, teacher_logits, ignore_label)   # what a conditional discriminator is shown
    ctx = {"ignore_label": ignore_label, "steps_per_epoch": -(-int(x.shape[0]) // cfg.batch_size)}
    for vid in cfg.variants:
        variant = registry.BY_ID[vid]
        runs = []
        for seed in range(registry.n_seeds(vid, cfg.seeds, cfg.ablation_seeds)):
            student = MLP(cfg.student_sizes, seed=seed, backend=xp)
            student.load_state_dict(initial_state)
            d_info, disc = {}, None
            if variant.discriminator is not None:
                disc, d_info = _pretrained_discriminator(variant.discriminator, seed, teacher_logits, student0_logits,
                                                         classes, xp)
            objective = variant.make(disc, ctx)
            t0 = time.perf_counter()
            history = fit(student, objective, Adam(student, lr=cfg.finetune_lr), x, y, cfg.finetune_epochs,
                          cfg.batch_size, teacher=teacher_logits, x_val=xv, y_val=yv,
                          lr_schedule=cosine_lr(cfg.finetune_lr, cfg.finetune_epochs), seed=100 + seed,
                          label=f"{vid} seed {seed}", progress=False, explode_factor=None,
                          epoch_end=_drift_probe(disc, xv, yv, teacher_val_logits))
            run_rec = {"seed": seed, "errors": errors(student, xt, yt),
                       "validation_errors": errors(student, xv, yv) if xv is not None else None,
                       "seconds": time.perf_counter() - t0, "final_loss": history[-1]["loss"] if history else None,
                       "history": history, **logit_stats(student.logits(x_stats)), **d_info}
            if disc is not None:
                run_rec["d_accuracy_after"] = disc.accuracy(teacher_logits, student.logits(x),
                                                            classes if disc.conditional else None)
            runs.append(run_rec)
            record["variants"][vid] = {"name": variant.name, "objective": objective.describe(), "runs": runs,
                                       **report.mean_std([r["errors"] for r in runs])}
            _write(out, record, cfg, time.perf_counter() - t_start)
            log(f"  {variant.name:48s} seed {seed}: {run_rec['errors']:5d} errors  ({run_rec['seconds']:.0f} s, "
                 f"mean logit {run_rec['mean_logit']:.3g}, max |logit| {run_rec['max_abs_logit']:.3g})")
    record["complete"] = True
    md = _write(out, record, cfg, time.perf_counter() - t_start)
    print(md)
    log(f"results: {out}.json and {out}.md")
    plots.draw_if_possible(out + ".json")
    return record


def _drift_probe(disc, xv, yv, teacher_val_logits):
    """Per-epoch measurements of a student variant on the validation set: its logits' mean and largest magnitude
    (the adversarial drift) and, with a discriminator, how well it still tells teacher from student."""
    if xv is None:
        return None

    def probe(student):
        logits = student.logits(xv)
        out = logit_stats(logits)
        if disc is not None:
            out["d_accuracy"] = disc.accuracy(teacher_val_logits, logits, yv if disc.conditional else None)
        return out
    return probe


def _pretrained_discriminator(spec, seed, teacher_logits, student0_logits, classes, xp):
    """A discriminator built from ``spec`` and trained for its ``pretrain_epochs`` on teacher (0) vs initial-student
    (1) logits of the training set, per seed (a conditional one also sees each row's class)."""
    spec = dict(spec)
    epochs = spec.pop("pretrain_epochs")
    d = Discriminator(teacher_logits.shape[1], seed=seed, backend=xp, **spec)
    acc = d.fit(teacher_logits, student0_logits, epochs=epochs, batch_size=256, holdout=0.2, seed=seed,
                classes=classes if d.conditional else None)
    return d, {"d_heldout_accuracy": acc, "d_pretrain_epochs": epochs}


def _write(out, record, cfg, seconds):
    record["seconds_total"] = seconds
    record["what_it_shows"] = what_it_shows(record)
    md = markdown(record, cfg)
    report.write(out, record, md)
    return md


def markdown(record, cfg):
    """The Markdown table of a Table-1 record (complete or not; ``_write`` has put ``what_it_shows`` in it)."""
    v = record["variants"]
    n = record["n_test"]
    # where the logit statistics were measured (a record written before this was recorded: on validation)
    on = {"validation": "val.", "training": "training"}[record.get("logit_stats_on", "validation")]
    main_cols = registry.headline()
    head = ["T", "S (initial)"] + [c for c, k in main_cols if k in v]
    t, s = record["teacher"], record["student_initial"]
    row = [str(t["errors"]), str(s["errors"])] + [report.fmt(v[k]) for _, k in main_cols if k in v]
    lines = [f"Test misclassifications out of {n:,} ({cfg.dataset} recipe; students: mean ± std over seeds; every "
             "model's last weights, counted once on the test set).", ""]
    lines += report.data_lines(record["data"], cfg.preset, record["deviations"], record.get("machine"))
    if cfg.transfer_size:
        lines.append(f"Transfer set: the students train on the first {cfg.transfer_size:,} training images only; the "
                     "teacher on all of them (its knowledge reaches the students through its soft targets).")
    if not record["complete"]:
        lines += ["", "**Incomplete: the run is still going or stopped early; the rows below are what finished.**"]
    flag = record["teacher_not_better"]
    lines += ["", f"**{record['teacher_check']}**" if flag else record["teacher_check"][0].upper() +
              record["teacher_check"][1:] + ".", "",
              "| " + " | ".join(head) + " |", "|" + "---|" * len(head), "| " + " | ".join(row) + " |", "",
              f"Validation errors (out of {record['data']['n_val']:,}): T {t['validation_errors']}, S (initial) "
              f"{s['validation_errors']}." if t["validation_errors"] is not None else
              "No validation split: no validation errors, and the logit statistics below are measured on the "
              "students' training images.", "",
              "| student variant (from S initial, same budget) | id | test errors | validation errors | seeds | "
              f"mean logit ({on}) | max abs logit ({on}) | D held-out acc. | s per run |",
              "|---|---|---|---|---|---|---|---|---|"]
    for vid, rec in v.items():
        runs = rec["runs"]
        acc = [r["d_heldout_accuracy"] for r in runs             # only a discriminator that was pre-trained
               if r.get("d_pretrain_epochs", 3) > 0 and "d_heldout_accuracy" in r]
        val = [r["validation_errors"] for r in runs if r["validation_errors"] is not None]
        lines.append(f"| {rec['name']} | `{vid}` | {report.fmt(rec)} | "
                     f"{report.fmt(report.mean_std(val)) if val else '–'} | {rec['n']} | "
                     f"{np.mean([r['mean_logit'] for r in runs]):.3g} | "
                     f"{np.max([r['max_abs_logit'] for r in runs]):.3g} | "
                     f"{f'{np.mean(acc):.3f}' if acc else '–'} | {np.mean([r['seconds'] for r in runs]):.0f} |")
    timing = {k: ("loaded from its checkpoint, " if m["loaded"] else "") + f"trained in {m['seconds'] / 60:.1f} min" +
              (f" over two runs, resumed after epoch {m['resumed_after_epoch']}" if m.get("resumed_after_epoch")
               else "") for k, m in (("teacher", t), ("S (initial)", s))}
    lines += ["", f"Parameters (weights only, as the report counts): teacher {t['params']:,}, student "
                  f"{s['params']:,}. Wall time of this run: {record['seconds_total'] / 60:.1f} min (teacher "
                  f"{timing['teacher']}; S (initial) {timing['S (initial)']})."]
    lines += comparison(record)
    kd, wo = registry.BASELINE.id, registry.LABELS_ONLY.id
    if kd in v and wo in v:
        gap = report.pooled_gap(v[kd], v[wo])
        if gap is not None:
            diff, sd, ratio = gap
            lines.append(f"KD vs w/o KD: {abs(diff):.1f} {'fewer' if diff >= 0 else 'more'} errors with KD; pooled "
                         f"std {sd:.1f} ({ratio:+.1f} std).")
    lines += ["", "What this run shows:"] + [f"- {line}" for line in record["what_it_shows"]]
    return "\n".join(lines) + "\n"


def comparison(record):
    """The methods beside KD, each against KD on the same run: errors, the difference to KD in errors and in pooled
    standard deviations (negative: fewer errors than KD) and seconds per epoch relative to KD's."""
    v = record["variants"]
    kd, compared = registry.BASELINE.id, registry.compared()
    others = [k for k in [registry.LABELS_ONLY.id] + compared if k in v]
    if kd not in v or not any(k in v for k in compared):
        return []

    def per_epoch(rec):
        return np.mean([r["seconds"] / max(len(r["history"]), 1) for r in rec["runs"]])
    kd_epoch = per_epoch(v[kd])
    lines = ["", "Against KD, from the same S (initial) with the same budget (test errors; method − KD in errors "
                 "and, in brackets, in pooled standard deviations: negative means fewer errors than KD):", "",
             "| method | id | paper | student matches | test errors | − KD (pooled std) | s/epoch vs KD |",
             "|---|---|---|---|---|---|---|"]
    for k in [kd] + others:
        rec, var = v[k], registry.BY_ID[k]
        gap = report.pooled_gap(rec, v[kd]) if k != kd else None
        vs = "–" if gap is None else f"{-gap[0]:+.1f} ({-gap[2]:+.1f})"
        lines.append(f"| {rec['name']} | `{k}` | {var.paper} | {var.matches} | {report.fmt(rec)} | "
                     f"{vs} | {per_epoch(rec) / kd_epoch:.2f} |")
    return lines + [""]


def shorter_budget(record):
    """How this run's budget falls short of the full run's, as phrases (empty when it does not; None when the
    record has no configuration to tell): fewer epochs for any network, a subset, a smaller transfer set."""
    c = record.get("config")
    if not c:
        return None
    full = Config(dataset=c["dataset"], backend="numpy")
    out = [f"{k} {c[k]} (full run: {getattr(full, k)})" for k in ("teacher_epochs", "student_epochs", "finetune_epochs")
           if c[k] < getattr(full, k)]
    if c.get("subset"):
        out.append(f"subset {c['subset']:,} (full run: every training image)")
    if c.get("transfer_size"):
        out.append(f"the students' transfer set of {c['transfer_size']:,} images (full run: every training image)")
    return out


def causes(record):
    """What this run shows that can make a student variant fall short: a teacher flagged as not better than
    S (initial) (or not checked), and a budget shorter than the full run's. Empty when it shows neither."""
    flag, out = record["teacher_not_better"], []
    if flag:
        out.append("the teacher was flagged as NOT better than S (initial) on validation")
    elif flag is None:
        out.append("the teacher was not compared with S (initial) (no validation split)")
    short = shorter_budget(record)
    if short:
        out.append("the budget is shorter than the full run's: " + ", ".join(short))
    return out


def what_it_shows(record):
    """Plain statements of whether this run shows what the full run shows: a teacher better than its student, KD
    better than the labels alone by more than the seeds' spread, the report's adversarial recipe drifting. Where it
    does not, the causes this run itself shows are named (``causes``), and no other is claimed."""
    v, s0 = record["variants"], record["student_initial"]
    flag = record["teacher_not_better"]
    seen = causes(record)
    if seen:
        because = "; what this run shows that can cause it: " + "; ".join(seen)
    elif shorter_budget(record) is None:   # a record without its configuration: claim nothing
        because = ""
    else:
        because = "; this run shows no cause (the teacher beats S (initial) and the budget is the full run's)"
    out = ["the teacher beats S (initial) on validation" if flag is False else
           "NOT that the teacher beats S (initial): " + ("it does not, on validation" if flag else
                                                        "there is no validation split to compare them on")]
    kd_id, wo_id, recipe = registry.BASELINE.id, registry.LABELS_ONLY.id, registry.REPORT_RECIPE.id
    if kd_id in v and wo_id in v:
        kd, wo = v[kd_id], v[wo_id]
        gain = wo["mean"] - kd["mean"]
        if kd["std"] is None or wo["std"] is None:
            out.append(f"NOT whether KD beats w/o KD: one seed each ({kd['mean']:.0f} vs {wo['mean']:.0f} test "
                       "errors) cannot separate a gain from seed noise")
        elif gain > max(kd["std"], wo["std"]):
            out.append(f"KD beats w/o KD by {gain:.1f} test errors, more than the spread of either's seeds "
                       f"(std {kd['std']:.1f} and {wo['std']:.1f})")
        elif -gain > max(kd["std"], wo["std"]):
            out.append(f"NOT that KD beats w/o KD: KD makes {-gain:.1f} MORE test errors, beyond the spread of the "
                       f"seeds (std {kd['std']:.1f} and {wo['std']:.1f})" + because)
        else:
            out.append(f"NOT that KD beats w/o KD: {gain:+.1f} test errors, within the spread of the seeds (std "
                       f"{kd['std']:.1f} and {wo['std']:.1f})" + because)
    for k in registry.compared():
        if k not in v or kd_id not in v:
            continue
        gap = report.pooled_gap(v[k], v[kd_id])
        name = v[k]["name"]
        if gap is None:
            out.append(f"NOT whether {name} differs from KD: one seed cannot separate a difference from seed noise")
        elif gap[2] >= 2:
            out.append(f"{name} beats KD by {gap[0]:.1f} test errors, {gap[2]:.1f} pooled std")
        elif gap[2] <= -2:
            out.append(f"{name} is WORSE than KD by {-gap[0]:.1f} test errors, {-gap[2]:.1f} pooled std")
        else:
            out.append(f"NOT that {name} differs from KD: {-gap[0]:+.1f} test errors, {-gap[2]:+.1f} pooled std "
                       "(under 2)")
    if recipe in v:
        peak = max(r["max_abs_logit"] for r in v[recipe]["runs"])
        if peak > 10 * s0["max_abs_logit"]:
            out.append(f"the report's adversarial recipe drifting: its largest |logit| reaches {peak:.3g}, against "
                       f"{s0['max_abs_logit']:.3g} for S (initial)")
        else:
            short = shorter_budget(record)
            out.append(f"NOT the report's adversarial recipe drifting: its largest |logit| is {peak:.3g}, against "
                       f"{s0['max_abs_logit']:.3g} for S (initial)" +
                       ("; the budget is shorter than the full run's: " + ", ".join(short) if short else ""))
    return out
