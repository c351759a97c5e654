"""Networks on disk: one format for every file of a run, named host arrays plus one JSON record (``__meta__``).

A file is a **model** (``save_model``) or a **run** (``runstate.RunFile``: a model, its optimiser, epoch, history and
random generators); it carries the **identity** that produced it and is used only under the identity asked for.
Every file is written through ``atomic_open``; every error names the path and says what to do.
"""
import contextlib
import errno
import json
import os
import secrets
import zipfile

import numpy as np

from ..checks import check_parent_folder
from ..layers import Network, load_network_arrays, network_arrays
from .identity import differences, normalise

FORMAT = "tinykd-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or holds something other than what was asked for."""


# ---------------------------------------------------------------------------------------------- the file itself
@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """A new file opened for writing (``"wb"``, or ``"w"`` for UTF-8 text) that replaces ``path`` only when the
    ``with`` block ends without an error (a temporary file in the same folder, then a rename), the folder made if
    needed; its mode is 0o666 less the umask, like any file a user writes."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    if os.path.isdir(path):      # else the rename fails at the end, naming the temporary file instead of the path
        raise IsADirectoryError(errno.EISDIR, "a folder is there; give a file path", path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(6)}-{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write(path, arrays, meta):
    """Save host ``arrays`` and a JSON ``meta`` record to ``path`` atomically (``atomic_open``); a folder at
    ``path`` is a ``CheckpointError`` naming it."""
    if os.path.isdir(path):
        raise CheckpointError(f"cannot write checkpoint {os.fspath(path)}: it is a folder; give a file path such as "
                              f"{os.path.join(path, 'model.npz')}, or remove the folder")
    with atomic_open(path) as f:
        np.savez(f, __meta__=np.array(json.dumps({"format": FORMAT, **meta})), **arrays)


def read(path, whole=True):
    """``(arrays, meta)`` from a file written by ``write``; ``CheckpointError`` naming the path otherwise. With
    ``whole=False`` only the JSON record is read (``{}`` for the arrays): a run's checkpoints are tens of MB."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    fix = "delete it (or choose another path) and train again"
    try:
        with np.load(path, allow_pickle=False) as f:
            names = f.files if whole else [k for k in f.files if k == "__meta__"]
            arrays = {k: f[k] for k in names}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, TypeError) as e:   # TypeError: a .npy
        raise CheckpointError(f"cannot read checkpoint {path}: not a readable .npz file (truncated, corrupted or "
                              f"another kind of file: {type(e).__name__}); {fix}") from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path}: an .npz file without tinykd's __meta__ record, not a tinykd checkpoint")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: its __meta__ record is not valid JSON; {fix}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}; {fix}")
    return arrays, meta


# ---------------------------------------------------------------------------------------------------- paths
def _stem(path):
    path = os.fspath(path)
    return path[:-4] if path.endswith(".npz") else path


def run_path(path):
    """Where the run state of the model to be saved at ``path`` is kept while it trains: ``x.npz`` -> ``x.run.npz``."""
    return _stem(path) + ".run.npz"


def read_kind(path, kind, identity=None):
    """``(arrays, meta)`` of the checkpoint ``path``, which must be of ``kind`` (``"model"`` or ``"run"``) and, with
    ``identity`` given, of that identity."""
    arrays, meta = read(path)
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path}: a {meta.get('kind')!r} checkpoint, not a {kind}")
    diff = [] if identity is None else differences(normalise(identity), meta.get("identity"))
    if diff:
        raise CheckpointError(f"{path} was produced by another run (differs in: {', '.join(diff)}); it is not "
                              "reused: delete it or choose another checkpoint path")
    return arrays, meta


# ------------------------------------------------------------------------------------------------- networks
def save_model(path, model, identity=None, **info):
    """Write a network (parameters, buffers, ``model.config()``) and what produced it (``identity``, ``info``) to
    ``path`` (.npz) atomically."""
    check_parent_folder("path", path)
    write(path, network_arrays(model), {"kind": "model", "model": model.config(), "identity": normalise(identity),
                                        "info": normalise(info)})


def load_model(path, model, identity=None):
    """Load the model checkpoint ``path`` into ``model``, which must have the configuration it was written for;
    ``identity`` given, it must match. Returns ``model``; ``CheckpointError`` naming any mismatch."""
    arrays, meta = read_kind(path, "model", identity)
    saved, mine = meta["model"], normalise(model.config())
    diff = differences(mine, saved)
    if diff:
        raise CheckpointError(f"{path} holds {saved.get('model')} with sizes {saved.get('sizes')}, but this model is "
                              f"{mine.get('model')} with sizes {mine.get('sizes')} (differs in: {', '.join(diff)}); "
                              "build the model it describes (read_network), or choose another path")
    return load_arrays(model, arrays, path)


def read_network(path, backend=None, identity=None):
    """The network the model checkpoint ``path`` describes (``Network.from_config`` of its configuration, on
    ``backend``), with its arrays loaded; ``identity`` given, it must match."""
    arrays, meta = read_kind(path, "model", identity)
    try:
        model = Network.from_config(meta["model"], backend, path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    return load_arrays(model, arrays, path)


def load_arrays(model, arrays, path):
    """``layers.load_network_arrays`` for arrays read from the file ``path``, its refusal a ``CheckpointError``."""
    try:
        load_network_arrays(model, arrays, path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    return model


def meta_of(path):
    """The JSON record of a checkpoint (identity, info, configuration), checked like ``read``."""
    return read(path, whole=False)[1]


def relabel(source, path, identity):
    """Copy the checkpoint ``source`` to ``path`` under another ``identity`` (a longer run that continues it)."""
    arrays, meta = read(source)
    write(path, arrays, {**{k: v for k, v in meta.items() if k != "format"}, "identity": normalise(identity)})
