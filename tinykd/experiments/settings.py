"""What an experiment asks for: the settings every experiment shares (``Settings``: the data and its validation
split, the data set's recipe of network sizes, the teacher, the batch size, the backend, the folders), each
experiment's own settings (a subclass with its ``PRESETS``: Table 1's ``Table1`` here, since its runner and its view
both read it; the others beside their runners), and the one way a run says what it changes from its preset
(``Settings.deviations``, ``data_deviations``) and names its results (``Settings.results_name``).

A setting that cannot be run as given raises ``ConfigError`` (one line: what is wrong and how to fix it), here or,
for what only the loaded data can tell, in ``setup``.
"""
import dataclasses
import os
import re
from dataclasses import dataclass
from typing import ClassVar

from . import registry
from ..backend import debug, resolve
from ..checks import check_int, check_real


class ConfigError(ValueError):
    """A setting cannot be run as given."""


SIZES = {"mnist": ([784, 1200, 1200, 10], [784, 800, 800, 10]),
         "notmnist": ([784, 1200, 1200, 1200, 10], [784, 800, 800, 800, 10]),
         "svhn": ([784, 4096, 4096, 10], [784, 3072, 3072, 10])}
WHERE = ("data_dir", "checkpoint_dir", "records_dir", "out_dir")   # where files are: never part of a result


@dataclass
class Settings:
    """What every experiment shares, checked when it is made. Without ``teacher_sizes``/``student_sizes`` the
    networks are the ``dataset`` recipe's (``SIZES``). A subclass adds an experiment's own fields, its ``PRESETS``
    (each preset's values over the defaults), ``NAME`` (its results' name: ``results_name``) and ``check``."""
    dataset: str = "mnist"             # the recipe (network sizes) and, without `data`, the named data set
    data: str = None                   # your own data: a folder of MNIST-format IDX files or an .npz file
    data_dir: str = None               # where the named data set's files are (only there; no fallback)
    teacher_sizes: list = None
    student_sizes: list = None
    teacher_epochs: int = 60
    batch_size: int = 128
    teacher_lr: float = 1e-3
    teacher_dropout: float = 0.5
    teacher_input_dropout: float = 0.2
    jitter: int = 2
    val: int = None                    # validation images held out of training; None: 5,000 per 60,000 (1/12)
    val_seed: int = 0
    subset: int = 0                    # train on the first N training images only (smoke tests); 0: all
    backend: str = None                # None: $TINYKD_BACKEND, else numpy
    checkpoint_dir: str = "checkpoints"
    records_dir: str = "runs"          # one JSON record per trained network (tinykd.runs.records)
    out_dir: str = "results"
    preset: str = "full"

    PRESETS: ClassVar[dict] = {"full": {}}
    NAME: ClassVar[str] = "{data}_{preset}"
    ROWS: ClassVar[tuple] = ()         # what a table's rows are made of (more seeds later join the same table)

    def __post_init__(self):
        if self.dataset not in SIZES:
            raise ConfigError(f"unknown data set {self.dataset!r}: expected one of {sorted(SIZES)}")
        if self.preset not in self.PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}: expected one of {', '.join(self.PRESETS)}")
        t, s = SIZES[self.dataset]
        self.teacher_sizes = [int(v) for v in (self.teacher_sizes or t)]
        self.student_sizes = [int(v) for v in (self.student_sizes or s)]
        for name in ("teacher_epochs", "batch_size", "jitter", "subset", "val_seed") + \
                (() if self.val is None else ("val",)):
            check_int(name, getattr(self, name), 1 if name == "batch_size" else 0, ConfigError)
        check_real("teacher_lr", self.teacher_lr, low_open=True, error=ConfigError)
        for name in ("teacher_dropout", "teacher_input_dropout"):
            check_real(name, getattr(self, name), high=1.0, error=ConfigError)
        for name in ("checkpoint_dir", "records_dir", "out_dir"):
            if not (isinstance(getattr(self, name), (str, os.PathLike)) and str(getattr(self, name)).strip()):
                default = Settings.__dataclass_fields__[name].default
                raise ConfigError(f"{name} is empty; name a folder (e.g. {default})")
        for name, fix in (("data", "name the folder or .npz file of your own data, or leave it out for the named "
                                   "data set"),
                          ("data_dir", "name the folder holding the named data set's files, or leave it out to "
                                       "search the usual places")):
            value = getattr(self, name)   # "$MYDATA" unset: an empty data would train on MNIST without a word
            if isinstance(value, str) and not value.strip():
                raise ConfigError(f"{name} is empty ({value!r}), as an unset shell variable gives; {fix}")
        if self.data and self.data_dir:
            raise ConfigError("give either data (--data, your own files) or data_dir (--data-dir, where the named "
                              "data set is), not both")
        self.check()
        try:
            resolve(self.backend)
            debug()   # a bad TINYKD_DEBUG is a setting's mistake too: said now, not deep inside the first step
        except (RuntimeError, ValueError, TypeError) as e:
            raise ConfigError(str(e)) from None
        self.backend = self.backend or os.environ.get("TINYKD_BACKEND") or "numpy"

    def check(self):
        """An experiment's own checks of its own fields (``ConfigError`` in one line)."""

    @classmethod
    def own(cls):
        """The names of the experiment's own fields (beyond ``Settings``'s)."""
        shared = {f.name for f in dataclasses.fields(Settings)}
        return [f.name for f in dataclasses.fields(cls) if f.name not in shared]

    @classmethod
    def of_preset(cls, name, **settings):
        """The settings of the preset ``name``, with ``settings`` over them."""
        if name not in cls.PRESETS:
            raise ConfigError(f"unknown preset {name!r}: expected one of {', '.join(cls.PRESETS)}")
        return cls(preset=name, **{**cls.PRESETS[name], **settings})

    def deviations(self):
        """What this run changes from its preset's reference run, in what shapes the numbers (a split of notMNIST's
        test file is part of the results' name instead: ``results_name``)."""
        reference = type(self).of_preset(self.preset, dataset=self.dataset, backend="numpy")
        ignore = set(WHERE) | {"backend", "preset", "split_test"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ignore and getattr(self, f.name) != getattr(reference, f.name)}

    def results_name(self, data_name):
        """The results' file name without extension, from the experiment's ``NAME``: ``{data}`` the named data set
        or your own data's name (``data_label``), ``{own}`` that name and ``_`` for your own data only, ``{split}``
        notMNIST's split of its test file, ``{preset}`` ``_<preset>`` for any preset but the full run."""
        split = getattr(self, "split_test", None)
        label = data_label(self, data_name)
        return self.NAME.format(data=label, own=f"{label}_" if self.data else "",
                                split=f"_split{split:g}" if split else "",
                                preset=f"_{self.preset}" if self.preset != "full" else "")


def check_counts(settings, **lows):
    """Each named field of ``settings`` a whole number at least its low (``check_counts(s, seeds=1, epochs=0)``)."""
    for name, low in lows.items():
        check_int(name, getattr(settings, name), low, ConfigError)


def variant_id(name):
    """The short id of a variant, given its id or its table name."""
    vid = registry.find(name)
    if vid is None:
        raise ConfigError(f"unknown variant {name!r}: expected one of {', '.join(registry.BY_ID)}")
    return vid


@dataclass
class Table1(Settings):
    """What one Table 1 run asks for (``table1``, its view ``table1_view``)."""
    student_epochs: int = 20           # S (initial): the student alone on the labels
    finetune_epochs: int = 15          # every variant's budget, starting from S (initial)
    student_lr: float = 1e-3
    finetune_lr: float = 3e-4
    seeds: int = 5
    ablation_seeds: int = 1
    variants: list = None              # None: the preset's, as the registry lists them when the settings are made
    transfer_size: int = 0             # the students train on the first N training images (the teacher on all)
    labelled: float = 1.0              # fraction of the students' rows that keep their label (stratified); the rest
                                       # are unlabelled (-1), and S (initial) trains on the labelled rows only
    split_test: float = None           # notMNIST without its training split

    PRESETS: ClassVar[dict] = {"full": {}, "quick": dict(teacher_epochs=10, student_epochs=5, finetune_epochs=10,
                                                         seeds=3, transfer_size=5000), "labels5": dict(labelled=0.05)}
    NAME: ClassVar[str] = "{data}{split}{preset}_table"
    ROWS: ClassVar[tuple] = ("variants", "seeds", "ablation_seeds")

    def check(self):
        if self.variants is None:
            self.variants = registry.in_preset(self.preset)
        if isinstance(self.variants, str):   # a string would be read letter by letter
            raise ConfigError(f"variants must be a list of variant ids, got the string {self.variants!r}: write "
                              f"[{self.variants!r}]")
        self.variants = [variant_id(v) for v in self.variants]
        if not self.variants:
            raise ConfigError("no variants to run")
        twice = sorted({v for v in self.variants if self.variants.count(v) > 1})
        if twice:
            raise ConfigError(f"variants listed more than once: {', '.join(twice)}; list each once")
        # finetune_epochs 0 would train teacher and S (initial) and only then find nothing to run
        check_counts(self, student_epochs=0, finetune_epochs=1, seeds=1, ablation_seeds=0, transfer_size=0)
        for name in ("student_lr", "finetune_lr"):
            check_real(name, getattr(self, name), low_open=True, error=ConfigError)
        if not (isinstance(self.labelled, (int, float)) and not isinstance(self.labelled, bool)
                and 0 < self.labelled <= 1):
            raise ConfigError(f"labelled must be a fraction in (0, 1], got {self.labelled!r}")
        if self.labelled < 1:
            refused = [v for v in self.variants if not registry.BY_ID[v].unlabelled]
            if refused:
                raise ConfigError(f"variants {', '.join(refused)} cannot train on unlabelled rows; with labelled < 1 "
                                  "run only " + ", ".join(k for k, v in registry.BY_ID.items() if v.unlabelled))
        if self.split_test is not None and (self.dataset != "notmnist" or self.data):
            raise ConfigError("split_test (--split-test) is only for the named notMNIST data set, whose training "
                              "split may be missing")
        if self.split_test is not None and not (isinstance(self.split_test, (int, float))
                                                and 0 < self.split_test < 1):
            raise ConfigError(f"split_test must be a fraction in (0, 1), got {self.split_test!r}")


def data_label(cfg, data_name):
    """What a run's results are named after: the named data set, or your own data's name (``--data``) made safe
    for a file name (a result on your files is never named after MNIST)."""
    if not cfg.data:
        return cfg.dataset
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(data_name)).strip("-") or "data"


def data_deviations(cfg, ds):
    """What the loaded files change from the preset's reference run (``Settings.deviations`` gives the settings'):
    a named data set's files not verified by a published checksum (``Dataset.canonical``) make a custom run, named
    by their fingerprint. Your own data (``data``) is a deviation already."""
    if cfg.data or ds.canonical:
        return {}
    return {"data_files": f"{ds.name} files not verified by a published checksum (fingerprint "
                          f"{ds.fingerprint()[:16]})"}
