"""What every experiment starts from: the data its settings ask for (loaded, subset, split, checked, moved to the
backend once), its records folder, and the ``Runner`` that turns its run specifications into records
(``tinykd.runs.run``). ``cfg`` is an experiment's settings (``tinykd.experiments.settings.Settings`` or a subclass).
"""
import dataclasses
import functools
import os
import tempfile
from pathlib import Path

from .. import data as data_mod
from ..backend import resolve
from ..batches import check_jitter
from ..data.dataset import check_outputs
from ..runs import identity, locks, records
from ..runs.provenance import relative
from ..runs.run import Runner
from ..runs.spec import Spec
from . import plots, shared
from .settings import ConfigError, data_deviations, data_label


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------- data
def load_data(cfg):
    """The data set as asked (named, or the user's own), subset and validation split applied, on the host."""
    if cfg.data:   # always a path (a Path is never taken for a data set's name): ./mnist is the user's folder
        ds = data_mod.load(Path(cfg.data))
    else:
        split = getattr(cfg, "split_test", None)     # Table 1's (notMNIST without its training split)
        options = {"split_test": split} if split else {}
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
        preset = f" (the {cfg.preset} preset's)" if transfer == cfg.PRESETS[cfg.preset].get("transfer_size") else ""
        raise ConfigError(f"transfer_size {transfer}{preset} is larger than the {ds.x_train.shape[0]:,} training images "
                          "left after the validation split; choose fewer")
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
                          "784), e.g. as tinykd.data.named.svhn_to_grey28 does for SVHN")
    # the layout itself (rows, cols[, channels], never channels first) was decided once, by dataset.image_shape
    if cfg.jitter and len(ds.input_shape) < 2:   # flat rows: no side to shift along, and guessing one is a guess
        raise ConfigError(f"the teacher's jitter (--jitter {cfg.jitter}) shifts images, but {ds.name}'s images are "
                          f"flat rows of {ds.x_train.shape[1]} values: save them as (N, height, width) arrays, or "
                          "pass --jitter 0 (jitter=0 in the settings, from Python)")
    try:     # the teacher's jitter: a whole number of pixels below half the side of these images
        check_jitter(cfg.jitter, tuple(ds.input_shape), ds.x_train.shape[1])
    except ValueError as e:
        raise ConfigError(f"the teacher's jitter (--jitter) on {ds.name}: {e}") from None
    return check_outputs(ds, cfg.teacher_sizes[-1])


def data_record(ds, cfg):
    """What the results say about the data: name, source, fingerprint, sizes, validation seed, subset, whether the
    files are the named data set's own (``canonical``), note."""
    return {"name": ds.name, "source": relative(ds.source), "fingerprint": ds.fingerprint(), "n_train": int(ds.x_train.shape[0]),
            "n_val": 0 if ds.x_val is None else int(ds.x_val.shape[0]), "n_test": int(ds.x_test.shape[0]),
            "val_seed": cfg.val_seed, "val_from_file": getattr(ds, "val_from_file", False), "subset": cfg.subset,
            "canonical": ds.canonical, "note": ds.note}


def logit_stats(logits):
    """The mean logit and the largest magnitude: how far a student's logits have drifted."""
    return {"mean_logit": float(logits.mean()), "max_abs_logit": float(abs(logits).max())}


def one_at_a_time(experiment):
    """Decorate an experiment's ``run(cfg, ...)`` to hold a lock for the whole run (``experiment_lock``): a second
    run of the same experiment, settings and folders stops at once, naming the first."""
    def wrap(run):
        @functools.wraps(run)
        def locked(cfg, *args):
            with locks.run_lock(experiment_lock(experiment, cfg, *args), say=log):
                return run(cfg, *args)
        return locked
    return wrap


def experiment_lock(experiment, cfg, *args):
    """Where the lock of a run of ``experiment`` with these settings, arguments and folders is held: the system's
    temporary folder, so no output folder need exist."""
    asked = {"experiment": experiment, "settings": dataclasses.asdict(cfg), "values": args,
             "folders": [os.path.abspath(f) for f in (cfg.out_dir, cfg.records_dir, cfg.checkpoint_dir)]}
    return os.path.join(tempfile.gettempdir(), f"tinykd-{experiment}-{identity.key(shared.as_stored(asked))}")


def spec(cfg, fingerprint, role, sizes, epochs, lr, jitter=0, **settings):
    """A ``Spec`` on the data of this ``fingerprint``, with ``cfg``'s batch size and backend; a student passes
    ``jitter=None`` (the networks trained on the labels record theirs, 0 for none)."""
    return Spec(role, tuple(sizes), epochs, lr, data=fingerprint, batch_size=cfg.batch_size, backend=cfg.backend,
                jitter=jitter, **settings)


def teacher_spec(cfg, fingerprint):
    """The teacher ``cfg`` asks for: dropout and jitter, on every training row."""
    return spec(cfg, fingerprint, "teacher", cfg.teacher_sizes, cfg.teacher_epochs, cfg.teacher_lr, jitter=cfg.jitter,
                dropout=cfg.teacher_dropout, input_dropout=cfg.teacher_input_dropout)


def checkpoint_label(cfg):
    """What a run's checkpoints are named after: the named data set, or your own data's file or folder name."""
    return data_label(cfg, Path(cfg.data).stem if cfg.data else cfg.dataset)


class Setup:
    """What every experiment starts from, its folders and data checked before anything trains: the data ``cfg``
    asks for (``ds`` on the host, ``arrays`` = (x, y, x_val, y_val, x_test, y_test) on the device, ``data`` its
    record), the records (``store``) and the ``runner``. ``check(ds)`` raises to refuse data an experiment cannot
    use (e.g. without the classes it removes)."""

    def __init__(self, cfg, check=None):
        for folder, option in ((cfg.out_dir, "--out-dir"), (cfg.checkpoint_dir, "--checkpoint-dir"),
                               (cfg.records_dir, "--records-dir")):
            shared.check_writable(folder, option, records=cfg.records_dir if option == "--out-dir" else None)
        self.cfg, self.ds = cfg, load_data(cfg)
        if check is not None:
            check(self.ds)
        self.data = data_record(self.ds, cfg)
        dev = self.ds.to(resolve(cfg.backend))
        self.arrays = (dev.x_train, dev.y_train, dev.x_val, dev.y_val, dev.x_test, dev.y_test)
        self.store = records.Store(cfg.records_dir)
        self.runner = Runner(self.store, cfg.checkpoint_dir, checkpoint_label(cfg), self.data, say=log)
        log(f"{self.ds!r} from {self.ds.source} (fingerprint {self.data['fingerprint'][:16]}) on {cfg.backend}; "
            f"teacher {cfg.teacher_sizes}")

    def spec(self, role, sizes, epochs, lr, **settings):
        """A ``Spec`` on this data, batch size and backend (``spec``)."""
        return spec(self.cfg, self.data["fingerprint"], role, sizes, epochs, lr, **settings)

    def teacher_spec(self):
        return teacher_spec(self.cfg, self.data["fingerprint"])

    def key(self, spec):
        """The key of ``spec``'s record (and checkpoint)."""
        return self.runner.key(spec)

    def record(self, spec):
        """The record of the network ``spec`` asks for; None when it has none yet."""
        return self.runner.find(spec)[0]

    def run(self, spec, rows=None, **options):
        """``Runner.run`` on ``rows`` (x, y, x_val, y_val; default: the training rows and the validation split),
        counted on the test split: (model or None, record)."""
        return self.runner.run(spec, rows or self.arrays[:4], self.arrays[4:], **options)

    def model(self, spec, arrays=None, **options):
        """The network ``spec`` asks for, loaded from its checkpoint or trained (its record written when missing)."""
        return self.run(spec, arrays, need_model=True, **options)[0]


class Study:
    """One example beside Table 1 over records: its ``setup``, its table's tag (``table``: the experiment, the
    table's name, the preset, the settings its rows share, the deviations), ``links`` (the teacher's record key),
    the students it asks for (``keys``, recorded as the table's plan, ``Store.plan``) and the module's ``view``
    (records, table, links, keys -> its table) and ``markdown``."""

    def __init__(self, settings, experiment, view, markdown, check=None):
        self.cfg, self.setup, self.view, self.markdown = settings, Setup(settings, check), view, markdown
        self.teacher_spec = self.setup.teacher_spec()
        self.links = {"teacher": self.setup.key(self.teacher_spec)}
        rows = type(settings).ROWS
        dev = {k: v for k, v in settings.deviations().items() if k not in rows}
        dev.update(data_deviations(settings, self.setup.ds))
        self.table = shared.as_stored({"experiment": experiment, "name": settings.results_name(self.setup.data["name"]),
                                       "preset": settings.preset, "deviations": dev,
                                       "settings": {k: getattr(settings, k) for k in settings.own() if k not in rows}})
        self.out = os.path.join(settings.out_dir, self.table["name"])
        self.keys, self._teacher = None, None

    def spec(self, role, sizes, epochs, lr, seed, objective, **settings):
        """A student's specification: trained from its teacher (whose record key is part of the identity), never
        jittered; ``extra`` goes into the identity (what was done to its rows)."""
        extra = {"teacher": self.links["teacher"], **settings.pop("extra", {})}
        return self.setup.spec(role, sizes, epochs, lr, jitter=None, seed=seed, objective=objective, extra=extra,
                               **settings)

    def teacher(self):
        """The teacher's model, trained or loaded on first use (its record written when missing)."""
        if self._teacher is None:
            self._teacher = self.setup.model(self.teacher_spec, image_shape=tuple(self.setup.ds.input_shape))
        return self._teacher

    def missing(self, specs):
        """Those of ``specs`` without a record, said in one line; the table shows exactly these networks."""
        self.keys = [self.setup.key(s) for s in specs]
        out = [s for s in specs if self.setup.record(s) is None]
        log(f"{len(specs) - len(out)} of the {len(specs)} networks asked for are in {self.cfg.records_dir};"
            f" {len(out)} to train (or to load, where a checkpoint is kept)")
        if self.setup.record(self.teacher_spec) is None:
            self.teacher()   # the table shows the teacher: its record is made even when no student trains
        self.setup.store.plan(self.table, self.links, self.keys)
        return out

    def run(self, spec, rows=None, **options):
        """Train (or load) one student, its record linked to this study's teacher."""
        return self.setup.run(spec, rows, links=self.links, **options)[1]

    def view_of(self, complete):
        """This run's table as a view of the records it asks for."""
        v = self.view(self.setup.store.all(), self.table, self.links, self.keys)
        v["complete"], v["data"] = complete, self.setup.data   # the file this run was given, of one content
        v["keys"] = [self.links["teacher"], *self.keys]
        return v

    def write(self, complete):
        """The table so far: ``<out_dir>/<name>.partial.md`` and ``.json`` until ``complete``."""
        v = self.view_of(complete)
        shared.write(self.out, v, self.markdown(v))

    def finish(self):
        return shared.publish(self.out, self.view_of(True), self.markdown, plots.figures_for, self.cfg)
