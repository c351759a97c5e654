"""FitNets (Romero et al. 2015): hints from a teacher's hidden layer to a student's, then KD, against KD alone for
the same total budget (``examples/mnist_fitnets.py``). ``plan`` gives the two students' specifications (the hint
stage is part of the hinted student's identity), ``run`` trains what has no record, ``view`` makes the table.
"""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..distill import KD
from ..fitnets import HintLoss, HintNet, teacher_hidden
from ..optim import Adam
from ..train import fit
from . import plots, shared
from .settings import ConfigError, Settings, check_counts
from .setup import Study, log, one_at_a_time

EXPERIMENT, TITLE = "fitnets", "FitNets: hints, then KD, against KD alone"
FITNETS = (("KD only", False), ("FitNets: hints, then KD", True))
FITNETS_KD = dict(temperature=4.0, weight=0.9, form="hinton")
STUDENT_SEED, REGRESSOR_SEED, LR = 1, 2, 1e-3


@dataclass
class FitNetsKD(Settings):
    """FitNets' settings: stage 1 (hints) and stage 2 (KD) epochs, the teacher's hidden layer giving the hint and
    the student's it guides (1 = the first)."""
    hint_epochs: int = 5
    kd_epochs: int = 20
    hint_layer: int = 1
    guided_layer: int = 1

    PRESETS: ClassVar[dict] = {"full": {}, "quick": {"hint_epochs": 1, "kd_epochs": 3, "teacher_epochs": 10}}
    NAME: ClassVar[str] = "{data}_fitnets{preset}"

    def check(self):
        check_counts(self, hint_epochs=0, kd_epochs=1, hint_layer=1, guided_layer=1)
        for name, sizes in (("hint_layer", self.teacher_sizes), ("guided_layer", self.student_sizes)):
            if getattr(self, name) > len(sizes) - 2:
                raise ConfigError(f"{name} {getattr(self, name)}: the network {sizes} has {len(sizes) - 2} hidden "
                                  "layers")


def plan(study, s):
    """The two students' specifications: KD alone for the whole budget, and hints then KD. The hint stage (its
    objective, layers, epochs, optimiser and regressor's seed) is part of the hinted student's identity."""
    out = []
    for name, hinted in FITNETS:
        epochs = s.kd_epochs + (0 if hinted else s.hint_epochs)   # the same total budget
        hint = None
        if hinted:   # the hint stage's optimiser is Adam at LR over the student and its regressor: its settings
            adam = Adam([("w", np.zeros(1), np.zeros(1))], lr=LR).describe()
            hint = {"objective": HintLoss().describe(), "hint_layer": s.hint_layer, "epochs": s.hint_epochs,
                    "guided_layer": s.guided_layer, "regressor_seed": REGRESSOR_SEED,
                    "optimizer": adam, "schedule": None, "seed": 0}
        out.append(study.spec("fitnets" if hinted else "fitnets-kd-alone", s.student_sizes, epochs, LR,
                              STUDENT_SEED, (KD, FITNETS_KD), shuffle_seed=0, extra={"name": name, "hint": hint}))
    return out


@one_at_a_time("fitnets")
def run(s):
    """FitNets against KD alone (``s``: ``FitNetsKD``): every missing record trained; returns the view."""
    study = Study(s, EXPERIMENT, view, markdown)
    x, y = study.setup.arrays[:2]
    for spec in study.missing(plan(study, s)):
        study.write(False)
        teacher, hint, name = study.teacher(), spec.extra["hint"], spec.extra["name"]

        def hints(parts, hint=hint):
            """Stage 1: the student's layers up to the guided one, through a regressor, learn the teacher's hint."""
            net = HintNet(parts.model, hint["guided_layer"], teacher.sizes[hint["hint_layer"]], seed=REGRESSOR_SEED)
            fit(net, HintLoss(), Adam(net, lr=LR), x, y, hint["epochs"], s.batch_size,
                teacher=teacher_hidden(teacher, hint["hint_layer"]), label="hints", seed=hint["seed"])
            return {}
        result = study.run(spec, teacher=teacher.logits, before=hints if hint else None, label=name,
                           measure=lambda model, name=name: {"name": name, "seed": 0})["result"]
        log(f"{name}: {result['errors']} errors out of {study.setup.data['n_test']}")
    return study.finish()


def view(records_, table, links, keys):
    """The FitNets table: each student's test and validation errors and time, the teacher's."""
    rows = shared.rows_of(records_, keys)
    v = {**shared.common_view(records_, table, links, rows), **table["settings"]}
    by_name = {r["result"]["name"]: r["result"] for r in rows}
    v["runs"] = {name: by_name[name] for name, _ in FITNETS if name in by_name}
    return v


def markdown(r):
    lines = [f"FitNets on {r['data']['name']}: hints from teacher layer {r['hint_layer']} to student layer "
             f"{r['guided_layer']} for {r['hint_epochs']} epochs, then KD (τ = 4, a = 0.9) for {r['kd_epochs']}; KD "
             f"alone for both budgets together. Test errors out of {r['data']['n_test']:,} (one seed each).", ""]
    lines += shared.header(r)
    lines += ["", "| student | test errors | validation errors | seconds |", "|---|---|---|---|"]
    for name, run in r["runs"].items():
        lines.append(f"| {name} | {run['errors']} | {run['validation_errors']} | {run['seconds']:.0f} |")
    lines.append(f"\nTeacher: {r['teacher']['errors']} test errors, {r['teacher']['validation_errors']} on validation.")
    return "\n".join(lines) + "\n"


def views(records_):
    """Every table of this study the records hold, the newest first."""
    return shared.views(records_, EXPERIMENT, view)


def title(v):
    return shared.title(TITLE, v)


figures = plots.figures_for
