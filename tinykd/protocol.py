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

Steps 1 and 2 (and the training of S (initial)) are ``tinykd/prepare.py``'s, which every example shares; what a run
asks for is a ``tinykd.config.Config``; its tables and verdicts are ``tinykd/tables.py``'s.
"""
import time
from dataclasses import asdict

import numpy as np

from . import plots, registry, report
from .backend import resolve, to_device, to_host
from .config import data_deviations
from .discriminator import Discriminator
from .distill import check_pair, row_classes
from .layers import MLP
from .optim import Adam
from .prepare import log, logit_stats, model_record, prepare, train_or_load
from .tables import markdown, what_it_shows
from .train import cosine_lr, errors, fit
from .transfer import UNLABELLED, partly_labelled

LABELLED_SEED = 0   # which rows keep their labels in the few-labels regime


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
