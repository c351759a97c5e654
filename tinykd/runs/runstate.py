"""``RunFile``: the run-state keeper ``train.fit`` asks for, in a file; it keeps what resuming bit for bit needs."""
import os

import numpy as np

from ..backend import get_array_module, to_host
from ..checks import check_file_path
from ..layers import network_arrays
from .checkpoints import CheckpointError, load_arrays, read_kind, write
from .identity import differences, normalise
from .locks import run_lock


class RunFile:
    """``fit``'s run state in the file ``path`` (.npz), stored with ``identity``; ``with`` holds the run's lock
    (``locks.run_lock``; ``say`` gets its line when a killed run's lock is taken over)."""

    def __init__(self, path, identity=None, say=None):
        self.path = check_file_path("checkpoint", path)
        self.identity, self.say = identity, say

    def __str__(self):
        return self.path

    def __enter__(self):
        self._lock = run_lock(self.path, self.say)
        self._lock.__enter__()
        return self

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def save(self, model, optimizer, epoch, history, generators):
        """Keep the network, optimiser state, epoch, history, and the state of every random generator: the loop's
        ``generators`` ({name: generator}) and the model's own (``model.named_generators()``)."""
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
        write(self.path, arrays, {"kind": "run", "model": _config(model), "optimizer": type(optimizer).__name__,
                                  "optimizer_scalars": scalars, "epoch": epoch, "history": normalise(history),
                                  "generators": states, "identity": normalise(self.identity)})

    def load(self, model, optimizer, generators):
        """Restore the run kept by ``save`` into ``model``, ``optimizer`` and ``generators``; returns (epoch,
        history), or None when no run file is there. Another identity, architecture, optimiser or set of generators
        is refused, all checked before anything is loaded, so a refused resume changes nothing."""
        path = self.path
        if not os.path.exists(path):
            return None
        arrays, meta = read_kind(path, "run", self.identity)
        if self.identity is None and meta.get("identity") is not None:
            raise CheckpointError(f"{path} was written by a run with an identity (data fingerprint and settings); "
                                  "pass the same identity= to resume it, or choose another checkpoint path")
        diff = differences(_config(model), meta["model"])
        if diff:
            raise CheckpointError(f"{path} was written for {meta['model'].get('model')} {meta['model'].get('sizes')}, "
                                  f"not this model ({', '.join(diff)}); delete it or choose another checkpoint path")
        if meta["optimizer"] != type(optimizer).__name__:
            raise CheckpointError(f"{path} holds {meta['optimizer']} state, but this run uses "
                                  f"{type(optimizer).__name__}; resume with {meta['optimizer']} or start afresh")
        gens, saved_gens = _all_generators(model, generators), meta.get("generators", {})
        if set(gens) != set(saved_gens):
            raise CheckpointError(f"{path} holds the random generators {sorted(saved_gens)}, this run draws "
                                  f"from {sorted(gens)} (other dropout or jitter settings?); resume with the settings "
                                  "it was written with, or choose another checkpoint path")
        for name, gen in gens.items():
            set_generator_state(gen, saved_gens[name], arrays.get(f"generators/{name}"), path, check_only=True)
        saved = {}
        for key, value in optimizer.state_dict().items():
            if isinstance(value, list):
                saved[key] = [arrays.get(f"optimizer/{key}/{i}") for i in range(len(value))]
                if any(s is None or s.shape != v.shape for s, v in zip(saved[key], value)):
                    raise CheckpointError(f"{path}: optimiser state {key!r} does not fit this model's parameters")
        load_arrays(model, {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}, path)
        optimizer.load_state_dict({**meta["optimizer_scalars"], **saved})
        for name, gen in gens.items():
            set_generator_state(gen, saved_gens[name], arrays.get(f"generators/{name}"), path)
        return meta["epoch"], meta["history"]


def _all_generators(model, generators):
    own = dict(getattr(model, "named_generators", lambda: [])())
    return {**generators, **{f"model/{k}": v for k, v in own.items()}}


def _config(model):
    config = getattr(model, "config", None)
    if config is not None:
        return normalise(config())
    # a composite being trained (FitNets' student + regressor) has no config: its parameter shapes stand for it
    return {"model": type(model).__name__, "params": [[n, list(p.shape)] for n, p, _ in model.named_parameters()]}


def generator_state(gen):
    """``(record, array)``: a generator's whole state as JSON and a host array or None (NumPy's ``state`` dict; CuPy's
    cuRAND states, one per GPU thread, their number set by the GPU's multiprocessors)."""
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
