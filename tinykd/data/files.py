"""Where a named data set's files are, how they are verified and downloaded (``tinykd.data.formats`` reads them).

The files are searched in this order, stopping at the first place that has them: ``$TINYKD_DATA/<name>/`` (when set,
an existing folder), the repository's ``data/<name>/``, the cache ``~/.cache/tinykd/<name>/`` (``$XDG_CACHE_HOME``
respected), then a download into that cache from the canonical mirrors (unless ``download=False`` or
``$TINYKD_OFFLINE=1``). A given ``data_dir`` is searched alone (``data_dir`` and ``data_dir/<name>/``) and nothing
is downloaded: a folder asked for is never silently replaced by files from elsewhere. Every file is verified before
use: IDX files by the MD5 of their uncompressed content (a recompressed ``.gz`` passes), others by the MD5 of the
file, downloads by the published checksum of the file as served.
"""
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .formats import DataError, parse_idx, read_bytes, read_idx

REPO_DATA = Path(__file__).resolve().parents[2] / "data"
MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


@dataclass(frozen=True)
class Resource:
    """One file of a data set: its name on disk, the MD5 of its (uncompressed) content (None where none is
    published), mirrors tried in order, and the published MD5 of the file as served (for MNIST the ``.gz``)."""
    name: str
    content_md5: str = None
    urls: tuple = ()
    download_md5: str = None


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_NOTMNIST_MIRRORS = ("https://github.com/davidflanagan/notMNIST-to-MNIST/raw/master/",)
_SVHN_MIRROR = "http://ufldl.stanford.edu/housenumbers/"


def _idx(key, content_md5=None, gz_md5=None, mirrors=_MNIST_MIRRORS):
    """An MNIST-named IDX file served gzipped by ``mirrors``: MD5 of its uncompressed content, and of the .gz."""
    name = MNIST_FILES[key]
    return Resource(name, content_md5, tuple(m + name + ".gz" for m in mirrors), gz_md5)


REGISTRY = {
    "mnist": {
        "train_images": _idx("train_images", "6bbc9ace898e44ae57da46a324031adb", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_labels": _idx("train_labels", "a25bea736e30d166cdddb491f175f624", "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_images": _idx("test_images", "2646ac647ad5339dbf082846283269ea", "9fb629c4189551a2d022fa330f9573f3"),
        "test_labels": _idx("test_labels", "27ae3e4e09519cfbb04c329615203637", "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    # notMNIST (Yaroslav Bulatov) as converted to IDX by notMNIST-to-MNIST; the test split's MD5s were computed here
    # from a verified copy; none is published for the training split, which is checked for structure instead
    "notmnist": {
        "train_images": _idx("train_images", mirrors=_NOTMNIST_MIRRORS),
        "train_labels": _idx("train_labels", mirrors=_NOTMNIST_MIRRORS),
        "test_images": _idx("test_images", "1e78b07d677d6e4de2c8857bafff012e", mirrors=_NOTMNIST_MIRRORS),
        "test_labels": _idx("test_labels", "b10b3ef34b4e468313a7b24c216c6a53", mirrors=_NOTMNIST_MIRRORS),
    },
    # SVHN (Netzer et al. 2011), cropped digits; MD5s as published with torchvision's loader.
    "svhn": {
        "train": Resource("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", (_SVHN_MIRROR + "train_32x32.mat",),
                          "e26dedcc434d2e4c54c9b2d4a06d8373"),
        "test": Resource("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", (_SVHN_MIRROR + "test_32x32.mat",),
                         "eb5a983be6a315427106f1b164d9cef3"),
    },
}


# ------------------------------------------------------------------------------------------- finding the files
def check_path(what, path, fix):
    """The one empty-path rule: a path a user gave that is empty or blank (``--data "$UNSET"``, which would mean
    the current folder) raises ``DataError`` naming ``what`` and ``fix``."""
    if isinstance(path, (str, bytes)) and not path.strip():
        raise DataError(f"{what} is empty ({path!r}), as an unset shell variable gives; {fix}")
    return path


def search_roots(name, data_dir=None):
    """The folders searched for data set ``name``, in order (see the module docstring)."""
    if data_dir is not None:
        check_path("data_dir (--data-dir)", data_dir, "name the folder holding the named data set's files, or leave "
                   "data_dir (--data-dir) out to search the usual places")
        return [Path(data_dir), Path(data_dir) / name]
    roots = []
    env = os.environ.get("TINYKD_DATA")
    if env is not None:   # a folder named and not there is a typo or an unmounted disk, never a reason to look on
        check_path("$TINYKD_DATA", env, "name the folder that holds one folder per data set (e.g. mnist/), or "
                   "unset it (unset TINYKD_DATA)")
        if not Path(env).is_dir():
            raise DataError(f"$TINYKD_DATA is {env!r}, which is not an existing folder; create it (it holds one "
                            "folder per data set, e.g. mnist/), point TINYKD_DATA at the folder that exists, or "
                            "unset it")
        roots.append(Path(env) / name)
    return roots + [REPO_DATA / name, cache_dir() / name]


def offline():
    """True when ``$TINYKD_OFFLINE`` is ``1`` (never download); ``0``, empty or unset allow downloads; any other
    value raises ``DataError``: "no", "false" or a typo must not quietly mean one or the other."""
    value = os.environ.get("TINYKD_OFFLINE", "").strip()
    if value not in ("", "0", "1"):
        raise DataError(f"TINYKD_OFFLINE must be 1 (never download) or 0/unset (download missing data sets), "
                        f"got {value!r}")
    return value == "1"


def cache_dir():
    """``$XDG_CACHE_HOME/tinykd`` (``~/.cache/tinykd`` when it is unset or empty): where downloads go."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinykd"


def find(resource, roots):
    """The first ``root/<file>`` or ``root/<file>.gz`` that exists, else None. A root holding both is refused when
    ``resource`` has no content checksum (they may differ); with one, the raw file is read and verified."""
    for root in roots:
        present = [c for c in (root / resource.name, root / (resource.name + ".gz")) if c.is_file()]
        if len(present) == 2 and not resource.content_md5:
            raise DataError(f"{root.absolute()} holds both {resource.name} and {resource.name}.gz (the same file "
                            "compressed and not, which may differ): remove one of them")
        if present:
            return present[0]
    return None


def verified_bytes(path, resource):
    """The (uncompressed) bytes of ``path``, checked against ``resource``'s content MD5 when it has one."""
    data = read_bytes(path)
    md5 = hashlib.md5(data).hexdigest()
    if resource.content_md5 and md5 != resource.content_md5:
        raise DataError(f"{path}: checksum mismatch (MD5 of the content is {md5}, expected {resource.content_md5}); "
                        f"the file is corrupted or is not the named data set's {resource.name}: for your own data "
                        "use data.load(path) (--data PATH); a corrupted download: delete it and load again to fetch "
                        "a fresh copy")
    return data


def locate_all(name, keys, data_dir=None, download=True, progress=True):
    """``{key: path}`` for the files ``keys`` of data set ``name`` (verified when read): each found where
    ``search_roots`` says, else downloaded (``locate``); with ``data_dir``, all in that folder, or one error naming
    every one that is not."""
    if data_dir is None:
        return {key: locate(name, key, download, progress) for key in keys}
    roots = search_roots(name, data_dir)
    found = {key: find(REGISTRY[name][key], roots) for key in keys}
    missing = [REGISTRY[name][key].name + "[.gz]" for key, path in found.items() if path is None]
    if missing:
        folder = Path(data_dir).absolute()
        state = "" if folder.is_dir() else " (that folder does not exist)"
        raise DataError(f"{name}: {', '.join(missing)} not found in {folder} or {folder / name}{state}; with "
                        "data_dir (--data-dir) given, only that folder is searched and nothing is downloaded. Fix: "
                        "put the files there, or leave out data_dir (--data-dir) to search $TINYKD_DATA, the "
                        "repository's data/ and the cache, and download what is missing")
    return found


def locate(name, key, download=True, progress=True):
    """Path of one file of data set ``name``: found where ``search_roots`` says, else downloaded into the cache."""
    resource = REGISTRY[name][key]
    no_download = offline()   # read first, so a bad value is said even when the files are present
    roots = search_roots(name)
    path = find(resource, roots)
    if path is not None:
        return path
    errors = []
    if download and not no_download and resource.urls:
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
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0)
            while block := response.read(chunk):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    pct = f"{100 * done / total:5.1f}%" if total else ""
                    print(f"\r  downloading {url} {done / 1e6:7.1f} MB {pct}", end="", file=sys.stderr)
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
    except http.client.HTTPException as e:  # IncompleteRead and friends are not OSErrors
        raise DataError(f"{url}: download broke off after {done} bytes ({e!r}); the partial file was deleted")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


# ------------------------------------------------------------------------------------------- verified arrays
def read_verified(name, paths):
    """``{key: array}`` parsed from the located IDX files of data set ``name``, each checked against its MD5."""
    return {key: parse_idx(verified_bytes(path, REGISTRY[name][key]), path) for key, path in paths.items()}


def source_of(paths):
    """The absolute folder the files came from ("; "-joined when the search found them in several), as
    ``given``."""
    return "; ".join(dict.fromkeys(os.path.dirname(given(p)) for p in paths.values()))


def given(path):
    """``path`` made absolute as it was given, links not followed: data is named by the path a run was given."""
    return os.path.abspath(os.fspath(path))


def read_idx_folder(folder):
    """``{key: array}`` from a folder holding the four MNIST-named IDX files (gzip or raw), keyed like
    ``MNIST_FILES``; no checksum: these are your files."""
    folder = Path(folder)
    paths = {key: find(Resource(fname), [folder]) for key, fname in MNIST_FILES.items()}
    missing = [MNIST_FILES[key] + "[.gz]" for key, path in paths.items() if path is None]
    if missing:
        raise DataError(f"{folder.absolute()}: missing {', '.join(missing)}; a data folder needs all four "
                        f"MNIST-named IDX files (each may be gzipped): {', '.join(MNIST_FILES.values())}")
    return {key: read_idx(path) for key, path in paths.items()}


NOTMNIST_TRAIN_SHAPE = (60000, 28, 28)


def check_notmnist_train(arrays, source):
    """Raise ``DataError`` unless ``arrays`` (``train_images``, ``train_labels``) have notMNIST's published training
    structure: 60,000 uint8 images of 28×28, 60,000 uint8 labels showing every class 0..9, and not MNIST's own
    training images (the same structure; their checksum is known). Passing proves no more than the structure."""
    x, y = arrays["train_images"], arrays["train_labels"]
    problems = []
    if x.dtype != np.uint8 or x.shape != NOTMNIST_TRAIN_SHAPE:
        problems.append(f"images are {x.dtype} {x.shape}, expected uint8 {NOTMNIST_TRAIN_SHAPE}")
    if y.dtype != np.uint8 or y.shape != NOTMNIST_TRAIN_SHAPE[:1]:
        problems.append(f"labels are {y.dtype} {y.shape}, expected uint8 {NOTMNIST_TRAIN_SHAPE[:1]}")
    elif not np.array_equal(np.unique(y), np.arange(10)):
        problems.append(f"labels show the classes {np.unique(y).tolist()}, expected every one of 0..9")
    if not problems:   # the content MD5 of the IDX file, from its (then known) header and bytes
        header = bytes([0, 0, 0x08, 3]) + np.asarray(x.shape, ">u4").tobytes()
        if hashlib.md5(header + x.tobytes()).hexdigest() == REGISTRY["mnist"]["train_images"].content_md5:
            problems.append("these are MNIST's training digits, not notMNIST's letters")
    if problems:
        raise DataError(f"{source}: not notMNIST's training split ({'; '.join(problems)}); put notMNIST's own "
                        "train-images-idx3-ubyte and train-labels-idx1-ubyte there (from "
                        f"{_NOTMNIST_MIRRORS[0]}), or load other files as your own data (data.load(path), --data PATH)")
