"""Choosing a recipe on validation, then training it on every labelled row: a step of the protocol, for any data.

1. Each candidate recipe (``candidates``: a base recipe, then one setting changed at a time: learning rate, max-norm
   bound, jitter, dropout) trains on the training split with the validation split counted after every epoch, on an
   ``ExponentialSchedule`` (no length: its first E epochs are a run of E epochs, so one curve says what every
   shorter run would have reached).
2. ``choose``: every curve is smoothed (the mean over ``WINDOW`` consecutive epochs: one epoch's count on 5,000
   images moves by a few errors from noise alone); the winner is the candidate whose smoothed curve reaches the
   lowest value, and its number of epochs is where it does (the last epoch of the window, so the recipe is trained
   that long).
3. The final network is the winner's recipe trained on the training and validation rows together for that many
   epochs (the standard last step: the held-out rows are put to use). A choice that comes after it, such as a
   student's, is made with the winner trained on the training split only (``hinton_paper``): a network trained on the
   validation rows would flatter everything scored on them.

``grid`` tries every combination of those changes instead, and ``rungs``/``halve`` spend the budget where it pays
(successive halving): every candidate trains a fraction of the epochs, the better half on validation go on (on
the exponential schedule, a longer run continues the shorter one exactly), and the winner is chosen among those
that trained for the whole budget.

Nothing here looks at the test set. The same candidates run on any data (``--data``): a recipe that
over-regularises a network for that data (jitter that does not suit its images, dropout it does not need) shows
it on that data's validation split and loses the selection.
"""
import itertools

import numpy as np

WINDOW = 3


def smooth(curve, window=WINDOW):
    """The mean over each ``window`` consecutive epochs: entry i is the mean of epochs i+1 .. i+window (1-based).
    A curve shorter than the window is its own mean, once."""
    c = np.asarray(curve, dtype=float)
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all():
        raise ValueError(f"a validation curve is a non-empty list of finite numbers, got {curve!r}")
    w = min(window, c.size)
    return np.convolve(c, np.ones(w) / w, mode="valid")


def choose(curves, window=WINDOW):
    """The candidate and epochs the validation curves choose: ``curves`` {name: [validation errors after each
    epoch]} (in the candidates' order, which breaks ties); the winner is one of those trained longest (successive
    halving stops the others early). Returns (name, epochs, scores): ``scores`` {name: (lowest smoothed value, the
    epochs where it is reached)}, for the results to show the whole comparison."""
    if not curves:
        raise ValueError("no candidates to choose from")
    scores = {}
    for name, curve in curves.items():
        s = smooth(curve, window)
        best = int(np.argmin(s))                       # the first of equal values: fewer epochs
        scores[name] = (float(s[best]), best + min(window, len(curve)))
    longest = max(len(curve) for curve in curves.values())
    name = min((k for k in scores if len(curves[k]) == longest), key=lambda k: scores[k][0])   # ties: the earlier
    return name, scores[name][1], scores


def candidates(s):
    """The teacher recipes the selection compares: the base recipe (the first learning rate and norm bound, the
    configuration's jitter and dropout), then one setting changed at a time: each other learning rate, each other
    norm bound, no jitter (when the base has some), half the dropout. The same candidates on any data: a setting
    that does not suit the data loses on its validation split."""
    base = {"lr": s.lr[0], "max_norm": s.max_norm[0], "jitter": s.jitter, "dropout": s.teacher_dropout,
            "input_dropout": s.teacher_input_dropout}
    out = {"base": base}
    out.update({f"lr {lr:g}": {**base, "lr": lr} for lr in s.lr[1:]})
    out.update({f"max-norm {c:g}": {**base, "max_norm": c} for c in s.max_norm[1:]})
    if s.jitter:
        out["no jitter"] = {**base, "jitter": 0}
    if s.teacher_dropout or s.teacher_input_dropout:
        out["half the dropout"] = {**base, "dropout": s.teacher_dropout / 2,
                                   "input_dropout": s.teacher_input_dropout / 2}
    return out


def grid(s):
    """Every combination of what ``candidates`` changes one at a time: each learning rate × each norm bound × the
    jitter or none × the dropout or half of it, the base recipe first. Each is named by what it changes from the
    base ("base" for nothing), so a combination of one change has the name ``candidates`` gives it."""
    base = candidates(s)["base"]
    jitters = [s.jitter, 0] if s.jitter else [s.jitter]
    halves = [1.0, 0.5] if s.teacher_dropout or s.teacher_input_dropout else [1.0]
    out = {}
    for lr, bound, jitter, half in itertools.product(s.lr, s.max_norm, jitters, halves):
        changes = [f"lr {lr:g}" if lr != s.lr[0] else "", f"max-norm {bound:g}" if bound != s.max_norm[0] else "",
                   "no jitter" if jitter != s.jitter else "", "half the dropout" if half != 1.0 else ""]
        out[", ".join(c for c in changes if c) or "base"] = {
            **base, "lr": lr, "max_norm": bound, "jitter": jitter, "dropout": s.teacher_dropout * half,
            "input_dropout": s.teacher_input_dropout * half}
    return out


def rungs(epochs, halvings):
    """The budgets of successive halving (Jamieson & Talwalkar 2016): every candidate trains ``epochs`` / 2^h
    epochs (rounded down, at least 1), the better half of them twice as long, and so on up to ``epochs``."""
    return sorted({max(1, epochs >> h) for h in range(halvings + 1)})


def halve(curves, epochs, window=WINDOW):
    """The better half (rounded up) of the candidates, in their order: ranked by ``choose``'s score on the first
    ``epochs`` epochs of each validation curve, a tie kept by the earlier candidate."""
    _, _, scores = choose({name: curve[:epochs] for name, curve in curves.items()}, window)
    ranked = sorted(scores, key=lambda name: scores[name][0])     # a stable sort: ties keep the candidates' order
    kept = set(ranked[:(len(ranked) + 1) // 2])
    return [name for name in curves if name in kept]


def successive(curves, budgets, window=WINDOW):
    """Each candidate's validation curve as far as successive halving trains it: every one to the first of
    ``budgets``, the better half of those (``halve``) to the next, and so on (``curves`` may run longer)."""
    alive, out = list(curves), {}
    for i, epochs in enumerate(budgets):
        out.update({name: list(curves[name][:epochs]) for name in alive})
        if i + 1 < len(budgets):
            alive = halve({name: curves[name] for name in alive}, epochs, window)
    return out


def recipe_of(ident):
    """What a teacher's identity says of its recipe, as ``candidates`` writes one."""
    return {"lr": ident["optimizer"]["lr"], "max_norm": ident["optimizer"].get("max_norm"), "jitter": ident["jitter"],
            "dropout": ident["model"]["dropout"], "input_dropout": ident["model"]["input_dropout"]}
