"""The founding report's Table 1 protocol, shared by ``examples/mnist_adv_kd.py`` and ``reproduce_table.py``.

1. Train the teacher (dropout, jitter) on the labels; reuse its checkpoint when one exists.
2. Train the student alone on the labels: this is "S (initial)"; every student variant starts from it.
3. For each seed, continue the initial student for the same budget with each objective: labels only
   ("S w/o KD"), KD, adversarial KD (the report's recipe and variants that avoid its traps).
4. Count test misclassifications; report mean ± std over seeds, parameter counts and wall time.
"""
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import data as data_mod
from .backend import resolve
from .discriminator import Discriminator
from .distill import KD, AdversarialKD, Supervised, check_pair
from .layers import MLP
from .optim import Adam
from .train import cosine_lr, errors, fit

SIZES = {"mnist": ([784, 1200, 1200, 10], [784, 800, 800, 10]),
         "notmnist": ([784, 1200, 1200, 1200, 10], [784, 800, 800, 800, 10]),
         "svhn": ([784, 4096, 4096, 10], [784, 3072, 3072, 10])}

# name -> (table column or None, objective factory (discriminator or None) -> objective, discriminator spec)
# A discriminator spec is (features, hidden) or None.
VARIANTS = {
    "w/o KD": (lambda d: Supervised(), None),
    "KD": (lambda d: KD(temperature=4.0, weight=0.9, form="hinton"), None),
    "adv. KD (report: raw, fixed, minimax)": (lambda d: AdversarialKD(d, alpha=1.0, beta=0.1), ("raw", 0)),
    "adv. KD (raw, fixed, non-saturating)": (lambda d: AdversarialKD(d, alpha=1.0, beta=0.1,
                                                                      form="nonsaturating"), ("raw", 0)),
    "adv. KD (centred, fixed, minimax)": (lambda d: AdversarialKD(d, alpha=1.0, beta=0.1), ("centred", 0)),
    "adv. KD (logprob, alternating, non-saturating)": (
        lambda d: AdversarialKD(d, alpha=1.0, beta=0.1, form="nonsaturating", updates="alternating",
                                temperature=4.0), ("logprob", 64)),
    "adv. KD + KD (logprob, alternating)": (
        lambda d: AdversarialKD(d, alpha=0.1, beta=0.1, form="nonsaturating", updates="alternating",
                                kd_weight=0.9 * 16, temperature=4.0), ("logprob", 64)),
}
MAIN = ["w/o KD", "KD", "adv. KD (report: raw, fixed, minimax)", "adv. KD + KD (logprob, alternating)"]


@dataclass
class Config:
    dataset: str = "mnist"
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
    seeds: int = 3
    ablation_seeds: int = 1
    variants: list = field(default_factory=lambda: list(VARIANTS))
    subset: int = 0                    # train on the first N images only (smoke tests)
    backend: str = "numpy"
    data_dir: str = None
    split_test: float = None           # notMNIST without its training split
    checkpoint_dir: str = "checkpoints"
    out_dir: str = "results"
    preset: str = "full"

    def __post_init__(self):
        if self.dataset not in SIZES:
            raise ValueError(f"unknown data set {self.dataset!r}: expected one of {sorted(SIZES)}")
        t, s = SIZES[self.dataset]
        self.teacher_sizes = list(self.teacher_sizes or t)
        self.student_sizes = list(self.student_sizes or s)
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variants {unknown}: expected names from {list(VARIANTS)}")
        for name in ("teacher_epochs", "student_epochs", "finetune_epochs", "seeds", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (1 if name in ("seeds", "batch_size") else 0):
                raise ValueError(f"{name} must be a non-negative integer (seeds and batch_size >= 1), got {value!r}")


QUICK = dict(teacher_epochs=10, student_epochs=3, finetune_epochs=3, seeds=1, preset="quick",
             variants=["w/o KD", "KD", "adv. KD (report: raw, fixed, minimax)", "adv. KD + KD (logprob, alternating)"])


def _ckpt_name(cfg, role, sizes, epochs, extra=""):
    tag = "x".join(str(s) for s in sizes)
    sub = f"-sub{cfg.subset}" if cfg.subset else ""
    split = f"-split{cfg.split_test}" if cfg.split_test else ""
    return os.path.join(cfg.checkpoint_dir, f"{cfg.dataset}{sub}{split}-{role}-{tag}-e{epochs}{extra}.npz")


def _log(msg):
    print(msg, flush=True)


def train_or_load(cfg, role, sizes, epochs, lr, dropout, input_dropout, jitter, x, y, xt, yt, seed):
    """Train a network on the labels, or load it from its checkpoint when a finished one exists."""
    xp = resolve(cfg.backend)
    path = _ckpt_name(cfg, role, sizes, epochs, f"-d{dropout}-j{jitter}-s{seed}")
    if os.path.exists(path):
        model = MLP.from_checkpoint(path, backend=xp)
        _log(f"{role}: loaded {path}")
        return model, 0.0, True
    model = MLP(sizes, dropout=dropout, input_dropout=input_dropout, seed=seed, backend=xp)
    t0 = time.perf_counter()
    fit(model, Supervised(), Adam(model, lr=lr), x, y, epochs, cfg.batch_size, x_eval=xt, y_eval=yt,
        lr_schedule=cosine_lr(lr, epochs), jitter_pixels=jitter, seed=seed, label=role,
        checkpoint=path + ".partial", resume=True)
    seconds = time.perf_counter() - t0
    model.save(path)
    if os.path.exists(path + ".partial"):
        os.remove(path + ".partial")
    return model, seconds, False


def logit_stats(model, x):
    a = model.logits(x)
    return {"mean_logit": float(a.mean()), "max_abs_logit": float(abs(a).max())}


def prepare(cfg):
    """Load the data set (on the backend) and train or load the teacher: (dataset, (x, y, xt, yt), teacher, info)."""
    xp = resolve(cfg.backend)
    options = {"split_test": cfg.split_test} if cfg.split_test else {}
    ds = data_mod.load(cfg.dataset, data_dir=cfg.data_dir, **options)
    if cfg.subset:
        ds.x_train, ds.y_train = ds.x_train[:cfg.subset], ds.y_train[:cfg.subset]
    if ds.x_train.shape[1] != cfg.teacher_sizes[0]:
        raise ValueError(f"{cfg.dataset} images have {ds.x_train.shape[1]} inputs but the networks expect "
                         f"{cfg.teacher_sizes[0]}")
    dev = ds.to(xp)
    x, y, xt, yt = dev.x_train, dev.y_train, dev.x_test, dev.y_test
    _log(f"{ds!r} on {cfg.backend}; teacher {cfg.teacher_sizes}, student {cfg.student_sizes}")
    teacher, seconds, loaded = train_or_load(cfg, "teacher", cfg.teacher_sizes, cfg.teacher_epochs, cfg.teacher_lr,
                                             cfg.teacher_dropout, cfg.teacher_input_dropout, cfg.jitter,
                                             x, y, xt, yt, seed=0)
    info = {"errors": errors(teacher, xt, yt), "params": teacher.count_params(biases=False),
            "params_with_biases": teacher.count_params(), "seconds": seconds, "loaded": loaded}
    return ds, (x, y, xt, yt), teacher, info


def run(cfg):
    """Run the protocol; returns the results record (also written as JSON and Markdown under cfg.out_dir)."""
    t_start = time.perf_counter()
    xp = resolve(cfg.backend)
    ds, (x, y, xt, yt), teacher, teacher_info = prepare(cfg)
    n_test = int(xt.shape[0])
    student0, s_sec, s_loaded = train_or_load(cfg, "student", cfg.student_sizes, cfg.student_epochs,
                                              cfg.student_lr, 0.0, 0.0, 0, x, y, xt, yt, seed=0)
    check_pair(teacher, student0)
    record = {"config": asdict(cfg), "dataset": repr(ds), "note": ds.note, "n_test": n_test,
              "machine": {"python": platform.python_version(), "numpy": np.__version__,
                          "processor": platform.machine(), "cpus": os.cpu_count()},
              "teacher": teacher_info,
              "student_initial": {"errors": errors(student0, xt, yt), "params": student0.count_params(biases=False),
                                  "params_with_biases": student0.count_params(), "seconds": s_sec,
                                  "loaded": s_loaded, **logit_stats(student0, xt)},
              "variants": {}}
    _log(f"teacher errors {record['teacher']['errors']}/{n_test}; "
         f"student (initial) errors {record['student_initial']['errors']}/{n_test}")

    teacher_logits = teacher.logits(x)
    initial_state = student0.state_dict()
    discriminators = {}
    for name in cfg.variants:
        make, d_spec = VARIANTS[name]
        n_seeds = cfg.seeds if name in MAIN else min(cfg.seeds, cfg.ablation_seeds)
        runs = []
        for seed in range(n_seeds):
            student = MLP(cfg.student_sizes, seed=seed, backend=xp)
            student.load_state_dict(initial_state)
            d_info = {}
            d = None
            if d_spec is not None:
                d, d_info = _pretrained_discriminator(d_spec, seed, teacher_logits, student0, x, xp, discriminators)
            objective = make(d)
            t0 = time.perf_counter()
            history = fit(student, objective, Adam(student, lr=cfg.finetune_lr), x, y, cfg.finetune_epochs,
                          cfg.batch_size, teacher=teacher_logits, lr_schedule=cosine_lr(cfg.finetune_lr,
                                                                                         cfg.finetune_epochs),
                          seed=100 + seed, label=f"{name} seed {seed}", progress=False)
            run_rec = {"seed": seed, "errors": errors(student, xt, yt), "seconds": time.perf_counter() - t0,
                       "final_loss": history[-1]["loss"] if history else None, **logit_stats(student, xt), **d_info}
            if d is not None:
                run_rec["d_accuracy_after"] = d.accuracy(teacher_logits, student.logits(x))
            runs.append(run_rec)
            _log(f"  {name:48s} seed {seed}: {run_rec['errors']:5d} errors  ({run_rec['seconds']:.0f} s, "
                 f"mean logit {run_rec['mean_logit']:.3g}, max |logit| {run_rec['max_abs_logit']:.3g})")
        e = np.array([r["errors"] for r in runs], dtype=float)
        record["variants"][name] = {"objective": objective.describe(), "runs": runs, "mean": float(e.mean()),
                                    "std": float(e.std(ddof=1)) if len(e) > 1 else None, "n": len(e)}
    record["seconds_total"] = time.perf_counter() - t_start
    write(record, cfg)
    return record


def _pretrained_discriminator(spec, seed, teacher_logits, student0, x, xp, cache):
    """A discriminator trained on teacher (0) vs initial-student (1) logits of the training set, per seed."""
    features, hidden = spec
    d = Discriminator(teacher_logits.shape[1], hidden=hidden, features=features, temperature=4.0, lr=1e-3,
                      seed=seed, backend=xp)
    key = "student0"
    if key not in cache:
        cache[key] = student0.logits(x)
    acc = d.fit(teacher_logits, cache[key], epochs=3, batch_size=256, holdout=0.2, seed=seed)
    return d, {"d_heldout_accuracy": acc}


def fmt(v):
    if v["std"] is None:
        return f"{v['mean']:.0f}"
    return f"{v['mean']:.1f} ± {v['std']:.1f}"


def write(record, cfg):
    """Write ``<dataset>_table.json`` and ``.md`` under cfg.out_dir; return the Markdown."""
    os.makedirs(cfg.out_dir, exist_ok=True)
    stem = os.path.join(cfg.out_dir, f"{cfg.dataset}{'_' + cfg.preset if cfg.preset != 'full' else ''}_table")
    v = record["variants"]
    n = record["n_test"]
    main_cols = [("S (w/o KD)", "w/o KD"), ("S (KD)", "KD"), ("S (adv. KD, report's recipe)",
                                                              "adv. KD (report: raw, fixed, minimax)")]
    head = ["T", "S (initial)"] + [c for c, k in main_cols if k in v]
    row = [str(record["teacher"]["errors"]), str(record["student_initial"]["errors"])] + \
          [fmt(v[k]) for _, k in main_cols if k in v]
    lines = [f"Test misclassifications out of {n:,} ({cfg.dataset}; students: mean ± std over seeds).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head), "| " + " | ".join(row) + " |", "",
             "| student variant (from S initial, same budget) | errors | seeds | mean logit | max abs logit | "
             "D held-out acc. | s per run |", "|---|---|---|---|---|---|---|"]
    for name, rec in v.items():
        runs = rec["runs"]
        acc = [r["d_heldout_accuracy"] for r in runs if "d_heldout_accuracy" in r]
        lines.append(f"| {name} | {fmt(rec)} | {rec['n']} | {np.mean([r['mean_logit'] for r in runs]):.3g} | "
                     f"{np.max([r['max_abs_logit'] for r in runs]):.3g} | "
                     f"{f'{np.mean(acc):.3f}' if acc else '–'} | {np.mean([r['seconds'] for r in runs]):.0f} |")
    t, s = record["teacher"], record["student_initial"]
    teacher_time = "loaded from its checkpoint" if t["loaded"] else f"{t['seconds'] / 60:.1f} min"
    lines += ["", f"Parameters (weights only, as the report counts): teacher {t['params']:,}, student "
                  f"{s['params']:,}. Wall time: {record['seconds_total'] / 60:.1f} min in all (teacher "
                  f"{teacher_time})."]
    if "KD" in v and "w/o KD" in v and v["KD"]["std"] is not None:
        diff = v["w/o KD"]["mean"] - v["KD"]["mean"]
        sd = math.sqrt((v["KD"]["std"] ** 2 + v["w/o KD"]["std"] ** 2) / 2)
        ratio = diff / sd if sd else float("inf")
        lines.append(f"KD vs w/o KD: {abs(diff):.1f} {'fewer' if diff >= 0 else 'more'} errors with KD; pooled std "
                     f"{sd:.1f} ({ratio:+.1f} std).")
    if record["note"]:
        lines.append(f"Note: {record['note']}.")
    md = "\n".join(lines) + "\n"
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1, default=float)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)
    return md
