"""Helpers for the tests that run on every backend (the ``xp`` fixture of ``conftest.py``): inputs are made with
NumPy, then moved; results come back to the host and meet a float64 NumPy reference, closely in float64 and with
a looser tolerance in float32 (whose rounding differs between NumPy, BLAS and CUDA)."""
import numpy as np

from tinykd.backend import to_device, to_host

TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 2e-5}


def move(xp, *arrays, dtype=None):
    """The NumPy ``arrays`` on ``xp`` (floating ones cast to ``dtype`` when given); one array gives one result."""
    out = tuple(to_device(a, xp, dtype if dtype is not None and np.asarray(a).dtype.kind == "f" else None)
                for a in arrays)
    return out[0] if len(out) == 1 else out


def host(a):
    """``a`` as a NumPy array (a 0-d array for a scalar loss)."""
    return np.asarray(to_host(a))


def assert_close(actual, reference, dtype, scale=1.0):
    """``actual`` (any backend) equals the float64 ``reference`` within the tolerance of ``dtype``, relative and
    absolute (times ``scale``, the size of the terms that were summed)."""
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(host(actual), reference, rtol=tol, atol=tol * scale)
