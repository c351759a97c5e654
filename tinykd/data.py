"""MNIST, notMNIST and SVHN: find, verify, download, parse, preprocess and augment.

``load("mnist")`` looks for the files in a predictable order and stops at the first place that has them:

1. the ``data_dir`` argument (the files directly in it, or in ``data_dir/<name>/``);
2. ``$TINYKD_DATA/<name>/``;
3. the repository's ``data/<name>/`` (MNIST and the notMNIST test split ship with tinykd);
4. the user cache ``~/.cache/tinykd/<name>/`` (``$XDG_CACHE_HOME`` respected);
5. a download into that cache from the data set's canonical mirrors, verified against published checksums
   (unless ``download=False`` or ``$TINYKD_OFFLINE=1``).

Every file is verified before use: IDX files by the MD5 of their uncompressed content (so recompressed ``.gz``
copies are accepted), downloads by the published checksum of the file as served. Arrays come back on the host
(uint8 images scaled to float32 in [0, 1]); ``Dataset.to(xp)`` moves them to the chosen backend once.
"""
import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .backend import get_array_module, to_device

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


@dataclass(frozen=True)
class Resource:
    """One file of a data set: its name on disk, the MD5 of its (uncompressed) content, and where to get it.

    ``urls`` are mirrors tried in order; ``download_md5`` is the published checksum of the file as served
    (for MNIST the ``.gz``). ``content_md5`` may be None where no checksum has been published.
    """
    name: str
    content_md5: str = None
    urls: tuple = ()
    download_md5: str = None


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_NOTMNIST_MIRROR = "https://github.com/davidflanagan/notMNIST-to-MNIST/raw/master/"
_SVHN_MIRROR = "http://ufldl.stanford.edu/housenumbers/"



def _mnist(key, content_md5, gz_md5):
    """An MNIST file: MD5 of its uncompressed content, and of the .gz as published on the mirrors."""
    name = MNIST_FILES[key]
    return Resource(name, content_md5, tuple(m + name + ".gz" for m in _MNIST_MIRRORS), gz_md5)


REGISTRY = {
    "mnist": {
        "train_images": _mnist("train_images", "6bbc9ace898e44ae57da46a324031adb", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_labels": _mnist("train_labels", "a25bea736e30d166cdddb491f175f624", "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_images": _mnist("test_images", "2646ac647ad5339dbf082846283269ea", "9fb629c4189551a2d022fa330f9573f3"),
        "test_labels": _mnist("test_labels", "27ae3e4e09519cfbb04c329615203637", "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    # notMNIST (Yaroslav Bulatov) as converted to IDX by the notMNIST-to-MNIST project. The test split's MD5s
    # were computed here from a verified copy; the project publishes no checksums for its training split, so
    # that file is checked for structure only (60,000 images of 28x28) and its MD5 is printed on download.
    "notmnist": {
        "train_images": Resource("train-images-idx3-ubyte", None, (_NOTMNIST_MIRROR + "train-images-idx3-ubyte.gz",)),
        "train_labels": Resource("train-labels-idx1-ubyte", None, (_NOTMNIST_MIRROR + "train-labels-idx1-ubyte.gz",)),
        "test_images": Resource("t10k-images-idx3-ubyte", "1e78b07d677d6e4de2c8857bafff012e",
                                (_NOTMNIST_MIRROR + "t10k-images-idx3-ubyte.gz",)),
        "test_labels": Resource("t10k-labels-idx1-ubyte", "b10b3ef34b4e468313a7b24c216c6a53",
                                (_NOTMNIST_MIRROR + "t10k-labels-idx1-ubyte.gz",)),
    },
    # SVHN (Netzer et al. 2011), cropped digits; MD5s as published with torchvision's loader.
    "svhn": {
        "train": Resource("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", (_SVHN_MIRROR + "train_32x32.mat",),
                          "e26dedcc434d2e4c54c9b2d4a06d8373"),
        "test": Resource("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", (_SVHN_MIRROR + "test_32x32.mat",),
                         "eb5a983be6a315427106f1b164d9cef3"),
    },
}
CLASS_NAMES = {"mnist": [str(d) for d in range(10)], "notmnist": list("ABCDEFGHIJ"),
               "svhn": [str(d) for d in range(10)]}


class DataError(ValueError):
    """A data file is missing, corrupted or not what it claims to be."""


# ---------------------------------------------------------------------------------------------------- IDX files
def read_idx(path):
    """Parse an IDX file (gzip-compressed or raw) into a NumPy array, validating every header field.

    The header is two zero bytes, a dtype code, the number of dimensions, then one big-endian uint32 per
    dimension. A file whose length disagrees with its header, or a truncated gzip stream, raises ``DataError``
    naming the file: a short array is never returned.
    """
    data = _read_bytes(path)
    return parse_idx(data, path)


def _read_bytes(path):
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=f) as g:
                    return g.read()
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: corrupted or truncated gzip stream ({e})") from e


def parse_idx(data, path="<bytes>"):
    """Parse the bytes of an (uncompressed) IDX file; see ``read_idx``."""
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: bad IDX magic number {data[:4].hex()} (the first two bytes must be 0)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX dtype code 0x{code:02x} (expected one of "
                        f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)})")
    if not 1 <= ndim <= 4:
        raise DataError(f"{path}: IDX header declares {ndim} dimensions (expected 1 to 4)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, header needs {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(f"{path}: header declares shape {dims} ({expected} bytes) but the file holds {len(data)} "
                        "bytes; it is truncated or corrupted")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in .gz); used by tests and converters."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder(">").str if np.dtype(v).itemsize > 1 else np.dtype(v).str: k
             for k, v in IDX_DTYPES.items()}
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    key = big.dtype.str
    if key not in codes:
        raise TypeError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, codes[key], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(big).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


# ------------------------------------------------------------------------------------------- finding the files
def search_roots(name, data_dir=None):
    """The folders searched for data set ``name``, in order (see the module docstring)."""
    roots = []
    if data_dir is not None:
        roots += [Path(data_dir), Path(data_dir) / name]
    if os.environ.get("TINYKD_DATA"):
        roots.append(Path(os.environ["TINYKD_DATA"]) / name)
    roots += [REPO_DATA / name, cache_dir() / name]
    return roots


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinykd"


def _find(resource, roots):
    for root in roots:
        for candidate in (root / resource.name, root / (resource.name + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def _md5(data):
    return hashlib.md5(data).hexdigest()


def _verified_bytes(path, resource):
    data = _read_bytes(path)
    if resource.content_md5 and _md5(data) != resource.content_md5:
        raise DataError(f"{path}: checksum mismatch (MD5 of the content is {_md5(data)}, expected "
                        f"{resource.content_md5}); the file is corrupted or not {resource.name}: delete it and "
                        "load again to fetch a fresh copy")
    return data


def locate(name, key, data_dir=None, download=True, progress=True):
    """Path of one verified file of data set ``name``, downloading it into the cache when nowhere else."""
    resource = REGISTRY[name][key]
    roots = search_roots(name, data_dir)
    path = _find(resource, roots)
    if path is not None:
        return path
    offline = os.environ.get("TINYKD_OFFLINE", "") not in ("", "0")
    errors = []
    if download and not offline and resource.urls:
        target = cache_dir() / name / Path(resource.urls[0]).name
        for url in resource.urls:
            try:
                fetch(url, target, resource.download_md5, progress=progress)
                return target
            except (OSError, urllib.error.URLError, DataError) as e:
                errors.append(f"{url}: {e}")
    searched = "\n  ".join(str(r) for r in roots)
    how = ("download failed:\n  " + "\n  ".join(errors)) if errors else \
        ("downloading is off (download=False or $TINYKD_OFFLINE=1)" if resource.urls else "it has no download")
    raise DataError(f"{name}: {resource.name}[.gz] not found. Searched, in order:\n  {searched}\nand {how}.\n"
                    f"Fix: put the file in one of those folders (or pass data_dir=...), set $TINYKD_DATA, or "
                    f"download it from {resource.urls[0] if resource.urls else 'its publisher'}.")


def fetch(url, target, md5=None, progress=True, chunk=1 << 20):
    """Stream ``url`` to ``target`` through a temp file, checking ``md5``, then rename; nothing partial remains."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-", suffix=target.suffix)
    digest, done, total = hashlib.md5(), 0, 0
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0)
                while block := response.read(chunk):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        pct = f"{100 * done / total:5.1f}%" if total else ""
                        print(f"\r  downloading {url} {done / 1e6:7.1f} MB {pct}", end="", file=sys.stderr)
        except http.client.HTTPException as e:  # IncompleteRead and friends are not OSErrors
            raise DataError(f"{url}: download broke off after {done} bytes ({e!r}); the partial file was deleted")
        if progress:
            print(file=sys.stderr)
        if total and done != total:
            raise DataError(f"{url}: download truncated ({done} of {total} bytes); the partial file was deleted")
        if md5 and digest.hexdigest() != md5:
            raise DataError(f"{url}: checksum mismatch (MD5 {digest.hexdigest()}, published {md5}); "
                            "the partial file was deleted")
        if not md5 and progress:
            print(f"  {url}: no published checksum; MD5 of what arrived is {digest.hexdigest()}", file=sys.stderr)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


# ---------------------------------------------------------------------------------------------- the data sets
@dataclass
class Dataset:
    """Train/validation/test arrays (images flattened to rows, float32), class names and the image shape.

    Arrays live on one array module: host NumPy after loading, the backend's after ``to(xp)``.
    ``note`` says when the split is not the published one (and numbers are therefore not comparable).
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

    def to(self, xp, dtype=np.float32):
        """The same data set on array module ``xp`` (one copy per array), images cast to ``dtype``."""
        move = {}
        for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            a = getattr(self, k)
            if a is not None:
                move[k] = to_device(a, xp, dtype if k.startswith("x") else np.int64)
        return replace(self, **move)

    def __repr__(self):
        sizes = ", ".join(f"{k}={getattr(self, 'x_' + k).shape[0]}" for k in ("train", "val", "test")
                          if getattr(self, "x_" + k) is not None)
        return f"Dataset({self.name!r}, {sizes}, input_shape={self.input_shape}, classes={len(self.classes)})"


def from_arrays(x_train, y_train, x_test, y_test, name="custom", classes=None, input_shape=None, scale=None):
    """Wrap plain arrays as a ``Dataset`` (images of any shape are flattened; uint8 images scaled to [0, 1])."""
    xs, ys = [], []
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 2 or x.shape[0] != y.shape[0] or y.ndim != 1:
            raise ValueError(f"x_{split} must be (N, ...) and y_{split} (N,) with the same N, "
                             f"got {x.shape} and {y.shape}")
        if y.dtype.kind not in "iu":
            raise TypeError(f"y_{split} must hold integer class indices, got dtype {y.dtype}")
        xs.append(x)
        ys.append(y.astype(np.int64))
    if xs[0].shape[1:] != xs[1].shape[1:]:
        raise ValueError(f"train and test images differ in shape: {xs[0].shape[1:]} vs {xs[1].shape[1:]}")
    n_classes = int(max(ys[0].max(), ys[1].max())) + 1 if classes is None else len(classes)
    for split, y in zip(("train", "test"), ys):
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"y_{split} has labels outside [0, {n_classes})")
    if scale is None:
        scale = 255.0 if xs[0].dtype == np.uint8 else 1.0
    flat = [(x.reshape(x.shape[0], -1).astype(np.float32) / np.float32(scale)) for x in xs]
    return Dataset(name, flat[0], ys[0], flat[1], ys[1],
                   classes=list(classes) if classes else [str(i) for i in range(n_classes)],
                   input_shape=tuple(input_shape or xs[0].shape[1:]))


def load_idx_folder(folder, name=None, md5s=None):
    """A data set from any folder holding the four MNIST-named IDX files (gzip or raw)."""
    folder = Path(folder)
    arrays = {}
    for key, fname in MNIST_FILES.items():
        resource = Resource(fname, (md5s or {}).get(key))
        path = _find(resource, [folder])
        if path is None:
            raise DataError(f"{folder}: missing {fname}[.gz]; a data folder needs all four MNIST-named IDX files: "
                            + ", ".join(MNIST_FILES.values()))
        arrays[key] = parse_idx(_verified_bytes(path, resource), path)
    return _idx_dataset(name or folder.name, arrays)


def _idx_dataset(name, arrays, classes=None):
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DataError(f"{name}: {split} images {x.shape} and labels {y.shape} do not pair up")
        if y.max() > 9:
            raise DataError(f"{name}: {split} labels must lie in 0..9, found {int(y.max())}")
    return from_arrays(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"],
                       name=name, classes=classes or [str(i) for i in range(10)])


def _load_idx_set(name, data_dir, download, progress, keys=MNIST_FILES):
    arrays = {}
    for key in keys:
        resource = REGISTRY[name][key]
        path = locate(name, key, data_dir, download, progress)
        arrays[key] = parse_idx(_verified_bytes(path, resource), path)
    return arrays


def load_notmnist(data_dir=None, download=True, progress=True, split_test=None, seed=0):
    """notMNIST letters A-J as classes 0-9, in MNIST's IDX format.

    Needs the 60,000-image training split. When only the 10,000-image test split is at hand, pass
    ``split_test=f`` to split that file (seeded, stratified) into a training part and a test part holding a
    fraction ``f``: results on that split are NOT comparable with published notMNIST numbers.
    """
    test = _load_idx_set("notmnist", data_dir, download, progress, ("test_images", "test_labels"))
    try:
        train = _load_idx_set("notmnist", data_dir, download, progress, ("train_images", "train_labels"))
    except DataError as e:
        if split_test is None:
            raise DataError(f"notMNIST's training split is missing ({e}).\nOnly its test split is available; "
                            "pass split_test=0.5 (or --split-test 0.5) to split the test file into train and test "
                            "parts for experiments (not comparable with published numbers).") from None
        if not 0 < split_test < 1:
            raise ValueError(f"split_test must be a fraction in (0, 1), got {split_test}")
        x, y = test["test_images"], test["test_labels"]
        is_test = _stratified_mask(y, split_test, seed)
        ds = _idx_dataset("notmnist", {"train_images": x[~is_test], "train_labels": y[~is_test],
                                       "test_images": x[is_test], "test_labels": y[is_test]}, CLASS_NAMES["notmnist"])
        ds.note = (f"notMNIST test file split {1 - split_test:.0%}/{split_test:.0%} (seed {seed}) because the "
                   "training split is missing: not comparable with published numbers")
        return ds
    if split_test is not None:
        raise ValueError("split_test is only for when notMNIST's training split is missing; it is present")
    return _idx_dataset("notmnist", {**train, **test}, CLASS_NAMES["notmnist"])


def _stratified_mask(y, fraction, seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros(y.shape[0], dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[rng.choice(idx, int(round(fraction * idx.size)), replace=False)] = True
    return mask


def read_svhn_mat(path):
    """(images N×32×32×3 uint8, labels N int64 in 0..9) from an SVHN ``.mat`` file (label 10 means digit 0)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as e:  # scipy raises several types for a damaged file
        raise DataError(f"{path}: not a readable .mat file ({e})") from e
    for key in ("X", "y"):
        if key not in mat:
            raise DataError(f"{path}: no variable {key!r} (an SVHN .mat file holds X: 32x32x3xN and y: Nx1)")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.shape[0]:
        raise DataError(f"{path}: X has shape {x.shape} and y {mat['y'].shape}; expected 32x32x3xN and Nx1")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise DataError(f"{path}: labels must lie in 1..10 (10 = digit 0), found {int(y.min())}..{int(y.max())}")
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)).astype(np.uint8), (y % 10).astype(np.int64)


def svhn_to_grey28(images):
    """The founding report's SVHN form: greyscale (ITU-R BT.601 luma), resized to 28×28 by bilinear zoom."""
    from scipy import ndimage

    grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return ndimage.zoom(grey, (1, 28 / 32, 28 / 32), order=1, grid_mode=True, mode="grid-constant")


def load_svhn(data_dir=None, download=True, progress=True, form="grey28"):
    """SVHN train and test; ``form="grey28"`` (the report's, 784 inputs) or ``"rgb32"`` (3072 inputs)."""
    if form not in ("grey28", "rgb32"):
        raise ValueError(f"form must be 'grey28' or 'rgb32', got {form!r}")
    parts = {}
    for key in ("train", "test"):
        path = locate("svhn", key, data_dir, download, progress)
        resource = REGISTRY["svhn"][key]
        if resource.content_md5 and _md5(Path(path).read_bytes()) != resource.content_md5:
            raise DataError(f"{path}: checksum mismatch (expected MD5 {resource.content_md5}); delete it and "
                            "load again")
        parts[key] = read_svhn_mat(path)
    return svhn_dataset(parts["train"], parts["test"], form)


def svhn_dataset(train, test, form="grey28"):
    """A ``Dataset`` from (images, labels) pairs as ``read_svhn_mat`` returns them."""
    (xtr, ytr), (xte, yte) = train, test
    if form == "grey28":
        xtr, xte, shape, scale = svhn_to_grey28(xtr), svhn_to_grey28(xte), (28, 28), 255.0
    else:
        shape, scale = (32, 32, 3), 255.0
    return from_arrays(xtr, ytr, xte, yte, name="svhn", classes=CLASS_NAMES["svhn"], input_shape=shape, scale=scale)


def load(name, data_dir=None, download=True, progress=True, val=0, standardize=False, seed=0, **options):
    """Load a data set by name (``"mnist"``, ``"notmnist"``, ``"svhn"``) or from a folder of MNIST-named IDX files.

    ``val``: how many training images to hold out (seeded) as a validation set. ``standardize``: subtract the
    per-pixel mean and divide by the per-pixel standard deviation of the training part. Extra ``options`` go to
    the data set's loader (``split_test`` for notMNIST, ``form`` for SVHN).
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"name must be a data set name or a folder path, got {type(name).__name__}")
    key = str(name).lower()
    if key == "mnist":
        _reject(options, "mnist")
        ds = _idx_dataset("mnist", _load_idx_set("mnist", data_dir, download, progress), CLASS_NAMES["mnist"])
    elif key == "notmnist":
        ds = load_notmnist(data_dir, download, progress, seed=seed, **options)
    elif key == "svhn":
        ds = load_svhn(data_dir, download, progress, **options)
    elif Path(name).is_dir():
        _reject(options, str(name))
        ds = load_idx_folder(name)
    else:
        raise ValueError(f"unknown data set {name!r}: expected one of {sorted(REGISTRY)} or a folder holding the "
                         f"four MNIST-named IDX files ({', '.join(MNIST_FILES.values())})")
    return preprocess(ds, val=val, standardize=standardize, seed=seed)


def _reject(options, name):
    if options:
        raise TypeError(f"unexpected options for {name}: {sorted(options)}")


def preprocess(ds, val=0, standardize=False, seed=0):
    """Hold out ``val`` training images (seeded) and optionally standardise with the training statistics."""
    if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or not 0 <= val < ds.x_train.shape[0]:
        raise ValueError(f"val must be an integer in [0, {ds.x_train.shape[0]}), got {val!r}")
    if val:
        perm = np.random.default_rng(seed).permutation(ds.x_train.shape[0])
        tr, va = perm[val:], perm[:val]
        ds = replace(ds, x_train=ds.x_train[tr], y_train=ds.y_train[tr], x_val=ds.x_train[va], y_val=ds.y_train[va])
    if standardize:
        mean = ds.x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = ds.x_train.std(axis=0, dtype=np.float64).astype(np.float32)
        std[std < 1e-6] = 1  # constant pixels (MNIST's borders) stay constant instead of dividing by zero
        ds = replace(ds, **{k: (getattr(ds, k) - mean) / std for k in ("x_train", "x_val", "x_test")
                            if getattr(ds, k) is not None})
    return ds


# --------------------------------------------------------------------------------------- batches, augmentation
def batches(*arrays, batch_size, rng=None):
    """Mini-batches (tuples of aligned slices of ``arrays``) of one epoch, shuffled by the NumPy generator ``rng``.

    The permutation is drawn on the host (the same stream on CPU and GPU) and applied once per epoch, so every
    batch is a contiguous slice of an array already on the device. ``rng=None`` keeps the order.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"arrays to batch together must share their first dimension, got "
                         f"{[a.shape[0] for a in arrays]}")
    if rng is not None:
        perm = to_device(rng.permutation(n), get_array_module(arrays[0]))
        arrays = [a[perm] for a in arrays]
    for i in range(0, n, batch_size):
        yield tuple(a[i:i + batch_size] for a in arrays)


def jitter(x, image_shape, max_shift, rng):
    """Translate each image by its own random (dy, dx) in [−k, k]², filling with zeros, without a Python loop.

    ``x`` holds flattened images of ``image_shape`` (H, W) or (H, W, C); ``rng`` is a generator of x's array
    module. The batch is padded by k on each side and every sample's window gathered with one fancy index.
    """
    if max_shift == 0:
        return x
    xp = get_array_module(x)
    n, k = x.shape[0], int(max_shift)
    h, w = image_shape[:2]
    imgs = x.reshape((n, *image_shape))
    pad = [(0, 0), (k, k), (k, k)] + [(0, 0)] * (len(image_shape) - 2)
    padded = xp.pad(imgs, pad)
    shifts = rng.integers(0, 2 * k + 1, size=(2, n))
    rows = shifts[0][:, None] + xp.arange(h)
    cols = shifts[1][:, None] + xp.arange(w)
    out = padded[xp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, -1)
