"""The training loop: epochs of shuffled mini-batches, evaluation, history, progress, checkpoints and resume.

It knows nothing about any method. Each step: ``out = model.forward(x, train=True)`` ->
``loss, grad = objective(out, y, teacher_out)`` -> ``model.backward(grad)`` -> ``optimizer.step()``.
The teacher's outputs are computed once for the whole training set and cached when nothing random touches the
inputs (no jitter), else per batch on the same jittered inputs the student sees.
"""
import math
import os
import sys
import time

import numpy as np

from .backend import get_array_module, to_host
from .data import batches, jitter
from .layers import batched, load_npz, save_npz


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss, say); the message names the epoch and step."""


def errors(model, x, y, batch_size=10000):
    """Number of misclassified samples (inference mode, large batches)."""
    return int((model.predict(x, batch_size) != y).sum())


def cosine_lr(base_lr, epochs, final_fraction=0.01):
    """Learning rate for epoch e (0-based): cosine decay from ``base_lr`` to ``final_fraction · base_lr``."""
    def lr(epoch):
        return base_lr * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * epoch / epochs)))
    return lr


def train_step(model, objective, optimizer, x, y, target=None):
    """One step: forward, objective, backward, update. Returns the loss (a 0-d array: no synchronisation).

    A model with parameter constraints (a binary net's weight clipping) applies them in ``after_step``.
    """
    loss, grad = objective(model.forward(x, train=True), y, target)
    model.backward(grad)
    optimizer.step()
    after = getattr(model, "after_step", None)
    if after is not None:
        after()
    return loss


def fit(model, objective, optimizer, x, y, epochs, batch_size=128, teacher=None, x_eval=None, y_eval=None,
        eval_model=None, lr_schedule=None, jitter_pixels=0, image_shape=(28, 28), seed=0, checkpoint=None,
        resume=False, progress=True, label="train", cache_teacher=True):
    """Train ``model`` on (x, y) for ``epochs``; returns the history, one dict per epoch.

    ``teacher``: a function x -> teacher outputs (logits or a hint layer) for objectives that need them, or those
    outputs already computed for every row of ``x`` (then nothing is recomputed; not with jitter).
    ``x_eval, y_eval``: counted as errors after each epoch by ``eval_model`` (default ``model``).
    ``lr_schedule``: a function epoch -> learning rate. ``jitter_pixels``: random translation per batch.
    ``cache_teacher``: compute the teacher's outputs once (ignored with jitter, where they change every batch).
    ``checkpoint``: a .npz path written atomically after every epoch; with ``resume=True`` an existing one is
    loaded first (it must come from the same architecture) and training continues after its last epoch with the
    same shuffling stream (dropout masks and jitter draw fresh random numbers).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if getattr(objective, "needs_teacher", False) and teacher is None:
        raise ValueError(f"objective {type(objective).__name__} needs a teacher, but teacher=None")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    xp = get_array_module(x)
    rng = np.random.default_rng(seed)
    aug_rng = xp.random.default_rng(seed + 1)
    history, start = [], 0
    if checkpoint and resume and os.path.exists(checkpoint):
        start, history = load_checkpoint(checkpoint, model, optimizer, rng)
        if progress:
            print(f"[{label}] resumed from {checkpoint} after epoch {start}", file=sys.stderr)
    use_teacher = teacher is not None and getattr(objective, "needs_teacher", False)
    if use_teacher and hasattr(teacher, "shape"):
        if teacher.shape[0] != x.shape[0] or jitter_pixels:
            raise ValueError(f"precomputed teacher outputs must have one row per sample ({x.shape[0]}, got "
                             f"{teacher.shape[0]}) and cannot follow jittered inputs; pass a function instead")
        cached = teacher
    else:
        cached = batched(teacher, x) if use_teacher and cache_teacher and not jitter_pixels else None
    arrays = (x, y) if cached is None else (x, y, cached)
    steps = -(-x.shape[0] // batch_size)
    for epoch in range(start, epochs):
        if lr_schedule is not None:
            optimizer.lr = float(lr_schedule(epoch))
        t0 = time.perf_counter()
        total = xp.zeros((), dtype=np.float64)
        for step, batch in enumerate(batches(*arrays, batch_size=batch_size, rng=rng)):
            xb, yb = batch[0], batch[1]
            if jitter_pixels:
                xb = jitter(xb, image_shape, jitter_pixels, aug_rng)
            target = batch[2] if cached is not None else (teacher(xb) if use_teacher else None)
            try:
                loss = train_step(model, objective, optimizer, xb, yb, target)
            except ValueError as e:
                if "NaN or inf" not in str(e):
                    raise
                kept = f"; the last good checkpoint is {checkpoint}" if checkpoint else ""
                raise TrainingError(f"[{label}] non-finite values at epoch {epoch + 1}, step {step + 1}: {e}{kept}") \
                    from e
            total += loss
            if progress and sys.stderr.isatty() and step % max(1, steps // 20) == 0:
                print(f"\r[{label}] epoch {epoch + 1}/{epochs} {'#' * (20 * step // steps):20s}", end="",
                      file=sys.stderr)
        mean_loss = float(total) / steps
        if not math.isfinite(mean_loss):
            raise TrainingError(f"[{label}] the loss became {mean_loss} in epoch {epoch + 1}")
        record = {"epoch": epoch + 1, "loss": mean_loss, "lr": getattr(optimizer, "lr", None),
                  "seconds": time.perf_counter() - t0}
        if x_eval is not None:
            record["errors"] = errors(eval_model or model, x_eval, y_eval)
        history.append(record)
        if checkpoint:
            save_checkpoint(checkpoint, model, optimizer, epoch + 1, history, rng)
        if progress:
            err = f"  errors {record['errors']}/{x_eval.shape[0]}" if x_eval is not None else ""
            print(f"\r[{label}] epoch {epoch + 1:3d}/{epochs}  loss {mean_loss:.4f}{err}  "
                  f"({record['seconds']:.1f} s)", file=sys.stderr)
    return history


def _arch(model):
    return {"sizes": list(getattr(model, "sizes", [])),
            "params": [[name, list(p.shape)] for name, p, _ in model.named_parameters()]}


def save_checkpoint(path, model, optimizer, epoch, history, rng):
    """Weights, optimiser state, epoch, history and the shuffling generator's state, written atomically."""
    arrays = {f"param/{name}": to_host(p) for name, p, _ in model.named_parameters()}
    state = optimizer.state_dict()
    for key, value in state.items():
        if isinstance(value, list):
            arrays.update({f"opt/{key}/{i}": to_host(v) for i, v in enumerate(value)})
    meta = {"model": "checkpoint", "arch": _arch(model), "epoch": epoch, "history": history,
            "opt_scalars": {k: v for k, v in state.items() if not isinstance(v, list)},
            "rng": rng.bit_generator.state}
    save_npz(path, arrays, meta)


def load_checkpoint(path, model, optimizer, rng):
    arrays, meta = load_npz(path)
    if meta.get("model") != "checkpoint" or meta.get("arch") != _arch(model):
        raise ValueError(f"checkpoint {path} was written for architecture {meta.get('arch', {}).get('sizes')}, "
                         f"not this model's {_arch(model)['sizes']}; delete it or choose another path")
    for name, p, _ in model.named_parameters():
        p[...] = get_array_module(p).asarray(arrays[f"param/{name}"])
    state = dict(meta["opt_scalars"])
    for key in optimizer.state_dict():
        if key not in state:
            n = sum(1 for k in arrays if k.startswith(f"opt/{key}/"))
            state[key] = [arrays[f"opt/{key}/{i}"] for i in range(n)]
    optimizer.load_state_dict(state)
    rng.bit_generator.state = meta["rng"]
    return meta["epoch"], meta["history"]
