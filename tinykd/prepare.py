"""What every experiment starts from: the data its configuration asks for, and networks trained on the labels (the
teacher first), trained once and reloaded by identity.

``prepare(cfg)`` checks the output folders, loads the data (named or your own; subset; stratified validation
split), moves it to the backend and trains or reloads the teacher. ``train_or_load`` reuses a checkpoint only when
its identity (the data's fingerprint and every setting that shapes the weights) matches; the checkpoint's name
carries a hash of that identity (``tinykd.checkpoint.identity_path``). ``cfg`` is a ``tinykd.config.Config`` or any
object with the same fields.
"""
import os
from pathlib import Path

from . import checkpoint as ckpt
from . import data as data_mod
from . import report, runlock
from .backend import resolve
from .batches import check_jitter
from .config import ConfigError, data_label
from .dataset import check_outputs
from .distill import Supervised
from .layers import MLP
from .optim import Adam
from .train import cosine_lr, errors, fit


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------- data
def load_data(cfg):
    """The data set as asked (named, or the user's own), subset and validation split applied, on the host."""
    if cfg.data:   # always a path (a Path is never taken for a data set's name): ./mnist is the user's folder
        ds = data_mod.load(Path(cfg.data))
    else:
        options = {"split_test": cfg.split_test} if cfg.split_test else {}
        ds = data_mod.load(cfg.dataset, data_dir=cfg.data_dir, **options)
    n = ds.x_train.shape[0]
    if cfg.subset > n:
        raise ConfigError(f"subset {cfg.subset} is larger than the {n:,} training images of {ds.name}")
    if cfg.subset:
        ds = ds.subset(cfg.subset)
        n = cfg.subset
    if ds.x_val is not None:
        if cfg.val is not None:
            raise ConfigError(f"{cfg.data} brings its own validation split; leave out val (--val)")
        ds.val_from_file = True   # read by data_record: this split was not held out here
        return _check_shapes(ds, cfg)
    n_val = cfg.val if cfg.val is not None else int(round(n / 12))
    if n_val >= n:
        raise ConfigError(f"val {n_val} leaves no training images of {n:,}; hold out fewer")
    return _check_shapes(data_mod.preprocess(ds, val=n_val, seed=cfg.val_seed), cfg)


def _check_shapes(ds, cfg):
    transfer = getattr(cfg, "transfer_size", 0)
    if transfer > ds.x_train.shape[0]:
        raise ConfigError(f"transfer_size {transfer} is larger than the {ds.x_train.shape[0]:,} training images left "
                          "after the validation split; choose fewer")
    labelled = getattr(cfg, "labelled", 1.0)
    if labelled < 1:
        rows = transfer or ds.x_train.shape[0]
        kept, classes = int(round(labelled * rows)), len(ds.classes)
        if kept < classes:
            raise ConfigError(f"labelled {labelled:g} keeps {kept} of the students' {rows:,} training rows, fewer "
                              f"than one per class ({classes}); raise labelled (--labelled)")
    if ds.x_train.shape[1] != cfg.teacher_sizes[0]:
        raise ConfigError(f"{ds.name} ({ds.source}): its images {tuple(ds.input_shape)} have "
                          f"{ds.x_train.shape[1]} values but the {cfg.dataset} recipe's networks take "
                          f"{cfg.teacher_sizes[0]}: convert them to greyscale images of that many pixels (28×28 for "
                          "784), e.g. as tinykd.named.svhn_to_grey28 does for SVHN")
    # the layout itself (rows, cols[, channels], never channels first) was decided once, by dataset.image_shape
    if cfg.jitter and len(ds.input_shape) < 2:   # flat rows: no side to shift along, and guessing one is a guess
        raise ConfigError(f"the teacher's jitter (--jitter {cfg.jitter}) shifts images, but {ds.name}'s images are "
                          f"flat rows of {ds.x_train.shape[1]} values: save them as (N, height, width) arrays, or "
                          "pass --jitter 0 (jitter=0 in a Config, from Python)")
    try:     # the teacher's jitter: a whole number of pixels below half the side of these images
        check_jitter(cfg.jitter, tuple(ds.input_shape), ds.x_train.shape[1])
    except ValueError as e:
        raise ConfigError(f"the teacher's jitter (--jitter) on {ds.name}: {e}") from None
    return check_outputs(ds, cfg.teacher_sizes[-1])


def data_record(ds, cfg):
    """What the results say about the data: name, source, fingerprint, sizes, validation seed, subset, whether the
    files are the named data set's own (``canonical``), note."""
    return {"name": ds.name, "source": ds.source, "fingerprint": ds.fingerprint(), "n_train": int(ds.x_train.shape[0]),
            "n_val": 0 if ds.x_val is None else int(ds.x_val.shape[0]), "n_test": int(ds.x_test.shape[0]),
            "val_seed": cfg.val_seed, "val_from_file": getattr(ds, "val_from_file", False), "subset": cfg.subset,
            "canonical": ds.canonical,
            "note": ds.note}


# ---------------------------------------------------------------------------------------- trained networks
def build(cfg, sizes, epochs, lr, dropout, input_dropout, seed):
    """The objects that shape a network trained on the labels, built before anything trains:
    (model, optimizer, schedule, objective). Its identity is taken from their own descriptions (``describe``).
    A run of 0 epochs (an untrained network, e.g. ``--teacher-epochs 0``) has no schedule."""
    model = MLP(sizes, dropout=dropout, input_dropout=input_dropout, seed=seed, backend=resolve(cfg.backend))
    return model, Adam(model, lr=lr), cosine_lr(lr, epochs) if epochs else None, Supervised()


def describe(fingerprint, cfg, role, parts, epochs, jitter, seed):
    """A run's identity: the data's fingerprint, what each object that shapes the weights says of itself (the
    model's architecture, initialisation and seeds; the optimiser's settings; the schedule's base rate, length and
    floor; the objective's settings) and the loop's own settings (epochs, batch size, jitter, the shuffling seed,
    the backend). Built from the objects, never typed, so a changed default changes the identity."""
    model, optimizer, schedule, objective = parts
    return {"data": fingerprint, "role": role, "model": model.describe(), "optimizer": optimizer.describe(),
            "schedule": schedule.describe() if schedule else None, "objective": objective.describe(), "epochs": epochs,
            "batch_size": cfg.batch_size, "jitter": jitter, "seed": seed, "backend": cfg.backend}


def identity(fingerprint, cfg, role, sizes, epochs, lr, dropout, input_dropout, jitter, seed):
    """The identity of a network trained on the labels with these settings (``describe`` of ``build``)."""
    return describe(fingerprint, cfg, role, build(cfg, sizes, epochs, lr, dropout, input_dropout, seed), epochs,
                    jitter, seed)


def checkpoint_path(cfg, ident):
    """``<checkpoint_dir>/<data>-<role>-<sizes>-<hash of the identity>.npz``, ``<data>`` the named data set or
    your own data's file or folder name (``config.data_label``): other data or settings never find it (the hash),
    and a name never says MNIST for your files."""
    sizes = "x".join(str(s) for s in ident["model"]["sizes"])
    data = data_label(cfg, Path(cfg.data).stem if cfg.data else cfg.dataset)
    return ckpt.identity_path(cfg.checkpoint_dir, f"{data}-{ident['role']}-{sizes}", ident)


def train_or_load(cfg, fingerprint, role, sizes, epochs, lr, dropout, input_dropout, jitter, arrays, seed,
                  transfer_rows=None, extra_identity=None, image_shape=None):
    """Train a network on the labels, or load it when a finished checkpoint of exactly this identity exists.

    ``transfer_rows``: the network trains on the first rows of the training set only (part of its identity);
    ``extra_identity``: anything else the caller did to ``arrays`` (e.g. kept only the labelled rows), as a dict.
    ``image_shape``: what the rows were flattened from, for the jitter (the data's fingerprint covers it).
    Training holds the run's lock (``runlock.run_lock``) from the moment it looks for a finished checkpoint
    until it has written one and removed the run state: a second process with the same identity stops, naming
    the first, instead of sharing its files. Returns (model, record): the record says whether it was loaded, from
    where, and what produced it.
    """
    x, y, xv, yv = arrays
    parts = build(cfg, sizes, epochs, lr, dropout, input_dropout, seed)
    ident = describe(fingerprint, cfg, role, parts, epochs, jitter, seed)
    if transfer_rows:
        ident["transfer_rows"] = transfer_rows
    ident.update(extra_identity or {})
    path = checkpoint_path(cfg, ident)
    if os.path.exists(path):
        return _load(path, parts[0], role, ident)
    run_path = ckpt.run_path(path)
    with runlock.run_lock(run_path, say=lambda line: log(f"{role}: {line}")):
        if os.path.exists(path):         # finished by another process between the look above and the lock
            return _load(path, parts[0], role, ident)
        model, optimizer, schedule, objective = parts
        resumed = ckpt.meta_of(run_path)["epoch"] if os.path.exists(run_path) else None
        history = fit(model, objective, optimizer, x, y, epochs, cfg.batch_size, x_val=xv, y_val=yv,
                      lr_schedule=schedule, jitter_pixels=jitter, image_shape=image_shape, seed=seed, label=role,
                      checkpoint=run_path, resume=True, identity=ident)
        # the epochs' own times: a resumed run's total includes the epochs trained before the interruption
        info = {"seconds": sum(h["seconds"] for h in history), "history": history, "resumed_after_epoch": resumed}
        model.save(path, ident, **info)
        for leftover in (run_path, ckpt.best_path(run_path)):
            if os.path.exists(leftover):
                os.remove(leftover)
    return model, {"loaded": False, "checkpoint": path, "identity": ident, **info}


def _load(path, model, role, ident):
    model.load(path, ident)
    log(f"{role}: loaded {path} (same data fingerprint and settings)")
    return model, {"loaded": True, "checkpoint": path, "identity": ident, **ckpt.meta_of(path)["info"]}


def logit_stats(logits):
    """The mean logit and the largest magnitude: how far a student's logits have drifted."""
    return {"mean_logit": float(logits.mean()), "max_abs_logit": float(abs(logits).max())}


def model_record(model, trained, arrays):
    """Test and validation errors, parameter counts, and ``trained`` (how the model came to be)."""
    _, _, xv, yv, xt, yt = arrays
    return {"errors": errors(model, xt, yt), "validation_errors": errors(model, xv, yv) if xv is not None else None,
            "params": model.count_params(biases=False), "params_with_biases": model.count_params(), **trained}


def prepare(cfg, check=None):
    """Check the output folders, load the data on the backend, train or load the teacher.

    ``check``: a function of the loaded (host) data set, called before anything trains, for what an experiment
    needs of its data beyond the protocol's checks (e.g. the classes it removes); it raises to refuse.
    Returns (dataset, (x, y, x_val, y_val, x_test, y_test), teacher, data record, teacher record).
    """
    report.check_writable(cfg.out_dir, "--out-dir")
    report.check_writable(cfg.checkpoint_dir, "--checkpoint-dir")
    ds = load_data(cfg)
    if check is not None:
        check(ds)
    d = data_record(ds, cfg)
    dev = ds.to(resolve(cfg.backend))
    arrays = (dev.x_train, dev.y_train, dev.x_val, dev.y_val, dev.x_test, dev.y_test)
    log(f"{ds!r} from {ds.source} (fingerprint {d['fingerprint'][:16]}) on {cfg.backend}; teacher "
        f"{cfg.teacher_sizes}, student {cfg.student_sizes}")
    teacher, trained = train_or_load(cfg, d["fingerprint"], "teacher", cfg.teacher_sizes, cfg.teacher_epochs,
                                     cfg.teacher_lr, cfg.teacher_dropout, cfg.teacher_input_dropout, cfg.jitter,
                                     arrays[:4], seed=0, image_shape=tuple(ds.input_shape))
    return ds, arrays, teacher, d, model_record(teacher, trained, arrays)
