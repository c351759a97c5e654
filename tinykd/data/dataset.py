"""``Dataset``: train/validation/test arrays on one array module, and the rules every one of them obeys.

Every split of every format (IDX folder, ``.npz``, SVHN, arrays) passes through ``from_arrays``, so no format can
drift from another: one pixel rule (``pixels``), one class rule (``check_classes``), one shape and non-empty rule
(``_checked_split``), one layout rule (``image_shape``), one stratification (``stratified_mask``). A file's problem
is one ``DataError`` line naming the file (``data_errors``).
"""
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from ..backend import default_rng, to_device, to_host
from ..checks import check_label_vector, is_int
from .formats import DataError

SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")  # the fixed order of fingerprint()


@dataclass
class Dataset:
    """Train/validation/test arrays (images flattened to rows, float32) on one array module, class names and the
    image shape. ``note``: when the split is not the published one; ``source``: where the files came from (the
    content is named by ``fingerprint()``); ``canonical``: every file read had its published checksum."""
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
    canonical: bool = False

    def to(self, xp, dtype=np.float32):
        """The same data set on array module ``xp`` (one copy per array), images cast to ``dtype``."""
        return replace(self, **{k: to_device(getattr(self, k), xp, dtype if k.startswith("x") else np.int64)
                                for k in SPLITS if getattr(self, k) is not None})

    def fingerprint(self):
        """Hex SHA-256 of the content: class count, image shape, then each split's shape, dtype and bytes in the
        order of ``SPLITS`` (an absent one marked), whatever the files or backend. Not cached: a ``replace`` copy
        can never carry a stale value."""
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
        """A copy with only the first ``n`` training images (validation and test untouched), for quick runs;
        ``n`` must be an integer in [1, n_train], never a slice that quietly trains on something else."""
        n_train = self.x_train.shape[0]
        if not is_int(n, 1, n_train):
            raise ValueError(f"subset must be an integer in [1, {n_train}] (the training images of {self.name}), "
                             f"got {n!r}")
        still_two_classes(self, to_host(self.y_train[:n]), f"subset {n}", "take a larger subset")
        return replace(self, x_train=self.x_train[:n], y_train=self.y_train[:n])

    def __repr__(self):
        sizes = ", ".join(f"{k}={getattr(self, 'x_' + k).shape[0]}" for k in ("train", "val", "test")
                          if getattr(self, "x_" + k) is not None)
        return f"Dataset({self.name!r}, {sizes}, input_shape={self.input_shape}, classes={len(self.classes)})"


def still_two_classes(ds, y_train, what, fix):
    """The class rule (``check_classes``) on the training labels ``y_train`` (host) that ``what`` leaves of ``ds``:
    ``DataError`` saying ``what`` did and ``fix`` when they show one class only."""
    try:
        check_classes({"train": y_train}, ds.classes)
    except ValueError as e:
        raise DataError(f"{what} of {ds.name}'s {ds.x_train.shape[0]:,} training images: {e}; {fix}") from None


def image_shape(shape):
    """The one layout rule: ``shape`` (one image's, without N) as ``input_shape``; images are (rows, cols) or
    (rows, cols, channels), channels last, or flat rows. A 3-D shape whose first axis is 1 to 4 and whose last is
    larger, e.g. (1, 28, 28), is channels first and refused, saying how to move the axis, never guessed."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3 and shape[0] <= 4 < shape[2]:
        raise ValueError(f"images of shape {shape} look channels-first (N, channels, rows, cols); images are "
                         "(N, rows, cols) or (N, rows, cols, channels): move the channel axis last with "
                         "np.moveaxis(x, 1, -1)")
    return shape


def from_arrays(x_train, y_train, x_test, y_test, name="custom", classes=None, input_shape=None, x_val=None,
                y_val=None, source="arrays", canonical=False):
    """Wrap plain arrays as a ``Dataset``: images (N, ...) flattened to float32 rows by the rules above;
    ``input_shape``, when given, holds as many values as one image; ``x_val, y_val`` both or neither. Errors are
    ``ValueError``/``TypeError`` (``data_errors`` turns them into one ``DataError`` line naming a file)."""
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val go together: give both or neither")
    given = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    splits = {s: _checked_split(s, x, y) for s, (x, y) in given.items() if x is not None}
    shape = splits["train"][0].shape[1:]
    for s, (x, _) in splits.items():
        if x.shape[1:] != shape:
            raise ValueError(f"train images have shape {shape} but {s} images {x.shape[1:]}: every split must hold "
                             "images of one shape")
    size = int(np.prod(shape, dtype=np.int64))
    if input_shape is not None and int(np.prod(input_shape, dtype=np.int64)) != size:
        raise ValueError(f"input_shape {tuple(input_shape)} holds {int(np.prod(input_shape, dtype=np.int64))} values "
                         f"but each image has {size} (shape {shape}); give the images' own shape or leave it out")
    shape = image_shape(shape if input_shape is None else input_shape)
    n_classes = check_classes({s: y for s, (_, y) in splits.items()}, classes)
    flat = {s: (pixels(f"x_{s}", x.reshape(x.shape[0], size)), y) for s, (x, y) in splits.items()}
    val = flat.get("val", (None, None))
    return Dataset(name, *flat["train"], *flat["test"], x_val=val[0], y_val=val[1],
                   classes=list(classes) if classes is not None else [str(i) for i in range(n_classes)],
                   input_shape=shape, source=source, canonical=canonical)


def _checked_split(split, x, y):
    """``(x, y)`` as NumPy arrays once their shapes pass: x (N, ...) of 2 or more dimensions, y (N,) integers, N > 0
    (the one non-empty rule: an empty test split would otherwise be found only after the teacher had trained)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2:
        raise ValueError(f"x_{split} must be (N, ...) with at least 2 dimensions (N images), got shape {x.shape}")
    check_label_vector(f"y_{split}", y, rows=x.shape[0])
    if x.shape[0] == 0:
        fix = "leave out x_val and y_val for none" if split == "val" else "add images to it"
        raise ValueError(f"the {split} split is empty (x_{split} has shape {x.shape}): every split needs at least "
                         f"one image; {fix}")
    if y.dtype == np.uint64 and y.size and y.max() > np.iinfo(np.int64).max:   # astype would wrap it negative
        row = int(np.argmax(y > np.iinfo(np.int64).max))
        raise ValueError(f"y_{split} holds label {int(y[row])} (row {row}), larger than any class index "
                         f"(int64 holds at most {np.iinfo(np.int64).max}): labels are class indices 0, 1, 2, ...")
    return x, y.astype(np.int64)


def pixels(name, x):
    """The one pixel rule, as float32: uint8 → x / 255; floating → x, which must be finite and in [0, 1]; any other
    dtype is refused, saying how to convert it (its scale cannot be known). Decided by each array's own dtype."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():   # checked once, here, where the data enters
            raise ValueError(f"{name} contains NaN or inf ({int(bad.sum())} values); clean or drop those images")
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if lo < 0 or hi > 1:
            how = ("divide 0-255 pixels by 255 (or store them as uint8)" if lo >= 0 and hi <= 255 else
                   "store the raw pixels (uint8, or floats in [0, 1]), not standardised ones"
                   if lo < 0 else "divide by the images' full scale (the same for every split)")
            raise ValueError(f"{name} holds floating-point pixels in [{lo:g}, {hi:g}]; floating images must already "
                             f"lie in [0, 1]: {how}")
        return x.astype(np.float32)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold numbers (uint8 pixels, or floats in [0, 1]), got dtype {x.dtype}")
    lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
    if x.dtype == np.int8:
        how = ("if they are 0-255 pixels written as signed bytes, x.view(np.uint8) recovers them (an IDX file of "
               "pixels has type code 0x08, unsigned byte, not 0x09)")
    elif 0 <= lo and hi <= 255:
        how = "they lie in 0..255: store them as uint8 (x.astype(np.uint8))"
    else:
        how = (f"convert them to float32 in [0, 1] by dividing by their full scale (e.g. {2 ** (8 * x.itemsize) - 1} "
               f"for {8 * x.itemsize}-bit images), the same for every split")
    raise TypeError(f"{name} has dtype {x.dtype} (values {lo}..{hi}); images must be uint8 (divided by 255) or "
                    f"floating point already in [0, 1]: {how}")


def check_classes(labels, classes=None):
    """The one class rule; returns K. ``labels``: ``{split: y}`` (``"train"`` required). Labels are class indices
    0..K-1, K = ``len(classes)`` when names are given (distinct), else 1 + the largest training label; training
    shows at least two classes."""
    y_train = labels["train"]
    if classes is not None and len(set(classes)) != len(classes):
        twice = sorted({c for c in classes if list(classes).count(c) > 1})
        raise ValueError(f"classes names {', '.join(map(repr, twice))} more than once: each class needs its own "
                         "name (one per output, in label order)")
    for s, y in labels.items():
        if y.size and y.min() < 0:
            row = int(np.argmax(y < 0))
            raise ValueError(f"y_{s} holds a negative label ({int(y[row])}, row {row}): labels are class indices "
                             "0, 1, 2, ...")
    named = classes is not None
    n_classes = len(classes) if named else int(y_train.max()) + 1
    for s, y in labels.items():
        out = y >= n_classes
        if out.any():
            row = int(np.argmax(out))
            where = f"label {int(y[row])} in {int(out.sum())} of {y.size} rows (the first: row {row})"
            if named:
                why = f"labels must lie in 0..{n_classes - 1}, the {n_classes} classes of the data set"
            else:
                why = (f"the training labels go up to {n_classes - 1}, so the network has {n_classes} outputs; if "
                       "the data set has more classes than its training labels show, name them all in `classes` "
                       "(a .npz's optional classes array)")
            raise ValueError(f"y_{s} holds a label out of range: {where}; {why}")
    present = np.unique(y_train)
    if present.size < 2:
        raise ValueError(f"y_train holds only one class (label {int(present[0])}, all {y_train.size} rows): a "
                         "classifier needs at least two classes in its training labels")
    return n_classes


def check_outputs(ds, outputs):
    """``ds``, unless it has another number of classes than ``outputs`` (the networks'): then ``DataError`` naming
    the labels out of range, or when it has fewer, that a .npz may name all its classes."""
    k = len(ds.classes)
    if k == outputs:
        return ds
    default = ds.classes == [str(i) for i in range(k)]
    what = f"{ds.name} ({ds.source})"
    if k > outputs and default:
        counts = []
        for s in ("train", "val", "test"):
            y = getattr(ds, "y_" + s)
            if y is not None:
                y = to_host(y)
                out = y >= outputs
                if out.any():
                    counts.append(f"{int(out.sum())} of {y.size} {s} rows (the first: row {int(np.argmax(out))})")
        labels = f"label {outputs} is" if k == outputs + 1 else f"labels {outputs}..{k - 1} are"
        raise DataError(f"{what}: {labels} out of range for the networks' {outputs} outputs (labels 0..{outputs - 1}),"
                        f" in {', '.join(counts)}; fix or drop those rows, or use networks with {k} outputs")
    hint = ""
    if k < outputs and default and str(ds.source).lower().endswith(".npz"):
        hint = (f"; if the data set has {outputs} classes of which its training labels show {k}, name all {outputs} "
                "in the .npz's optional classes array (1-D, one string per class)")
    named = "names" if not default else "has"
    raise DataError(f"{what} {named} {k} classes (labels 0..{k - 1}) but the networks have {outputs} outputs{hint}")


@contextmanager
def data_errors(source):
    """The one data-error wrapper of every file format: a rule broken by a file's arrays (``ValueError``,
    ``TypeError``) becomes one ``DataError`` line that starts with the file or folder."""
    try:
        yield
    except DataError:
        raise
    except (ValueError, TypeError) as e:
        raise DataError(f"{source}: {' '.join(str(e).split())}") from None


def stratified_mask(y, count, seed):
    """A boolean mask over the labels ``y`` selecting exactly ``count`` of them, each class in proportion: class c,
    n_c of the n labels, gets ⌊count·n_c/n⌋, and the largest remainders one more each until the total is ``count``
    (ties to the smaller class). Within a class the rows are drawn by ``backend.default_rng(seed)``."""
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
