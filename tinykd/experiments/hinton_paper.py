"""Hinton, Vinyals & Dean (2015) §3 on MNIST at the paper's fidelity, on records, each number beside the paper's:

1. The teacher: 784-1200-1200-10 with dropout (0.2 on the input, 0.5 on the hidden layers), a max-norm bound on
   each unit's incoming weights, ±2-pixel jitter; its learning rate, norm bound (and, on any data, whether jitter
   and how much dropout help) and epochs chosen on the validation split (``selection``); then retrained with the
   chosen recipe on the training and validation images together (paper: 67 test errors).
2. The students, 784-800-800-10: on the labels alone (paper 146) and distilled at τ = 20 from that teacher on the
   un-jittered transfer set (paper 74), one budget for both, its epochs chosen on validation, three seeds each.
3. The mythical 3 (no 3 in the transfer set; the 3's bias raised by a shift chosen on validation; paper 109 errors,
   14 on the 1,010 test 3s) and the 7s and 8s (only them in the transfer set; their biases lowered; paper 13.2%).
4. An ensemble teacher, the setting of the paper's title: the networks that never saw the validation images (the
   candidates, the held-out teacher and its recipe from ``ENSEMBLE_SEEDS`` - 1 more initial seeds) averaged, which
   of them and whether their probabilities or their logits, chosen on validation (``ensemble.select``); its
   students distilled at τ = 20 with the students' budget, three seeds, held to the paper's 67 (teacher) and 74
   (distilled student).

The students' choices (their budget, the shifts) are made in a *held-out world*: the chosen recipe trained on the
training split only, its students on that split, so that no network that shapes them has seen the validation
images. A teacher retrained on the validation images would pass what it learnt of them to its students through its
soft targets, and the students' validation errors would flatter them (docs/guide.md gives the measurement). The
final students then train with those choices on every labelled row, from the final teacher.

Every network (each candidate teacher, the final teacher, each student) leaves a record; a rerun trains only what
is missing, so an interrupted run resumes where it stopped (an interrupted network continues from its last epoch).
The table and the learning-curve figure are a view of the records (``views``, ``markdown``, ``title``, ``figures``).
"""
import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..backend import get_array_module, resolve, to_device, to_host
from ..distill import KD, Supervised
from ..runs.spec import EnsembleSpec
from . import plots, shared
from .omitted_classes import (KEPT, OMITTED, PAPER, check_classes, kept_rows, omit_3, omit_3_at, only_7_8,
                              only_7_8_at)
from .selection import WINDOW, candidates, choose, grid, halve, recipe_of, rungs, successive
from ..checks import check_real
from .settings import ConfigError, Settings, check_counts, data_deviations
from .setup import Setup, log, one_at_a_time

TEMPERATURE, KD_WEIGHT = 20.0, 0.9
SEARCHES = {"changes": candidates, "grid": grid}   # the teacher recipes a search compares (``selection``)
ENSEMBLE_SEEDS = 3   # the held-out teacher and the same recipe from 2 more initial seeds, all in the ensemble's pool
GOALS = {"teacher": 70, "distilled": 80, "threes_right": 0.98, "after_shift": 109, "ensemble": 67,
         "ensemble_distilled": 74}


@dataclass
class HintonPaper(Settings):
    """The paper preset's settings: the teacher candidates' learning rates and max-norm bounds (the first of each
    the base recipe's), the teacher's decay per epoch, the students' longest run (their budget is chosen on its
    curves), rate and decay, the seeds per student, and how the teacher's recipe is searched (``search``: the
    candidates ``SEARCHES`` names; ``halvings``: the rounds of successive halving, ``selection.rungs``)."""
    lr: list = field(default_factory=lambda: [1e-3, 5e-4])
    max_norm: list = field(default_factory=lambda: [3.0, 4.0])
    teacher_decay: float = 0.97
    student_epochs: int = 50
    student_lr: float = 1e-3
    student_decay: float = 0.95
    seeds: int = 3
    search: str = "changes"            # "changes": the base recipe and one change at a time; "grid": every combination
    halvings: int = 0                  # successive halving: the candidates first train teacher_epochs / 2^halvings

    PRESETS: ClassVar[dict] = {"full": {"teacher_epochs": 90},
                               "quick": {"teacher_epochs": 2, "student_epochs": 3, "seeds": 1, "subset": 3000}}
    NAME: ClassVar[str] = "{data}_hinton_paper{preset}"

    def check(self):
        check_counts(self, teacher_epochs=1, student_epochs=1, seeds=1)   # the selection reads validation curves
        for name in ("lr", "max_norm"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)) or not values:
                raise ConfigError(f"{name} must be a list of numbers > 0, the first the base recipe's; got {values!r}")
            for v in values:
                check_real(name, v, low_open=True, error=ConfigError)
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:     # a second candidate of the same recipe would be the first, trained again
                raise ConfigError(f"{name} lists {', '.join(f'{v:g}' for v in twice)} more than once; list each once")
        if self.search not in SEARCHES:
            raise ConfigError(f"unknown search {self.search!r}: expected one of {', '.join(SEARCHES)}")
        check_counts(self, halvings=0)
        if self.teacher_epochs < 2 ** self.halvings:
            raise ConfigError(f"halvings {self.halvings} halve the teacher's {self.teacher_epochs} epochs below one; "
                              f"give at least {2 ** self.halvings} teacher epochs or fewer halvings")
        check_real("student_lr", self.student_lr, low_open=True, error=ConfigError)
        for name in ("teacher_decay", "student_decay"):
            check_real(name, getattr(self, name), low_open=True, high=1.0, error=ConfigError)
        if self.val == 0:
            raise ConfigError("val 0: the teacher's recipe, the students' epochs and the bias shifts are chosen on a "
                              "validation split; hold out some images (default 1/12)")


def teacher_spec(setup, recipe, epochs, decay, role="teacher-candidate", **extra):
    return setup.spec(role, setup.cfg.teacher_sizes, epochs, recipe["lr"], jitter=recipe["jitter"],
                      dropout=recipe["dropout"], input_dropout=recipe["input_dropout"], max_norm=recipe["max_norm"],
                      decay=decay, extra=extra)


def student_spec(setup, teacher, kind, epochs, s, seed, role, **rows):
    """A student on the labels alone (``kind`` "alone") or distilled at τ = 20 from the teacher whose record key is
    ``teacher``, on an exponential schedule; ``rows``: which world's rows and what was done to them."""
    objective = (Supervised, {}) if kind == "alone" else \
        (KD, dict(temperature=TEMPERATURE, weight=KD_WEIGHT, form="hinton"))
    return setup.spec(role, s.student_sizes, epochs, s.student_lr, jitter=None, seed=seed, objective=objective,
                      decay=s.student_decay, extra={"kind": kind, "teacher": teacher, **rows})


@one_at_a_time("hinton_paper")
def run(s):
    """The whole preset (``s``: ``HintonPaper``); returns the view."""
    setup = Setup(s, check=lambda ds: check_classes(ds, ds.x_train.shape[0]))
    x, y, xv, yv, _, _ = setup.arrays
    shape = tuple(setup.ds.input_shape)
    table = shared.as_stored({"experiment": "hinton_paper", "name": s.results_name(setup.data["name"]),
                              "preset": s.preset, "settings": {k: getattr(s, k) for k in s.own()},
                              "deviations": {**s.deviations(), **data_deviations(s, setup.ds)}})
    keys = []   # the students (and the ensemble) this run asks for: its table shows exactly them

    def ask(key):
        keys.append(key)
        setup.store.plan(table, links, keys)

    def curve(rec):
        return [h["val_errors"] for h in rec["result"]["history"]]

    # 1. the teacher's recipe and epochs, on validation (each rung of successive halving trains the better half of
    # the last one twice as long); then the recipe on every labelled row
    cands, budgets = SEARCHES[s.search](s), rungs(s.teacher_epochs, s.halvings)
    found, alive = {}, list(cands)
    for i, epochs in enumerate(budgets):
        for name in alive:
            # a recorded candidate is not even loaded: only its curve is needed, and a longer run's says as much
            runs = [teacher_spec(setup, cands[name], e, s.teacher_decay) for e in budgets[i:]]
            found[name] = next((rec for rec in map(setup.record, runs) if rec is not None), None)
            if found[name] is None:
                log(f"teacher candidate {name} for {epochs} epoch{'s' if epochs != 1 else ''}: {cands[name]}")
                found[name] = setup.run(runs[0], image_shape=shape)[1]
        if i + 1 < len(budgets):
            alive = halve({name: curve(found[name]) for name in alive}, epochs)
    winner, epochs, scores = choose(successive({name: curve(rec) for name, rec in found.items()}, budgets))
    log(f"chosen on validation: {winner} ({cands[winner]}), {epochs} epochs (smoothed validation errors "
        f"{scores[winner][0]:.1f})")
    final = teacher_spec(setup, cands[winner], epochs, s.teacher_decay, role="teacher",
                         rows="training and validation")
    # the held-out teacher: the chosen recipe for the chosen epochs on the training split, a candidate run (the
    # winner's own record when the best epoch is its last)
    held = teacher_spec(setup, cands[winner], epochs, s.teacher_decay)
    # the same recipe on the same rows from other initial seeds: ensemble members that differ by more than a recipe
    more = [dataclasses.replace(held, role="teacher-member", seed=i) for i in range(1, ENSEMBLE_SEEDS)]
    xp = resolve(s.backend)
    x_all, y_all = xp.concatenate([x, xv]), xp.concatenate([y, yv])
    links = {"teacher": setup.key(final), "held_out_teacher": setup.key(held),
             "candidates": [[name, rec["key"]] for name, rec in found.items()]}   # a list: the order is kept
    # two worlds (the module's docstring says why): the students' choices in the held-out one, then the final one
    worlds = {"held-out": _World(setup, held, (x, y), (xv, yv), shape, links["held_out_teacher"], "training"),
              "final": _World(setup, final, (x_all, y_all), None, shape, links["teacher"], "training and validation")}
    if setup.record(final) is None:
        worlds["final"].model()        # the final teacher now: it is the preset's first result
    log(f"the final teacher ({winner} for {epochs} epochs, on the training and validation images): "
        f"{setup.record(final)['result']['errors']} test errors")

    # the ensemble: which of the networks that never saw the validation images (the candidates, the held-out
    # teacher and its other seeds) to average, and how, chosen on those images; its students learn from every
    # labelled row
    pool = {rec["key"]: teacher_spec(setup, cands[name], rec["identity"]["epochs"], s.teacher_decay)
            for name, rec in found.items()}     # each candidate as far as it trained
    pool.update({setup.key(m): m for m in more})
    order = list(dict.fromkeys([*(rec["key"] for rec in found.values()), links["held_out_teacher"],
                                *(setup.key(m) for m in more)]))   # each network once
    ens = EnsembleSpec("teacher-ensemble", tuple(order), setup.data["fingerprint"], s.backend)

    def members(keys):
        return {k: worlds["held-out"].model() if k == links["held_out_teacher"] else
                setup.model(pool[k], arrays=(x, y, xv, yv), image_shape=shape) for k in keys}

    def assemble(need_model=False):
        return setup.runner.assemble(ens, members, setup.arrays[4:], (xv, yv), need_model=need_model, links=links)
    ens_rec = assemble()[1]
    ask(ens_rec["key"])
    log(f"the ensemble chosen on validation: {len(ens_rec['result']['members'])} network(s), the average of their "
        f"{ens_rec['result']['average']}: {ens_rec['result']['errors']} test errors")
    worlds["ensemble"] = _World(setup, None, (x_all, y_all), None, shape, ens_rec["key"], "training and validation",
                                logits=lambda rows: assemble(need_model=True)[0].logits(rows, TEMPERATURE))

    out = f"{s.out_dir}/{table['name']}"

    def view_of():
        v = view(setup.store.all(), table, links, keys)
        v["data"] = setup.data   # the file this run was given (two files may hold one content)
        v["keys"] = list(dict.fromkeys([links["teacher"], links["held_out_teacher"],
                                        *(k for _, k in links["candidates"]), *(setup.key(m) for m in more), *keys]))
        return v

    # 2. the students' budget, chosen in the held-out world on the mean of both students' validation curves
    def student(world, kind, epochs, seed, role, **rows):
        w = worlds[world]
        spec = student_spec(setup, w.key, kind, epochs, s, seed, role, rows=w.rows, **rows)
        ask(setup.key(spec))
        rec = setup.record(spec)
        if rec is None:
            v = view_of()
            shared.write(out, v, markdown(v))   # the table so far: <name>.partial.md until every row is there
            rec = w.train(spec, links)
        return rec

    sel = {kind: student("held-out", kind, s.student_epochs, 0, "student-selection")
           for kind in ("alone", "distilled")}
    s_epochs = student_budget({kind: curve(rec) for kind, rec in sel.items()})
    log(f"the students' budget chosen on validation: {s_epochs} epochs")
    # 3. the bias shifts, chosen in the held-out world; then the final world: 3 seeds each, the shifts applied
    shifts = {role: student("held-out", "distilled", s_epochs, 0, f"{role}-held-out", **classes)["result"]["bias_shift"]
              for role, classes in SHIFTED.items()}
    for seed in range(s.seeds):
        for kind in ("alone", "distilled"):
            student("final", kind, s_epochs, seed, "student")
    for seed in range(s.seeds):
        student("ensemble", "ensemble", s_epochs, seed, "student")
    for role, classes in SHIFTED.items():
        student("final", "distilled", s_epochs, 0, role, bias_shift=shifts[role], **classes)
    return shared.publish(out, view_of(), markdown, figures, s)


SHIFTED = {"omit-3": {"without_classes": OMITTED}, "only-7-8": {"only_classes": KEPT}}
KINDS = ("alone", "distilled", "ensemble")   # the students: on the labels, from the teacher, from the ensemble


def student_budget(curves):
    """The students' epochs: where the mean of the two selection students' validation curves (``curves``: alone,
    distilled), smoothed as ``selection.choose`` smooths, is lowest."""
    return choose({"both": [(a + b) / 2 for a, b in zip(curves["alone"], curves["distilled"])]})[1]


class _World:
    """A teacher and the rows its students learn from: ``held-out`` (the chosen recipe on the training split, the
    validation split kept for the students' choices), ``final`` (every labelled row, nothing held out) or
    ``ensemble`` (every labelled row, from the ensemble, whose ``logits(rows)`` at τ the world is given). The
    teacher is trained or loaded, and its logits on the transfer set computed, when a student first needs them."""

    def __init__(self, setup, spec, rows, val, shape, key, name, logits=None):
        self.setup, self.spec, self.xy, self.val, self.shape, self.key, self.rows = \
            setup, spec, rows, val, shape, key, name
        self.teacher_logits = logits or (lambda x: self.model().logits(x))
        self._model = self._logits = None

    def model(self):
        if self._model is None:
            arrays = (*self.xy, *(self.val or (None, None)))
            self._model = self.setup.model(self.spec, arrays=arrays, image_shape=self.shape,
                                           held_out=self.val is not None)
        return self._model

    def train(self, spec, links):
        """Train the student ``spec`` asks for on this world's rows (those its ``extra`` keeps); its record: test
        errors, validation curve (held-out world only) and the shifts: chosen on validation in the held-out world,
        applied as its identity says in the final one."""
        if self._logits is None:   # the teacher's logits on the un-jittered transfer set, once
            self._logits = self.teacher_logits(self.xy[0])
        x, y, t, rows = *self.xy, self._logits, spec.extra
        y_host = to_host(y)
        keep = kept_rows(y_host, rows)
        if keep is not None:
            idx = to_device(keep, get_array_module(x))
            x, y, t = x[idx], y[idx], t[idx]
        xv, yv = self.val or (None, None)
        _, _, _, _, xt, yt = self.setup.arrays

        def measure(model):
            out = {"seed": spec.seed, "transfer_rows": int(x.shape[0])}
            test, yt_host = to_host(model.logits(xt)), to_host(yt)
            if "bias_shift" in rows:     # the final world: the shift chosen in the held-out one
                at = omit_3_at if "without_classes" in rows else only_7_8_at
                out.update(at(test, yt_host, rows["bias_shift"]))
            elif keep is not None:
                choose_shift = omit_3 if "without_classes" in rows else only_7_8
                out.update(choose_shift(to_host(model.logits(xv)), test, to_host(yv), yt_host))
            return out
        _, rec = self.setup.run(spec, rows=(x, y, xv, yv), teacher=t, measure=measure, links=links,
                                label=f"{spec.role} {rows['kind']} seed {spec.seed}", progress=False)
        log(f"  {spec.role} {rows['kind']} seed {spec.seed}: {rec['result']['errors']} test errors "
            f"({rec['result']['seconds']:.0f} s)")
        return rec


# ---------------------------------------------------------------------------------------------------- view
def view(records_, table, links, keys):
    """The record of one run of the preset: the candidates and their curves, the choice, the teacher, the
    students, the shifts, the goals met or not, and the training time the records hold."""
    by_key = {r["key"]: r for r in records_}
    rows = shared.rows_of(records_, keys)
    v = {**shared.common_view(records_, table, {"teacher": links["teacher"]}, rows), "paper": PAPER, "goals": GOALS,
         "settings": table["settings"]}
    keys = dict(links["candidates"])

    def of(role, kind=None):
        return sorted((r for r in rows if r["identity"]["role"] == role and kind in (None, r["identity"].get("kind"))),
                      key=lambda r: r["result"].get("seed", 0))
    pool = of("teacher-ensemble")[0]["identity"]["model"]["members"] if of("teacher-ensemble") else []
    learnt_from = [r["identity"]["teacher"] for r in rows if r["identity"].get("teacher")]   # the ensemble's too
    teachers = shared.linked(by_key, list(dict.fromkeys([links["teacher"], links["held_out_teacher"],
                                                         *keys.values(), *pool, *learnt_from])), table["name"])
    networks = list({r["key"]: r for r in teachers + rows}.values())     # each once
    v["sources"] = shared.sources([r for r in networks if r["identity"]["role"] != "teacher-ensemble"])
    cands = {name: by_key[k]["result"] for name, k in keys.items()}
    curves = {name: [h["val_errors"] for h in r["history"]] for name, r in cands.items()}
    curves = successive(curves, rungs(max(map(len, curves.values())), table["settings"]["halvings"]))
    winner, epochs, scores = choose(curves)
    # the window as smoothed: a curve shorter than WINDOW is its own mean
    v["selection"] = {"window": min(WINDOW, max(map(len, curves.values()))), "winner": winner, "epochs": epochs,
                      "search": table["settings"]["search"], "halvings": table["settings"]["halvings"],
                      "scores": scores, "curves": curves,
                      "recipes": {name: recipe_of(by_key[key]["identity"]) for name, key in keys.items()}}
    v["n_test"] = v["data"]["n_test"]
    v["students"] = {kind: {"runs": [r["result"] for r in of("student", kind)],
                            **shared.mean_std([r["result"]["errors"] for r in of("student", kind)] or [np.nan])}
                     for kind in KINDS if of("student", kind)}
    if of("teacher-ensemble"):
        e = of("teacher-ensemble")[0]
        held_key = links["held_out_teacher"]    # a candidate itself when the chosen epochs were the winner's last
        names = {held_key: "held-out teacher", **{k: name + (", the held-out teacher" if k == held_key else "")
                                                  for name, k in keys.items()},
                 **{k: f"held-out teacher, seed {by_key[k]['identity']['seed']}" for k in pool
                    if by_key[k]["identity"]["role"] == "teacher-member"}}
        v["ensemble"] = {**e["result"], "names": [names[k] for k in e["result"]["members"]],
                         "pool": [names[k] for k in e["identity"]["model"]["members"]],
                         "steps": {how: [[[names[k] for k in ks], *rest] for ks, *rest in trace]
                                   for how, trace in e["result"].get("selection", {}).items()},
                         "members_seconds": sum(by_key[k]["result"].get("seconds", 0.0)
                                                for k in dict.fromkeys(e["result"]["members"])),
                         "own_seconds": sum(by_key[k]["result"].get("seconds", 0.0) for k in dict.fromkeys(pool)
                                            if by_key[k]["identity"]["role"] == "teacher-member")}
    sel = {r["identity"]["kind"]: r["result"] for r in of("student-selection")}
    v["student_selection"] = {k: [h["val_errors"] for h in sel[k]["history"]] for k in KINDS if k in sel}
    if of("student"):
        v["student_epochs"] = of("student")[0]["identity"]["epochs"]
    elif {"alone", "distilled"} <= set(sel):      # chosen, before any final student trained
        v["student_epochs"] = student_budget(v["student_selection"])
    for key, role in (("omit_3", "omit-3"), ("only_7_8", "only-7-8")):
        if of(role):
            v[key] = of(role)[0]["result"]
    held = by_key.get(links.get("held_out_teacher"))
    if held is not None:
        v["held_out_teacher"] = held["result"]
    if held is not None and "alone" in sel:
        flag, line = shared.teacher_check(held["result"], sel["alone"],
                                          f"the student alone ({len(sel['alone']['history'])} "
                                          "epochs, seed 0; both trained on the training split only)")
        v.update(teacher_not_better=flag, teacher_check=line, why=_why(v["selection"]) if flag else None)
        if "ensemble" in v:
            e, plain = v["ensemble"]["validation_errors"], sel["alone"]["validation_errors"]
            v["ensemble_check"] = (f"The ensemble {'beats' if e < plain else '**does not beat**'} the student alone on "
                                   f"validation ({e} vs {plain} errors; it was chosen on these images, so a win is "
                                   "flattered and a loss is not).")
    seeds = table["settings"]["seeds"]
    v["missing"] = [f"{kind} students: {seeds - v['students'].get(kind, {}).get('n', 0)} of {seeds} seeds"
                    for kind in KINDS if v["students"].get(kind, {}).get("n", 0) < seeds] + \
        ([] if "ensemble" in v else ["the ensemble teacher"]) + \
        [what for what, key in (("the mythical-3 student", "omit_3"), ("the 7s-and-8s student", "only_7_8"))
         if key not in v] + \
        [f"the {kind} student that chose the budget" for kind in ("alone", "distilled") if kind not in sel]
    v["complete"] = not v["missing"]
    v["seconds_total"] = sum(r["result"].get("seconds", 0.0) for r in networks)
    return v


def _why(sel):
    """Why the chosen teacher may lose to a plain student, from the selection's curves: recipes whose validation
    errors still fell when their budget ended (a recipe's best smoothed epoch is its last, on a curve longer than
    the smoothing window), curves too short to tell, or recipes that all stopped improving before the end. Only
    the recipes trained for the whole budget count (successive halving stopped the others on purpose)."""
    longest = max(len(curve) for curve in sel["curves"].values())
    n = {name: len(curve) for name, curve in sel["curves"].items() if len(curve) == longest}
    window = sel["window"]
    if min(n.values()) <= window:
        return (f"the teachers' curves ({min(n.values())} epochs, smoothed over {window}) are too short to tell "
                "whether a longer budget would help; a longer --teacher-epochs may")
    falling = [name for name, (_, at) in sel["scores"].items() if name in n and at == n[name]]
    if falling:
        return (f"the validation errors of {', '.join(f'`{name}`' for name in falling)} were still falling at the "
                "last epoch, so a longer --teacher-epochs may let a teacher win")
    return (f"every recipe tried stopped improving before its budget ended (the chosen one at epoch {sel['epochs']} "
            f"of {n[sel['winner']]}): on this data they hold the network back more than the budget repays; the "
            "ensemble's line says whether averaging them does better, and other --lr, --max-norm, --jitter or "
            "dropout may" + ("" if sel["search"] == "grid" else ", or their combinations (--search grid)"))


def views(records_):
    """Every run of the preset the records hold, the newest first."""
    return shared.views(records_, "hinton_paper", view)


def title(v):
    return shared.title("Hinton, Vinyals & Dean (2015) §3 at the paper's fidelity", v)


def _seeds(n):
    return f"{n} seed{'' if n == 1 else 's'}"


def _met(ok):
    return "yes" if ok else "**no**"


def markdown(v):
    """The results beside the paper's numbers and the goals, the teacher's selection, and the time."""
    p, g, sel = v["paper"], v["goals"], v["selection"]
    t = v["teacher"]
    lines = ["Hinton, Vinyals & Dean (2015) §3, at the paper's fidelity: test errors out of "
             f"{v['n_test']:,} (every model's last weights, counted once; every choice made on the "
             f"{v['data']['n_val']:,} validation images, none on the test set).", ""] + shared.header(v)
    if "teacher_check" in v:
        lines += shared.teacher_banner(v) + (["", f"Why: {v['why']}."] if v.get("why") else []) + \
            (["", v["ensemble_check"]] if "ensemble_check" in v else [])
    lines += ["", "| | paper | tinykd | goal | met |", "|---|---|---|---|---|",
              f"| teacher 784-1200-1200-10: `{sel['winner']}` for {sel['epochs']} epochs, retrained on the training "
              f"and validation images | {p['teacher']} | {t['errors']} | ≤ {g['teacher']} | "
              f"{_met(t['errors'] <= g['teacher'])} |"]
    st = v.get("students", {})
    if st:
        e = v.get("student_epochs")
        lines.append(f"| student 784-800-800-10 alone ({e} epochs, {_seeds(st.get('alone', {}).get('n', 0))}) | "
                     f"{p['student_alone']} | {shared.fmt(st['alone']) if 'alone' in st else '–'} | | |")
        if "distilled" in st:
            d = st["distilled"]
            lines.append(f"| the same, distilled at τ = {TEMPERATURE:g} ({e} epochs, {_seeds(d['n'])}) | "
                         f"{p['distilled']} | **{shared.fmt(d)}** | ≤ {g['distilled']} | "
                         f"{_met(d['mean'] <= g['distilled'])} |")
    lines += _ensemble_rows(v, names=True)
    if "omit_3" in v:
        o = v["omit_3"]
        right = 1 - o["errors_on_3_after_shift"] / o["n_test_3"]
        lines += [f"| no 3 in the transfer set: errors (on the {o['n_test_3']:,} test 3s) | {p['omit_3'][0]} "
                  f"({p['omit_3'][1]}) | {o['errors']} ({o['errors_on_3']}) | | |",
                  f"| … after raising the 3's bias (ours +{o['bias_shift']:g}, chosen on validation; the paper's "
                  f"+{p['omit_3'][2]:g}, on the test set) | {p['omit_3'][3]} ({p['omit_3'][4]}) | "
                  f"{o['errors_after_shift']} ({o['errors_on_3_after_shift']}: {100 * right:.1f}% of the 3s right) | "
                  f"≥ {100 * g['threes_right']:g}% of the 3s right, ≤ {g['after_shift']} in all | "
                  f"{_met(right >= g['threes_right'] and o['errors_after_shift'] <= g['after_shift'])} |"]
    if "only_7_8" in v:
        o = v["only_7_8"]
        lines += [f"| only 7s and 8s in the transfer set: test error | {p['only_7_8'][0]}% | {o['error_rate']:.1f}% "
                  "| | |", f"| … after lowering their biases (ours {o['bias_shift']:g} on validation; the paper's "
                  f"{p['only_7_8'][1]:g} on the test set) | {p['only_7_8'][2]}% | {o['error_rate_after_shift']:.1f}% "
                  "| | |"]
    if "ensemble" in v and v["data"]["name"] == "mnist":
        lines += ["", "The paper distils an ensemble only in its speech experiments (§4); on MNIST the ensemble rows are "
                      f"held to its single teacher's and distilled student's numbers ({p['teacher']}, "
                      f"{p['distilled']})."]
    if v["data"]["name"] != "mnist":
        lines += ["", f"The paper's numbers and the goals are MNIST's, out of 10,000 test images: on "
                      f"{v['data']['name']} they measure nothing; compare its rows with each other."]
    trained = {name: len(curve) for name, curve in sel["curves"].items()}
    halved = len(set(trained.values())) > 1
    how = ["every combination of the changes"] if sel["search"] == "grid" else []
    if halved:
        how.append("successive halving: each candidate trained " + ", then ".join(
            str(e) for e in sorted(set(trained.values()))) + " epochs while it stayed in the better half")
    lines += ["", f"The teacher's recipe, chosen on validation (validation errors out of {v['data']['n_val']:,}, "
                  f"the mean over {sel['window']} consecutive epochs, at its lowest; Adam with the rate decayed "
                  "exponentially" + "".join(f"; {h}" for h in how) + "):", "",
              "| candidate | learning rate | max-norm | jitter | dropout (input, hidden) | validation errors | at epoch |"
              + (" epochs trained |" if halved else ""), "|---|---|---|---|---|---|---|" + ("---|" if halved else "")]
    for name, (score, at) in sel["scores"].items():
        r = sel["recipes"][name]
        mark = "**" if name == sel["winner"] else ""
        lines.append(f"| {mark}{name}{mark} | {r['lr']:g} | {r['max_norm']:g} | ±{r['jitter']} | "
                     f"{r['input_dropout']:g}, {r['dropout']:g} | {score:.1f} | {at} |" +
                     (f" {trained[name]} |" if halved else ""))
    if v.get("student_selection"):
        held = v.get("held_out_teacher")
        lines += ["", f"The students' choices were made where the validation images are held out: the teacher's "
                      f"chosen recipe trained on the {v['data']['n_train']:,} training images only"
                      + (f" ({held['validation_errors']} validation errors at its last epoch)" if held else "") +
                      ", and its students on those images. Their budget, "
                      f"{v.get('student_epochs', '–')} epochs, is where the mean of the two students' validation "
                      "curves (seed 0, smoothed alike) is lowest; each bias shift is the one with the fewest validation "
                      "errors for a student trained as in its row. The students in the table then trained with "
                      "those choices on the training and validation images, from the final teacher (which has seen "
                      "the validation images: a student of it is scored on validation for no choice)."]
    if "ensemble" in v:
        en = v["ensemble"]
        lines += ["", "The ensemble teacher, chosen on validation from the networks that never saw the validation "
                      f"images ({', '.join(f'`{n}`' for n in en['pool'])}): for each average, each step adds the "
                      "network that gives the fewest validation errors (then the lowest validation cross-entropy, at "
                      "τ = 1), until none lowers them; the average whose last step scores lower wins (its validation "
                      "errors, being chosen on them, flatter it). Its members' training: "
                      f"{en['members_seconds'] / 60:.0f} min. The pool's networks trained for the ensemble alone (the "
                      f"held-out teacher's recipe from other initial seeds) took {en['own_seconds'] / 60:.0f} min; "
                      "the others were trained anyway (candidates and the held-out teacher).", "",
                  "| average | networks | validation errors | cross-entropy |", "|---|---|---|---|"]
        for how, trace in en["steps"].items():
            for names, errors, ce in trace:
                mark = "**" if how == en["average"] and names == en["names"] else ""
                lines.append(f"| {mark}{how}{mark} | {', '.join(f'`{n}`' for n in names)} | {errors} | {ce:.4f} |")
    lines += ["", f"Training time of these networks: {v['seconds_total'] / 60:.1f} min (candidates, the teachers, "
                  "students; the records' own times)."]
    return "\n".join(lines) + "\n"


def headline(records_):
    """The README's lines for this experiment: the newest complete run of the full preset (as the preset has it) in
    ``records_`` (``headline_of``; none without such a run)."""
    full = [v for v in views(records_) if v["preset"] == "full" and not v["deviations"] and v["complete"]]
    return headline_of(full[0]) if full else []


def headline_of(v):
    """The lines of a complete run's view ``v`` for the README: each number beside the paper's and the goal."""
    p, g, st, o, e = v["paper"], v["goals"], v["students"], v["omit_3"], v["only_7_8"]
    right = 1 - o["errors_on_3_after_shift"] / o["n_test_3"]
    t, d = v["teacher"]["errors"], st["distilled"]
    return ["", f"Hinton, Vinyals & Dean (2015) §3 at the paper's fidelity (`python examples/hinton_paper.py`: "
                f"{v['seconds_total'] / 60:.0f} min of training on 2 cores, the records' own times; every choice made "
                "on validation; the selection and the learning curves are in [docs/results.md](docs/results.md)):",
            "", f"| test errors out of {v['n_test']:,} | paper | tinykd | goal | met |", "|---|---|---|---|---|",
            f"| teacher 784-1200-1200-10, dropout, max-norm, jitter | {p['teacher']} | {t} | ≤ {g['teacher']} | "
            f"{_met(t <= g['teacher'])} |",
            f"| student 784-800-800-10 on the labels | {p['student_alone']} | {shared.fmt(st['alone'])} | | |",
            f"| the same, distilled at τ = {TEMPERATURE:g} | {p['distilled']} | {shared.fmt(d)} | ≤ {g['distilled']} | "
            f"{_met(d['mean'] <= g['distilled'])} |",
            *_ensemble_rows(v),
            f"| no 3 in the transfer set, after the 3's bias shift (errors on the test 3s) | {p['omit_3'][3]} "
            f"({p['omit_3'][4]}) | {o['errors_after_shift']} ({o['errors_on_3_after_shift']}: {100 * right:.1f}% "
            f"right) | ≤ {g['after_shift']} (≥ {100 * g['threes_right']:g}% right) | "
            f"{_met(right >= g['threes_right'] and o['errors_after_shift'] <= g['after_shift'])} |",
            f"| only 7s and 8s in the transfer set, after their bias shift: error rate | {p['only_7_8'][2]}% | "
            f"{e['error_rate_after_shift']:.1f}% | | |"]


def _ensemble_rows(v, names=False):
    """The ensemble's rows of a table (none before it is made): the ensemble beside its goal (``names``: its
    members named), then its students."""
    if "ensemble" not in v:
        return []
    en, g, st = v["ensemble"], v["goals"], v.get("students", {})
    which = ", ".join(f"`{n}`" for n in en["names"]) + "; " if names else ""
    what = (f"the mean of the {en['average']} of {len(en['names'])} networks trained on the training images "
            f"({which}members and average chosen on validation)" if len(en["names"]) > 1 else
            f"one network, `{en['names'][0]}` (no network averaged into it lowered its validation errors)")
    lines = [f"| ensemble teacher as validation chose it: {what} | – | {en['errors']} | ≤ {g['ensemble']} | "
             f"{_met(en['errors'] <= g['ensemble'])} |"]
    if "ensemble" in st:
        d = st["ensemble"]
        lines.append(f"| the student, distilled at τ = {TEMPERATURE:g} from the ensemble "
                     f"({v.get('student_epochs')} epochs, {_seeds(d['n'])}) | – | **{shared.fmt(d)}** | "
                     f"≤ {g['ensemble_distilled']} | {_met(d['mean'] <= g['ensemble_distilled'])} |")
    return lines


def figures(v):
    """The learning curves: every candidate teacher's validation errors per epoch and the two students'."""
    return [("curves", _curves)]


def _curves(v, path):
    sel = v["selection"]
    lines = [(1, c, dict(lw=1.1, label=f"teacher: {name}", **plots.line_style(i)) if name != sel["winner"] else
              dict(color="black", lw=2.5, label=f"teacher: {name} (chosen)"))
             for i, (name, c) in enumerate(sel["curves"].items())]
    lines += [(1, c, dict(color="grey", lw=2, ls="--" if kind == "alone" else ":", label=f"student {kind}"))
              for kind, c in v.get("student_selection", {}).items()]
    return plots.val_curves(v, path, lines, "epoch", f"Validation curves, {v['data']['name']}: the teacher's "
                             "candidates and the students", size=(plots.WIDTH, 5.0), legend_size=7, ncol=2,
                            loc="upper center", bbox_to_anchor=(0.5, -0.19))
