"""Run state on disk, one format for everything: a network's parameters and buffers, an optimiser's state, and
the identity of the run that produced them.

A checkpoint is a ``.npz`` file of named host arrays plus one JSON record (``__meta__``). It is written to a
temporary file in the target folder and renamed, so a crash never leaves half a checkpoint behind, and it is read
with errors that name the path and say what to do. Three kinds share the format:

- a **model** (``save_model``; ``read_model``, which ``Network.from_checkpoint`` and ``Network.load`` use): what a
  network holds (parameters *and* buffers such as batch-norm running statistics, by name) and how to rebuild it
  (``model.config()``);
- a **run** (``save_run``/``load_run``): a model plus its optimiser's state, the epoch, the history and the
  shuffling generator, enough to continue training exactly where it stopped;
- both carry an optional **identity**: the fingerprint of the training data and every setting that shaped the
  weights. A checkpoint is reused only when its identity equals the one asked for: weights trained on other data
  or with other settings are never loaded in their place.

Checkpoint *paths* are named here too: ``identity_path`` (a name carrying a hash of the identity), ``run_path`` and
``best_path`` (the run state and the best-by-validation model kept beside a model's path while it trains).
"""
import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import get_array_module, to_host

FORMAT = "tinykd-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or holds something other than what was asked for."""


# ---------------------------------------------------------------------------------------------- the file itself
def write(path, arrays, meta):
    """Save host ``arrays`` and a JSON ``meta`` record to ``path`` atomically (temp file in the same folder, then
    a rename), creating the folder if needed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps({"format": FORMAT, **meta})), **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read(path):
    """``(arrays, meta)`` from a file written by ``write``; ``CheckpointError`` naming the path otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    fix = "delete it (or choose another path) and train again"
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise CheckpointError(f"{path}: a bare .npy array, not a tinykd checkpoint; {fix}")
            arrays = {k: f[k] for k in f.files}
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
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
def identity_path(folder, name, identity):
    """``folder/<name>-<hash>.npz``, the hash (12 hex digits) of ``identity``: other data or settings give
    another name, so they never find this checkpoint."""
    tag = hashlib.sha256(json.dumps(normalise(identity), sort_keys=True).encode()).hexdigest()[:12]
    return os.path.join(folder, f"{name}-{tag}.npz")


def _stem(path):
    path = os.fspath(path)
    return path[:-4] if path.endswith(".npz") else path


def run_path(path):
    """Where the run state of the model to be saved at ``path`` is kept while it trains: ``x.npz`` -> ``x.run.npz``."""
    return _stem(path) + ".run.npz"


def best_path(path):
    """Where ``fit`` keeps the best-by-validation model beside the run checkpoint: ``x.npz`` -> ``x.best.npz``."""
    return _stem(path) + ".best.npz"


# ------------------------------------------------------------------------------------------------ identities
def normalise(record):
    """``record`` as JSON would give it back (tuples become lists, NumPy scalars plain numbers), for comparing."""
    return json.loads(json.dumps(record, default=_json_default))


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot store {type(v).__name__} in a checkpoint's identity")


def differences(expected, found, prefix=""):
    """The keys (dotted paths) whose values differ between two identity records."""
    if not (isinstance(expected, dict) and isinstance(found, dict)):
        return [] if expected == found else [prefix.rstrip(".") or "identity"]
    out = []
    for key in sorted(set(expected) | set(found), key=str):
        if key not in expected or key not in found:
            out.append(prefix + str(key))
        else:
            out += differences(expected[key], found[key], f"{prefix}{key}.")
    return out


def _check_identity(path, meta, identity):
    if identity is None:
        return
    diff = differences(normalise(identity), meta.get("identity"))
    if diff:
        raise CheckpointError(f"{path} was produced by another run (differs in: {', '.join(diff)}); it is not "
                              "reused: delete it or choose another checkpoint path")


# ------------------------------------------------------------------------------------------------- networks
def network_arrays(model):
    """Host copies of everything a network holds, by name: parameters and buffers (batch-norm statistics).

    Always copies (``to_host`` of a NumPy array is the array itself), so later training cannot change them."""
    return {name: np.array(to_host(a)) for name, a in _named_state(model)}


def _named_state(model):
    state = [(name, p) for name, p, _ in model.named_parameters()]
    return state + list(getattr(model, "named_buffers", lambda: [])())


def load_network_arrays(model, arrays, source="state"):
    """Copy ``arrays`` into the model's parameters and buffers; every name must be there with its exact shape
    (nothing is broadcast), and nothing else may be."""
    state = _named_state(model)
    expected = {name for name, _ in state}
    extra = sorted(set(arrays) - expected)
    if extra:
        raise CheckpointError(f"{source}: holds arrays this model does not have: {', '.join(extra[:5])}")
    for name, a in state:
        got = arrays.get(name)
        if got is None or got.shape != a.shape or got.dtype.kind != "f":
            raise CheckpointError(f"{source}: {name} is {'missing' if got is None else f'{got.dtype}{got.shape}'}, "
                                  f"this model needs {a.dtype}{a.shape}")
    for name, a in state:
        a[...] = get_array_module(a).asarray(arrays[name], dtype=a.dtype)


def save_model(path, model, identity=None, **info):
    """Write a network (parameters, buffers, ``model.config()``) and what produced it (``identity``, ``info``)."""
    write(path, network_arrays(model), {"kind": "model", "model": model.config(), "identity": normalise(identity),
                                        "info": normalise(info)})


def read_model(path, identity=None):
    """``(arrays, meta)`` of a model checkpoint; ``identity`` given, it must match (``Network.from_checkpoint``
    builds the network its ``meta["model"]`` describes)."""
    arrays, meta = read(path)
    if meta.get("kind") != "model":
        raise CheckpointError(f"{path}: a {meta.get('kind')!r} checkpoint, not a model")
    _check_identity(path, meta, identity)
    return arrays, meta


def load_weights(model, path, identity=None):
    """Load a model checkpoint into an existing network, which must have the same configuration."""
    arrays, meta = read_model(path, identity)
    _check_config(path, meta["model"], model)
    load_network_arrays(model, arrays, path)
    return model


def meta_of(path):
    """The JSON record of a checkpoint (identity, info, configuration), checked like ``read``."""
    return read(path)[1]


def _check_config(path, saved, model):
    mine = normalise(model.config())
    diff = differences(mine, saved)
    if diff:
        raise CheckpointError(f"{path} holds {saved.get('model')} with sizes {saved.get('sizes')}, but this model is "
                              f"{mine.get('model')} with sizes {mine.get('sizes')} (differs in: {', '.join(diff)}); "
                              "build the model it describes (Network.from_checkpoint), or choose another path")


# --------------------------------------------------------------------------------------------------- runs
def save_run(path, model, optimizer, epoch, history, rng, identity=None):
    """Everything needed to continue training exactly: network, optimiser state, epoch, history, shuffling."""
    arrays = {f"model/{k}": v for k, v in network_arrays(model).items()}
    scalars = {}
    for key, value in optimizer.state_dict().items():
        if isinstance(value, list):
            arrays.update({f"optimizer/{key}/{i}": to_host(v) for i, v in enumerate(value)})
        else:
            scalars[key] = value
    write(path, arrays, {"kind": "run", "model": _config(model), "optimizer": type(optimizer).__name__,
                         "optimizer_scalars": scalars, "epoch": epoch, "history": normalise(history),
                         "rng": rng.bit_generator.state, "identity": normalise(identity)})


def _config(model):
    config = getattr(model, "config", None)
    if config is not None:
        return normalise(config())
    # a composite being trained (FitNets' student + regressor) has no config: its parameter shapes stand for it
    return {"model": type(model).__name__, "params": [[n, list(p.shape)] for n, p, _ in model.named_parameters()]}


def load_run(path, model, optimizer, rng, identity=None):
    """Restore a run saved by ``save_run`` into ``model``, ``optimizer`` and ``rng``; returns (epoch, history).

    Refuses a checkpoint of another architecture, another optimiser, or (``identity`` given) another run.
    """
    arrays, meta = read(path)
    if meta.get("kind") != "run":
        raise CheckpointError(f"{path}: a {meta.get('kind')!r} checkpoint, not a training run to resume")
    if identity is None and meta.get("identity") is not None:
        raise CheckpointError(f"{path} was written by a run with an identity (data fingerprint and settings); pass "
                              "the same identity= to resume it, or choose another checkpoint path")
    _check_identity(path, meta, identity)
    if differences(_config(model), meta["model"]):
        raise CheckpointError(f"{path} was written for {meta['model'].get('model')} {meta['model'].get('sizes')}, "
                              f"not this model ({', '.join(differences(_config(model), meta['model']))}); delete "
                              "it or choose another checkpoint path")
    if meta["optimizer"] != type(optimizer).__name__:
        raise CheckpointError(f"{path} holds {meta['optimizer']} state, but this run uses "
                              f"{type(optimizer).__name__}; resume with {meta['optimizer']} or start afresh")
    load_network_arrays(model, {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}, path)
    state = dict(meta["optimizer_scalars"])
    for key, value in optimizer.state_dict().items():
        if isinstance(value, list):
            saved = [arrays.get(f"optimizer/{key}/{i}") for i in range(len(value))]
            if any(s is None or s.shape != v.shape for s, v in zip(saved, value)):
                raise CheckpointError(f"{path}: optimiser state {key!r} does not fit this model's parameters")
            state[key] = saved
    optimizer.load_state_dict(state)
    rng.bit_generator.state = meta["rng"]
    return meta["epoch"], meta["history"]
