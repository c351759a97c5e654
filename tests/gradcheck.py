"""One float64 central-difference gradient check, used by every test module.

The error reported is the norm-wise relative error ``||num − ana||_2 / max(||num||_2, ||ana||_2, FLOOR)`` over
all entries of the array checked. The floor (1e-4) only matters for gradients that have (nearly) vanished, such as
a softmax saturated at e^-50, which finite differences cannot resolve relatively (their round-off is ~1e-11):
there the check is absolute, ``||num − ana||_2 < 1e-10``. Every comparison is recorded so the test run can
print the worst error it saw.
"""
import numpy as np

WORST = []  # (relative error, label) of every comparison in this run
TOL = 1e-6
FLOOR = 1e-4


H = 2.0**-13  # ~1.2e-4; a power of two, so x ± h and x ± 2h are exact in float64 even for |x| in the thousands
H_RELU = 2.0**-17  # ~7.6e-6, for ReLU networks, whose kinks must stay outside the stencil


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
