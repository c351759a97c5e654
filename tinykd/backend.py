"""NumPy or CuPy: pick once, then every function takes its array module from its inputs.

A model is built on one array module (``xp``); after that nothing chooses again: functions call
``get_array_module(*arrays)``, so a NumPy array is computed with NumPy and a CuPy array with CuPy. Whole arrays cross
between host and device through ``to_device`` and ``to_host``, and when a checkpoint is loaded
(``layers.load_network_arrays`` through ``to_device``; ``runs.runstate`` a CuPy generator's state with
``xp.asarray``). A scalar read (``float``, ``bool``, ``int`` of a device value) waits for every queued kernel, so
tinykd reads values only outside training steps (data checks where data enters, the epoch's losses, evaluation:
``train.fit``), and inside them only with ``TINYKD_DEBUG=1`` (``debug``, ``check_values``).
"""
import contextlib
import contextvars
import os

import numpy as np

from .checks import check_seed

BACKENDS = ("numpy", "cupy")


_DEBUG = None  # TINYKD_DEBUG, read at the first call of debug()


def debug():
    """True when ``$TINYKD_DEBUG`` is ``1``: functions then check the values they receive on every call (finite
    logits, labels in range), which synchronises the GPU with the host at each check. Read once, at the first call;
    any value other than ``0``, ``1`` or empty raises ``ValueError``.
    """
    global _DEBUG
    if _DEBUG is None:
        value = os.environ.get("TINYKD_DEBUG", "").strip()
        if value not in ("", "0", "1"):
            raise ValueError(f"TINYKD_DEBUG must be 1 (check values on every call) or 0/unset, got {value!r}")
        _DEBUG = value == "1"
    return _DEBUG


_IN_STEP = contextvars.ContextVar("tinykd_in_training_step", default=False)


@contextlib.contextmanager
def training_step():
    """The scope of a training step on data checked where it entered: the functions called inside skip their
    per-call label-range check (a read of device memory, one GPU synchronisation per call) unless ``debug()``."""
    token = _IN_STEP.set(True)
    try:
        yield
    finally:
        _IN_STEP.reset(token)


def check_values():
    """True when a function should read the labels it receives to check their range: outside a training step
    always (a direct call is where its labels enter: NumPy would read label −1 as the last class, CuPy wraps any
    out-of-range label), inside one only with ``TINYKD_DEBUG=1``."""
    return debug() or not _IN_STEP.get()


def get_array_module(*arrays):
    """The array module (``numpy`` or ``cupy``) that owns ``arrays``; NumPy when none is a CuPy array.

    CuPy is imported only when one of the arrays already is a CuPy array, so this costs nothing without a GPU.
    """
    for a in arrays:
        if type(a).__module__.split(".", 1)[0] == "cupy":
            import cupy

            return cupy
    return np


def resolve(backend=None):
    """The array module for ``backend`` (``"numpy"``, ``"cupy"``, or a module), else ``$TINYKD_BACKEND``, else NumPy.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` when CuPy is asked for but cannot run.
    """
    if backend is None:
        backend = os.environ.get("TINYKD_BACKEND", "numpy") or "numpy"
    if backend is np:
        return np
    if not isinstance(backend, str):
        if getattr(backend, "__name__", None) == "cupy":
            return backend
        raise TypeError(f"backend must be 'numpy', 'cupy' or an array module, got {type(backend).__name__}")
    name = backend.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} (argument or $TINYKD_BACKEND), got {backend!r}")
    if name == "numpy":
        return np
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "backend 'cupy' was asked for but CuPy is not importable "
            f"({e}); install it with pip install 'tinykd[gpu]' (CUDA 12) or pip install cupy-cuda13x (CUDA 13)"
        ) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken: CuPy raises its own runtime errors
        raise RuntimeError(f"backend 'cupy' was asked for but no usable CUDA device was found ({e})") from e
    if count < 1:
        raise RuntimeError("backend 'cupy' was asked for but no CUDA device is present")
    return cupy


def cupy_available():
    """True when CuPy imports and sees at least one GPU (used to skip GPU tests with a reason)."""
    try:
        resolve("cupy")
    except RuntimeError:
        return False
    return True


def to_device(array, xp, dtype=None):
    """``array`` on ``xp``, optionally cast to ``dtype``: one host-to-device copy on the GPU; on NumPy a copy only
    when the dtype changes."""
    return xp.asarray(array, dtype=dtype)


def to_host(array):
    """``array`` as a NumPy array: from the GPU a device-to-host copy, which waits for every queued kernel (never
    inside a training step); a NumPy array comes back as it is (not copied)."""
    if get_array_module(array) is np:
        return np.asarray(array)
    return array.get()


def default_rng(seed, xp=np):
    """A seeded random generator living where ``xp`` computes (NumPy's PCG64 or CuPy's generator).

    Every generator in tinykd is made here (initialisation, dropout, shuffling, jitter, validation splits), so one
    seed reproduces a run, and every seed passes ``checks.check_seed`` (an integer >= 0, or None). Weight
    initialisation and shuffling always use a NumPy generator, so CPU and GPU models built with the same seed start
    from identical weights and see the same batches.
    """
    return xp.random.default_rng(check_seed(seed))
