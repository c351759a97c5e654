"""Data sets through one door: ``load`` a named data set (MNIST, notMNIST, SVHN: ``tinykd.data.named``) or your own
files (a folder of the four MNIST-named IDX files, or a ``.npz`` of ``x_train, y_train, x_test, y_test`` and
optionally ``x_val, y_val, classes``), then hold out a validation split. A string equal to a registered name (any
case) is always that data set; anything else, and every ``Path``, is a path. Arrays come back on the host as float32
in [0, 1] (``tinykd.data.dataset``: ``Dataset``, ``from_arrays``); ``Dataset.to(xp)`` moves them once.
"""
import os
from dataclasses import replace
from pathlib import Path

from ..backend import get_array_module, to_device, to_host
from ..checks import is_int
from .files import REGISTRY, check_path, given, read_idx_folder
from .dataset import Dataset  # noqa: F401  (data.Dataset and data.from_arrays, as the README names them)
from .dataset import data_errors, from_arrays, still_two_classes, stratified_mask
from .formats import NPZ_KEYS, DataError, read_npz
from .named import idx_dataset, load_mnist, load_notmnist, load_svhn


# ------------------------------------------------------------------------------------------- your own data
def load_path(path):
    """Your own data set from ``path``: a folder of the four MNIST-named IDX files, or a ``.npz`` file, named by the
    folder's name or the file's stem. No checksum: these are your files."""
    path = Path(path)
    source = given(path)   # the name this run was given, never where a link points
    if path.is_dir():
        return idx_dataset(Path(source).name, read_idx_folder(path), source=source)
    if path.is_file() and path.suffix.lower() == ".npz":
        arrays, classes = read_npz(path)
        with data_errors(source):
            return from_arrays(name=path.stem, source=source, classes=classes, **arrays)
    what = ("your own data must be a folder holding the four MNIST-named IDX files or a .npz file with "
            + ", ".join(NPZ_KEYS))
    if path.exists():
        raise DataError(f"{path.absolute()}: neither a folder nor a .npz file; {what}")
    key = path.name.lower()
    if key in REGISTRY:   # ``--data mnist`` (a Path) means the user's own ./mnist, which is not there
        raise DataError(f"{path.absolute()} does not exist: {str(path)!r} was taken as the path of your own data "
                        f"(a Path, or --data, is always a path); the named data set {key!r} is loaded by its name: "
                        f"data.load({key!r}), or leave out --data in the examples (--dataset {key} where offered)")
    raise DataError(f"unknown data set {str(path)!r}: it is not one of the named data sets "
                    f"({', '.join(map(repr, REGISTRY))}) and {path.absolute()} does not exist; {what}")


# ------------------------------------------------------------------------------------------------- one door
def load(dataset, data_dir=None, download=True, progress=True, val=0, seed=0, **options):
    """Load a named data set (searched as ``tinykd.data.files`` says) or your own, holding out ``val`` training
    images as a validation split (``preprocess``); extra ``options`` go to the named data set's loader
    (``split_test`` for notMNIST, ``form`` for SVHN)."""
    if not isinstance(dataset, (str, os.PathLike)):
        raise TypeError(f"dataset must be a data set name or a path, got {type(dataset).__name__}")
    check_path("dataset", dataset, f"name a data set ({', '.join(REGISTRY)}) or the folder or .npz file of your "
               "own data")
    if isinstance(dataset, str) and dataset.lower() in REGISTRY:
        ds = _load_named(dataset.lower(), data_dir, download, progress, seed, options)
    else:
        if data_dir is not None:
            raise TypeError(f"data_dir is for the named data sets ({', '.join(REGISTRY)}); {str(dataset)!r} is "
                            "already a path: pass the folder or .npz file itself")
        _reject(options, str(dataset))
        ds = load_path(dataset)
    return preprocess(ds, val, seed)


def _load_named(key, data_dir, download, progress, seed, options):
    """The registered data set ``key`` from its loader; ``options`` are that loader's own."""
    if key == "mnist":
        _reject(options, "mnist")
        return load_mnist(data_dir, download, progress)
    if key == "notmnist":
        return load_notmnist(data_dir, download, progress, seed=seed, **options)
    return load_svhn(data_dir, download, progress, **options)


def _reject(options, name):
    """Refuse loader options that ``name`` does not take (a typo must not be silently ignored)."""
    if options:
        raise TypeError(f"unexpected options for {name}: {sorted(options)}")


def preprocess(ds, val=0, seed=0):
    """``ds`` with exactly ``val`` training images moved to a validation split, seeded and stratified
    (``stratified_mask``), both parts in their original order; ``val=0`` returns ``ds``. A data set that already
    has a validation split refuses another, and one left with one training class refuses (``still_two_classes``)."""
    n_train = ds.x_train.shape[0]
    if not is_int(val, 0, n_train - 1):
        raise ValueError(f"val must be an integer in [0, {n_train}), got {val!r}")
    if val == 0:
        return ds
    if ds.x_val is not None:
        raise ValueError(f"{ds.name} already has a validation split ({ds.x_val.shape[0]} images); pass val=0 to "
                         "use it, or drop x_val/y_val from the data to hold out a new one")
    y = to_host(ds.y_train)
    mask = stratified_mask(y, int(val), seed)
    still_two_classes(ds, y[~mask], f"holding out val={val}", "hold out fewer (val, --val)")
    mask = to_device(mask, get_array_module(ds.y_train))
    return replace(ds, x_train=ds.x_train[~mask], y_train=ds.y_train[~mask], x_val=ds.x_train[mask],
                   y_val=ds.y_train[mask])
