"""The studies beside Table 1, on records (``tinykd.records``): binary students (BWN, XNOR) with and without KD
(``xnor_kd``), FitNets' hints then KD against KD alone (``fitnets``), and what every such study shares (``Study``).

Each trained network leaves a record named by its identity: the data's fingerprint, what the objects that shaped it
say of themselves (model, optimiser, schedule, objective), the loop's settings, the teacher's record key and what was
done to the rows. A rerun trains only the networks whose records are missing, and needs the teacher's weights only
then. What a run measures on a network (packed inference, bytes, images/s) is part of that network's record. The
tables (``views``, ``markdown``, ``title``, ``figures``) are views of the records, as ``tinykd.tables`` is for
Table 1; ``python -m tinykd.report`` regenerates them.
"""
import json
import os
import sys
import time

import numpy as np

from . import plots, shared

from ..runs import records
from .table1_view import rows_of
from ..backend import resolve, to_host
from ..binary import BinaryMLP
from .settings import ConfigError, data_deviations, data_label
from ..distill import KD, Supervised
from ..fitnets import HintLoss, HintNet, teacher_hidden
from ..layers import MLP
from ..optim import Adam
from ..packed import PackedBinaryMLP
from .setup import Setup, log, teacher_spec
from ..train import cosine_lr, errors, fit

# the settings of a Config that shape an example's teacher and data (the rest is Table 1's)
TEACHER_SETTINGS = ("dataset", "data", "val", "val_seed", "subset", "teacher_sizes", "teacher_epochs", "batch_size",
                    "teacher_lr", "teacher_dropout", "teacher_input_dropout", "jitter")
ROWS = ("seeds",)   # what a table's rows are made of: more seeds later join the same table


def describe_model(model, seed):
    """What a model says of itself for an identity (a binary MLP, which has no ``describe``: its configuration and
    the seed of its initial weights)."""
    return model.describe() if isinstance(model, MLP) else {**model.config(), "seed": seed}


class Study:
    """One example's run over records: its data and teacher (``Setup``; the teacher trained or loaded only when a
    network needs it), its table's tag (``table``: the experiment, the table's name, the preset, the settings its rows
    share and what differs from the preset) and ``links`` (the teacher's record key)."""

    def __init__(self, cfg, experiment, values, reference, kind, name=None, check=None):
        self.cfg, self.kind, self.setup = cfg, kind, Setup(cfg, check)
        self.xp = resolve(cfg.backend)
        self.teacher_spec = teacher_spec(cfg)
        self.links = {"teacher": records.key(self.setup.identity(self.teacher_spec))}
        dev = {k: v for k, v in cfg.deviations().items() if k in TEACHER_SETTINGS}
        dev.update(data_deviations(cfg, self.setup.ds))
        dev.update({k: v for k, v in values.items() if v != reference.get(k) and k not in ROWS})
        name = name or f"{data_label(cfg, self.setup.data['name'])}_{experiment}"
        table = {"experiment": experiment, "name": name + ("_quick" if cfg.preset == "quick" else ""),
                 "preset": cfg.preset, "settings": {k: v for k, v in values.items() if k not in ROWS}, "deviations": dev}
        # as a record holds it (keys sorted): this run's table and one regenerated from its records are the same
        self.table = json.loads(json.dumps(table, sort_keys=True, default=str))
        self.out = os.path.join(cfg.out_dir, self.table["name"])
        self._teacher = None

    def teacher(self):
        """The teacher's model, trained or loaded on first use (its record written when missing)."""
        if self._teacher is None:
            self._teacher = self.setup.model(self.teacher_spec, image_shape=tuple(self.setup.ds.input_shape))
        return self._teacher

    def identity(self, role, model, optimizer, schedule, objective, epochs, seed, **rows):
        """A student's identity: the data, what shaped it, the loop's settings, its teacher's record and ``rows``
        (what was done to the rows it trains on, and anything else that makes it this run)."""
        return {"data": self.setup.data["fingerprint"], "role": role, "teacher": self.links["teacher"],
                "model": describe_model(model, seed), "optimizer": optimizer.describe(),
                "schedule": schedule.describe() if schedule else None, "objective": objective.describe(),
                "epochs": epochs, "batch_size": self.cfg.batch_size, "seed": seed, "backend": self.cfg.backend, **rows}

    def missing(self, identities):
        """Those of ``identities`` without a record, said in one line."""
        out = [i for i in identities if self.setup.store.find(i) is None]
        log(f"{len(identities) - len(out)} of the {len(identities)} networks asked for are in {self.cfg.records_dir};"
            f" {len(out)} to train")
        if self.setup.store.find(self.setup.identity(self.teacher_spec)) is None:
            self.teacher()   # the table shows the teacher: its record is made even when no student trains
        return out

    def train(self, model, objective, optimizer, schedule, x, y, epochs, seed, teacher, label, **options):
        """Train one student on (x, y) against ``teacher`` (outputs or a function), validated on the split; its
        result: test and validation errors, seconds and history."""
        _, _, xv, yv, xt, yt = self.setup.arrays
        t0 = time.perf_counter()
        history = fit(model, objective, optimizer, x, y, epochs, self.cfg.batch_size, teacher=teacher, x_val=xv,
                      y_val=yv, lr_schedule=schedule, seed=seed, label=label, **options)
        return {"seed": seed, "errors": errors(model, xt, yt), "seconds": time.perf_counter() - t0,
                "validation_errors": history[-1].get("val_errors") if history else None, "history": history}

    def put(self, ident, result):
        self.setup.store.put(ident, result, table=self.table, links=self.links, data=self.setup.data)

    def write(self, complete):
        """This run's table as a view of the records present (``kind.view``): ``<out_dir>/<name>.md`` and
        ``.json`` (``.partial`` ones until ``complete``)."""
        v = self.kind.view(self.setup.store.all(), self.table, self.links)
        v["complete"] = complete
        shared.write(self.out, v, self.kind.markdown(v))
        return v

    def finish(self):
        v = self.write(True)
        print(self.kind.markdown(v))
        log(shared.where(self.cfg, self.out))
        plots.draw_if_possible(self.out + ".json")
        return v


def groups(records_, experiment):
    """(table, links) of every table of ``experiment`` that ``records_`` hold, in order of first appearance."""
    out = {}
    for r in records_:
        if (r.get("table") or {}).get("experiment") == experiment:
            out.setdefault(json.dumps([r["table"], r["links"]], sort_keys=True, default=str), (r["table"], r["links"]))
    return list(out.values())


def common_view(records_, table, links, rows):
    """What every study's view holds: its name, preset, deviations, data, teacher, where its networks came from."""
    t = {r["key"]: r for r in records_}[links["teacher"]]
    return {"experiment": table["experiment"], "name": table["name"], "preset": table["preset"],
            "deviations": table["deviations"], "data": (rows or [t])[0]["data"], "teacher": t["result"],
            "sources": shared.sources([t] + rows), "complete": True}


def header(v):
    """The lines under a study's first: its data and preset, where its networks were trained, and whether it is
    finished."""
    lines = shared.data_lines(v["data"], v["preset"], v["deviations"]) + shared.source_lines(v["sources"])
    if not v["complete"]:
        lines += ["", "**Incomplete: the run is still going or stopped early; the rows below are what finished" +
                  (f" (not yet trained: {'; '.join(v['missing'])})" if v.get("missing") else "") + ".**"]
    return lines


# ------------------------------------------------------------------------------------------- binary students
MODES = ("float", "bwn", "xnor")
XNOR_KD = dict(temperature=4.0, weight=0.9, form="hinton")


def images_per_second(fn, x, repeats=3):
    """Images per second of ``fn`` on ``x``, the best of ``repeats`` (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return x.shape[0] / best


def xnor_plan(study, values):
    """[(identity, make)] of every binary (and float) student, with and without KD, for each seed; ``make()``
    builds its (model, optimizer, schedule, objective)."""
    out = []
    for mode in MODES:
        for use_kd in (False, True):
            for seed in range(values["seeds"]):
                def make(mode=mode, use_kd=use_kd, seed=seed):
                    model = MLP(values["sizes"], seed=seed, backend=study.xp) if mode == "float" else \
                        BinaryMLP(values["sizes"], mode=mode, seed=seed, backend=study.xp)
                    return (model, Adam(model, lr=values["lr"]), cosine_lr(values["lr"], values["epochs"]),
                            KD(**XNOR_KD) if use_kd else Supervised())
                role = f"{mode}-{'distilled' if use_kd else 'labels'}"
                out.append((study.identity(role, *make(), values["epochs"], seed), make))
    return out


def xnor_kd(cfg, values, reference):
    """Binary students distilled from the float teacher: every missing record trained; returns the view."""
    t = cfg.teacher_sizes
    if values["sizes"][0] != t[0] or values["sizes"][-1] != t[-1]:
        raise ConfigError(f"sizes must start with {t[0]} and end with {t[-1]} for {cfg.dataset}'s teacher, got "
                          f"{values['sizes']}")
    study = Study(cfg, "xnor_kd", values, reference, sys.modules[__name__])
    plan = xnor_plan(study, values)
    missing = study.missing([ident for ident, _ in plan])
    x, y, _, _, xt, _ = study.setup.arrays
    xt_host = to_host(xt)
    for ident, make in plan:
        if ident not in missing:
            continue
        study.write(False)
        model, optimizer, schedule, objective = make()
        (mode, how), label = ident["role"].split("-"), ident["role"]
        teacher = study.teacher()
        result = study.train(model, objective, optimizer, schedule, x, y, values["epochs"], ident["seed"],
                             teacher.logits, f"{label} seed {ident['seed']}", progress=False)
        result.update(mode=mode, distilled=how == "distilled")
        if mode != "float":
            packed = PackedBinaryMLP(model)
            result["packed_matches_emulation"] = bool(np.array_equal(packed.predict(xt_host),
                                                                     to_host(model.predict(xt))))
            result["bytes"] = {"float32_model": 4 * model.count_params(), "packed_model": packed.nbytes(),
                               "packed_weight_words": packed.sign_bytes()}
            # the teacher's speed beside the student's, on the same machine at the same moment
            result["images_per_s"] = {"packed": images_per_second(packed.predict, xt_host),
                                      "float_emulation": images_per_second(lambda a: to_host(model.predict(a)), xt),
                                      "teacher": images_per_second(lambda a: to_host(teacher.predict(a)), xt)}
        study.put(ident, result)
        log(f"{label:16s} seed {ident['seed']}: {result['errors']} errors out of {xt.shape[0]} "
            f"({result['seconds']:.0f} s{'' if mode == 'float' else '; packed inference identical: '}"
            f"{result.get('packed_matches_emulation', '')})")
    return study.finish()


def _name(result):
    return f"{result['mode'].upper()} {'with KD' if result['distilled'] else 'without KD'}"


def xnor_view(records_, table, links):
    """The binary students' table: each student (mode, with or without KD) over its seeds, the bytes of each
    mode's networks and its images/s (mean over its networks), the teacher's."""
    rows = rows_of(records_, table, links)
    v = {**common_view(records_, table, links, rows), **table["settings"], "runs": {}}
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
    return v


def xnor_markdown(r):
    """The binary students' table (a partial view gives the rows that finished)."""
    lines = [f"Students {'-'.join(map(str, r['sizes']))}, {r['epochs']} epochs, {r['seeds']} seed(s); float "
             f"teacher: {r['teacher_errors']} errors out of {r['data']['n_test']:,}; test errors, mean ± std "
             "(validation errors per epoch in the records; images/s: mean over each kind's networks, each measured "
             "beside the teacher when it was trained).", ""] + header(r)
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


# ------------------------------------------------------------------------------------------------- FitNets
FITNETS = (("KD only", False), ("FitNets: hints, then KD", True))
FITNETS_KD = dict(temperature=4.0, weight=0.9, form="hinton")
STUDENT_SEED, REGRESSOR_SEED, LR = 1, 2, 1e-3


def fitnets_plan(study, values):
    """[(identity, hinted)] of the two students: KD alone for the whole budget, and hints then KD. The hint stage
    (its objective, layers, epochs, optimiser and regressor's seed) is part of the hinted student's identity."""
    out = []
    for name, hinted in FITNETS:
        student = MLP(study.cfg.student_sizes, seed=STUDENT_SEED, backend=study.xp)
        epochs = values["kd_epochs"] + (0 if hinted else values["hint_epochs"])   # the same total budget
        hint = None
        if hinted:
            net = HintNet(student, values["guided_layer"], study.cfg.teacher_sizes[values["hint_layer"]],
                          seed=REGRESSOR_SEED)
            hint = {"objective": HintLoss().describe(), "hint_layer": values["hint_layer"], "epochs":
                    values["hint_epochs"], "guided_layer": values["guided_layer"], "regressor_seed": REGRESSOR_SEED,
                    "optimizer": Adam(net, lr=LR).describe(), "schedule": None, "seed": 0}
        out.append((study.identity("fitnets" if hinted else "fitnets-kd-alone", student, Adam(student, lr=LR),
                                   cosine_lr(LR, epochs), KD(**FITNETS_KD), epochs, 0, name=name, hint=hint), hinted))
    return out


def fitnets(cfg, values, reference):
    """FitNets against KD alone: every missing record trained; returns the view."""
    for name, sizes in (("hint_layer", cfg.teacher_sizes), ("guided_layer", cfg.student_sizes)):
        if values[name] > len(sizes) - 2:
            raise ConfigError(f"{name} {values[name]}: the network {sizes} has {len(sizes) - 2} hidden layers")
    study = Study(cfg, "fitnets", values, reference, sys.modules[__name__])
    plan = fitnets_plan(study, values)
    missing = study.missing([ident for ident, _ in plan])
    x, y = study.setup.arrays[:2]
    for ident, hinted in plan:
        if ident not in missing:
            continue
        study.write(False)
        teacher, t0 = study.teacher(), time.perf_counter()
        student = MLP(cfg.student_sizes, seed=STUDENT_SEED, backend=study.xp)
        if hinted:
            hint = ident["hint"]
            net = HintNet(student, hint["guided_layer"], teacher.sizes[hint["hint_layer"]], seed=REGRESSOR_SEED)
            fit(net, HintLoss(), Adam(net, lr=LR), x, y, hint["epochs"], cfg.batch_size,
                teacher=teacher_hidden(teacher, hint["hint_layer"]), label="hints", seed=hint["seed"])
        result = study.train(student, KD(**FITNETS_KD), Adam(student, lr=LR), cosine_lr(LR, ident["epochs"]), x, y,
                             ident["epochs"], 0, teacher.logits, ident["name"])
        result.update(name=ident["name"], seconds=time.perf_counter() - t0)   # the hint stage's time too
        study.put(ident, result)
        log(f"{ident['name']}: {result['errors']} errors out of {study.setup.data['n_test']}")
    return study.finish()


def fitnets_view(records_, table, links):
    rows = rows_of(records_, table, links)
    v = {**common_view(records_, table, links, rows), **table["settings"]}
    by_name = {r["result"]["name"]: r["result"] for r in rows}
    v["runs"] = {name: by_name[name] for name, _ in FITNETS if name in by_name}
    return v


def fitnets_markdown(r):
    lines = [f"FitNets on {r['data']['name']}: hints from teacher layer {r['hint_layer']} to student layer "
             f"{r['guided_layer']} for {r['hint_epochs']} epochs, then KD (τ = 4, a = 0.9) for {r['kd_epochs']}; KD "
             f"alone for both budgets together. Test errors out of {r['data']['n_test']:,} (one seed each).", ""]
    lines += header(r)
    lines += ["", "| student | test errors | validation errors | seconds |", "|---|---|---|---|"]
    for name, run in r["runs"].items():
        lines.append(f"| {name} | {run['errors']} | {run['validation_errors']} | {run['seconds']:.0f} |")
    lines.append(f"\nTeacher: {r['teacher']['errors']} test errors, {r['teacher']['validation_errors']} on validation.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- as report kinds
KINDS = {"xnor_kd": (xnor_view, xnor_markdown, "Binary students (BWN, XNOR) with and without KD"),
         "fitnets": (fitnets_view, fitnets_markdown, "FitNets: hints, then KD, against KD alone")}


def view(records_, table, links):
    """The view of one table of either study (``table["experiment"]`` says which)."""
    return KINDS[table["experiment"]][0](records_, table, links)


def views(records_):
    """Every table of these studies the records hold: the binary students' first, each the newest first."""
    out = []
    for experiment in KINDS:
        found = [view(records_, table, links) for table, links in groups(records_, experiment)]
        out += sorted(found, key=lambda v: max(s["date"] for s in v["sources"]), reverse=True)
    return out


def markdown(v):
    return KINDS[v["experiment"]][1](v)


def title(v):
    return (f"{KINDS[v['experiment']][2]} on {v['data']['name']}, {v['preset']} preset" +
            ("" if not v["deviations"] else " (a run that differs from it)"))


def figures(v):
    """The figures of a view that have something to show: [(name, function of (view, path))]."""
    return [(name, fn) for name, fn in plots.figures_for(v) if not plots.why_not(v, name)]
