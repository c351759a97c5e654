"""Argument checks shared by every module, each rule in one place: integers, finite real numbers, seeds, the
floating types the engine trains, objective weights, label vectors, input arrays and the paths a network is saved
under.

``bool`` is an ``int`` to Python but never a count or a width here, and ``int()`` would truncate 2.5 without a
word, so both are refused. The predicates (``is_int``, ``is_real``) let a caller word its own error; the ``check_*``
functions raise the common one. Nothing here reads an array's values (so nothing here synchronises the GPU): the
value rules (labels in range, finite entries) are in ``functional``, where the reads are.
"""
import math
import numbers
import os

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


def check_seed(seed, name="seed", allow_none=True):
    """``seed`` as an int when it is a whole number >= 0 (or None, a fresh unseeded stream, where ``allow_none``):
    the one seed rule of every place a seed enters (``backend.default_rng`` makes every generator). ``TypeError``
    for what is not a whole number (1.5, True, "3"), ``ValueError`` for a negative one."""
    if seed is None and allow_none:
        return None
    if not is_int(seed):
        raise TypeError(f"{name} must be an integer >= 0{' or None' if allow_none else ''}, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {seed!r}")
    return int(seed)


TRAINED_DTYPES = ("float32", "float64")


def check_dtype(dtype, name="dtype"):
    """``dtype`` as a NumPy dtype when it is one the engine computes in: float32 (training) or float64 (gradient
    checks). float16 is refused: its mantissa loses Adam's small updates and its range overflows a softmax's ``exp``."""
    try:
        kind = None if dtype is None else np.dtype(dtype)   # np.dtype(None) would be float64
    except TypeError:
        kind = None
    if kind is None or kind.name not in TRAINED_DTYPES:
        raise TypeError(f"{name} must be float32 (training) or float64 (gradient checks), got "
                        f"{getattr(kind, 'name', dtype)!r}; tinykd computes in no other type")
    return kind


def check_weights(owner, **weights):
    """Each keyword a finite weight >= 0 (``check_real``), not all of them 0: a loss whose every term is weighed 0 is
    0 with a gradient of 0, so it cannot move the student. Returns the weights as floats, in order; ``owner`` (the
    objective's name) starts the message."""
    values = [check_real(name, value) for name, value in weights.items()]
    if not any(values):
        names = list(weights)
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
        raise ValueError(f"{owner}: {listed} {'is' if len(names) == 1 else 'are all'} 0, so the loss and its "
                         "gradient are 0 and cannot move the student; give at least one a weight > 0")
    return values


def check_rows(name, x, features=None):
    """Raise unless ``x`` is a 2-D array of one flattened sample per row (with ``features`` columns when given):
    the input rule of ``train.fit``, ``train.errors`` and ``Network.predict``/``logits``. Nothing is converted (to
    which backend, which dtype?)."""
    if not (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")):
        raise TypeError(f"{name} must be an array of shape (N, features), got {type(x).__name__}: convert it with "
                        "numpy.asarray (or move it to the model's backend)")
    if x.ndim != 2 or (features is not None and x.shape[1] != features):
        want = f"(N, {features})" if features is not None else "(N, features)"
        raise ValueError(f"{name} must have shape {want}, one flattened sample per row, got shape {tuple(x.shape)}")
    return x


def check_file_path(name, path):
    """``path`` as a string when a file can be written there: not a folder (``checkpoint=ckpts/`` for
    ``ckpts/run.npz``), and under no file (``check_parent_folder``). Said in one line naming ``name`` and the path,
    before anything is computed or written."""
    path = check_parent_folder(name, path)
    if os.path.isdir(path):
        raise ValueError(f"{name} {path} is a folder; give a file path such as {os.path.join(path, 'model.npz')}")
    return path


def check_parent_folder(name, path):
    """``path`` as a string when no part of the way to it is an existing file (``run/model.npz`` where ``run`` is a
    file), so its folder can be made; else one line naming ``name`` and both paths (the operating system's own error
    names neither the setting nor the file in the way)."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TypeError(f"{name} must be a file path, got {path!r}")
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{name} {path} cannot be written: {parent} is a file, not a folder; choose a path in a "
                         "folder")
    return path


def check_label_vector(name, y, rows=None):
    """Raise unless ``y`` is a 1-D integer array (class indices), with ``rows`` entries when given: the one label
    rule of every public entry that takes labels. Dtype and shape only, so it reads no values and never synchronises
    the GPU (a label column would broadcast against a prediction vector into an (N, N) comparison)."""
    dtype = getattr(y, "dtype", None)
    if dtype is None or dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of class indices, got "
                        f"{dtype if dtype is not None else type(y).__name__}")
    if y.ndim != 1 or (rows is not None and y.shape[0] != rows):
        want = f"({rows},), one label per row" if rows is not None else "(N,), one label per row"
        raise ValueError(f"{name} must have shape {want}, got shape {tuple(y.shape)}"
                         + ("; flatten a label column with y.ravel()" if y.ndim == 2 and 1 in y.shape else ""))
    return y
