"""The named data sets: MNIST, notMNIST (letters A-J) and SVHN, found and verified as ``tinykd.data.files`` says,
read by ``tinykd.data.formats``, and wrapped in a ``Dataset`` by ``dataset.from_arrays`` (the one set of rules).

``canonical`` is True only when every file read has its published checksum: MNIST, SVHN and notMNIST's test split.
"""
import numpy as np

from .dataset import data_errors, from_arrays, stratified_mask
from .files import (MNIST_FILES, REGISTRY, check_notmnist_train, locate_all, read_verified, source_of,
                    verified_bytes)
from .formats import DataError, read_svhn_mat

DIGITS = [str(d) for d in range(10)]
LETTERS = list("ABCDEFGHIJ")


def idx_dataset(name, arrays, classes=DIGITS, source="arrays", canonical=False):
    """A 10-class ``Dataset`` (labels 0..9, as in MNIST) from the four parsed IDX arrays; errors name ``source``."""
    with data_errors(source):
        for split in ("train", "test"):
            x = arrays[f"{split}_images"]
            if x.ndim != 3:
                found = {2: "rows of pixels", 4: "images with channels"}.get(x.ndim, f"{x.ndim}-D")
                fix = ("a .npz holds images of any shape (colour as (N, rows, cols, channels))" if x.ndim == 4 else
                       "write the file as (N, rows, cols), or use a .npz, which takes any shape")
                raise ValueError(f"the {split} images file holds shape {x.shape} ({found}); an IDX images file "
                                 f"must hold (N, rows, cols): N greyscale images; {fix}")
        return from_arrays(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                           arrays["test_labels"], name=name, classes=classes, source=source, canonical=canonical)


def load_mnist(data_dir=None, download=True, progress=True):
    """MNIST (LeCun et al. 1998): 60,000 training and 10,000 test digits, every file verified by checksum."""
    paths = locate_all("mnist", MNIST_FILES, data_dir, download, progress)
    return idx_dataset("mnist", read_verified("mnist", paths), DIGITS, source_of(paths), canonical=True)


def load_notmnist(data_dir=None, download=True, progress=True, split_test=None, seed=0):
    """notMNIST letters A-J as classes 0-9, in MNIST's IDX format; not ``canonical`` (no checksum is published
    for its training split, whose structure ``files.check_notmnist_train`` checks). Only when that split is MISSING,
    ``split_test=f`` splits the verified test file (seeded, stratified), ``f`` of it for test: NOT comparable with
    published notMNIST numbers."""
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
    check_notmnist_train(train, source_of(train_paths))
    if split_test is not None:
        raise DataError(f"notMNIST's training split is present (in {source_of(train_paths)}): split_test "
                        "(--split-test) is only for when it is missing; leave it out to use the published train and "
                        "test splits")
    return idx_dataset("notmnist", {**train, **test}, LETTERS, source_of({**train_paths, **test_paths}))


def _split_test_file(test, split_test, seed, source):
    """notMNIST's test file split by ``stratified_mask`` into train and test parts, ``split_test`` of it for test."""
    if not 0 < split_test < 1:
        raise ValueError(f"split_test must be a fraction in (0, 1), got {split_test}")
    x, y = test["test_images"], test["test_labels"]
    is_test = stratified_mask(y, int(round(split_test * y.shape[0])), seed)
    ds = idx_dataset("notmnist", {"train_images": x[~is_test], "train_labels": y[~is_test],
                                  "test_images": x[is_test], "test_labels": y[is_test]}, LETTERS, source,
                     canonical=True)
    ds.note = (f"notMNIST test file split {1 - split_test:.0%}/{split_test:.0%} (seed {seed}) because the "
               "training split is missing: not comparable with published numbers")
    return ds


def svhn_to_grey28(images):
    """The founding report's SVHN form: greyscale (ITU-R BT.601 luma), resized to 28×28 by bilinear zoom."""
    from scipy import ndimage

    grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return ndimage.zoom(grey, (1, 28 / 32, 28 / 32), order=1, grid_mode=True, mode="grid-constant")


def load_svhn(data_dir=None, download=True, progress=True, form="grey28"):
    """SVHN (Netzer et al. 2011) train and test; ``form="grey28"`` (the report's, 784 inputs) or ``"rgb32"``
    (3072 inputs)."""
    if form not in ("grey28", "rgb32"):
        raise ValueError(f"form must be 'grey28' or 'rgb32', got {form!r}")
    paths = locate_all("svhn", ("train", "test"), data_dir, download, progress)
    for key, path in paths.items():
        verified_bytes(path, REGISTRY["svhn"][key])
    (xtr, ytr), (xte, yte) = (read_svhn_mat(path) for path in paths.values())
    shape = (32, 32, 3)   # uint8: the pixel rule divides by 255
    if form == "grey28":
        # the luma of 0-255 bytes in float32, scaled here (the pixel rule never guesses a scale) and clipped:
        # the weights' float32 sum may put a white pixel a rounding error above 255
        xtr, xte = (np.clip(svhn_to_grey28(x), 0, 255) / np.float32(255) for x in (xtr, xte))
        shape = (28, 28)
    with data_errors(source_of(paths)):
        return from_arrays(xtr, ytr, xte, yte, name="svhn", classes=DIGITS, input_shape=shape,
                           source=source_of(paths), canonical=True)
