"""Data sets: ``Dataset`` and the ways to get one, named (MNIST, notMNIST, SVHN), your own files, or arrays;
validation splits; preprocessing.

``load("mnist")`` finds and verifies the files as ``tinykd.datafiles`` says (``data_dir`` alone when given, never a
fallback) and wraps them in a ``Dataset``. Your own data: ``load(path)`` with a folder of the four MNIST-named IDX
files or a ``.npz`` holding ``x_train, y_train, x_test, y_test`` (``x_val, y_val, classes`` optional). A string
equal to a registered name ("mnist", "notmnist", "svhn", any case) is always that data set; anything else, and every
``Path``, is a path. Your own files have no checksum to meet; ``Dataset.fingerprint()`` identifies any data set by
its content instead. Arrays come back on the host (uint8 images scaled to float32 in [0, 1]); ``Dataset.to(xp)``
moves them to the chosen backend once.
"""
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .backend import default_rng, get_array_module, to_device, to_host
from .checks import is_int
from .datafiles import (MNIST_FILES, NPZ_KEYS, REGISTRY, DataError, locate_all, read_idx_folder, read_npz,
                        read_svhn_mat, read_verified, source_of, verified_bytes)

SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")  # the fixed order of fingerprint()
CLASS_NAMES = {"mnist": [str(d) for d in range(10)], "notmnist": list("ABCDEFGHIJ"),
               "svhn": [str(d) for d in range(10)]}


@dataclass
class Dataset:
    """Train/validation/test arrays (images flattened to rows, float32), class names and the image shape.

    Arrays live on one array module: host NumPy after loading, the backend's after ``to(xp)``.
    ``note`` says when the split is not the published one (and numbers are therefore not comparable);
    ``source`` where the files came from (an absolute folder or file, or "arrays"), for the record: what
    identifies the data is ``fingerprint()``, which depends on the content alone.
    """
    name: str
    x_train: object
    y_train: object
    x_test: object
    y_test: object
    x_val: object = None
    y_val: object = None
    classes: list = field(default_factory=lambda: [str(i) for i in range(10)])
    input_shape: tuple = (28, 28)
    note: str = ""
    source: str = "arrays"

    def to(self, xp, dtype=np.float32):
        """The same data set on array module ``xp`` (one copy per array), images cast to ``dtype``."""
        move = {}
        for k in SPLITS:
            a = getattr(self, k)
            if a is not None:
                move[k] = to_device(a, xp, dtype if k.startswith("x") else np.int64)
        return replace(self, **move)

    def fingerprint(self):
        """Hex SHA-256 of the content: class count, image shape, then each split's shape, dtype and bytes.

        Splits go in the fixed order of ``SPLITS`` (an absent one marked as such), so the same arrays give the
        same fingerprint wherever they were loaded from, on either backend, while another subset, validation
        split, preprocessing or dtype gives another: a checkpoint can record exactly which data shaped it.
        Not cached, so a ``dataclasses.replace`` copy can never carry a stale value (full MNIST: ~0.2 s).
        """
        h = hashlib.sha256(b"tinykd.Dataset.fingerprint v1")
        h.update(f";classes={len(self.classes)};input_shape={tuple(self.input_shape)}".encode())
        for key in SPLITS:
            a = getattr(self, key)
            if a is None:
                h.update(f";{key}=absent".encode())
                continue
            a = np.ascontiguousarray(to_host(a))
            h.update(f";{key}={a.dtype.str}{a.shape}".encode())  # shape and dtype fix the byte count that follows
            h.update(a.reshape(-1).view(np.uint8))
        return h.hexdigest()

    def subset(self, n):
        """A copy with only the first ``n`` training images (validation and test untouched), for quick runs.

        ``n`` must be an integer in [1, n_train]: a negative or oversized ``n`` is an error, never a slice that
        quietly trains on something else.
        """
        n_train = self.x_train.shape[0]
        if not is_int(n, 1, n_train):
            raise ValueError(f"subset must be an integer in [1, {n_train}] (the training images of {self.name}), "
                             f"got {n!r}")
        return replace(self, x_train=self.x_train[:n], y_train=self.y_train[:n])

    def __repr__(self):
        sizes = ", ".join(f"{k}={getattr(self, 'x_' + k).shape[0]}" for k in ("train", "val", "test")
                          if getattr(self, "x_" + k) is not None)
        return f"Dataset({self.name!r}, {sizes}, input_shape={self.input_shape}, classes={len(self.classes)})"


def from_arrays(x_train, y_train, x_test, y_test, name="custom", classes=None, input_shape=None, scale=None,
                x_val=None, y_val=None, source="arrays"):
    """Wrap plain arrays as a ``Dataset`` (images of any shape are flattened; uint8 images scaled to [0, 1]).

    Images are (N, ...) arrays of at least two dimensions, labels (N,) integer class indices in
    [0, len(classes)); ``x_val, y_val`` (both or neither) are an optional validation split. ``source`` records
    where the arrays came from.
    """
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val go together: give both or neither")
    given = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    splits = {s: _checked_split(s, x, y) for s, (x, y) in given.items() if x is not None}
    shape = splits["train"][0].shape[1:]
    for s, (x, _) in splits.items():
        if x.shape[1:] != shape:
            raise ValueError(f"train and {s} images differ in shape: {shape} vs {x.shape[1:]}")
    n_classes = len(classes) if classes is not None else \
        max((int(y.max()) + 1 for _, y in splits.values() if y.size), default=1)
    for s, (_, y) in splits.items():
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"y_{s} has labels outside [0, {n_classes})")
    if scale is None:
        scale = 255.0 if splits["train"][0].dtype == np.uint8 else 1.0
    size = int(np.prod(shape, dtype=np.int64))
    flat = {s: (x.reshape(x.shape[0], size).astype(np.float32) / np.float32(scale), y) for s, (x, y) in splits.items()}
    val = flat.get("val", (None, None))
    return Dataset(name, *flat["train"], *flat["test"], x_val=val[0], y_val=val[1],
                   classes=list(classes) if classes else [str(i) for i in range(n_classes)],
                   input_shape=tuple(input_shape or shape), source=source)


def _checked_split(split, x, y):
    """``(x, y)`` as NumPy arrays once they pass: x (N, ...) numbers of 2 or more dimensions, y (N,) integers."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x_{split} must be (N, ...) with at least 2 dimensions and y_{split} (N,) with the same "
                         f"N, got {x.shape} and {y.shape}")
    if x.dtype.kind not in "uif":
        raise TypeError(f"x_{split} must hold numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():   # checked once, here, where the data enters
        raise ValueError(f"x_{split} contains NaN or inf ({int((~np.isfinite(x)).sum())} values); clean or drop "
                         "those images")
    if y.dtype.kind not in "iu":
        raise TypeError(f"y_{split} must hold integer class indices, got dtype {y.dtype}")
    return x, y.astype(np.int64)


# ------------------------------------------------------------------------------------------- your own data
def load_path(path, name=None):
    """Your own data set from ``path``: a folder of the four MNIST-named IDX files, or a ``.npz`` file, named
    ``name`` (default: the folder's name or the file's stem). No checksum: these are your files."""
    path = Path(path)
    if path.is_dir():
        return _idx_dataset(name or path.resolve().name, read_idx_folder(path), source=str(path.resolve()))
    if path.is_file() and path.suffix.lower() == ".npz":
        arrays, classes = read_npz(path)
        try:
            return from_arrays(name=name or path.stem, source=str(path.resolve()), classes=classes, **arrays)
        except (ValueError, TypeError) as e:
            raise DataError(f"{path.absolute()}: {e}") from None
    what = ("your own data must be a folder holding the four MNIST-named IDX files or a .npz file with "
            + ", ".join(NPZ_KEYS))
    if path.exists():
        raise DataError(f"{path.absolute()}: neither a folder nor a .npz file; {what}")
    raise DataError(f"unknown data set {str(path)!r}: {path.absolute()} does not exist and the named data sets are "
                    f"the strings {', '.join(map(repr, REGISTRY))}; {what}")


# ------------------------------------------------------------------------------------------ the named data sets
def _idx_dataset(name, arrays, classes=None, source="arrays"):
    """A 10-class ``Dataset`` from the four parsed IDX arrays, checked to pair up; errors name ``source``."""
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DataError(f"{source}: {split} images {x.shape} and labels {y.shape} do not pair up")
        if y.size and y.max() > 9:
            raise DataError(f"{source}: {split} labels must lie in 0..9, found {int(y.max())}")
    return from_arrays(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"],
                       name=name, classes=classes or [str(i) for i in range(10)], source=source)


def load_mnist(data_dir=None, download=True, progress=True):
    """MNIST (LeCun et al. 1998): 60,000 training and 10,000 test digits, every file verified by checksum."""
    paths = locate_all("mnist", MNIST_FILES, data_dir, download, progress)
    return _idx_dataset("mnist", read_verified("mnist", paths), CLASS_NAMES["mnist"], source_of(paths))


def load_notmnist(data_dir=None, download=True, progress=True, split_test=None, seed=0):
    """notMNIST letters A-J as classes 0-9, in MNIST's IDX format.

    Needs the 60,000-image training split. When only the 10,000-image test split is at hand, pass
    ``split_test=f`` to split that file (seeded, stratified) into a training part and a test part holding a
    fraction ``f``: results on that split are NOT comparable with published notMNIST numbers. Only a MISSING
    training split allows this: a corrupted one is an error like any other.
    """
    test_paths = locate_all("notmnist", ("test_images", "test_labels"), data_dir, download, progress)
    test = read_verified("notmnist", test_paths)
    try:
        train_paths = locate_all("notmnist", ("train_images", "train_labels"), data_dir, download, progress)
    except DataError as e:
        if split_test is None:
            raise DataError(f"notMNIST's training split is missing ({e}); only its test split is available (in "
                            f"{source_of(test_paths)}): pass split_test=0.5 (or --split-test 0.5) to split the test "
                            "file into train and test parts for experiments (not comparable with published "
                            "numbers)") from None
        return _split_test_file(test, split_test, seed, source_of(test_paths))
    train = read_verified("notmnist", train_paths)  # verified first: a damaged file must say so, whatever else
    if split_test is not None:
        raise ValueError("split_test is only for when notMNIST's training split is missing; it is present")
    return _idx_dataset("notmnist", {**train, **test}, CLASS_NAMES["notmnist"],
                        source_of({**train_paths, **test_paths}))


def _split_test_file(test, split_test, seed, source):
    """notMNIST's test file split by ``stratified_mask`` into train and test parts, ``split_test`` of it for test."""
    if not 0 < split_test < 1:
        raise ValueError(f"split_test must be a fraction in (0, 1), got {split_test}")
    x, y = test["test_images"], test["test_labels"]
    is_test = stratified_mask(y, int(round(split_test * y.shape[0])), seed)
    ds = _idx_dataset("notmnist", {"train_images": x[~is_test], "train_labels": y[~is_test],
                                   "test_images": x[is_test], "test_labels": y[is_test]}, CLASS_NAMES["notmnist"],
                      source)
    ds.note = (f"notMNIST test file split {1 - split_test:.0%}/{split_test:.0%} (seed {seed}) because the "
               "training split is missing: not comparable with published numbers")
    return ds


def stratified_mask(y, count, seed):
    """A boolean mask over the labels ``y`` selecting exactly ``count`` of them, each class in proportion.

    Class c, holding n_c of the n labels, gets ⌊count·n_c/n⌋ images, and the classes with the largest
    remainders one more each until the total is ``count`` (largest-remainder rounding: the total is exact and
    every class within one image of its exact share; ties go to the smaller class index). Within a class the
    images are drawn with ``backend.default_rng(seed)``, classes in ascending order. The one stratification
    mechanism of tinykd: validation splits and notMNIST's test-file split both use it.
    """
    y = np.asarray(y)
    n = y.shape[0]
    if not is_int(count, 0, n):
        raise ValueError(f"count must be an integer in [0, {n}], got {count!r}")
    labels, sizes = np.unique(y, return_counts=True)
    share, remainder = np.divmod(int(count) * sizes.astype(np.int64), n)  # exact integers: no float ties
    share[np.argsort(-remainder, kind="stable")[:int(count) - int(share.sum())]] += 1
    rng = default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    for c, k in zip(labels, share):
        mask[rng.choice(np.flatnonzero(y == c), k, replace=False)] = True
    return mask


def svhn_to_grey28(images):
    """The founding report's SVHN form: greyscale (ITU-R BT.601 luma), resized to 28×28 by bilinear zoom."""
    from scipy import ndimage

    grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return ndimage.zoom(grey, (1, 28 / 32, 28 / 32), order=1, grid_mode=True, mode="grid-constant")


def load_svhn(data_dir=None, download=True, progress=True, form="grey28"):
    """SVHN train and test; ``form="grey28"`` (the report's, 784 inputs) or ``"rgb32"`` (3072 inputs)."""
    if form not in ("grey28", "rgb32"):
        raise ValueError(f"form must be 'grey28' or 'rgb32', got {form!r}")
    paths = locate_all("svhn", ("train", "test"), data_dir, download, progress)
    parts = {}
    for key, path in paths.items():
        verified_bytes(path, REGISTRY["svhn"][key])
        parts[key] = read_svhn_mat(path)
    return svhn_dataset(parts["train"], parts["test"], form, source=source_of(paths))


def svhn_dataset(train, test, form="grey28", source="arrays"):
    """A ``Dataset`` from (images, labels) pairs as ``read_svhn_mat`` returns them."""
    (xtr, ytr), (xte, yte) = train, test
    if form == "grey28":
        xtr, xte, shape, scale = svhn_to_grey28(xtr), svhn_to_grey28(xte), (28, 28), 255.0
    else:
        shape, scale = (32, 32, 3), 255.0
    return from_arrays(xtr, ytr, xte, yte, name="svhn", classes=CLASS_NAMES["svhn"], input_shape=shape, scale=scale,
                       source=source)


# ------------------------------------------------------------------------------------------------- one door
def load(dataset, data_dir=None, download=True, progress=True, val=0, standardize=False, seed=0, name=None,
         **options):
    """Load a named data set (``"mnist"``, ``"notmnist"``, ``"svhn"``) or your own (an IDX folder or a ``.npz``).

    A string equal to a registered name (any case) is always that data set, searched as the module docstring
    says (``data_dir`` alone when given); anything else, every ``Path`` included, is the path of your own data
    (``load_path``), and ``name`` names it (default: the folder's name or the file's stem). ``val``: how many
    training images to hold out as a validation split (seeded, stratified: ``hold_out``). ``standardize``:
    subtract the per-pixel mean and divide by the per-pixel standard deviation of the training part. Extra
    ``options`` go to the named data set's loader (``split_test`` for notMNIST, ``form`` for SVHN).
    """
    if not isinstance(dataset, (str, os.PathLike)):
        raise TypeError(f"dataset must be a data set name or a path, got {type(dataset).__name__}")
    if isinstance(dataset, str) and dataset.lower() in REGISTRY:
        if name is not None:
            raise TypeError(f"name= is for your own data (a path); {dataset.lower()!r} is a named data set")
        ds = _load_named(dataset.lower(), data_dir, download, progress, seed, options)
    else:
        if data_dir is not None:
            raise TypeError(f"data_dir is for the named data sets ({', '.join(REGISTRY)}); {str(dataset)!r} is "
                            "already a path: pass the folder or .npz file itself")
        _reject(options, str(dataset))
        ds = load_path(dataset, name)
    return preprocess(ds, val=val, standardize=standardize, seed=seed)


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


def preprocess(ds, val=0, standardize=False, seed=0):
    """Hold out ``val`` training images (``hold_out``) and optionally standardise with the training statistics."""
    ds = hold_out(ds, val, seed)
    if standardize:
        mean = ds.x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = ds.x_train.std(axis=0, dtype=np.float64).astype(np.float32)
        std[std < 1e-6] = 1  # constant pixels (MNIST's borders) stay constant instead of dividing by zero
        ds = replace(ds, **{k: (getattr(ds, k) - mean) / std for k in ("x_train", "x_val", "x_test")
                            if getattr(ds, k) is not None})
    return ds


def hold_out(ds, val, seed=0):
    """``ds`` with exactly ``val`` training images moved to a validation split, seeded and stratified.

    Each class gives its share of ``val`` (``stratified_mask``), so a small validation split neither misses
    nor over-represents a class by chance. The training images that stay keep their original order (and the
    held-out ones theirs), so shuffling downstream starts from the same sequence for the same seed and ``val``.
    ``val=0`` returns ``ds`` as it is; a data set that already has a validation split refuses another.
    """
    n_train = ds.x_train.shape[0]
    if not is_int(val, 0, n_train - 1):
        raise ValueError(f"val must be an integer in [0, {n_train}), got {val!r}")
    if val == 0:
        return ds
    if ds.x_val is not None:
        raise ValueError(f"{ds.name} already has a validation split ({ds.x_val.shape[0]} images); pass val=0 to "
                         "use it, or drop x_val/y_val from the data to hold out a new one")
    mask = stratified_mask(to_host(ds.y_train), int(val), seed)
    mask = to_device(mask, get_array_module(ds.y_train))
    return replace(ds, x_train=ds.x_train[~mask], y_train=ds.y_train[~mask], x_val=ds.x_train[mask],
                   y_val=ds.y_train[mask])
