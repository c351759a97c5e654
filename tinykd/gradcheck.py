"""The float64 finite-difference gradient checker: the one the tests use, and the one a learner's exercise is
checked with (``python -m tinykd.exercises``). Derivation of the stencil: ``docs/derivations.md``, "How the
gradient checks work".

``check`` moves every entry of ``x`` in turn (``numerical_grad``: exact for the small arrays of the tests, ``4·size``
evaluations of ``f``); ``directional`` moves ``x`` along a few random unit directions ``u`` and compares with
``⟨ana, u⟩``, four evaluations per direction whatever the size of ``x`` (a wrong gradient passes one direction only
by accident). Both take the fourth-order central difference ``_stencil`` and the norm-wise relative error
``‖num − ana‖₂ / max(‖num‖₂, ‖ana‖₂, floor)``, whose floor (1e-4) makes the check absolute for gradients that have
(nearly) vanished, such as a softmax saturated at e^-50 (finite differences cannot resolve them relatively). A
failing ``check`` names its worst entry (``compare``); every comparison is recorded in ``WORST`` (``worst_line``).
ReLU and ``sign`` have a kink at 0, where finite differences measure nothing useful: ``off_kink`` moves inputs and
``off_kinks`` a network's pre-activations (by shifting biases) at least ``KINK`` from 0; no example is rejected.

Example (a learner's gradient of ``L = Σ sin(x)``)::

    from tinykd import gradcheck
    x = np.random.default_rng(0).standard_normal((3, 4))
    gradcheck.check(lambda: np.sin(x).sum(), x, np.cos(x), "sin")   # passes, returns the error (~1e-12)
"""
import numpy as np

from .layers import Dense, ReLU

WORST = []  # (relative error, label, floor, passed) of every comparison in this run
TOL = 1e-6
FLOOR = 1e-4


H = 2.0**-13  # ~1.2e-4; a power of two, so x ± h and x ± 2h are exact in float64 even for |x| in the thousands
H_RELU = 2.0**-17  # ~7.6e-6, for ReLU networks, whose kinks must stay outside the stencil
# How far every ReLU input or sign argument stays from 0: farther than the stencil (±2h, times the size of the inputs
# summed into it) can move it.
KINK = 5e-4


def off_kink(a, gap=KINK):
    """``a`` with every entry moved ``gap`` further from 0, its sign kept (0 counts as positive, as ``binarize``'s)."""
    return a + np.where(a >= 0, gap, -gap)


def _least_shift(v, gap):
    """The shift ``d`` of smallest magnitude with ``|v + d| >= gap`` for every entry of ``v``."""
    candidates = np.concatenate([[0.0], -v - 1.5 * gap, -v + 1.5 * gap])
    ok = [d for d in candidates if np.abs(v + d).min() >= gap]
    return min(ok, key=abs)


def off_kinks(layers, x, gap=KINK):
    """``off_kink`` for a ReLU network on the batch ``x``: each Dense layer followed by a ReLU has its bias shifted,
    unit by unit, by the least amount that puts every pre-activation of that unit at least ``gap`` from 0.

    ``layers`` run forward once, in training mode, so dropout layers draw their masks: seed their generators first,
    as the test does before each evaluation.
    """
    z = x
    for layer, after in zip(layers, [*layers[1:], None]):
        z = layer.forward(z, train=True)
        if isinstance(layer, Dense) and isinstance(after, ReLU):
            shift = np.array([_least_shift(unit, gap) for unit in z.T])
            layer.params["b"] += shift
            z = z + shift


def _check_float64(x):
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"finite differences need a float64 NumPy array (float32 round-off swamps the step), got "
                        f"{getattr(x, 'dtype', type(x).__name__)}: pass x.astype(np.float64)")


def _stencil(f, h):
    """``(−f(2h) + 8 f(h) − 8 f(−h) + f(−2h)) / 12h`` for ``f`` of the step: truncation error O(h⁴)."""
    values = [float(f(step)) for step in (2 * h, h, -h, -2 * h)]
    return (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)


def numerical_grad(f, x, h=H):
    """Fourth-order central differences (``_stencil``) of the scalar ``f()`` w.r.t. every entry of ``x``: truncation
    error O(h⁴) instead of O(h²), so a larger step keeps both truncation and float64 round-off near 1e-11. ``x`` is
    perturbed in place (it must be the very array ``f`` reads) and restored exactly.
    """
    _check_float64(x)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous: numerical_grad perturbs it in place, through a flat view")
    for i in range(flat.size):
        old = flat[i]

        def moved(step):
            flat[i] = old + step
            return f()
        gflat[i] = _stencil(moved, h)
        flat[i] = old
    return grad


def relative_error(num, ana, floor=FLOOR):
    """``‖num − ana‖₂ / max(‖num‖₂, ‖ana‖₂, floor)`` over all entries (equal shapes required)."""
    num, ana = np.asarray(num, np.float64), np.asarray(ana, np.float64)
    if num.shape != ana.shape:
        raise ValueError(f"gradient shapes differ: numerical {num.shape}, analytic {ana.shape}")
    denom = max(np.linalg.norm(num), np.linalg.norm(ana), floor)
    return float(np.linalg.norm(num - ana) / denom)


def compare(num, ana, floor=FLOOR):
    """``(relative_error(num, ana, floor), where)``: ``where`` is the index (a tuple) of the entry with the largest
    ``|num − ana|``, the first place to look when a gradient is wrong."""
    err = relative_error(num, ana, floor)
    diff = np.abs(np.asarray(num, np.float64) - np.asarray(ana, np.float64))
    where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    return err, tuple(int(i) for i in where)


def check(f, x, analytic, label, h=H, tol=TOL, floor=FLOOR):
    """Assert the analytic gradient of ``f`` w.r.t. ``x`` matches central differences entry by entry; returns the
    error. On failure the message names the worst entry and both values there.

    Raise ``floor`` in proportion when ``f`` sums terms much larger than 1 (its round-off grows with them).
    """
    num = numerical_grad(f, x, h)
    err, where = compare(num, analytic, floor)
    WORST.append((err, label, floor, err < tol))
    assert err < tol, (f"{label}: relative error {err:.3e} >= {tol:.0e}; worst entry {where}: numerical "
                       f"{num[where]:.6g}, analytic {np.asarray(analytic)[where]:.6g}")
    return err


def directional(f, x, analytic, label, directions=4, rng=0, h=H, tol=TOL, floor=FLOOR):
    """Assert ``⟨analytic, u⟩`` matches the central difference of ``f`` along each of ``directions`` random unit
    vectors ``u`` (drawn from ``rng``, a seed or a Generator); returns the worst relative error
    ``|num − ana| / max(|num|, |ana|, floor)`` over the directions. ``x`` is moved in place and restored."""
    _check_float64(x)
    analytic = np.asarray(analytic, np.float64)
    if analytic.shape != x.shape:
        raise ValueError(f"the analytic gradient's shape {analytic.shape} differs from x's {x.shape}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    old = x.copy()
    worst, at = 0.0, 0
    for k in range(directions):
        u = rng.standard_normal(x.shape)
        u /= np.linalg.norm(u) or 1.0

        def moved(step):
            np.add(old, step * u, out=x)
            return f()
        num = _stencil(moved, h)
        x[...] = old
        ana = float((analytic * u).sum())
        err = abs(num - ana) / max(abs(num), abs(ana), floor)
        if err >= worst:
            worst, at = err, k
    WORST.append((worst, f"{label} (along {directions} random directions)", floor, worst < tol))
    assert worst < tol, f"{label}: relative error {worst:.3e} >= {tol:.0e} along random direction {at}"
    return worst


def _short(x):
    """``x`` in two significant digits, ``1e-4`` rather than ``0.0001``."""
    return f"{x:.2g}" if x >= 1e-3 else f"{x:.0e}".replace("e-0", "e-")


def worst_line(records=None):
    """One line on the worst comparison that passed among ``records`` (default ``WORST``): its error, its label and
    the one floor that applied to it. Comparisons that failed (a test of a wrong gradient makes them on purpose;
    any other fails its test, which says so) are only counted."""
    records = WORST if records is None else records
    passed = [r for r in records if r[3]]
    failed = (f"; {len(records) - len(passed)} failing comparisons left out (the tests of wrong gradients make them "
              "on purpose; any other fails its own test)") if len(passed) < len(records) else ""
    if not passed:
        return f"gradient checks: none passed{failed}"
    err, label, floor, _ = max(passed)
    why = "the default" if floor == FLOOR else (f"that check's, raised from the default {_short(FLOOR)} because its "
                                               "function's round-off is larger (large terms, a smaller step)")
    return (f"gradient checks: {len(passed)} passed{failed}; worst relative error {err:.2e} ({label}) "
            f"= ||num - ana||_2 / max(||num||_2, ||ana||_2, floor), floor {_short(floor)}: {why}")
