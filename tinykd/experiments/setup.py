"""What every experiment starts from: the data its configuration asks for, and networks trained on the labels (the
teacher first), trained once and reloaded by identity.

``prepare(cfg)`` checks the output folders, loads the data (named or your own; subset; stratified validation
split), moves it to the backend and trains or reloads the teacher. ``train_or_load`` reuses a checkpoint only when
its identity (the data's fingerprint and every setting that shapes the weights) matches; the checkpoint's name
carries a hash of that identity (``tinykd.checkpoint.identity_path``). ``cfg`` is a ``tinykd.config.Config`` or any
object with the same fields.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..runs import checkpoints as ckpt
from .. import data as data_mod
from ..runs import records, locks
from ..runs.runstate import RunFile
from . import shared
from ..backend import resolve
from ..batches import check_jitter
from .settings import ConfigError, data_label
from ..data.dataset import check_outputs
from ..distill import Supervised
from ..layers import MLP
from ..optim import Adam
from ..schedules import ExponentialSchedule
from ..train import cosine_lr, errors, fit


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
@dataclass(frozen=True)
class Spec:
    """A network trained on the labels, as asked for: everything that shapes its weights besides the data and the
    loop's shared settings (``cfg``'s batch size and backend). ``extra``: what the caller did to the rows it trains
    on (``transfer_rows``: the first rows only; ``labelled``: the labelled ones only), part of its identity."""
    role: str
    sizes: tuple
    epochs: int
    lr: float
    dropout: float = 0.0
    input_dropout: float = 0.0
    jitter: int = 0
    seed: int = 0
    extra: dict = field(default_factory=dict)
    max_norm: float = None    # Adam's max-norm bound on each unit's incoming weights (None: none)
    decay: float = None       # an ExponentialSchedule with this decay per epoch (None: cosine over the run)

    def build(self, cfg):
        """The objects that shape the network, built before anything trains: (model, optimizer, schedule,
        objective). A run of 0 epochs (an untrained network, e.g. ``--teacher-epochs 0``) has no schedule."""
        model = MLP(list(self.sizes), dropout=self.dropout, input_dropout=self.input_dropout, seed=self.seed,
                    backend=resolve(cfg.backend))
        schedule = None if not self.epochs else cosine_lr(self.lr, self.epochs) if self.decay is None else \
            ExponentialSchedule(self.lr, self.decay)       # a decay of 0 or above 1 is refused there, not ignored
        return model, Adam(model, lr=self.lr, max_norm=self.max_norm), schedule, Supervised()

    def identity(self, cfg, fingerprint, parts=None):
        """The data's fingerprint, what each object that shapes the weights says of itself (the model's
        architecture, initialisation and seeds; the optimiser's settings; the schedule's base rate, length and
        floor; the objective's settings) and the loop's own settings (epochs, batch size, jitter, the shuffling
        seed, the backend), then ``extra``. Built from the objects, never typed, so a changed default changes the
        identity."""
        model, optimizer, schedule, objective = parts or self.build(cfg)
        ident = {"data": fingerprint, "role": self.role, "model": model.describe(), "optimizer": optimizer.describe(),
                 "schedule": schedule.describe() if schedule else None, "objective": objective.describe(),
                 "epochs": self.epochs, "batch_size": cfg.batch_size, "jitter": self.jitter, "seed": self.seed,
                 "backend": cfg.backend}
        ident.update(self.extra)
        return ident


def teacher_spec(cfg):
    """The teacher ``cfg`` asks for: dropout and jitter, on every training row."""
    return Spec("teacher", tuple(cfg.teacher_sizes), cfg.teacher_epochs, cfg.teacher_lr, cfg.teacher_dropout,
                cfg.teacher_input_dropout, cfg.jitter)


def checkpoint_path(cfg, ident):
    """``<checkpoint_dir>/<data>-<role>-<sizes>-<hash of the identity>.npz``, ``<data>`` the named data set or
    your own data's file or folder name (``config.data_label``): other data or settings never find it (the hash),
    and a name never says MNIST for your files."""
    sizes = "x".join(str(s) for s in ident["model"]["sizes"])
    data = data_label(cfg, Path(cfg.data).stem if cfg.data else cfg.dataset)
    return ckpt.identity_path(cfg.checkpoint_dir, f"{data}-{ident['role']}-{sizes}", ident)


def train_or_load(cfg, fingerprint, spec, arrays, image_shape=None):
    """Train the network ``spec`` asks for on ``arrays`` = (x, y, x_val, y_val), or load it when a finished
    checkpoint of exactly its identity exists.

    ``image_shape``: what the rows were flattened from, for the jitter (the data's fingerprint covers it).
    Training holds the run's lock (``locks.run_lock``) from the moment it looks for a finished checkpoint
    until it has written one and removed the run state: a second process with the same identity stops, naming
    the first, instead of sharing its files. Returns (model, record): the record says whether it was loaded, from
    where, and what produced it.
    """
    x, y, xv, yv = arrays
    parts = spec.build(cfg)
    ident = spec.identity(cfg, fingerprint, parts)
    path, role = checkpoint_path(cfg, ident), spec.role
    if os.path.exists(path):
        return _load(path, parts[0], role, ident)
    run_path = ckpt.run_path(path)
    with locks.run_lock(run_path, say=lambda line: log(f"{role}: {line}")):
        if os.path.exists(path):         # finished by another process between the look above and the lock
            return _load(path, parts[0], role, ident)
        model, optimizer, schedule, objective = parts
        continued = _continue_prefix(cfg, spec, ident, path, run_path)
        resumed = ckpt.meta_of(run_path)["epoch"] if os.path.exists(run_path) and not continued else None
        history = fit(model, objective, optimizer, x, y, spec.epochs, cfg.batch_size, x_val=xv, y_val=yv,
                      lr_schedule=schedule, jitter_pixels=spec.jitter, image_shape=image_shape, seed=spec.seed,
                      label=role, checkpoint=RunFile(run_path, ident), resume=True)
        # the epochs' own times: a resumed run's total includes the epochs trained before the interruption
        info = {"seconds": sum(h["seconds"] for h in history), "history": history, "resumed_after_epoch": resumed,
                **({"continued_from_epoch": continued} if continued else {})}
        ckpt.save_model(path, model, ident, **info)
        if spec.decay is not None and os.path.exists(run_path):   # a longer run of this recipe may continue from here
            os.replace(run_path, _state_path(path))
        for leftover in (run_path, ckpt.best_path(run_path)):
            if os.path.exists(leftover):
                os.remove(leftover)
    return model, {"loaded": False, "checkpoint": path, "identity": ident, **info}


def _state_path(path):
    """Where a finished run on an exponential schedule keeps its last training state: ``x.npz`` -> ``x.state.npz``."""
    return path[:-4] + ".state.npz"


def _continue_prefix(cfg, spec, ident, path, run_path):
    """A run on an exponential schedule (no length: its first E epochs are a run of E epochs, bit for bit) starts
    from the longest finished shorter run of the same recipe, when one left its training state: that state, under
    this run's identity, becomes its run checkpoint, and ``fit`` resumes from it as from an interruption. Returns
    the epochs continued from (None: none)."""
    if spec.decay is None or os.path.exists(run_path):
        return None
    for epochs in range(spec.epochs - 1, 0, -1):
        state = _state_path(checkpoint_path(cfg, {**ident, "epochs": epochs}))
        if os.path.exists(state):
            ckpt.relabel(state, run_path, ident)
            log(f"{spec.role}: continues the finished run of its first {epochs} epochs ({state})")
            return epochs
    return None


def _load(path, model, role, ident):
    ckpt.load_model(path, model, ident)
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


class Setup:
    """What every experiment starts from: the data ``cfg`` asks for on its backend (``ds`` on the host, ``arrays``
    = (x, y, x_val, y_val, x_test, y_test) on the device, ``data`` its record with the fingerprint), the records
    folder (``store``), and the networks trained on the labels, each trained or loaded once, on first use.

    Making one checks the output folders and the data before anything trains; ``check``: a function of the loaded
    (host) data set for what an experiment needs of its data beyond the protocol's checks (e.g. the classes it
    removes); it raises to refuse."""

    def __init__(self, cfg, check=None):
        for folder, option in ((cfg.out_dir, "--out-dir"), (cfg.checkpoint_dir, "--checkpoint-dir"),
                               (cfg.records_dir, "--records-dir")):
            shared.check_writable(folder, option)
        self.cfg, self.ds = cfg, load_data(cfg)
        if check is not None:
            check(self.ds)
        self.data = data_record(self.ds, cfg)
        dev = self.ds.to(resolve(cfg.backend))
        self.arrays = (dev.x_train, dev.y_train, dev.x_val, dev.y_val, dev.x_test, dev.y_test)
        self.store = records.Store(cfg.records_dir)
        log(f"{self.ds!r} from {self.ds.source} (fingerprint {self.data['fingerprint'][:16]}) on {cfg.backend}; "
            f"teacher {cfg.teacher_sizes}, student {cfg.student_sizes}")

    def identity(self, spec):
        return spec.identity(self.cfg, self.data["fingerprint"])

    def model(self, spec, arrays=None, image_shape=None, measure=None, held_out=True):
        """The network ``spec`` asks for, trained on ``arrays`` (x, y, x_val, y_val; default: the whole training
        set and the validation split) or loaded from its checkpoint; its record is written when missing, with its
        test and validation errors, parameter counts, training history and time, and ``measure(model)``'s
        fields. ``held_out=False``: the network trained on the validation split too, so it has no validation
        errors (counting them would count training errors)."""
        model, trained = train_or_load(self.cfg, self.data["fingerprint"], spec, arrays or self.arrays[:4],
                                       image_shape=image_shape)
        ident = trained.pop("identity")
        if self.store.find(ident) is None:
            trained.pop("loaded")
            result = {**model_record(model, trained, self.arrays), **(measure(model) if measure else {})}
            if not held_out:
                result["validation_errors"] = None
            self.store.put(ident, result, data=self.data)
        return model

    def record(self, spec):
        """The record of the network ``spec`` asks for; None when it has none yet."""
        return self.store.find(self.identity(spec))


def prepare(cfg, check=None):
    """``Setup(cfg, check)`` and its teacher, trained or loaded: (dataset, arrays, teacher, data record, teacher
    record's result) for the examples that need the teacher's weights."""
    setup = Setup(cfg, check)
    spec = teacher_spec(cfg)
    teacher = setup.model(spec, image_shape=tuple(setup.ds.input_shape))
    return setup.ds, setup.arrays, teacher, setup.data, setup.record(spec)["result"]
