"""Hinton, Vinyals & Dean (2015) §3 on MNIST at the paper's fidelity, on records, each number beside the paper's:

1. The teacher: 784-1200-1200-10 with dropout (0.2 on the input, 0.5 on the hidden layers), a max-norm bound on
   each unit's incoming weights, ±2-pixel jitter; its learning rate, norm bound (and, on any data, whether jitter
   and how much dropout help) and epochs chosen on the validation split (``tinykd.selection``); then retrained
   with the chosen recipe on the training and validation images together (paper: 67 test errors).
2. The students, 784-800-800-10: on the labels alone (paper 146) and distilled at τ = 20 from that teacher on the
   un-jittered transfer set (paper 74), one budget for both, its epochs chosen on validation, three seeds each.
3. The mythical 3 (no 3 in the transfer set; the 3's bias raised by a shift chosen on validation; paper 109 errors,
   14 on the 1,010 test 3s) and the 7s and 8s (only them in the transfer set; their biases lowered; paper 13.2%).

Every network (each candidate teacher, the final teacher, each student) leaves a record; a rerun trains only what
is missing, so an interrupted run resumes where it stopped (an interrupted network continues from its last epoch).
The table and the learning-curve figure are a view of the records (``views``, ``markdown``, ``title``, ``figures``).
"""
import json

import numpy as np

import time

from . import records, report, transfer
from .backend import get_array_module as get_xp
from .backend import resolve, to_device, to_host
from .config import ConfigError, data_label
from .distill import KD, Supervised
from .hinton import KEPT, OMITTED, PAPER, check_data, omit_3, only_7_8
from .layers import MLP
from .optim import Adam
from .prepare import Setup, Spec, log
from .schedules import ExponentialSchedule
from .selection import WINDOW, choose
from .studies import common_view, groups, header, rows_of
from .tables import teacher_check
from .train import errors, fit

TEMPERATURE, KD_WEIGHT = 20.0, 0.9
GOALS = {"teacher": 70, "distilled": 80, "threes_right": 0.98, "after_shift": 109}


def candidates(cfg, values):
    """The teacher recipes the selection compares: the base recipe (the first learning rate and norm bound, the
    configuration's jitter and dropout), then one setting changed at a time: each other learning rate, each other
    norm bound, no jitter (when the base has some), half the dropout. The same candidates on any data: a setting
    that does not suit the data loses on its validation split."""
    base = {"lr": values["lr"][0], "max_norm": values["max_norm"][0], "jitter": cfg.jitter,
            "dropout": cfg.teacher_dropout, "input_dropout": cfg.teacher_input_dropout}
    out = {"base": base}
    out.update({f"lr {lr:g}": {**base, "lr": lr} for lr in values["lr"][1:]})
    out.update({f"max-norm {c:g}": {**base, "max_norm": c} for c in values["max_norm"][1:]})
    if cfg.jitter:
        out["no jitter"] = {**base, "jitter": 0}
    if cfg.teacher_dropout or cfg.teacher_input_dropout:
        out["half the dropout"] = {**base, "dropout": cfg.teacher_dropout / 2,
                                   "input_dropout": cfg.teacher_input_dropout / 2}
    return out


def teacher_spec(cfg, recipe, epochs, decay, role="teacher-candidate", **extra):
    return Spec(role, tuple(cfg.teacher_sizes), epochs, recipe["lr"], recipe["dropout"], recipe["input_dropout"],
                recipe["jitter"], max_norm=recipe["max_norm"], decay=decay, extra=extra)


def student_objective(kind):
    return Supervised() if kind == "alone" else KD(temperature=TEMPERATURE, weight=KD_WEIGHT, form="hinton")


def student_identity(setup, cfg, links, kind, epochs, values, seed, role, **rows):
    model = MLP(cfg.student_sizes, seed=seed, backend=resolve(cfg.backend))
    objective = student_objective(kind)
    schedule = ExponentialSchedule(values["student_lr"], values["student_decay"])
    return {"data": setup.data["fingerprint"], "role": role, "kind": kind, "teacher": links["teacher"],
            "model": model.describe(), "optimizer": Adam(model, lr=values["student_lr"]).describe(),
            "schedule": schedule.describe(), "objective": objective.describe(), "epochs": epochs,
            "batch_size": cfg.batch_size, "seed": seed, "backend": cfg.backend, **rows}


def recipe_of(ident):
    """What a teacher's identity says of its recipe, as ``candidates`` writes one."""
    return {"lr": ident["optimizer"]["lr"], "max_norm": ident["optimizer"].get("max_norm"), "jitter": ident["jitter"],
            "dropout": ident["model"]["dropout"], "input_dropout": ident["model"]["input_dropout"]}


def run(cfg, values, reference):
    """The whole preset; returns the view. ``values``: the preset's settings (``examples/hinton_paper.py``)."""
    if cfg.val == 0:
        raise ConfigError("val 0: the teacher's recipe, the students' epochs and the bias shifts are chosen on a "
                          "validation split; hold out some images (default 1/12)")
    setup = Setup(cfg, check=lambda ds: check_data(ds, 0))
    x, y, xv, yv, _, _ = setup.arrays
    shape = tuple(setup.ds.input_shape)
    table = json.loads(json.dumps({"experiment": "hinton_paper", "name": f"{data_label(cfg, setup.data['name'])}"
                                   "_hinton_paper" + (
        "" if cfg.preset == "full" else f"_{cfg.preset}"), "preset": cfg.preset, "settings": values, "deviations": {
        k: v for k, v in values.items() if v != reference.get(k)}}, sort_keys=True))
    store = setup.store

    def curve(rec):
        return [h["val_errors"] for h in rec["result"]["history"]]

    # 1. the teacher's recipe and epochs, on validation; then the recipe on every labelled row
    cands = candidates(cfg, values)
    for name, recipe in cands.items():
        log(f"teacher candidate {name}: {recipe}")
        setup.model(teacher_spec(cfg, recipe, cfg.teacher_epochs, values["teacher_decay"]), image_shape=shape)
    found = {name: setup.record(teacher_spec(cfg, r, cfg.teacher_epochs, values["teacher_decay"]))
             for name, r in cands.items()}
    winner, epochs, scores = choose({name: curve(rec) for name, rec in found.items()})
    log(f"chosen on validation: {winner} ({cands[winner]}), {epochs} epochs (smoothed validation errors "
        f"{scores[winner][0]:.1f})")
    final = teacher_spec(cfg, cands[winner], epochs, values["teacher_decay"], role="teacher",
                         rows="training and validation", selected_from=sorted(r["key"] for r in found.values()))
    xp = resolve(cfg.backend)
    x_all, y_all = xp.concatenate([x, xv]), xp.concatenate([y, yv])
    links = {"teacher": records.key(setup.identity(final)),
             "candidates": [[name, rec["key"]] for name, rec in found.items()]}   # a list: the order is kept
    teacher = None
    if setup.record(final) is None:
        teacher = setup.model(final, arrays=(x_all, y_all, None, None), image_shape=shape, held_out=False)

    # 2. the students: one budget for both, chosen on validation; then three seeds each
    lab = None

    def student(ident):
        nonlocal lab, teacher
        if store.find(ident) is None:
            if teacher is None:
                teacher = setup.model(final, arrays=(x_all, y_all, None, None), image_shape=shape, held_out=False)
            lab = lab or _Students(setup, teacher, values)
            store.put(ident, lab.train(ident), table=table, links=links, data=setup.data)
        return store.find(ident)

    sel = {kind: student(student_identity(setup, cfg, links, kind, values["student_epochs"], values, 0,
                                          "student-selection")) for kind in ("alone", "distilled")}
    both = [(a + b) / 2 for a, b in zip(curve(sel["alone"]), curve(sel["distilled"]))]
    _, s_epochs, _ = choose({"both": both})
    log(f"the students' budget chosen on validation: {s_epochs} epochs")
    for seed in range(values["seeds"]):
        for kind in ("alone", "distilled"):
            student(student_identity(setup, cfg, links, kind, s_epochs, values, seed, "student"))
    # 3. the mythical 3 and the 7s and 8s
    student(student_identity(setup, cfg, links, "distilled", s_epochs, values, 0, "omit-3", without_classes=OMITTED))
    student(student_identity(setup, cfg, links, "distilled", s_epochs, values, 0, "only-7-8", only_classes=KEPT))
    v = view(store.all(), table, links)
    out = f"{cfg.out_dir}/{table['name']}"
    report.write(out, v, markdown(v))
    print(markdown(v))
    log(report.where(cfg, out))
    return v


class _Students:
    """What the students share, made once when the first missing one trains: the transfer set (the training split,
    un-jittered), the teacher's logits on it, the labels on the host for the bias shifts."""

    def __init__(self, setup, teacher, values):
        x, y, _, yv, _, yt = setup.arrays
        self.setup, self.values, self.x, self.y = setup, values, x, y
        self.t_logits = teacher.logits(x)
        self.y_host, self.yv_host, self.yt_host = to_host(y), to_host(yv), to_host(yt)

    def train(self, ident):
        """Train the student ``ident`` asks for on its rows; its result, with the shifts measured on it."""
        x, y, t = self.x, self.y, self.t_logits
        rows = transfer.without_classes(self.y_host, ident["without_classes"]) if "without_classes" in ident else \
            transfer.only_classes(self.y_host, ident["only_classes"]) if "only_classes" in ident else None
        if rows is not None:
            idx = to_device(rows, get_xp(x))
            x, y, t = x[idx], y[idx], t[idx]
        _, _, xv, yv, xt, yt = self.setup.arrays
        model = MLP(ident["model"]["sizes"], seed=ident["seed"], backend=get_xp(x))
        lr, decay = self.values["student_lr"], self.values["student_decay"]
        t0 = time.perf_counter()
        history = fit(model, student_objective(ident["kind"]), Adam(model, lr=lr), x, y, ident["epochs"],
                      self.setup.cfg.batch_size, teacher=t, x_val=xv, y_val=yv,
                      lr_schedule=ExponentialSchedule(lr, decay), seed=ident["seed"],
                      label=f"{ident['role']} {ident['kind']} seed {ident['seed']}", progress=False)
        result = {"seed": ident["seed"], "errors": errors(model, xt, yt), "seconds": time.perf_counter() - t0,
                  "validation_errors": history[-1]["val_errors"], "history": history,
                  "transfer_rows": int(x.shape[0])}
        logits = to_host(model.logits(xv)), to_host(model.logits(xt)), self.yv_host, self.yt_host
        if "without_classes" in ident:
            result.update(omit_3(*logits))
        if "only_classes" in ident:
            result.update(only_7_8(*logits))
        log(f"  {ident['role']} {ident['kind']} seed {ident['seed']}: {result['errors']} test errors "
            f"({result['seconds']:.0f} s)")
        return result


# ---------------------------------------------------------------------------------------------------- view
def view(records_, table, links):
    """The record of one run of the preset: the candidates and their curves, the choice, the teacher, the
    students, the shifts, the goals met or not, and the training time the records hold."""
    by_key = {r["key"]: r for r in records_}
    rows = rows_of(records_, table, links)
    v = {**common_view(records_, table, {"teacher": links["teacher"]}, rows), "paper": PAPER, "goals": GOALS}
    keys = dict(links["candidates"])
    v["sources"] = report.sources([by_key[k] for k in [links["teacher"], *keys.values()]] + rows)
    cands = {name: by_key[k]["result"] for name, k in keys.items()}
    curves = {name: [h["val_errors"] for h in r["history"]] for name, r in cands.items()}
    winner, epochs, scores = choose(curves)
    v["selection"] = {"window": WINDOW, "winner": winner, "epochs": epochs, "scores": scores, "curves": curves,
                      "recipes": {name: recipe_of(by_key[key]["identity"]) for name, key in keys.items()}}
    v["n_test"] = v["data"]["n_test"]

    def of(role, kind=None):
        return sorted((r for r in rows if r["identity"]["role"] == role and kind in (None, r["identity"]["kind"])),
                      key=lambda r: r["result"]["seed"])
    v["students"] = {kind: {"runs": [r["result"] for r in of("student", kind)],
                            **report.mean_std([r["result"]["errors"] for r in of("student", kind)] or [np.nan])}
                     for kind in ("alone", "distilled") if of("student", kind)}
    sel = {r["identity"]["kind"]: r["result"] for r in of("student-selection")}
    v["student_selection"] = {k: [h["val_errors"] for h in r["history"]] for k, r in sel.items()}
    if of("student"):
        v["student_epochs"] = of("student")[0]["identity"]["epochs"]
    for key, role in (("omit_3", "omit-3"), ("only_7_8", "only-7-8")):
        if of(role):
            v[key] = of(role)[0]["result"]
    if "alone" in v["students"]:
        flag, line = teacher_check({"validation_errors": scores[winner][0]}, {"validation_errors": float(np.mean(
            [r["validation_errors"] for r in v["students"]["alone"]["runs"]]))},
            "the student alone (mean over its seeds; the teacher: its recipe's smoothed best on validation)")
        v.update(teacher_not_better=flag, teacher_check=line)
    seeds = table["settings"]["seeds"]
    v["missing"] = [f"{kind} students: {seeds - v['students'].get(kind, {}).get('n', 0)} of {seeds} seeds"
                    for kind in ("alone", "distilled") if v["students"].get(kind, {}).get("n", 0) < seeds] + \
        [what for what, key in (("the mythical-3 student", "omit_3"), ("the 7s-and-8s student", "only_7_8"))
         if key not in v]
    v["complete"] = not v["missing"]
    v["seconds_total"] = sum(r["result"].get("seconds", 0.0) for r in [by_key[k] for k in [
        links["teacher"], *keys.values()]] + rows)
    return v


def views(records_):
    """Every run of the preset the records hold, the newest first."""
    out = []
    for table, links in groups(records_, "hinton_paper"):
        if all(k in {r["key"] for r in records_} for k in [links["teacher"], *dict(links["candidates"]).values()]):
            out.append(view(records_, table, links))
    return sorted(out, key=lambda v: max(s["date"] for s in v["sources"]), reverse=True)


def title(v):
    return (f"Hinton, Vinyals & Dean (2015) §3 at the paper's fidelity on {v['data']['name']}, {v['preset']} preset" +
            ("" if not v["deviations"] else " (a run that differs from it)"))


def _met(ok):
    return "yes" if ok else "**no**"


def markdown(v):
    """The results beside the paper's numbers and the goals, the teacher's selection, and the time."""
    p, g, sel = v["paper"], v["goals"], v["selection"]
    t = v["teacher"]
    lines = ["Hinton, Vinyals & Dean (2015) §3, at the paper's fidelity: test errors out of "
             f"{v['n_test']:,} (every model's last weights, counted once; every choice made on the "
             f"{v['data']['n_val']:,} validation images, none on the test set).", ""] + header(v)
    if "teacher_check" in v:
        check = v["teacher_check"]
        lines += ["", f"**{check}**" if v["teacher_not_better"] else check[0].upper() + check[1:] + "."]
    lines += ["", "| | paper | tinykd | goal | met |", "|---|---|---|---|---|",
              f"| teacher 784-1200-1200-10: `{sel['winner']}` for {sel['epochs']} epochs, retrained on the training "
              f"and validation images | {p['teacher']} | {t['errors']} | ≤ {g['teacher']} | "
              f"{_met(t['errors'] <= g['teacher'])} |"]
    st = v.get("students", {})
    if st:
        e = v.get("student_epochs")
        lines.append(f"| student 784-800-800-10 alone ({e} epochs, {st.get('alone', {}).get('n', 0)} seeds) | "
                     f"{p['student_alone']} | {report.fmt(st['alone']) if 'alone' in st else '–'} | | |")
        if "distilled" in st:
            d = st["distilled"]
            lines.append(f"| the same, distilled at τ = {TEMPERATURE:g} ({e} epochs, {d['n']} seeds) | "
                         f"{p['distilled']} | **{report.fmt(d)}** | ≤ {g['distilled']} | "
                         f"{_met(d['mean'] <= g['distilled'])} |")
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
    lines += ["", f"The teacher's recipe, chosen on validation (validation errors out of {v['data']['n_val']:,}, "
                  f"the mean over {sel['window']} consecutive epochs, at its lowest; Adam with the rate decayed "
                  "exponentially):", "",
              "| candidate | learning rate | max-norm | jitter | dropout (input, hidden) | validation errors | at epoch |",
              "|---|---|---|---|---|---|---|"]
    for name, (score, at) in sel["scores"].items():
        r = sel["recipes"][name]
        mark = "**" if name == sel["winner"] else ""
        lines.append(f"| {mark}{name}{mark} | {r['lr']:g} | {r['max_norm']:g} | ±{r['jitter']} | "
                     f"{r['input_dropout']:g}, {r['dropout']:g} | {score:.1f} | {at} |")
    if v.get("student_selection"):
        lines += ["", f"The students' budget, {v.get('student_epochs')} epochs, is where the mean of the two "
                      "students' validation curves (seed 0, smoothed alike) is lowest."]
    lines += ["", f"Training time of these networks: {v['seconds_total'] / 60:.1f} min (candidates, final teacher, "
                  "students; the records' own times)."]
    return "\n".join(lines) + "\n"


def figures(v):
    """The learning curves: every candidate teacher's validation errors per epoch and the two students'."""
    return [("curves", _curves)]


def _curves(v, path):
    from .plots import WIDTH, _finish, _plt
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 4.2))
    for i, (name, c) in enumerate(v["selection"]["curves"].items()):
        ax.plot(range(1, len(c) + 1), c, color=f"C{i}", lw=2.5 if name == v["selection"]["winner"] else 1.2,
                label=f"teacher: {name}")
    for kind, c in v.get("student_selection", {}).items():
        ax.plot(range(1, len(c) + 1), c, color="black", ls="--" if kind == "alone" else ":",
                label=f"student {kind}")
    ax.set_yscale("log")
    return _finish(fig, ax, path, "epoch", f"validation errors (out of {v['data']['n_val']:,})",
                   f"Validation curves, {v['data']['name']}: the teacher's candidates and the students", ncol=2)
