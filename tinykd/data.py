"""MNIST, notMNIST, SVHN and your own data: find, verify, download, parse, fingerprint, preprocess and augment.

``load("mnist")`` looks for the files in a predictable order and stops at the first place that has them:

1. ``$TINYKD_DATA/<name>/``;
2. the repository's ``data/<name>/`` (MNIST and the notMNIST test split ship with tinykd);
3. the user cache ``~/.cache/tinykd/<name>/`` (``$XDG_CACHE_HOME`` respected);
4. a download into that cache from the data set's canonical mirrors, verified against published checksums
   (unless ``download=False`` or ``$TINYKD_OFFLINE=1``).

``load("mnist", data_dir=folder)`` searches ``folder`` and ``folder/<name>/`` ONLY and never downloads: a folder
asked for and silently replaced by files from elsewhere would make every result lie about its data. A missing
file there is an error naming the folder and the file.

Your own data: ``load(path)`` with a folder of the four MNIST-named IDX files or a ``.npz`` holding ``x_train,
y_train, x_test, y_test`` (``x_val, y_val, classes`` optional). A string equal to a registered name ("mnist",
"notmnist", "svhn", any case) is always that data set; anything else, and every ``Path``, is a path.

Every file of a named data set is verified before use: IDX files by the MD5 of their uncompressed content (so
recompressed ``.gz`` copies are accepted), downloads by the published checksum of the file as served. Your own
files have no checksum to meet; ``Dataset.fingerprint()`` identifies any data set by its content instead. Arrays
come back on the host (uint8 images scaled to float32 in [0, 1]); ``Dataset.to(xp)`` moves them to the chosen
backend once.
"""
import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .backend import get_array_module, to_device, to_host

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")  # the fixed order of fingerprint()
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_OPTIONAL = ("x_val", "y_val", "classes")


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
    """The folders searched for data set ``name``, in order (see the module docstring).

    An explicit ``data_dir`` is searched alone (the folder itself, then ``data_dir/<name>/``): asking for one
    folder and silently getting the files from another would make results lie about their data.
    """
    if data_dir is not None:
        return [Path(data_dir), Path(data_dir) / name]
    roots = []
    if os.environ.get("TINYKD_DATA"):
        roots.append(Path(os.environ["TINYKD_DATA"]) / name)
    return roots + [REPO_DATA / name, cache_dir() / name]


def cache_dir():
    """``$XDG_CACHE_HOME/tinykd`` (default ``~/.cache/tinykd``): where downloads go."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinykd"


def _find(resource, roots):
    """The first ``root/<file>`` or ``root/<file>.gz`` that exists, else None."""
    for root in roots:
        for candidate in (root / resource.name, root / (resource.name + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def _md5(data):
    """Hex MD5 of ``data`` (the checksum the data sets publish)."""
    return hashlib.md5(data).hexdigest()


def _verified_bytes(path, resource):
    """The (uncompressed) bytes of ``path``, checked against ``resource``'s content MD5 when it has one."""
    data = _read_bytes(path)
    if resource.content_md5 and _md5(data) != resource.content_md5:
        raise DataError(f"{path}: checksum mismatch (MD5 of the content is {_md5(data)}, expected "
                        f"{resource.content_md5}); the file is corrupted or not {resource.name}: delete it and "
                        "load again to fetch a fresh copy")
    return data


def locate_all(name, keys, data_dir=None, download=True, progress=True):
    """``{key: path}`` for the files ``keys`` of data set ``name`` (verified later, when read).

    With ``data_dir`` all of them must be in that folder (see ``search_roots``) and the error names every one
    that is not; without, each is searched in the usual order and downloaded into the cache when nowhere else.
    """
    if data_dir is None:
        return {key: locate(name, key, None, download, progress) for key in keys}
    return _find_in_folder(name, keys, data_dir)


def _find_in_folder(name, keys, data_dir):
    """``{key: path}`` of data set ``name``'s files in ``data_dir`` alone; one DataError naming all missing ones."""
    roots = search_roots(name, data_dir)
    found = {key: _find(REGISTRY[name][key], roots) for key in keys}
    missing = [REGISTRY[name][key].name + "[.gz]" for key, path in found.items() if path is None]
    if missing:
        folder = Path(data_dir).absolute()
        state = "" if folder.is_dir() else " (that folder does not exist)"
        raise DataError(f"{name}: {', '.join(missing)} not found in {folder} or {folder / name}{state}; with "
                        "data_dir (--data-dir) given, only that folder is searched and nothing is downloaded. Fix: "
                        "put the files there, or leave out data_dir (--data-dir) to search $TINYKD_DATA, the "
                        "repository's data/ and the cache, and download what is missing")
    return found


def locate(name, key, data_dir=None, download=True, progress=True):
    """Path of one file of data set ``name``: found where ``search_roots`` says, else downloaded into the cache.

    With ``data_dir`` only that folder is searched and nothing is downloaded. Errors are one line (the examples
    print them as ``error: ...``).
    """
    if data_dir is not None:
        return _find_in_folder(name, (key,), data_dir)[key]
    resource = REGISTRY[name][key]
    roots = search_roots(name)
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
                errors.append(f"{url}: " + " ".join(str(e).split()))
    searched = "; ".join(str(r) for r in roots)
    how = ("download failed: " + "; ".join(errors)) if errors else \
        ("downloading is off (download=False or $TINYKD_OFFLINE=1)" if resource.urls else "it has no download")
    raise DataError(f"{name}: {resource.name}[.gz] not found; searched, in order: {searched}; and {how}. "
                    f"Fix: put the file in one of those folders (or pass data_dir=... / --data-dir), set "
                    f"$TINYKD_DATA, or download it from {resource.urls[0] if resource.urls else 'its publisher'}")


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
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= n_train:
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
    if y.dtype.kind not in "iu":
        raise TypeError(f"y_{split} must hold integer class indices, got dtype {y.dtype}")
    return x, y.astype(np.int64)


# ------------------------------------------------------------------------------------------- your own data
def load_path(path, name=None):
    """Your own data set from ``path``: a folder of the four MNIST-named IDX files, or a ``.npz`` file."""
    path = Path(path)
    if path.is_dir():
        return load_idx_folder(path, name)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_npz(path, name)
    what = ("your own data must be a folder holding the four MNIST-named IDX files or a .npz file with "
            + ", ".join(NPZ_KEYS))
    if path.exists():
        raise DataError(f"{path.absolute()}: neither a folder nor a .npz file; {what}")
    raise DataError(f"unknown data set {str(path)!r}: {path.absolute()} does not exist and the named data sets are "
                    f"the strings {', '.join(map(repr, REGISTRY))}; {what}")


def load_idx_folder(folder, name=None, md5s=None):
    """A data set from any folder holding the four MNIST-named IDX files (gzip or raw), named after the folder.

    No checksum unless ``md5s`` gives one per key: these are your files, not a published data set's.
    """
    folder = Path(folder)
    resources = {key: Resource(fname, (md5s or {}).get(key)) for key, fname in MNIST_FILES.items()}
    paths = {key: _find(r, [folder]) for key, r in resources.items()}
    missing = [r.name + "[.gz]" for key, r in resources.items() if paths[key] is None]
    if missing:
        raise DataError(f"{folder.absolute()}: missing {', '.join(missing)}; a data folder needs all four "
                        f"MNIST-named IDX files (each may be gzipped): {', '.join(MNIST_FILES.values())}")
    arrays = {key: parse_idx(_verified_bytes(p, resources[key]), p) for key, p in paths.items()}
    return _idx_dataset(name or folder.resolve().name, arrays, source=str(folder.resolve()))


def load_npz(path, name=None):
    """A data set from a ``.npz`` file of x_train, y_train, x_test, y_test (x_val, y_val, classes optional).

    Images are (N, ...) arrays (uint8 ones scaled to [0, 1]), labels (N,) integer class indices, ``classes``
    a 1-D array of strings. Read without pickle, so opening a .npz can never run code; an array the format
    does not know is an error, so a misspelt key is never silently ignored.
    """
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:  # NumPy raises several types (ValueError, OSError, BadZipFile...) for a damaged file
        raise DataError(f"{path.absolute()}: not a readable .npz file ({' '.join(str(e).split())})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{path.absolute()}: holds one array (a .npy), not a .npz of named arrays "
                        f"({', '.join(NPZ_KEYS)})")
    try:
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path.absolute()}: an array in it cannot be read ({' '.join(str(e).split())})") from None
    missing = [k for k in NPZ_KEYS if k not in arrays]
    unknown = sorted(set(arrays) - set(NPZ_KEYS) - set(NPZ_OPTIONAL))
    if missing or unknown:
        raise DataError(f"{path.absolute()}: " + "; ".join(
            [f"missing {', '.join(missing)}"] * bool(missing) + [f"unexpected {', '.join(unknown)}"] * bool(unknown))
            + f"; a .npz data set holds {', '.join(NPZ_KEYS)} (and optionally {', '.join(NPZ_OPTIONAL)})")
    classes = arrays.pop("classes", None)
    if classes is not None and (classes.ndim != 1 or classes.dtype.kind not in "US"):
        raise DataError(f"{path.absolute()}: classes must be a 1-D array of strings, got {classes.dtype} "
                        f"{classes.shape}")
    try:
        return from_arrays(name=name or path.stem, source=str(path.resolve()),
                           classes=None if classes is None else [str(c) for c in classes.tolist()], **arrays)
    except (ValueError, TypeError) as e:
        raise DataError(f"{path.absolute()}: {e}") from None


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


def _read_verified(name, paths):
    """``{key: array}`` parsed from the located files of data set ``name``, each checked against its MD5."""
    return {key: parse_idx(_verified_bytes(path, REGISTRY[name][key]), path) for key, path in paths.items()}


def _source(paths):
    """The absolute folder the files came from ("; "-joined, in order, when the search found them in several)."""
    return "; ".join(dict.fromkeys(str(Path(p).resolve().parent) for p in paths.values()))


def load_mnist(data_dir=None, download=True, progress=True):
    """MNIST (LeCun et al. 1998): 60,000 training and 10,000 test digits, every file verified by checksum."""
    paths = locate_all("mnist", MNIST_FILES, data_dir, download, progress)
    return _idx_dataset("mnist", _read_verified("mnist", paths), CLASS_NAMES["mnist"], _source(paths))


def load_notmnist(data_dir=None, download=True, progress=True, split_test=None, seed=0):
    """notMNIST letters A-J as classes 0-9, in MNIST's IDX format.

    Needs the 60,000-image training split. When only the 10,000-image test split is at hand, pass
    ``split_test=f`` to split that file (seeded, stratified) into a training part and a test part holding a
    fraction ``f``: results on that split are NOT comparable with published notMNIST numbers. Only a MISSING
    training split allows this: a corrupted one is an error like any other.
    """
    test_paths = locate_all("notmnist", ("test_images", "test_labels"), data_dir, download, progress)
    test = _read_verified("notmnist", test_paths)
    try:
        train_paths = locate_all("notmnist", ("train_images", "train_labels"), data_dir, download, progress)
    except DataError as e:
        if split_test is None:
            raise DataError(f"notMNIST's training split is missing ({e}); only its test split is available (in "
                            f"{_source(test_paths)}): pass split_test=0.5 (or --split-test 0.5) to split the test "
                            "file into train and test parts for experiments (not comparable with published "
                            "numbers)") from None
        return _split_test_file(test, split_test, seed, _source(test_paths))
    train = _read_verified("notmnist", train_paths)  # verified first: a damaged file must say so, whatever else
    if split_test is not None:
        raise ValueError("split_test is only for when notMNIST's training split is missing; it is present")
    return _idx_dataset("notmnist", {**train, **test}, CLASS_NAMES["notmnist"], _source({**train_paths, **test_paths}))


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
    images are drawn with ``np.random.default_rng(seed)``, classes in ascending order. The one stratification
    mechanism of tinykd: validation splits and notMNIST's test-file split both use it.
    """
    y = np.asarray(y)
    n = y.shape[0]
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= n:
        raise ValueError(f"count must be an integer in [0, {n}], got {count!r}")
    labels, sizes = np.unique(y, return_counts=True)
    share, remainder = np.divmod(int(count) * sizes.astype(np.int64), n)  # exact integers: no float ties
    share[np.argsort(-remainder, kind="stable")[:int(count) - int(share.sum())]] += 1
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    for c, k in zip(labels, share):
        mask[rng.choice(np.flatnonzero(y == c), k, replace=False)] = True
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
    paths = locate_all("svhn", ("train", "test"), data_dir, download, progress)
    parts = {}
    for key, path in paths.items():
        resource = REGISTRY["svhn"][key]
        if resource.content_md5 and _md5(Path(path).read_bytes()) != resource.content_md5:
            raise DataError(f"{path}: checksum mismatch (expected MD5 {resource.content_md5}); delete it and "
                            "load again")
        parts[key] = read_svhn_mat(path)
    return svhn_dataset(parts["train"], parts["test"], form, source=_source(paths))


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
    if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or not 0 <= val < n_train:
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


# --------------------------------------------------------------------------------------- batches, augmentation
def batches(*arrays, batch_size, rng=None):
    """Mini-batches (tuples of aligned slices of ``arrays``) of one epoch, shuffled by the NumPy generator ``rng``.

    The permutation is drawn on the host (the same stream on CPU and GPU), uploaded once per epoch (the epoch's
    one host-to-device copy, which reads nothing back) and applied once, so every batch is a contiguous slice of an
    array already on the device. ``rng=None`` keeps the order.
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
