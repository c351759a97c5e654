"""Binary students (BWN, XNOR-Net) with and without KD from the float teacher (``examples/mnist_xnor_kd.py``).

``plan`` gives every student's specification (float, BWN and XNOR, with and without KD, each seed); ``run`` trains
what has no record and measures each binary student's packed inference (identical to the emulation?), bytes and
images/s beside the teacher's; ``view`` turns the records into the table.
"""
import timeit
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..backend import to_host
from ..checks import check_real
from ..distill import KD, Supervised
from ..packed import PackedBinaryMLP
from . import plots, shared
from .settings import ConfigError, Settings, check_counts
from .setup import Study, log, one_at_a_time

EXPERIMENT, TITLE = "xnor_kd", "Binary students (BWN, XNOR) with and without KD"
MODES = ("float", "bwn", "xnor")
XNOR_KD = dict(temperature=4.0, weight=0.9, form="hinton")


@dataclass
class XnorKD(Settings):
    """The binary students' settings: seeds per student, epochs, the students' layer sizes, Adam's rate (cosine)."""
    seeds: int = 2
    epochs: int = 15
    sizes: list = field(default_factory=lambda: [784, 1200, 1200, 10])
    lr: float = 3e-3

    PRESETS: ClassVar[dict] = {"full": {}, "quick": {"seeds": 1, "epochs": 2, "teacher_epochs": 10}}
    NAME: ClassVar[str] = "{data}_xnor_kd{preset}"
    ROWS: ClassVar[tuple] = ("seeds",)

    def check(self):
        check_counts(self, seeds=1, epochs=1)
        check_real("lr", self.lr, low_open=True, error=ConfigError)
        t = self.teacher_sizes
        if len(self.sizes) < 3 or self.sizes[0] != t[0] or self.sizes[-1] != t[-1]:
            raise ConfigError(f"sizes must start with {t[0]}, end with {t[-1]} for {self.dataset}'s teacher and have a "
                              f"hidden layer between (a binary layer needs one after it), got {self.sizes}")


def images_per_second(fn, x, repeats=3):
    """Images per second of ``fn`` on ``x``, the best of ``repeats`` (the least disturbed by other work)."""
    return x.shape[0] / min(timeit.repeat(lambda: fn(x), number=1, repeat=repeats))


def plan(study, s):
    """The specification of every binary (and float) student, with and without KD, for each seed."""
    return [study.spec(f"{mode}-{'distilled' if use_kd else 'labels'}", s.sizes, s.epochs, s.lr, seed,
                       (KD, XNOR_KD) if use_kd else (Supervised, ()), mode=None if mode == "float" else mode)
            for mode in MODES for use_kd in (False, True) for seed in range(s.seeds)]


@one_at_a_time("xnor_kd")
def run(s):
    """Binary students distilled from the float teacher (``s``: ``XnorKD``): every missing record trained;
    returns the view."""
    study = Study(s, EXPERIMENT, view, markdown)
    _, _, _, _, xt, _ = study.setup.arrays
    xt_host = to_host(xt)
    for spec in study.missing(plan(study, s)):
        study.write(False)
        mode, how = spec.role.split("-")
        teacher = study.teacher()

        def measure(model, mode=mode, how=how, seed=spec.seed):
            out = {"seed": seed, "mode": mode, "distilled": how == "distilled"}
            if mode != "float":
                packed = PackedBinaryMLP(model)
                out["packed_matches_emulation"] = bool(np.array_equal(packed.predict(xt_host),
                                                                      to_host(model.predict(xt))))
                out["bytes"] = {"float32_model": 4 * model.count_params(), "packed_model": packed.nbytes(),
                                "packed_weight_words": packed.sign_bytes()}
                # the teacher's speed beside the student's, on the same machine at the same moment
                out["images_per_s"] = {"packed": images_per_second(packed.predict, xt_host),
                                       "float_emulation": images_per_second(lambda a: to_host(model.predict(a)), xt),
                                       "teacher": images_per_second(lambda a: to_host(teacher.predict(a)), xt)}
            return out
        result = study.run(spec, teacher=teacher.logits, measure=measure, label=f"{spec.role} seed {spec.seed}",
                           progress=False)["result"]
        log(f"{spec.role:16s} seed {spec.seed}: {result['errors']} errors out of {xt.shape[0]} "
            f"({result['seconds']:.0f} s{'' if mode == 'float' else '; packed inference identical: '}"
            f"{result.get('packed_matches_emulation', '')})")
    return study.finish()


def _name(result):
    return f"{result['mode'].upper()} {'with KD' if result['distilled'] else 'without KD'}"


def view(records_, table, links, keys):
    """The binary students' table: each student (mode, with or without KD) over its seeds, the bytes of each
    mode's networks and its images/s (mean over its networks), the teacher's."""
    rows = shared.rows_of(records_, keys)
    v = {**shared.common_view(records_, table, links, rows), **table["settings"], "runs": {}}
    order = [f"{m.upper()} {k} KD" for m in MODES for k in ("without", "with")]
    for name in order:
        runs = sorted((r["result"] for r in rows if _name(r["result"]) == name), key=lambda r: r["seed"])
        if runs:
            v["runs"][name] = {"runs": runs, **shared.mean_std([r["errors"] for r in runs])}
    v["seeds"] = max((r["n"] for r in v["runs"].values()), default=0)
    v["teacher_errors"], v["teacher_bytes"] = v["teacher"]["errors"], 4 * v["teacher"]["params_with_biases"]
    speeds = []
    for mode in MODES[1:]:
        mine = [r["result"] for r in rows if r["result"]["mode"] == mode]
        if mine:
            v[f"{mode}_bytes"] = mine[0]["bytes"]
            v[f"{mode}_images_per_s"] = {k: float(np.mean([r["images_per_s"][k] for r in mine]))
                                         for k in ("packed", "float_emulation")}
            speeds += [r["images_per_s"]["teacher"] for r in mine]
    if speeds:
        v["teacher_images_per_s"] = float(np.mean(speeds))
    alone = [r["validation_errors"] for r in v["runs"].get("FLOAT without KD", {}).get("runs", [])]
    if alone and None not in alone and v["teacher"]["validation_errors"] is not None:
        flag, line = shared.teacher_check(v["teacher"], {"validation_errors": float(np.mean(alone))},
                                          "the float student without KD (mean over its seeds)")
        if flag:     # a teacher no better than a plain student: what its students learn is said to be worth little
            v["teacher_check"] = line
    return v


def markdown(r):
    """The binary students' table (a partial view gives the rows that finished)."""
    lines = [f"Students {'-'.join(map(str, r['sizes']))}, {r['epochs']} epochs, {r['seeds']} seed(s); float "
             f"teacher: {r['teacher_errors']} errors out of {r['data']['n_test']:,}; test errors, mean ± std "
             "(validation errors per epoch in the records; images/s: mean over each kind's networks, each measured "
             "beside the teacher when it was trained).", ""] + shared.header(r)
    if "teacher_check" in r:
        lines += ["", f"**{r['teacher_check']}**"]
    lines += ["", "| student | without KD | with KD | packed bytes (float32 bytes) | images/s packed | images/s float "
                  "emulation |", "|---|---|---|---|---|---|"]
    for mode in MODES:
        cells = [shared.fmt(r["runs"][k]) if k in r["runs"] else "–" for k in (f"{mode.upper()} without KD",
                                                                                f"{mode.upper()} with KD")]
        b, s = r.get(f"{mode}_bytes"), r.get(f"{mode}_images_per_s")
        size = f"{b['packed_model']:,} ({b['float32_model']:,})" if b else "–"
        speed = [f"{s['packed']:,.0f}", f"{s['float_emulation']:,.0f}"] if s else ["–", "–"]
        lines.append(f"| {mode.upper()} | {' | '.join(cells)} | {size} | {' | '.join(speed)} |")
    if "teacher_images_per_s" in r:
        lines.append(f"\nFloat32 teacher: {r['teacher_bytes']:,} bytes, {r['teacher_images_per_s']:,.0f} images/s.")
    return "\n".join(lines) + "\n"


def views(records_):
    """Every table of this study the records hold, the newest first."""
    return shared.views(records_, EXPERIMENT, view)


def title(v):
    return shared.title(TITLE, v)


figures = plots.figures_for
