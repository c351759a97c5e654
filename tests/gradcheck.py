"""One float64 central-difference gradient check, and one way to keep it away from kinks, used by every test module.

The error reported is the norm-wise relative error ``||num − ana||_2 / max(||num||_2, ||ana||_2, FLOOR)`` over
all entries of the array checked. The floor (1e-4) only matters for gradients that have (nearly) vanished, such as
a softmax saturated at e^-50, which finite differences cannot resolve relatively (their round-off is ~1e-11):
there the check is absolute, ``||num − ana||_2 < 1e-10``. Every comparison is recorded so the test run can
print the worst error it saw.

ReLU and ``sign`` have a kink at 0, where finite differences measure nothing useful. ``off_kink`` moves inputs a test
draws away from it; ``off_kinks`` does the same for a network's pre-activations, by shifting biases. Either way every
example runs (none is rejected), each value at least ``KINK`` from 0.
"""
import numpy as np

from tinykd.layers import Dense, ReLU

WORST = []  # (relative error, label) of every comparison in this run
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


def numerical_grad(f, x, h=H):
    """Fourth-order central differences of the scalar ``f()`` w.r.t. every entry of ``x``:
    ``(−f(x+2h) + 8 f(x+h) − 8 f(x−h) + f(x−2h)) / 12h``, truncation error O(h⁴) instead of O(h²), so a larger
    step keeps both truncation and float64 round-off near 1e-11.

    ``x`` is perturbed in place (it must be the very array ``f`` reads) and restored exactly.
    """
    assert x.dtype == np.float64, "finite differences only in float64"
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, x)
    for i in range(flat.size):
        old = flat[i]
        values = []
        for step in (2 * h, h, -h, -2 * h):
            flat[i] = old + step
            values.append(float(f()))
        flat[i] = old
        gflat[i] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
    return grad


def relative_error(num, ana, floor=FLOOR):
    num, ana = np.asarray(num, np.float64), np.asarray(ana, np.float64)
    assert num.shape == ana.shape, (num.shape, ana.shape)
    denom = max(np.linalg.norm(num), np.linalg.norm(ana), floor)
    return float(np.linalg.norm(num - ana) / denom)


def check(f, x, analytic, label, h=H, tol=TOL, floor=FLOOR):
    """Assert the analytic gradient of ``f`` w.r.t. ``x`` matches central differences; returns the error.

    Raise ``floor`` in proportion when ``f`` sums terms much larger than 1 (its round-off grows with them).
    """
    err = relative_error(numerical_grad(f, x, h), analytic, floor)
    WORST.append((err, label if floor == FLOOR else f"{label}, floor {floor:.2g}"))
    assert err < tol, f"{label}: relative error {err:.3e} >= {tol:.0e}"
    return err
