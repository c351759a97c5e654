"""An ensemble teacher: ``K_T`` trained networks whose soft targets are averaged (Hinton, Vinyals & Dean 2015, §1:
"distilling the knowledge in an ensemble of models into a single model"); derivation in ``docs/derivations.md``
§21, checks in ``tests/test_ensemble.py``.

KD reads a teacher only through its logits ``z_T`` and the soft targets ``softmax(z_T/τ)`` (§3, §10), so an ensemble
plugs in as logits whose tempered softmax is the ensemble's target:

- ``average="probabilities"`` (the paper's): the target is the mean of the members' distributions,
  ``P̄^τ = (1/K_T) Σ_T P_T^τ``, given as the logits ``τ log P̄^τ``, since ``softmax(τ log P̄^τ / τ) = P̄^τ``. These
  logits are the ensemble's *at that τ only*: read at another temperature they give another distribution than the
  mean of the members' at it, so the temperature is an argument of every call, never a default;
- ``average="logits"``: the mean of the members' logits, ``mean_T z_T``, whose tempered softmax is the normalised
  geometric mean of the members' ``P_T^τ`` at every τ (§21), so no temperature is needed.

The hard term of KD reads the labels, never the teacher, so it is the same for either average.
"""
import math

import numpy as np

from . import functional as F
from .backend import get_array_module

AVERAGES = ("probabilities", "logits")


def check_average(average):
    """``average`` when it is one of ``AVERAGES``, else one line saying what it may be."""
    if not isinstance(average, str) or average not in AVERAGES:
        raise ValueError(f"average must be 'probabilities' (the mean of the members' P^τ, Hinton et al.'s) or "
                         f"'logits' (the mean of their logits), got {average!r}")
    return average


def ensemble_logits(member_logits, temperature=None, average="probabilities"):
    """The ensemble's logits from its members' (a sequence of ``K_T`` arrays ``z_T`` of one shape N×C and dtype,
    or one array K_T×N×C), §21.

    ``average="probabilities"``: ``τ log P̄^τ`` with ``P̄^τ = (1/K_T) Σ_T P_T^τ``, computed in log space,
    ``log P̄^τ = logsumexp_T(log P_T^τ) − log K_T`` with ``log P_T^τ`` §1's log-softmax: every exponent is <= 0 and
    the largest term of each sum is 1, so logits of ±1000 stay finite, where ``log(mean_T P_T^τ)`` would be −inf
    wherever every member's probability underflows. ``temperature`` is required: the result is the ensemble's at
    that τ only. ``average="logits"``: ``mean_T z_T``; ``temperature`` may be given (it is checked, and changes
    nothing). The dtype is the members' (float32 stays float32); nothing is read back from the device.
    """
    average = check_average(average)
    stacked = _stack(member_logits)
    if average == "logits":
        if temperature is not None:
            F.check_temperature(temperature)
        return stacked.mean(axis=0)
    if temperature is None:
        raise ValueError("average='probabilities' gives logits that are the ensemble's at one temperature only: "
                         "pass temperature=τ, the τ of the objective that reads them (KD(temperature=τ))")
    tau = stacked.dtype.type(F.check_temperature(temperature))
    k, n, c = stacked.shape
    xp = get_array_module(stacked)
    # members on the rows: one log-softmax over the classes of all K_T·N rows at once, no loop
    log_p = F.log_softmax(stacked.reshape(k * n, c), temperature, checked=True).reshape(k, n, c)
    top = log_p.max(axis=0)
    log_p -= top
    xp.exp(log_p, out=log_p)
    mean = log_p.sum(axis=0)
    out = xp.log(mean, out=mean)
    out += top
    out -= stacked.dtype.type(math.log(k))
    out *= tau
    return out


def _stack(member_logits):
    """The members' logits as one K_T×N×C array, after one check of their count, shapes and dtypes."""
    if hasattr(member_logits, "ndim") and member_logits.ndim == 3:
        members = [member_logits[i] for i in range(member_logits.shape[0])]
    else:
        members = list(member_logits)
    if not members:
        raise ValueError("an ensemble needs at least one member's logits, got none")
    for i, z in enumerate(members):
        F.check_logits_shape(z, f"member {i}'s logits")
        if z.shape != members[0].shape:
            raise ValueError(f"member {i}'s logits have shape {z.shape}, member 0's {members[0].shape}: the members "
                             "must see the same rows and give the same number of classes")
        if z.dtype != members[0].dtype:
            raise TypeError(f"member {i}'s logits are {z.dtype}, member 0's {members[0].dtype}; cast the members to "
                            "one dtype so nothing upcasts silently")
        if get_array_module(z) is not get_array_module(members[0]):
            raise TypeError(f"member {i}'s logits live on another backend than member 0's; move them to one")
    if hasattr(member_logits, "ndim"):
        return member_logits
    return get_array_module(members[0]).stack(members)


class Ensemble:
    """A teacher made of trained networks (``members``: any objects with a ``logits(x)`` method, of any sizes), whose soft
    target at temperature τ is the mean of their ``P_T^τ`` (``average="probabilities"``, Hinton et al.'s) or the
    tempered softmax of the mean of their logits (``average="logits"``); §21, ``ensemble_logits``.

    ``logits(x, temperature)`` gives the logits to hand to an objective as the teacher's, once per data set (the
    caller caches them, as for any teacher: ``train.fit(..., teacher=ensemble.logits(x, τ))``). For the probability
    average the temperature is required and must be the τ of the objective that reads them: ``τ log P̄^τ`` gives
    ``P̄^τ`` under ``softmax(·/τ)`` and another distribution at any other temperature. Objectives that read the
    teacher only through ``softmax(z_T/τ)`` at one τ (KD, DKD, DIST) then see exactly the ensemble's target; one that
    reads the logits themselves (``standardise=True``, a discriminator, logit distances) sees ``τ log P̄^τ`` as if it
    were a network's logits, which it is not: use ``average="logits"`` there.
    ``predict(x)`` is the ensemble's class: the argmax of ``P̄`` at τ = 1 (or of the mean logits).
    """

    def __init__(self, members, average="probabilities"):
        self.average = check_average(average)
        if isinstance(members, (str, bytes)) or not hasattr(members, "__iter__"):
            raise TypeError(f"members must be a list of trained networks, got {type(members).__name__}")
        members = list(members)
        if not members:
            raise ValueError("an Ensemble needs at least one member: a list of trained networks")
        for i, m in enumerate(members):
            if not callable(getattr(m, "logits", None)):
                raise TypeError(f"member {i} ({type(m).__name__}) has no logits(x) method; members are trained "
                                "networks (tinykd.layers.Network or anything with logits(x))")
        classes = {i: m.sizes[-1] for i, m in enumerate(members) if hasattr(m, "sizes")}
        if len(set(classes.values())) > 1:
            raise ValueError(f"the members give different numbers of classes {sorted(set(classes.values()))} "
                             f"(member: classes {classes}); an ensemble averages over one set of classes")
        self.members = members

    def logits(self, x, temperature=None):
        """The ensemble's logits on ``x`` (``ensemble_logits`` of every member's ``logits(x)``): ``τ log P̄^τ`` for
        the probability average, where ``temperature`` is required; ``mean_T z_T`` for the logit average."""
        if self.average == "probabilities" and temperature is None:
            raise ValueError("Ensemble(average='probabilities').logits(x) needs temperature=τ: its logits give the "
                             "members' mean P^τ at that τ only, so pass the τ of the objective that reads them")
        if temperature is not None:
            F.check_temperature(temperature)
        return ensemble_logits([m.logits(x) for m in self.members], temperature, self.average)

    def predict(self, x, batch_size=None):
        """The ensemble's predicted classes: the argmax over the classes of ``P̄`` at τ = 1 (or of ``mean_T z_T``);
        ``batch_size`` is accepted for ``train.errors`` and unused (each member's ``logits`` takes ``x`` whole)."""
        return self.logits(x, 1.0).argmax(axis=1)

    def count_params(self, biases=True):
        """The members' parameters, together: what the ensemble costs at inference."""
        return sum(m.count_params(biases=biases) for m in self.members)


def select(val_logits, y_val):
    """Which networks to average, and how, chosen on validation: greedy forward selection (Caruana et al. 2004,
    without replacement) for each average of ``AVERAGES``. ``val_logits``: {name: the network's N×C logits on the
    validation rows}, in the order that breaks ties; ``y_val``: the validation labels (host arrays).

    Each step adds the network that gives the ensemble (at τ = 1) the fewest validation errors, then the lowest
    validation cross-entropy; the selection stops when no network lowers that pair (``_lower``: the cross-entropy
    by more than rounding, so a copy of a member changes nothing). The logits are taken in float64 whatever their
    dtype: in float32 the rounding of a mean would pass for a gain. Then the average whose selection scores lower
    wins (not lower: the probabilities, the paper's). Returns (average, names in the order added, steps {average:
    [[names so far, errors, cross-entropy], ...]}): the whole comparison, for the record."""
    if not val_logits:
        raise ValueError("select needs at least one network's validation logits")
    y_val = np.asarray(y_val)
    val_logits = {n: np.asarray(z, dtype=np.float64) for n, z in val_logits.items()}
    for name, z in val_logits.items():
        if z.ndim != 2 or z.shape[0] != y_val.size:
            raise ValueError(f"{name}'s validation logits have shape {z.shape}, for {y_val.size} labels: give each "
                             "network's N×C logits on the rows of y_val")

    def score(names, average):
        z = ensemble_logits([val_logits[n] for n in names], 1.0, average)
        log_p = F.log_softmax(z)
        return int((z.argmax(axis=1) != y_val).sum()), float(-log_p[np.arange(y_val.size), y_val].mean())

    steps = {}
    for average in AVERAGES:
        chosen, best, steps[average] = [], None, []
        while len(chosen) < len(val_logits):
            s, name = min(((score(chosen + [n], average), n) for n in val_logits if n not in chosen),
                          key=lambda option: option[0])          # the first of equal scores: the earlier network
            if best is not None and not _lower(s, best):
                break
            chosen, best = chosen + [name], s
            steps[average].append([list(chosen), *s])
    average = "logits" if _lower(steps["logits"][-1][1:], steps["probabilities"][-1][1:]) else "probabilities"
    return average, steps[average][-1][0], steps


def _lower(score, than):
    """Whether (errors, cross-entropy) ``score`` is lower than ``than``: fewer errors, or as many and a cross-entropy
    lower by more than a relative 1e-9 (float64 rounding of a mean over the rows is far below it)."""
    return score[0] < than[0] or score[0] == than[0] and score[1] < than[1] * (1 - 1e-9)
