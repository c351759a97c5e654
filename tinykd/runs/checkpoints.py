"""Run state on disk, one format for everything: a network's parameters and buffers, an optimiser's state, and
the identity of the run that produced them.

A checkpoint is a ``.npz`` file of named host arrays plus one JSON record (``__meta__``). It is written to a
temporary file in the target folder and renamed, so a crash never leaves half a checkpoint behind, and it is read
with errors that name the path and say what to do. Three kinds share the format:

- a **model** (``save_model``; ``read_model``, which ``Network.from_checkpoint`` and ``Network.load`` use): what a
  network holds (parameters *and* buffers such as batch-norm running statistics, by name) and how to rebuild it
  (``model.config()``);
- a **run** (``save_run``/``load_run``): a model plus its optimiser's state, the epoch, the history and the
  state of every random generator, enough to continue training exactly where it stopped;
- both carry an optional **identity**: the fingerprint of the training data and every setting that shaped the
  weights. A checkpoint is reused only when its identity equals the one asked for: weights trained on other data
  or with other settings are never loaded in their place.

Checkpoint *paths* are named here too: ``identity_path`` (a name carrying a hash of the identity), ``run_path`` and
``best_path`` (the run state and the best-by-validation model kept beside a model's path while it trains).

A run's state includes every random generator it draws from (shuffling, jitter, the model's dropout masks; NumPy's
and CuPy's), so a resumed run is bit for bit the run it continues. While a run writes its checkpoint it holds a
lock beside it (``tinykd.runlock``): a second process with the same checkpoint stops and names the first. Every file is
written through ``atomic_open`` (temporary file, then rename), with the permissions the user's umask gives.
"""
import contextlib
import errno
import hashlib
import json
import os
import secrets
import zipfile

import numpy as np

from ..backend import get_array_module, to_host

FORMAT = "tinykd-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or holds something other than what was asked for."""


# ---------------------------------------------------------------------------------------------- the file itself
@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """A new file opened for writing (``"wb"``, or ``"w"`` for UTF-8 text) that replaces ``path`` only when the
    ``with`` block ends without an error: a temporary file in the same folder, then a rename, so a crash never
    leaves half a file behind. The folder is created if needed.

    The file gets mode 0o666 less the umask (0644 under umask 022), like any file a user writes:
    ``tempfile.mkstemp`` would make it 0600 whatever the umask, and the rename would keep that.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    if os.path.isdir(path):      # else the rename fails at the end, naming the temporary file instead of the path
        raise IsADirectoryError(errno.EISDIR, "a folder is there; give a file path", path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    while True:
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(6)}-{os.path.basename(path)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:   # another writer's temporary name, drawn twice: draw again
            continue
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


def _by_kind(model, arrays, expected):
    """``arrays`` under today's names: a BinaryMLP's checkpoints were written with its layers numbered by position
    (``binarydense0``, ``batchnorm1``, ``relu2``, ``binarydense3``), today's by kind (``binarydense0``,
    ``batchnorm0``, ``relu0``, ``binarydense1``). Arrays that already carry today's names are left as they are."""
    if set(arrays) <= expected:
        return arrays
    rename = {}
    for i, (layer, name) in enumerate(zip(model.layers, model.layer_names())):
        rename[f"{type(layer).__name__.lower()}{i}"] = name
    renamed = {}
    for key, a in arrays.items():
        layer, _, rest = key.partition(".")
        renamed[f"{rename.get(layer, layer)}.{rest}" if rest else key] = a
    return renamed if set(renamed) <= expected else arrays


def load_network_arrays(model, arrays, source="state"):
    """Copy ``arrays`` into the model's parameters and buffers; every name must be there with its exact shape
    (nothing is broadcast), and nothing else may be."""
    state = _named_state(model)
    expected = {name for name, _ in state}
    arrays = _by_kind(model, arrays, expected)
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
def save_run(path, model, optimizer, epoch, history, generators, identity=None):
    """Everything needed to continue training exactly: network, optimiser state, epoch, history, and the state of
    every random generator: ``generators`` ({name: generator}, the loop's own: shuffling, jitter) and the model's
    (``model.named_generators()``: dropout masks)."""
    arrays = {f"model/{k}": v for k, v in network_arrays(model).items()}
    scalars = {}
    for key, value in optimizer.state_dict().items():
        if isinstance(value, list):
            arrays.update({f"optimizer/{key}/{i}": to_host(v) for i, v in enumerate(value)})
        else:
            scalars[key] = value
    states = {}
    for name, gen in _all_generators(model, generators).items():
        states[name], array = generator_state(gen)
        if array is not None:
            arrays[f"generators/{name}"] = array
    write(path, arrays, {"kind": "run", "model": _config(model), "optimizer": type(optimizer).__name__,
                         "optimizer_scalars": scalars, "epoch": epoch, "history": normalise(history),
                         "generators": states, "identity": normalise(identity)})


def relabel(source, path, identity):
    """Copy the run checkpoint ``source`` to ``path`` under another ``identity``, for a run that is the longer
    continuation of it (``prepare``: a run on an exponential schedule, whose first epochs are the shorter run)."""
    arrays, meta = read(source)
    write(path, arrays, {**{k: v for k, v in meta.items() if k != "format"}, "identity": normalise(identity)})


def _all_generators(model, generators):
    own = dict(getattr(model, "named_generators", lambda: [])())
    return {**generators, **{f"model/{k}": v for k, v in own.items()}}


def generator_state(gen):
    """``(record, array)``: a random generator's whole state, ``record`` JSON and ``array`` a host array or None.

    NumPy's generators give their bit generator's ``state`` (a small dict). CuPy's (``cupy.random.Generator``) keep
    one cuRAND state per GPU thread in device memory, which CuPy exposes only as ``bit_generator._state`` (a byte
    array, its size set by the GPU's number of multiprocessors): that array is copied to the host.
    """
    bit = gen.bit_generator
    if isinstance(gen, np.random.Generator):
        return {"kind": "numpy", "bit_generator": type(bit).__name__, "state": bit.state}, None
    device = getattr(bit, "_state", None)
    if device is None or get_array_module(device) is np:
        raise TypeError(f"cannot save the state of a {type(gen).__name__} ({type(bit).__name__}): neither a NumPy "
                        "generator nor CuPy's")
    return {"kind": "cupy", "bit_generator": type(bit).__name__, "bytes": int(device.size)}, to_host(device)


def set_generator_state(gen, record, array, source, check_only=False):
    """Put back a state saved by ``generator_state`` into a generator of the same kind (``check_only``: only say
    whether it can be); ``CheckpointError`` when it cannot be put back exactly."""
    kind, bit = ("numpy" if isinstance(gen, np.random.Generator) else "cupy"), gen.bit_generator
    if record.get("kind") != kind or record.get("bit_generator") != type(bit).__name__:
        raise CheckpointError(f"{source}: saved a {record.get('kind')} {record.get('bit_generator')} generator, "
                              f"this run draws from a {kind} {type(bit).__name__}: resume on the backend it was "
                              "written on, or start afresh")
    if kind == "cupy" and (array is None or array.shape != bit._state.shape):
        raise CheckpointError(f"{source}: its CuPy generator state holds {record.get('bytes')} bytes, this GPU's "
                              f"{bit._state.size} (another number of multiprocessors); the run cannot resume "
                              "exactly here: resume it on the GPU it was written on, or start afresh")
    if check_only:
        return
    if kind == "numpy":
        bit.state = record["state"]
    else:
        bit._state[...] = get_array_module(bit._state).asarray(array)


def _config(model):
    config = getattr(model, "config", None)
    if config is not None:
        return normalise(config())
    # a composite being trained (FitNets' student + regressor) has no config: its parameter shapes stand for it
    return {"model": type(model).__name__, "params": [[n, list(p.shape)] for n, p, _ in model.named_parameters()]}


def load_run(path, model, optimizer, generators, identity=None):
    """Restore a run saved by ``save_run`` into ``model``, ``optimizer`` and the ``generators`` ({name: generator},
    the same names as saved; the model's own are found as ``save_run`` found them); returns (epoch, history).

    Refuses a checkpoint of another architecture, another optimiser, another set of random generators (a run with
    jitter or dropout resumed without it, or the reverse), or (``identity`` given) another run.
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
    if "generators" not in meta:
        raise CheckpointError(f"{path} was written by an older tinykd that kept only the shuffling generator, so "
                              "a resumed run would draw other dropout masks and shifts than the run it continues: "
                              "delete it and train afresh")
    gens = _all_generators(model, generators)
    if set(gens) != set(meta["generators"]):
        raise CheckpointError(f"{path} holds the random generators {sorted(meta['generators'])}, this run draws "
                              f"from {sorted(gens)} (other dropout or jitter settings?); resume with the settings "
                              "it was written with, or choose another checkpoint path")
    for name, gen in gens.items():   # checked before anything is loaded: a refused resume changes nothing
        set_generator_state(gen, meta["generators"][name], arrays.get(f"generators/{name}"), path, check_only=True)
    load_network_arrays(model, {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}, path)
    state = dict(meta["optimizer_scalars"])
    for key, value in optimizer.state_dict().items():
        if isinstance(value, list):
            saved = [arrays.get(f"optimizer/{key}/{i}") for i in range(len(value))]
            if any(s is None or s.shape != v.shape for s, v in zip(saved, value)):
                raise CheckpointError(f"{path}: optimiser state {key!r} does not fit this model's parameters")
            state[key] = saved
    optimizer.load_state_dict(state)
    for name, gen in gens.items():
        set_generator_state(gen, meta["generators"][name], arrays.get(f"generators/{name}"), path)
    return meta["epoch"], meta["history"]
