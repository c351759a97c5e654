"""Argument checks shared by every module: what counts as an integer, and as a finite real number, in one place.

``bool`` is an ``int`` to Python but never a count or a width here, and ``int()`` would truncate 2.5 without a
word, so both are refused. The predicates (``is_int``, ``is_real``) let a caller word its own error; the ``check_*``
functions raise the common one.
"""
import math
import numbers

import numpy as np


def is_int(value, low=None, high=None):
    """True for a Python or NumPy integer (not a bool) with ``low <= value <= high`` (either bound may be None)."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and (low is None or value >= low) and (high is None or value <= high))


def check_int(name, value, low=0, error=ValueError):
    """``value`` as an int when it is an integer >= ``low``; else ``error("<name> must be an integer >= low")``."""
    if not is_int(value, low):
        raise error(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def is_real(value):
    """True for a finite real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def check_real(name, value, low=0.0, high=math.inf, low_open=False, error=ValueError):
    """``value`` as a float when it is a finite real number in ``[low, high)`` (``(low, high)`` with ``low_open``);
    else ``error`` saying so (``>= low`` when there is no upper bound)."""
    if not (is_real(value) and low <= value < high and not (low_open and value == low)):
        if high == math.inf:
            where = f"{'>' if low_open else '>='} {low:g}"
        else:
            where = f"in {'(' if low_open else '['}{low:g}, {high:g})"
        raise error(f"{name} must be a finite number {where}, got {value!r}")
    return float(value)


def check_label_vector(name, y, rows=None):
    """Raise unless ``y`` is a 1-D integer array (class indices), with ``rows`` entries when given: the one label
    rule of every public entry that takes labels (``train.errors``, ``train.fit``, ``Discriminator.fit``, the
    transfer-set and bias-shift functions, the batch checks of the losses).

    Dtype and shape only, so it reads no values and never synchronises the GPU. Why it matters: a label column
    ``y[:, None]`` compared with a prediction vector broadcasts to an (N, N) matrix, and one label for many rows
    broadcasts too; either gives a count that looks like a number and means nothing.
    """
    dtype = getattr(y, "dtype", None)
    if dtype is None or dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of class indices, got "
                        f"{dtype if dtype is not None else type(y).__name__}")
    if y.ndim != 1 or (rows is not None and y.shape[0] != rows):
        want = f"({rows},), one label per row" if rows is not None else "(N,), one label per row"
        raise ValueError(f"{name} must have shape {want}, got shape {tuple(y.shape)}"
                         + ("; flatten a label column with y.ravel()" if y.ndim == 2 and 1 in y.shape else ""))
    return y
