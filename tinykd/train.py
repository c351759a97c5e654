"""The training loop: epochs of shuffled mini-batches, validation, history, progress, checkpoints and resume.

It knows nothing about any method. Each step: ``out = model.forward(x, train=True)`` ->
``loss, dout = objective(out, y, teacher_out)`` -> ``model.backward(dout)`` -> ``optimizer.step()``.
The teacher's outputs are computed once for the whole training set when nothing random touches the inputs (no
jitter), else per batch on the same jittered inputs the student sees.

Host and device meet only outside the steps, so a step on the GPU only queues kernels: the data checks once per
``fit`` call (``_check_data``), the shuffling permutation once per epoch (``batches.batches``), and at each epoch's
end its losses (checked there, before anything overwrites the checkpoints: ``_check_losses``), the validation
errors, ``epoch_end``'s measurements and the run state.

**The run-state keeper.** ``fit(..., checkpoint=keeper, resume=True)`` keeps its run state through an object that
knows where and how (``tinykd.runs.runstate.RunFile(path, identity)`` keeps it in files); the loop asks it for:

- ``with keeper:`` around the whole run: it holds the run's lock (a second run of the same state stops);
- ``keeper.load(model, optimizer, generators)``: with ``resume=True``, put back the run kept so far (weights,
  optimiser state, every generator's state) and return ``(epochs done, history)``, or None when there is none;
- ``keeper.save(model, optimizer, epoch, history, generators)``: after every epoch whose losses are good, the
  state that continues it exactly;
- ``str(keeper)``: where it is, named when a run stops.
"""
import contextlib
import math
import os
import sys
import time

import numpy as np

from . import functional as F
from .backend import default_rng, get_array_module, to_host, training_step
from .batches import batched, batches, check_jitter, jitter
from .checks import check_int, check_label_vector, check_rows, check_seed
from .layers import Network


class TrainingError(RuntimeError):
    """Training cannot go on (a loss that is NaN or has exploded); the message names the epoch and step."""


def errors(model, x, y, batch_size=10000):
    """Number of misclassified samples (inference mode, large batches).

    Checked first with the rules ``fit`` applies where data enters (``_check_data``): ``x`` one row per sample
    (``checks.check_rows``), ``y`` one class index of the model's outputs per row (``checks.check_label_vector``,
    ``functional.check_label_range``), ``x`` finite (``functional.check_finite``); unchecked, each would give a count
    that looks like a number and means nothing."""
    check_rows("x", x)
    check_label_vector("y", y, x.shape[0])
    if x.shape[0] == 0:
        raise ValueError("x has no rows, so there is nothing to count (0 errors would read as a perfect score)")
    _check_data(model, [("y", y, None)], [("x", x)])
    return _errors(model, x, y, batch_size)


def _errors(model, x, y, batch_size=10000):
    """``errors`` without its checks, for data already checked: one read back to the host. A ``Network`` is told so
    (``predict(checked=True)``: no second read of ``x``); another model's ``predict`` (a ``PackedBinaryMLP``'s) is
    called as it is."""
    checked = {"checked": True} if isinstance(model, Network) else {}
    return int((model.predict(x, batch_size, **checked) != y).sum())


def train_step(model, objective, optimizer, x, y, target=None):
    """One step: forward, objective, backward, update. Returns the loss as a 0-d array, where it was computed.

    Reads no value back to the host, so on the GPU it only queues work (``tests/test_sync.py`` checks this for every
    objective; ``TINYKD_DEBUG=1`` adds per-call value checks, which do synchronise). Its data must have been
    checked where it entered, as ``fit`` does: inside the step (``backend.training_step``) the objective does not
    read its labels' range. A model with parameter constraints (a binary net's weight clipping) applies them in
    ``after_step``.
    """
    with training_step():
        loss, dout = objective(model.forward(x, train=True), y, target)
    model.backward(dout)
    optimizer.step()
    after = getattr(model, "after_step", None)
    if after is not None:
        after()
    return loss


def fit(model, objective, optimizer, x, y, epochs, batch_size=128, teacher=None, x_val=None, y_val=None,
        lr_schedule=None, jitter_pixels=0, image_shape=None, seed=0, checkpoint=None, resume=False,
        explode_factor=100.0, epoch_end=None, progress=True, label="train"):
    """Train ``model`` on (x, y) for ``epochs``; returns the history, one dict per epoch.

    ``teacher``: a function x -> teacher outputs (logits or a hint layer) for objectives that need them, or those
    outputs already computed for every row of ``x`` (not with jitter).
    ``x_val, y_val``: a validation set, counted as errors after each epoch (``val_errors`` in the history).
    ``lr_schedule``: epoch -> learning rate (> 0), e.g. ``cosine_lr(lr, epochs)``; one with a length (an ``epochs``
    attribute) must be exactly as long as the run (``_check_schedule``).
    ``jitter_pixels``: each batch's images translated by up to this many pixels (``batches.check_jitter``);
    ``image_shape``: (height, width[, channels]) the rows of ``x`` were flattened from, required with jitter.
    ``seed``: the shuffling generator (NumPy, ``seed``) and the jitter generator (x's array module, ``seed + 1``).
    ``checkpoint``: a run-state keeper (the protocol above), e.g. ``tinykd.runs.runstate.RunFile(path, identity)``:
    the run state is kept after every good epoch; the keeper holds the run's lock while it trains. ``resume=True``
    continues the run it keeps after its last epoch exactly as if it had not stopped (weights, optimiser state,
    every random generator); the keeper refuses a run of another architecture, optimiser, generators or identity.
    ``epoch_end``: model -> dict of extra measurements for each epoch's history, called after validation.
    ``explode_factor``: stop when a step's loss exceeds this many times the first epoch's mean loss (at least 1
    nat; the first step's loss during the first epoch); ``None`` turns the check off. A loss that is not finite
    always stops the run.
    Refused before training: labels that are not one class index of the model's outputs per row, inputs or
    precomputed teacher outputs that are empty or not finite, an all-ignored ``y`` without a teacher, and a
    ``batch_size`` (or last partial batch) below a layer's or the objective's ``min_batch_rows``
    (``_check_batches``). Every batch is trained on, the last partial one included.
    """
    check_int("epochs", epochs, 0)
    check_int("batch_size", batch_size, 1)
    check_seed(seed, allow_none=False)
    if getattr(objective, "needs_teacher", False) and teacher is None:
        raise ValueError(f"objective {type(objective).__name__} needs a teacher, but teacher=None")
    if teacher is not None and not (callable(teacher) or hasattr(teacher, "shape")):
        raise TypeError(f"teacher must be a function x -> outputs (e.g. teacher_model.logits) or those outputs "
                        f"computed for every row of x, got {type(teacher).__name__}")
    check_rows("x", x)
    check_label_vector("y", y, x.shape[0])
    if x.shape[0] == 0:
        raise ValueError("x has no rows: there is nothing to train on")
    _check_batches(model, objective, x.shape[0], batch_size)
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val go together: give both or neither")
    if x_val is not None:
        check_rows("x_val", x_val)
        check_label_vector("y_val", y_val, x_val.shape[0])
        if x_val.shape[0] == 0:
            raise ValueError("x_val has no rows, so every epoch would score 0 errors; pass x_val=None, y_val=None "
                             "to train without validation")
    _check_schedule(lr_schedule, epochs)
    check_jitter(jitter_pixels, image_shape, x.shape[1] if x.ndim == 2 else None)
    if explode_factor is not None and not (isinstance(explode_factor, (int, float)) and explode_factor > 1):
        raise ValueError(f"explode_factor must be a number > 1 or None, got {explode_factor!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint: checkpoint=tinykd.runs.runstate.RunFile(path)")
    _check_keeper(checkpoint)
    mine = {id(p) for _, p, _ in model.named_parameters()}
    if not all(id(p) in mine for _, p, _ in getattr(optimizer, "params", [])):
        raise ValueError("the optimiser updates parameters that are not this model's (built for another model?): "
                         "build it from this model, e.g. Adam(model)")
    ignored = getattr(objective, "ignore_label", None)
    _check_data(model, [("y", y, ignored), ("y_val", y_val, None)], [("x", x), ("x_val", x_val)])
    if ignored is not None and not getattr(objective, "needs_teacher", False) and bool((y == ignored).all()):
        raise ValueError(f"every label of y is ignore_label={ignored} and {type(objective).__name__} has no teacher "
                         "to learn unlabelled rows from: the loss would be 0 and nothing would train")
    xp = get_array_module(x)
    # every generator the loop draws from, by name, so that a run checkpoint can keep their states
    generators = {"shuffle": default_rng(seed)}
    if jitter_pixels:
        generators["jitter"] = default_rng(seed + 1, xp)
    with contextlib.nullcontext() if checkpoint is None else checkpoint:
        history, start = [], 0
        kept = checkpoint.load(model, optimizer, generators) if resume else None
        if kept is not None:
            start, history = kept
            if start > epochs:
                raise ValueError(f"{checkpoint} holds a run already at epoch {start}, beyond epochs={epochs}; ask "
                                 "for at least that many epochs, or choose another checkpoint path")
            if progress:
                print(f"[{label}] resumed from {checkpoint} after epoch {start}", file=sys.stderr)
        use_teacher = teacher is not None and getattr(objective, "needs_teacher", False)
        if use_teacher and hasattr(teacher, "shape"):
            if teacher.shape[0] != x.shape[0] or jitter_pixels:
                raise ValueError(f"precomputed teacher outputs must have one row per sample ({x.shape[0]}, got "
                                 f"{teacher.shape[0]}) and cannot follow jittered inputs; pass a function instead")
            cached = teacher
        else:
            cached = batched(teacher, x) if use_teacher and not jitter_pixels else None
        _check_data(model, [], [("the teacher's outputs", cached)])
        arrays = (x, y) if cached is None else (x, y, cached)
        steps = -(-x.shape[0] // batch_size)
        for epoch in range(start, epochs):
            if lr_schedule is not None:
                lr = float(lr_schedule(epoch))
                if not (math.isfinite(lr) and lr > 0):
                    raise ValueError(f"lr_schedule gave learning rate {lr} for epoch {epoch + 1}; it must be "
                                     "finite and > 0 (a negative rate would climb the loss)")
                optimizer.lr = lr
            t0 = time.perf_counter()
            losses = xp.zeros(steps, dtype=np.float64)
            for step, batch in enumerate(batches(*arrays, batch_size=batch_size, rng=generators["shuffle"])):
                xb, yb = batch[0], batch[1]
                if jitter_pixels:
                    xb = jitter(xb, image_shape, jitter_pixels, generators["jitter"])
                target = batch[2] if cached is not None else (teacher(xb) if use_teacher else None)
                # a slice: an array copy on every backend (storing one element may read the loss as a number)
                losses[step:step + 1] = train_step(model, objective, optimizer, xb, yb, target)
                if progress and sys.stderr.isatty() and step % max(1, steps // 20) == 0:
                    print(f"\r[{label}] epoch {epoch + 1}/{epochs} {'#' * (20 * step // steps):20s}", end="",
                          file=sys.stderr)
            host = to_host(losses)                             # the epoch's one transfer of losses to the host
            _check_losses(host, history, explode_factor, f"[{label}] epoch {epoch + 1}",
                          _kept(checkpoint, history))
            record = {"epoch": epoch + 1, "loss": float(host.mean()),
                      "lr": getattr(optimizer, "lr", None), "seconds": time.perf_counter() - t0}
            if x_val is not None:
                record["val_errors"] = _errors(model, x_val, y_val)   # checked before training
            if epoch_end is not None:
                record.update(epoch_end(model))
            history.append(record)
            if checkpoint is not None:
                checkpoint.save(model, optimizer, epoch + 1, history, generators)
            if progress:
                val = f"  validation errors {record['val_errors']}/{x_val.shape[0]}" if x_val is not None else ""
                print(f"\r[{label}] epoch {epoch + 1:3d}/{epochs}  loss {record['loss']:.4f}{val}  "
                      f"({record['seconds']:.1f} s)", file=sys.stderr)
    return history


def _check_schedule(schedule, epochs):
    """Refuse, before training, a schedule that is not callable or whose length is not the run's (past its end a
    cosine climbs back up; a longer one never reaches its floor). A plain function has no length to check."""
    if schedule is None:
        return
    if not callable(schedule):
        raise TypeError(f"lr_schedule must be a function epoch -> learning rate, such as cosine_lr(lr, epochs); "
                        f"got {type(schedule).__name__}")
    length = getattr(schedule, "epochs", None)
    if length is not None and length != epochs:
        raise ValueError(f"lr_schedule covers {length} epochs but the run trains {epochs}; build it for exactly "
                         f"the run, e.g. cosine_lr(lr, {epochs})")


def _check_batches(model, objective, rows, batch_size):
    """Refuse, before training, a batch smaller than a layer of ``model`` or the ``objective`` can train on (their
    ``min_batch_rows``, 1 when they have none): ``batch_size`` itself, or the last partial batch of ``rows``, in
    one line that names the setting to change (skipping the batch instead could train an epoch on nothing)."""
    parts = [*getattr(model, "layers", ()), objective]
    need, who = max(((getattr(p, "min_batch_rows", 1), type(p).__name__) for p in parts), key=lambda n: n[0])
    last = rows % batch_size or batch_size
    if min(last, batch_size) >= need:
        return
    what = f"{who} needs batches of at least {need} rows in training"
    if batch_size < need:
        raise ValueError(f"batch_size={batch_size} cannot train this {type(model).__name__}: {what}; use "
                         f"batch_size >= {need}")
    if rows < need:
        raise ValueError(f"x has {rows} row{'s' * (rows != 1)}, but {what}; give it at least {need} rows")
    fits = [b for b in range(need, rows + 1) if b != batch_size and (rows % b or b) >= need]
    near = sorted(fits, key=lambda b: (abs(b - batch_size), b))[:2]
    raise ValueError(f"x has {rows} rows, so batch_size={batch_size} leaves a last batch of {last} "
                     f"row{'s' * (last != 1)}, but {what}; choose a batch_size that leaves no smaller batch (e.g. "
                     f"{' or '.join(map(str, sorted(near)))}) or drop {last} row{'s' * (last != 1)}")


def _check_data(model, labels, arrays):
    """Value checks where data enters (once per ``fit`` call, and in every public ``errors``), never per step:
    ``labels`` [(name, array, ignored)] (label vectors already: ``checks.check_label_vector``) hold class indices
    of the model's outputs (or ``ignored``, the objective's label for an unlabelled row), ``arrays``
    [(name, array)] are finite (``None`` entries are skipped). Each check is one read of device memory (a GPU
    synchronisation)."""
    classes = model.sizes[-1] if hasattr(model, "sizes") else None
    if classes is not None and classes < 2 and labels:   # argmax of one output is always class 0: 0 loss, 0 errors
        raise ValueError(f"a classifier needs one output per class, at least two; this model has {classes} "
                         f"(sizes {model.sizes})")
    for name, y, ignored in labels:
        if y is not None and classes is not None and y.size:
            F.check_label_range(y, classes, name, ignored, what=f"the model's {classes} outputs")
    for name, a in arrays:
        F.check_finite(name, a)


def _check_losses(host, history, factor, where, kept):
    """Raise ``TrainingError`` at the first step whose loss is not finite or has exploded."""
    bad = np.flatnonzero(~np.isfinite(host))
    if bad.size:
        raise TrainingError(f"{where}, step {bad[0] + 1}: the loss became {host[bad[0]]} (NaN or inf; "
                            f"TINYKD_DEBUG=1 stops at the first function that receives one){kept}")
    if factor is None or not host.size:
        return
    first, what = (history[0]["loss"], "the first epoch's mean") if history else (float(host[0]), "the first step's")
    reference = max(abs(first), 1.0)
    over = np.flatnonzero(host > factor * reference)
    if over.size:
        raise TrainingError(f"{where}, step {over[0] + 1}: the loss exploded to {host[over[0]]:.4g}, more than "
                            f"{factor:g} × {reference:.4g} ({what} loss, at least 1); lower the learning rate{kept}")


KEEPER = ("__enter__", "__exit__", "load", "save")   # what fit asks of one


def _check_keeper(checkpoint):
    """Refuse, before training, a ``checkpoint`` that is not a run-state keeper (``KEEPER``, the protocol in the
    module's docstring): a path is never taken for one, since a path alone says nothing of identity."""
    if checkpoint is None:
        return
    if isinstance(checkpoint, (str, bytes, os.PathLike)):
        raise TypeError(f"checkpoint={os.fsdecode(checkpoint)!r} is a path; pass a run-state keeper: "
                        "checkpoint=tinykd.runs.runstate.RunFile(path)")
    missing = [m for m in KEEPER if not hasattr(checkpoint, m)]
    if missing:
        raise TypeError(f"checkpoint must be a run-state keeper such as tinykd.runs.runstate.RunFile(path); a "
                        f"{type(checkpoint).__name__} has no {', '.join(missing)}")


def _kept(checkpoint, history):
    if checkpoint is None:
        return ""
    return f"; the last good checkpoint is {checkpoint} (epoch {history[-1]['epoch']})" if history else \
        "; no epoch finished, so no checkpoint was written"
