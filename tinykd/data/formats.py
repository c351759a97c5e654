"""Data file formats read into plain host arrays: IDX (gzipped or raw), ``.npz`` data set files and SVHN's ``.mat``.

Every parser validates what it reads and says what is wrong in one ``DataError`` line naming the file: a short or
misread array is never returned. What the arrays mean (pixels, classes) is ``tinykd.data.dataset``'s business.
"""
import gzip
import zipfile
from pathlib import Path

import numpy as np

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_OPTIONAL = ("x_val", "y_val", "classes")


class DataError(ValueError):
    """A data file is missing, corrupted or not what it claims to be."""


# ---------------------------------------------------------------------------------------------------- IDX files
def read_idx(path):
    """An IDX file (gzip-compressed or raw) as a NumPy array (``parse_idx``)."""
    return parse_idx(read_bytes(path), path)


def read_bytes(path):
    """The bytes of ``path``, decompressed when it is gzipped; ``DataError`` naming the file when it cannot be read."""
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
    """The bytes of an (uncompressed) IDX file as a NumPy array, every header field validated: two zero bytes, a
    dtype code, the number of dimensions, one big-endian uint32 per dimension. A length that disagrees with the
    header raises ``DataError`` naming ``path``: a short array is never returned."""
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
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in .gz)."""
    array = np.asarray(array)
    codes = [k for k, v in IDX_DTYPES.items() if np.dtype(v).newbyteorder("=") == array.dtype.newbyteorder("=")]
    if not codes:
        raise TypeError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, codes[0], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(IDX_DTYPES[codes[0]]).tobytes())


# ------------------------------------------------------------------------------------------------- .npz files
def read_npz(path):
    """``({name: array}, classes)`` from a ``.npz`` data set file: x_train, y_train, x_test, y_test (x_val, y_val
    optional) and ``classes``, an optional 1-D array of strings (a list of them, or None, is returned). Read without
    pickle (opening it never runs code); an unknown array name is an error, so a misspelt key is never ignored."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:  # several types for a damaged file; NumPy's own message suggests allow_pickle=True
        raise DataError(f"{path.absolute()}: not a readable .npz file (not a zip archive of arrays: truncated, "
                        f"corrupted or another kind of file; {type(e).__name__})") from None
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
    return arrays, None if classes is None else [str(c) for c in classes.tolist()]


# ------------------------------------------------------------------------------------------- SVHN's .mat files
def read_svhn_mat(path):
    """(images N×32×32×3 uint8, labels N int64 in 0..9) from an SVHN ``.mat`` file (label 10 means digit 0)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
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
