"""The MNIST experiments of Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a neural network", §3, on
records (``tinykd.runs.records``), each beside the paper's number (``PAPER``):

1. soft targets carry generalisation: a student distilled at τ = 20 against the same student on the labels alone;
2. the mythical digit: no 3 in the transfer set, then the 3's bias raised by a shift chosen on validation;
3. only 7s and 8s in the transfer set, then their biases lowered;
4. temperature and width: τ ∈ ``TEMPERATURES`` for students of 800 and 30 units per layer;
5. few labels: hard labels on 1%, 5%, 20% of the transfer set, with and without soft targets on all of it.

A student's record identity says what was done to its rows, its result holds the bias-shift searches; the teacher's
soft targets for the figure are a record of their own. The table and figures are views of the records.
"""
import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import functional as F
from ..backend import get_array_module, to_device, to_host
from ..data import transfer
from ..data.formats import DataError
from ..distill import KD, Supervised
from ..runs import identity
from . import plots, shared
from .omitted_classes import KEPT, OMITTED, PAPER, check_classes, kept_rows, omit_3, only_7_8
from .settings import ConfigError, Settings, check_counts
from .setup import Study, log, one_at_a_time

TEMPERATURES = [1, 2, 2.5, 4, 8, 20]
WIDTHS = {"800": [784, 800, 800, 10], "30": [784, 30, 30, 10]}
FRACTIONS = [0.01, 0.05, 0.2]
KD_WEIGHT, LR = 0.9, 1e-3


@dataclass
class DarkKnowledge(Settings):
    """The dark-knowledge experiments' settings: epochs of the headline, omit-3 and 7/8 students, seeds of the
    headline rows, epochs per temperature-sweep and per few-labels student, and the transfer set (the first
    ``transfer_size`` training images; 0: all)."""
    epochs: int = 40
    seeds: int = 3
    sweep_epochs: int = 15
    few_epochs: int = 15
    transfer_size: int = 0

    PRESETS: ClassVar[dict] = {"full": {}, "quick": {"epochs": 4, "seeds": 1, "sweep_epochs": 2, "few_epochs": 3,
                                                     "transfer_size": 10000, "teacher_epochs": 10}}
    NAME: ClassVar[str] = "{own}dark_knowledge{preset}"
    ROWS: ClassVar[tuple] = ("seeds",)

    def check(self):
        check_counts(self, epochs=1, seeds=1, sweep_epochs=1, few_epochs=1, transfer_size=0)
        if self.val == 0:
            raise ConfigError("val 0: these experiments choose their bias shifts and report learning curves on a "
                              "validation split; hold out some images (default 1/12)")
SHOWN_DIGITS, SHOWN_TEMPERATURES = (2, 3, 7, 9), (1, 4, 20)   # the soft-target figure: first test image of each
EXPERIMENTS = {"distilled_from_scratch": ("alone", "distilled"), "omit_3": ("omit-3",), "only_7_8": ("only-7-8",),
               "temperature_sweep": ("sweep",), "few_labels": ("few-labels",)}


def kd(temperature, **kw):
    return KD, dict(temperature=temperature, weight=KD_WEIGHT, form="hinton", **kw)


def plan(study, s):
    """The specification of every student, in the order they train."""
    n = s.transfer_size or study.setup.ds.x_train.shape[0]
    out = []

    def add(experiment, sizes, objective, epochs, seed=0, **rows):
        out.append(study.spec(f"hinton-{experiment}", sizes, epochs, LR, seed, objective,
                              extra={"experiment": experiment, "transfer_rows": n, **rows}))
    for experiment, objective in (("alone", (Supervised, {})), ("distilled", kd(20.0))):
        for seed in range(s.seeds):
            add(experiment, WIDTHS["800"], objective, s.epochs, seed)
    add("omit-3", WIDTHS["800"], kd(20.0), s.epochs, without_classes=OMITTED)
    add("only-7-8", WIDTHS["800"], kd(20.0), s.epochs, only_classes=KEPT)
    for sizes in WIDTHS.values():
        for tau in TEMPERATURES:
            add("sweep", sizes, kd(float(tau)), s.sweep_epochs)
    for fraction in FRACTIONS:   # unlabelled rows carry −1, which the cross-entropy skips; both see the same batches
        for objective in ((Supervised, {"ignore_label": transfer.UNLABELLED}),
                          kd(20.0, ignore_label=transfer.UNLABELLED)):
            add("few-labels", WIDTHS["800"], objective, s.few_epochs, labelled=fraction, labelled_seed=0)
    return out


def soft_identity(fingerprint, teacher_key):
    return {"data": fingerprint, "role": "soft-targets", "teacher": teacher_key, "split": "test",
            "digits": list(SHOWN_DIGITS), "temperatures": list(SHOWN_TEMPERATURES)}


class Lab:
    """What the students share, made once when the first missing one trains: the transfer set (the first rows), the
    teacher's logits on it, the labels on the host."""

    def __init__(self, study, n):
        x, y, _, yv, _, yt = study.setup.arrays
        self.study, self.x, self.y = study, x[:n], y[:n]
        self.t_logits = study.teacher().logits(self.x)
        self.y_host, self.yv_host, self.yt_host = to_host(self.y), to_host(yv), to_host(yt)

    def train(self, spec):
        """Train the student ``spec`` asks for on its rows (its ``extra`` says which); its record."""
        x, y, t, rows, extra = self.x, self.y, self.t_logits, spec.extra, {"seed": spec.seed}
        keep = kept_rows(self.y_host, rows)
        if keep is not None:
            idx = to_device(keep, get_array_module(x))
            x, y, t = x[idx], y[idx], t[idx]
            extra["transfer_rows"] = int(keep.size)
        if "labelled" in rows:
            labels = transfer.partly_labelled(self.y_host, rows["labelled"], seed=rows["labelled_seed"])
            y, extra["labelled_rows"] = to_device(labels, get_array_module(x)), int((labels >= 0).sum())

        _, _, xv, yv, xt, _ = self.study.setup.arrays

        def measure(model):
            if keep is None:
                return extra
            shift = omit_3 if "without_classes" in rows else only_7_8
            return {**extra, **shift(to_host(model.logits(xv)), to_host(model.logits(xt)), self.yv_host, self.yt_host)}
        rec = self.study.run(spec, rows=(x, y, xv, yv), teacher=t, measure=measure, progress=False)
        log(f"  {spec.role} seed {spec.seed}: {rec['result']['errors']} test errors "
            f"({rec['result']['seconds']:.0f} s)")
        return rec


def soft_target_examples(teacher, xt, yt):
    """The teacher's P^τ for the first test image of each of ``SHOWN_DIGITS`` (the figure's data)."""
    x_host, y_host = to_host(xt), to_host(yt)
    out = []
    for digit in SHOWN_DIGITS:
        i = int(np.flatnonzero(y_host == digit)[0])
        logits = teacher.logits(xt[i:i + 1])
        out.append({"index": i, "label": digit, "image": np.round(x_host[i], 3).tolist(),
                    "probs": {str(t): np.round(to_host(F.softmax(logits, float(t)))[0], 5).tolist()
                              for t in SHOWN_TEMPERATURES}})
    return {"temperatures": list(SHOWN_TEMPERATURES), "digits": out}


def check_data(ds, transfer_size):
    """What these experiments need of ``ds``, said in one line before any training: a test image of each digit the
    soft-target figure shows, the classes the bias shifts need (``check_classes``), and at the smallest fraction of
    hard labels one labelled image per class."""
    rows = transfer_size or ds.x_train.shape[0]
    absent = [ds.classes[c] for c in SHOWN_DIGITS if not (to_host(ds.y_test) == c).any()]
    if absent:
        raise DataError(f"{ds.name}: the test split has no image of class {', '.join(absent)}; the soft-target "
                        "figure shows the first test image of each: use more images (--subset) or data that has them")
    check_classes(ds, rows)
    fraction, classes = min(FRACTIONS), len(ds.classes)
    kept = int(round(fraction * rows))   # as transfer.partly_labelled keeps them
    if kept < classes:
        need, have = math.ceil(classes / fraction), ds.y_train.shape[0]
        fix = "raise --transfer-size (or --subset)" if need <= have else \
            f"this data has only {have:,} training images after the validation split: use more data"
        raise ConfigError(f"hard labels on {fraction:.0%} of the {rows:,}-image transfer set keep {kept}, fewer than "
                          f"one per class ({classes}): the few-labels students need a transfer set of at least "
                          f"{need:,} images; {fix}")


@one_at_a_time("dark_knowledge")
def run(s):
    """Every experiment (``s``: ``DarkKnowledge``), each student found by its record or trained; returns the view."""
    study = Study(s, "dark_knowledge", view, markdown, check=lambda ds: check_data(ds, s.transfer_size))
    soft = soft_identity(study.setup.data["fingerprint"], study.links["teacher"])
    if study.setup.store.find(soft) is None:
        _, _, _, _, xt, yt = study.setup.arrays
        study.setup.store.put(soft, soft_target_examples(study.teacher(), xt, yt), links=study.links,
                              data=study.setup.data)
    lab = None
    for spec in study.missing(plan(study, s)):
        study.write(False)
        lab = lab or Lab(study, spec.extra["transfer_rows"])
        lab.train(spec)
    return study.finish()


# ---------------------------------------------------------------------------------------------------- view
def view(records_, table, links, keys):
    """The dark-knowledge record of one table: each experiment whose students are present, as the figures read it,
    the teacher check (the teacher against the student alone, mean over its seeds) and the minutes per
    experiment."""
    rows = shared.rows_of(records_, keys)
    v = {**shared.common_view(records_, table, links, rows), "paper": PAPER, "kd_weight": KD_WEIGHT, "seconds": {}}
    s = table["settings"]
    v["n_test"], v["transfer_size"] = v["data"]["n_test"], s["transfer_size"] or v["data"]["n_train"]
    soft = {r["key"]: r for r in records_}.get(identity.key(soft_identity(v["data"]["fingerprint"], links["teacher"])))
    if soft is not None:
        v["soft_targets"] = soft["result"]

    def of(experiment):
        return sorted((r for r in rows if r["identity"]["experiment"] == experiment),
                      key=lambda r: (r["result"]["seed"], json.dumps(r["identity"]["objective"], sort_keys=True)))
    for key, experiments in EXPERIMENTS.items():
        if any(of(e) for e in experiments):
            v["seconds"][key] = sum(r["result"]["seconds"] for e in experiments for r in of(e))
    alone, distilled = ([r["result"] for r in of(e)] for e in ("alone", "distilled"))
    if alone or distilled:
        d = {name: {"runs": runs, **shared.mean_std([r["errors"] for r in runs])} for name, runs in
             (("student_alone", alone), ("distilled", distilled)) if runs}
        v["distilled_from_scratch"] = {"temperature": 20.0, "epochs": s["epochs"], "kd_weight": KD_WEIGHT,
                                       "seeds": max(len(alone), len(distilled)), **d}
    if alone:
        flag, line = shared.teacher_check(v["teacher"], {"validation_errors": float(np.mean(
            [r["validation_errors"] for r in alone]))}, "the student alone (mean over its seeds)")
        v.update(teacher_not_better=flag, teacher_check=line)
    for key, experiment in (("omit_3", "omit-3"), ("only_7_8", "only-7-8")):
        for r in of(experiment):
            v[key] = r["result"]
    sweep = of("sweep")
    if sweep:
        widths = {w: [{"temperature": r["identity"]["objective"]["temperature"], **r["result"]} for r in sweep
                      if r["identity"]["model"]["sizes"] == sizes] for w, sizes in WIDTHS.items()}
        v["temperature_sweep"] = {"temperatures": TEMPERATURES, "epochs": s["sweep_epochs"], "widths": {
            w: sorted(rs, key=lambda r: r["temperature"]) for w, rs in widths.items() if rs}}
    few = of("few-labels")
    if few:
        rows_ = []
        for fraction in FRACTIONS:
            mine = {("labels_only" if r["identity"]["objective"]["method"] == "supervised" else "with_soft_targets"):
                    r["result"] for r in few if r["identity"]["labelled"] == fraction}
            if mine:
                rows_.append({"fraction": fraction, "labelled": next(iter(mine.values()))["labelled_rows"], **mine})
        v["few_labels"] = {"fractions": FRACTIONS, "epochs": s["few_epochs"], "rows": rows_}
    return v


def views(records_):
    """Every dark-knowledge table the records hold, the newest first."""
    return shared.views(records_, "dark_knowledge", view)


def title(v):
    return shared.title("Hinton, Vinyals & Dean (2015) §3", v)


def _errors(run):
    return str(run["errors"]) if run else "–"


def markdown(r):
    """The results table, each experiment beside the paper's number."""
    lines = ["Hinton, Vinyals & Dean (2015) §3, tinykd: test errors out of "
             f"{r['n_test']:,} (every model's last weights, counted once; shifts chosen on validation).", ""]
    lines += shared.header(r) + (shared.teacher_banner(r) if "teacher_check" in r else [])
    secs = {k: f"{v / 60:.1f}" for k, v in r["seconds"].items()}
    lines += ["", "| experiment | paper | tinykd | minutes |", "|---|---|---|---|",
              f"| teacher | 67 | {r['teacher']['errors']} | – |"]
    if "distilled_from_scratch" in r:
        e = r["distilled_from_scratch"]
        fmt = {k: shared.fmt(e[k]) if k in e else "–" for k in ("student_alone", "distilled")}
        lines.append(f"| student 784-800-800-10 alone ({e['epochs']} epochs, {e['seeds']} seeds) | 146 | "
                     f"{fmt['student_alone']} | {secs['distilled_from_scratch']} |")
        lines.append(f"| the same, distilled at τ = 20 | 74 | **{fmt['distilled']}** | |")
    rows = []   # (experiment, paper, tinykd, minutes)
    if "omit_3" in r:
        o = r["omit_3"]
        rows += [("no 3 in the transfer set: errors (on 3s)", "206 (133)",
                  f"{o['errors']} ({o['errors_on_3']} of {o['n_test_3']:,})", secs["omit_3"]),
                 (f"… after raising the 3's bias by the shift (paper +3.5 on test; ours +{o['bias_shift']:g} on "
                  "validation)", "109 (14)", f"{o['errors_after_shift']} ({o['errors_on_3_after_shift']})", "")]
    if "only_7_8" in r:
        o = r["only_7_8"]
        rows += [("only 7s and 8s in the transfer set: test error", "47.3%", f"{o['error_rate']:.1f}%",
                  secs["only_7_8"]),
                 (f"… after lowering their biases (paper −7.6 on test; ours {o['bias_shift']:g} on validation)",
                  "13.2%", f"{o['error_rate_after_shift']:.1f}%", "")]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    if "temperature_sweep" in r:
        s = r["temperature_sweep"]
        lines += ["", f"Temperature sweep ({s['epochs']} epochs, one seed; test errors; minutes "
                      f"{secs['temperature_sweep']}):", "",
                  "| units per layer | " + " | ".join(f"τ = {t:g}" for t in s["temperatures"]) + " |",
                  "|---|" + "---|" * len(s["temperatures"])]
        for width, rows in s["widths"].items():
            at = {x["temperature"]: x for x in rows}
            lines.append(f"| {width} | " + " | ".join(_errors(at.get(t)) for t in s["temperatures"]) + " |")
    if "few_labels" in r:
        f = r["few_labels"]
        lines += ["", f"Few labels ({f['epochs']} epochs, one seed; test errors; minutes {secs['few_labels']}):",
                  "", "| hard labels on | labelled images | labels only | + soft targets on all images (τ = 20) |",
                  "|---|---|---|---|"]
        for row in f["rows"]:
            lines.append(f"| {row['fraction']:.0%} | {row['labelled']:,} | {_errors(row.get('labels_only'))} | "
                         f"{_errors(row.get('with_soft_targets'))} |")
    return "\n".join(lines) + "\n"


figures = plots.figures_for
