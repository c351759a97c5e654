import gzip
import inspect
import hashlib
import http.server
import os
import re
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import given, strategies as st

from conftest import SHARED_DATA, SHARED_DATA_MISSING
from tinykd import backend, data
from tinykd.data import dataset, formats, named
from tinykd.data import files as data_files
from tinykd.data.formats import DataError


def fake_images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def write_mnist_folder(folder, n_train=50, n_test=20, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(0)
    arrays = {"train_images": fake_images(n_train), "train_labels": r.integers(0, 10, n_train, dtype=np.uint8),
              "test_images": fake_images(n_test, 1), "test_labels": r.integers(0, 10, n_test, dtype=np.uint8)}
    for key, name in data_files.MNIST_FILES.items():
        formats.write_idx(folder / (name + (".gz" if gz else "")), arrays[key])
    return arrays


# ------------------------------------------------------------------------------------------------- IDX parser
def test_real_mnist_loads_verified_and_fast():
    ds = data.load("mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() == 1
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "mnist")), reason=SHARED_DATA_MISSING)
def test_shared_files_match_repository_copies():
    for name in data_files.MNIST_FILES.values():
        a = formats.read_idx(os.path.join(SHARED_DATA, "mnist", name + ".gz"))
        b = formats.read_idx(data_files.REPO_DATA / "mnist" / (name + ".gz"))
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    a = (np.random.default_rng(0).standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    formats.write_idx(path, a)
    b = formats.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_corrupted_idx_files_raise_naming_the_file(tmp_path):
    good = (data_files.REPO_DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    raw = gzip.decompress(good)
    cases = {
        "truncated.gz": good[: len(good) // 2],
        "short-payload": raw[:-10],
        "long-payload": raw + b"\0",
        "bad-magic": b"\x01" + raw[1:],
        "bad-dtype": raw[:2] + b"\x07" + raw[3:],
        "bad-ndim": raw[:3] + b"\x09" + raw[4:],
        "tiny": raw[:2],
    }
    messages = {"truncated.gz": "corrupted or truncated gzip", "short-payload": "truncated or corrupted",
                "long-payload": "truncated or corrupted", "bad-magic": "bad IDX magic",
                "bad-dtype": "unknown IDX dtype",
                "bad-ndim": "declares 9 dimensions", "tiny": "too short"}
    for name, payload in cases.items():
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(DataError, match=messages[name]) as e:
            formats.read_idx(path)
        assert str(path) in str(e.value)


def test_checksum_mismatch_is_caught(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    write_mnist_folder(folder)  # valid IDX files, but not MNIST's content
    monkeypatch.setattr(data_files, "REPO_DATA", tmp_path / "nothing")
    with pytest.raises(DataError, match=r"checksum mismatch .* expected 6bbc9ace"):
        data.load("mnist", data_dir=tmp_path, download=False)


# ------------------------------------------------------------------------------------------ search and download
def test_search_order(tmp_path, monkeypatch):
    # without data_dir: $TINYKD_DATA, the repository's data/, the cache, in that order
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYKD_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data_files, "REPO_DATA", tmp_path / "repo")
    places = [tmp_path / "env" / "mnist", tmp_path / "repo" / "mnist", tmp_path / "cache" / "tinykd" / "mnist"]
    for p in places:
        write_mnist_folder(p, n_train=1, n_test=1)
    for expected in places:
        assert data_files.locate("mnist", "train_images", download=False).parent == expected
        for f in expected.iterdir():
            f.unlink()
    with pytest.raises(DataError) as e:
        data_files.locate("mnist", "train_images", download=False)
    message = str(e.value)
    assert all(str(p) in message for p in places)
    assert "downloading is off" in message and "TINYKD_DATA" in message and "\n" not in message
    # with data_dir: the folder itself, then data_dir/<name>/
    explicit = tmp_path / "explicit"
    write_mnist_folder(explicit, n_train=1, n_test=1)
    write_mnist_folder(explicit / "mnist", n_train=1, n_test=1)
    assert data_files.locate_all("mnist", ["train_images"], explicit)["train_images"].parent == explicit
    for f in explicit.glob("*.gz"):
        f.unlink()
    assert data_files.locate_all("mnist", ["train_images"], explicit)["train_images"].parent == explicit / "mnist"


def test_explicit_data_dir_is_searched_alone_and_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYKD_DATA", str(tmp_path / "env"))
    monkeypatch.delenv("TINYKD_OFFLINE")  # downloading would be allowed, were data_dir not given
    monkeypatch.setattr(data_files, "fetch", lambda *a, **k: pytest.fail("downloaded although data_dir was given"))
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):  # the repository's MNIST must not stand in
        with pytest.raises(DataError) as e:
            data.load("mnist", data_dir=folder)
        message = str(e.value)
        assert "\n" not in message and str(folder) in message and str(folder / "mnist") in message
        assert all(f in message for f in data_files.MNIST_FILES.values())
        assert "leave out data_dir" in message
    assert "does not exist" in message
    partial = tmp_path / "partial"
    write_mnist_folder(partial)
    for f in partial.glob("t10k-*"):
        f.unlink()
    with pytest.raises(DataError) as e:
        data.load("mnist", data_dir=partial)
    message = str(e.value)
    assert "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "train-images" not in message.split(" not found")[0]


def test_notmnist_explicit_folder_splits_only_its_own_test_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYKD_DATA", raising=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:  # not the repository's test file
        data.load("notmnist", data_dir=tmp_path / "empty", split_test=0.5)
    assert str(tmp_path / "empty") in str(e.value) and "t10k-images-idx3-ubyte" in str(e.value)
    mine = tmp_path / "mine" / "notmnist"
    shutil.copytree(data_files.REPO_DATA / "notmnist", mine)
    ds = data.load("notmnist", data_dir=tmp_path / "mine", split_test=0.5)
    assert ds.x_train.shape == (5000, 784) and ds.source == str(mine.resolve())
    with pytest.raises(DataError, match="training split is missing") as e:
        data.load("notmnist", data_dir=tmp_path / "mine")
    assert "\n" not in str(e.value) and str(mine) in str(e.value)
    # a training split that is there but damaged is an error, never a reason to split the test file
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (mine / name).write_bytes(b"junk")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: bad IDX magic"):
        data.load("notmnist", data_dir=tmp_path / "mine", split_test=0.5)


class _Server:
    """A local HTTP server on 127.0.0.1 serving generated files; ``lie`` makes it announce more bytes than sent."""

    def __init__(self, files, lie=False):
        files_ = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files_.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (1000 if lie else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_verifies_and_leaves_nothing_partial(tmp_path):
    body = os.urandom(300_000)
    md5 = hashlib.md5(body).hexdigest()
    server = _Server({"f.bin": body})
    try:
        target = tmp_path / "cache" / "f.bin"
        data_files.fetch(server.url + "f.bin", target, md5, progress=False)
        assert target.read_bytes() == body
        target.unlink()
        with pytest.raises(DataError, match="checksum mismatch"):
            data_files.fetch(server.url + "f.bin", target, "0" * 32, progress=False)
        assert list(target.parent.iterdir()) == []
        with pytest.raises(OSError):
            data_files.fetch(server.url + "missing.bin", target, md5, progress=False)
        assert list(target.parent.iterdir()) == []
    finally:
        server.close()
    liar = _Server({"f.bin": body}, lie=True)
    try:
        with pytest.raises(DataError, match="broke off|truncated"):
            data_files.fetch(liar.url + "f.bin", target, md5, progress=False)
        assert list(target.parent.iterdir()) == []
    finally:
        liar.close()
    src = tmp_path / "src.bin"
    src.write_bytes(body)
    data_files.fetch(src.as_uri(), target, md5, progress=False)
    assert target.read_bytes() == body


def test_load_downloads_into_the_cache_when_nothing_is_local(tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    arrays = write_mnist_folder(src)
    files = {p.name: p.read_bytes() for p in src.iterdir()}
    server = _Server(files)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYKD_OFFLINE", raising=False)
    monkeypatch.setattr(data_files, "REPO_DATA", tmp_path / "repo")
    registry = {}
    for key, name in data_files.MNIST_FILES.items():
        raw = gzip.decompress(files[name + ".gz"])
        registry[key] = data_files.Resource(name, hashlib.md5(raw).hexdigest(),
                                      ("http://127.0.0.1:9/unreachable/" + name + ".gz", server.url + name + ".gz"),
                                      hashlib.md5(files[name + ".gz"]).hexdigest())
    monkeypatch.setitem(data_files.REGISTRY, "mnist", registry)
    try:
        ds = data.load("mnist", progress=False)
    finally:
        server.close()
    assert sorted(p.name for p in (tmp_path / "cache" / "tinykd" / "mnist").iterdir()) == sorted(files)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"].reshape(50, -1) / np.float32(255))
    monkeypatch.setenv("TINYKD_OFFLINE", "1")  # now served from the cache, no network needed
    assert data.load("mnist").x_test.shape == (20, 784)


# ------------------------------------------------------------------------------------------ notMNIST and SVHN
def test_notmnist_says_the_training_split_is_missing_and_splits_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DataError, match="(?s)training split is missing.*split_test=0.5"):
        data.load("notmnist", download=False)
    ds = data.load("notmnist", split_test=0.3, download=False)
    assert ds.x_train.shape == (7000, 784) and ds.x_test.shape == (3000, 784)
    assert np.bincount(ds.y_test).tolist() == [300] * 10 and ds.classes[0] == "A"
    assert "not comparable" in ds.note
    with pytest.raises(ValueError, match="split_test must be a fraction"):
        data.load("notmnist", split_test=1.5, download=False)


def write_svhn_mat(path, n, seed=0, **override):
    r = np.random.default_rng(seed)
    mat = {"X": r.integers(0, 256, (32, 32, 3, n), dtype=np.uint8), "y": r.integers(1, 11, (n, 1)).astype(np.uint8)}
    mat.update(override)
    scipy.io.savemat(path, mat)
    return mat


def test_svhn_from_mat_files(tmp_path, monkeypatch):
    unchecked = {k: data_files.Resource(r.name) for k, r in data_files.REGISTRY["svhn"].items()}
    monkeypatch.setitem(data_files.REGISTRY, "svhn", unchecked)
    train = write_svhn_mat(tmp_path / "train_32x32.mat", 30)
    write_svhn_mat(tmp_path / "test_32x32.mat", 12, seed=1)
    ds = data.load("svhn", data_dir=tmp_path, download=False)
    assert ds.x_train.shape == (30, 784) and ds.input_shape == (28, 28)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    np.testing.assert_array_equal(ds.y_train, train["y"].ravel() % 10)
    # a uniform grey image stays that grey after the resize
    flat = np.full((1, 32, 32, 3), 200, np.uint8)
    np.testing.assert_allclose(named.svhn_to_grey28(flat)[0, 3:-3, 3:-3], 200, rtol=1e-5)
    rgb = data.load("svhn", data_dir=tmp_path, download=False, form="rgb32")
    assert rgb.x_train.shape == (30, 3072) and rgb.input_shape == (32, 32, 3)
    np.testing.assert_allclose(rgb.x_train[0].reshape(32, 32, 3), train["X"][..., 0] / 255, rtol=1e-6)


def test_bad_svhn_files(tmp_path):
    scipy.io.savemat(tmp_path / "noX.mat", {"y": np.ones((3, 1))})
    with pytest.raises(DataError, match="no variable 'X'"):
        formats.read_svhn_mat(tmp_path / "noX.mat")
    write_svhn_mat(tmp_path / "badlabels.mat", 4, y=np.array([[1], [2], [11], [3]]))
    with pytest.raises(DataError, match=r"labels must lie in 1\.\.10"):
        formats.read_svhn_mat(tmp_path / "badlabels.mat")
    write_svhn_mat(tmp_path / "shape.mat", 4, X=np.zeros((28, 28, 3, 4), np.uint8))
    with pytest.raises(DataError, match="expected 32x32x3xN"):
        formats.read_svhn_mat(tmp_path / "shape.mat")
    (tmp_path / "junk.mat").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable .mat file"):
        formats.read_svhn_mat(tmp_path / "junk.mat")
    with pytest.raises(ValueError, match="form must be"):
        named.load_svhn(tmp_path, download=False, form="rgb28")


# ------------------------------------------------------------------------------------------- your own data
def test_bring_your_own_folder_and_arrays(tmp_path):
    arrays = write_mnist_folder(tmp_path / "mine", gz=False)
    ds = data.load(tmp_path / "mine", val=10)
    assert ds.x_train.shape == (40, 784) and ds.x_val.shape == (10, 784) and ds.x_test.shape == (20, 784)
    (tmp_path / "mine" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        data.load(tmp_path / "mine")
    ds = data.from_arrays(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                          arrays["test_labels"])
    assert ds.input_shape == (28, 28) and ds.x_train.max() <= 1
    with pytest.raises(ValueError, match="y_train holds a label out of range: label 5"):
        data.from_arrays(np.zeros((2, 3)), np.array([0, 5]), np.zeros((1, 3)), np.array([0]), classes=["a", "b"])
    with pytest.raises(TypeError, match="integer array of class indices"):
        data.from_arrays(np.zeros((2, 3)), np.array([0.0, 1.0]), np.zeros((1, 3)), np.array([0]))


def test_your_own_npz(tmp_path):
    r = np.random.default_rng(0)
    x, y = fake_images(30), r.integers(0, 3, 30)
    path = tmp_path / "letters.npz"
    np.savez(path, x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:], classes=np.array(["a", "b", "c"]))
    ds = data.load(path)
    assert ds.name == "letters" and ds.classes == ["a", "b", "c"] and ds.source == str(path.resolve())
    assert ds.x_train.shape == (20, 784) and ds.input_shape == (28, 28) and ds.x_val is None
    np.testing.assert_array_equal(ds.x_train, x[:20].reshape(20, -1) / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, y[20:])
    split = data.load(str(path), val=6)
    assert split.name == "letters" and split.x_val.shape == (6, 784) and split.x_train.shape == (14, 784)
    with_val = tmp_path / "with_val.npz"
    np.savez(with_val, x_train=x[:15], y_train=y[:15], x_val=x[15:20], y_val=y[15:20], x_test=x[20:], y_test=y[20:])
    ds = data.load(with_val)
    np.testing.assert_array_equal(ds.y_val, y[15:20])
    assert ds.classes == ["0", "1", "2"]
    with pytest.raises(ValueError, match="already has a validation split"):
        data.load(with_val, val=5)


def test_bad_own_data_is_a_one_line_error_naming_the_path(tmp_path):
    good = dict(x_train=np.zeros((4, 2, 2), np.uint8), y_train=np.arange(4) % 2, x_test=np.zeros((2, 2, 2), np.uint8),
                y_test=np.array([0, 1]))
    no_y_test = {k: v for k, v in good.items() if k != "y_test"}
    cases = {"no_key.npz": (no_y_test, "missing y_test"),
             "typo.npz": ({**good, "x_vall": np.zeros((1, 2, 2))}, "unexpected x_vall"),
             "flat.npz": ({**good, "x_train": np.zeros(4)}, "at least 2 dimensions"),
             "rows.npz": ({**good, "y_train": np.arange(3)}, "one label per row"),
             "float_labels.npz": ({**good, "y_train": np.zeros(4)}, "integer array of class indices"),
             "half_val.npz": ({**good, "x_val": np.zeros((1, 2, 2))}, "x_val and y_val go together"),
             "int_classes.npz": ({**good, "classes": np.arange(2)}, "classes must be a 1-D array of strings"),
             "few_classes.npz": ({**good, "classes": np.array(["only"])}, "label out of range"),
             "objects.npz": ({**good, "classes": np.array(["a", 1], dtype=object)}, "cannot be read"),
             "nan_test.npz": ({**good, "x_test": np.array([[[0, np.inf], [0, 0]], [[0, 0], [0, 0]]])},
                              r"x_test contains NaN or inf \(1 values\)")}
    for fname, (arrays, message) in cases.items():
        np.savez(tmp_path / fname, **arrays)
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "one.npy").rename(tmp_path / "one.npz")
    (tmp_path / "notes.txt").write_text("hello")
    folder = tmp_path / "folder"
    write_mnist_folder(folder)
    for f in folder.glob("t10k-*"):
        f.unlink()
    cases.update({"junk.npz": (None, "not a readable .npz file \\(not a zip archive"),
                  "one.npz": (None, "holds one array"),
                  "notes.txt": (None, "neither a folder nor a .npz"), "nowhere": (None, "does not exist"),
                  "folder": (None, re.escape("missing t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"))})
    for fname, (_, message) in cases.items():
        with pytest.raises(DataError, match=message) as e:
            data.load(tmp_path / fname)
        assert str(tmp_path / fname) in str(e.value) and "\n" not in str(e.value), fname


def test_a_registered_name_is_always_the_named_data_set(tmp_path, monkeypatch):
    write_mnist_folder(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)
    ds = data.load("MNIST")  # the folder ./mnist does not shadow the named data set
    assert ds.x_train.shape == (60000, 784) and ds.source == str(data_files.REPO_DATA / "mnist")
    mine = data.load(Path("mnist"))  # a Path is always a path
    assert mine.x_train.shape == (50, 784) and mine.name == "mnist"
    assert mine.source == str((tmp_path / "mnist").resolve())
    with pytest.raises(TypeError, match="data_dir is for the named data sets"):
        data.load("./mnist", data_dir=tmp_path)


def test_labels_outside_0_9_in_idx(tmp_path):
    write_mnist_folder(tmp_path)
    formats.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(50, 12, np.uint8))
    with pytest.raises(DataError, match="labels must lie in 0..9"):
        data.load(tmp_path)


def test_unknown_names_and_options():
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        data.load("cifar")
    with pytest.raises(TypeError, match="unexpected options for mnist"):
        data.load("mnist", form="grey28")
    with pytest.raises(ValueError, match="val must be an integer"):
        data.load("mnist", val=-1)


# ------------------------------------------------------------------------------------------- preprocessing
def test_validation_split():
    ds = data.load("mnist", val=5000, seed=3)
    assert ds.x_train.shape[0] == 55000 and ds.x_val.shape[0] == 5000 and ds.x_train.dtype == np.float32
    assert np.array_equal(data.load("mnist", val=5000, seed=3).y_val, ds.y_val)


def test_dataset_moves_to_the_backend_once():
    ds = data.load("mnist", val=100)
    moved = ds.to(np)
    assert moved.x_train.dtype == np.float32 and moved.y_train.dtype == np.int64
    assert "train=59900, val=100, test=10000" in repr(moved)


# ------------------------------------------------------------------------------------- provenance, subsets
def small(n=12, n_test=4, seed=0):
    r = np.random.default_rng(seed)
    return data.from_arrays(r.random((n, 3, 2)), r.integers(0, 3, n), r.random((n_test, 3, 2)),
                            r.integers(0, 3, n_test))


def test_source_says_where_the_data_came_from(tmp_path):
    ds = data.load("mnist")
    assert ds.source == str(data_files.REPO_DATA / "mnist") and Path(ds.source).is_absolute()
    assert ds.to(np).source == ds.source and ds.subset(10).source == ds.source
    assert data.preprocess(ds, val=10).source == ds.source
    assert small().source == "arrays"


def test_fingerprint_is_the_content_not_the_path(tmp_path, monkeypatch):
    ds = data.load("mnist")
    fp = ds.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    shutil.copytree(data_files.REPO_DATA / "mnist", tmp_path / "copy")
    monkeypatch.setenv("TINYKD_DATA", str(tmp_path / "elsewhere"))
    shutil.copytree(data_files.REPO_DATA / "mnist", tmp_path / "elsewhere" / "mnist")
    again = data.load("mnist")
    assert again.source == str(tmp_path / "elsewhere" / "mnist")
    assert again.fingerprint() == fp == data.load(tmp_path / "copy").fingerprint() == ds.to(np).fingerprint()
    variants = [ds.subset(59999), ds.subset(100), data.preprocess(ds, val=100, seed=0),
                data.preprocess(ds, val=100, seed=1), data.preprocess(ds, val=101, seed=0),
                ds.to(np, np.float64), replace(ds, classes=ds.classes + ["x"]),
                replace(ds, input_shape=(784,)), replace(ds, x_train=ds.x_test, y_train=ds.y_test, x_test=ds.x_train,
                                                          y_test=ds.y_train),
                data.load("notmnist", split_test=0.5)]
    fps = [v.fingerprint() for v in variants]
    assert len(set(fps + [fp])) == len(variants) + 1
    assert ds.fingerprint() == fp  # nothing above touched the original


def test_fingerprint_marks_absent_splits_and_ignores_names():
    ds = small()
    empty_val = replace(ds, x_val=np.zeros((0, 6)), y_val=np.zeros(0, np.int64))
    assert empty_val.fingerprint() != ds.fingerprint()
    assert replace(ds, name="other", note="n", source="/x").fingerprint() == ds.fingerprint()


@pytest.mark.skipif(not backend.cupy_available(), reason="CuPy and a GPU are needed to move the data set")
def test_fingerprint_is_the_same_on_the_gpu():
    ds = small()
    assert ds.to(backend.resolve("cupy"), np.float64).fingerprint() == ds.fingerprint()


def test_subset_takes_the_first_n_training_images_or_refuses():
    ds = data.preprocess(small(20), val=5)
    sub = ds.subset(3)
    np.testing.assert_array_equal(sub.x_train, ds.x_train[:3])
    np.testing.assert_array_equal(sub.y_train, ds.y_train[:3])
    assert sub.x_val is ds.x_val and sub.x_test is ds.x_test and sub.y_test is ds.y_test
    assert ds.subset(15).x_train.shape == ds.x_train.shape
    for bad in (0, -1, -14, 16, 2.5, True, "3", None):
        with pytest.raises(ValueError, match=r"subset must be an integer in \[1, 15\]"):
            ds.subset(bad)


# --------------------------------------------------------------------------------- validation, stratification
def indexed(y):
    """A data set whose image i has the pixels i/255 (``trace`` gives i back), so every row can be traced."""
    y = np.asarray(y)
    assert y.size <= 256
    return data.from_arrays(np.repeat(np.arange(y.size, dtype=np.uint8)[:, None], 2, axis=1), y,
                            np.zeros((1, 2), np.float32), np.array([0]))


def trace(x):
    return np.round(x[:, 0] * 255).astype(int)


@pytest.mark.parametrize("val", [1, 17, 50, 98])  # 99 would leave one image: refused (class rule)
def test_validation_split_is_stratified_exact_seeded_and_keeps_the_training_order(val):
    y = np.random.default_rng(0).permutation(np.repeat(np.arange(5), [7, 13, 50, 1, 29]))
    ds = indexed(y)
    out = data.preprocess(ds, val=val, seed=3)
    tr, va = trace(out.x_train), trace(out.x_val)
    assert va.size == val and tr.size == y.size - val
    assert set(tr).isdisjoint(va) and sorted(np.concatenate([tr, va]).tolist()) == list(range(y.size))
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(va) > 0)  # both parts keep the original order
    np.testing.assert_array_equal(out.y_train, y[tr])
    np.testing.assert_array_equal(out.y_val, y[va])
    ideal = val * np.bincount(y) / y.size
    assert np.all(np.abs(np.bincount(out.y_val, minlength=5) - ideal) < 1)
    np.testing.assert_array_equal(data.preprocess(ds, val=val, seed=3).x_val, out.x_val)
    others = [data.preprocess(ds, val=val, seed=s).x_val for s in (4, 5, 6)]
    assert any(not np.array_equal(o, out.x_val) for o in others)


def test_load_holds_out_a_stratified_validation_split():
    ds = data.load("mnist", val=1000, seed=7)
    full = data.load("mnist")
    ideal = 1000 * np.bincount(full.y_train) / 60000
    assert ds.x_val.shape == (1000, 784) and np.all(np.abs(np.bincount(ds.y_val) - ideal) < 1)
    mask = dataset.stratified_mask(full.y_train, 1000, 7)
    np.testing.assert_array_equal(ds.x_train, full.x_train[~mask])
    np.testing.assert_array_equal(ds.y_val, full.y_train[mask])


@given(st.lists(st.integers(0, 30), min_size=1, max_size=6).filter(sum), st.integers(0, 2**32 - 1), st.data())
def test_stratified_mask_is_exact_and_proportional(sizes, seed, draw):
    y = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(sizes)), sizes))
    count = draw.draw(st.integers(0, y.size))
    mask = dataset.stratified_mask(y, count, seed)
    assert mask.dtype == bool and mask.shape == y.shape and mask.sum() == count
    ideal = count * np.asarray(sizes) / y.size
    assert np.all(np.abs(np.bincount(y[mask], minlength=len(sizes)) - ideal) < 1)
    np.testing.assert_array_equal(mask, dataset.stratified_mask(y, count, seed))


def test_validation_split_refuses_bad_counts_and_a_second_split():
    ds = indexed(np.arange(100) % 4)
    for bad in (-1, 100, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"val must be an integer in \[0, 100\)"):
            data.preprocess(ds, val=bad)
    assert data.preprocess(ds, val=0).x_val is None
    with_val = data.preprocess(ds, val=10)
    with pytest.raises(ValueError, match="already has a validation split"):
        data.preprocess(with_val, val=5)
    assert data.preprocess(with_val, val=0).x_val is with_val.x_val
    with pytest.raises(ValueError, match="count must be an integer"):
        dataset.stratified_mask(ds.y_train, 101, 0)


def test_notmnist_test_file_split_uses_the_same_stratification(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TINYKD_DATA", raising=False)
    ds = data.load("notmnist", split_test=0.3, seed=5, download=False)
    y = formats.read_idx(data_files.REPO_DATA / "notmnist" / "t10k-labels-idx1-ubyte.gz")
    is_test = dataset.stratified_mask(y, 3000, 5)
    np.testing.assert_array_equal(ds.y_test, y[is_test])
    np.testing.assert_array_equal(ds.y_train, y[~is_test])
    assert ds.source == str(data_files.REPO_DATA / "notmnist")


# ------------------------------------------------------------ issue 18: one rule each, for every format
def write_idx_folder(folder, x_train, y_train, x_test, y_test):
    folder.mkdir(parents=True, exist_ok=True)
    for key, a in zip(data_files.MNIST_FILES, (x_train, y_train, x_test, y_test)):
        a = np.asarray(a)
        formats.write_idx(folder / data_files.MNIST_FILES[key], a.astype(np.int32) if a.dtype == np.int64 else a)
    return folder


def every_format(tmp_path, tag, x_train, y_train, x_test, y_test):
    """The same four arrays loaded as an IDX folder (where IDX can store them), a .npz and arrays:
    ``[(what, callable)]``."""
    np.savez(tmp_path / f"{tag}.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    out = [("npz", lambda: data.load(tmp_path / f"{tag}.npz")),
           ("arrays", lambda: data.from_arrays(x_train, y_train, x_test, y_test))]
    if all(np.asarray(a).dtype != np.uint16 for a in (x_train, x_test)):   # IDX has no uint16
        folder = write_idx_folder(tmp_path / tag, x_train, y_train, x_test, y_test)
        out.append(("idx", lambda: data.load(folder)))
    return out


def refused(load, message, path=None):
    """``load()`` raises one line matching ``message``: a DataError naming ``path`` for files, else any ValueError
    or TypeError (``from_arrays``)."""
    with pytest.raises((ValueError, TypeError), match=message) as e:
        load()
    assert "\n" not in str(e.value)
    if path is not None:
        assert isinstance(e.value, DataError) and str(e.value).startswith(str(path)), str(e.value)
    return str(e.value)


def test_pixel_rule_is_the_same_for_every_split_and_format(tmp_path):
    x = fake_images(30)
    y = np.arange(30) % 3
    # uint8 training images, float test images already in [0, 1]: each split by its own dtype, never twice /255
    ds = data.from_arrays(x[:20], y[:20], x[20:] / 255.0, y[20:], x_val=x[20:].astype(np.float32) / 255, y_val=y[20:])
    np.testing.assert_array_equal(ds.x_test, ds.x_val)
    np.testing.assert_allclose(ds.x_test, x[20:].reshape(10, -1) / 255, rtol=1e-6)
    assert ds.x_test.dtype == np.float32 and ds.x_test.max() > 0.9
    for what, load in every_format(tmp_path, "u8", x[:20], y[:20], x[20:], y[20:]):
        np.testing.assert_array_equal(load().x_train, x[:20].reshape(20, -1) / np.float32(255), err_msg=what)
    # anything else is refused with the conversion to make, whichever split it is in, in every format
    bad = {"f255": (x[20:].astype(np.float32), r"floating-point pixels in \[0, 255\].*divide 0-255 pixels by 255"),
           "std": (x[20:] / 255.0 - 0.5, "not standardised ones"),
           "int": (x[20:].astype(np.int32), r"dtype int32 \(values 0\.\.255\).*x\.astype\(np\.uint8\)"),
           "u16": (x[20:].astype(np.uint16) * 257, "dividing by their full scale .*65535 for 16-bit"),
           "i8": (x[20:].view(np.int8), r"int8 .*x\.view\(np\.uint8\).*0x08")}
    for tag, (x_test, message) in bad.items():
        for what, load in every_format(tmp_path, tag, x[:20], y[:20], x_test, y[20:]):
            path = {"idx": tmp_path / tag, "npz": tmp_path / f"{tag}.npz"}.get(what)
            assert "x_test" in refused(load, message, path), (tag, what)
        with pytest.raises((ValueError, TypeError), match="x_train"):
            data.from_arrays(x_test, y[20:], x[:20], y[:20])
    assert "scale" not in inspect.signature(data.from_arrays).parameters   # no scale guessed, none to pass


def test_svhn_grey_white_stays_in_the_unit_interval(tmp_path, monkeypatch):
    unchecked = {k: data_files.Resource(r.name) for k, r in data_files.REGISTRY["svhn"].items()}
    monkeypatch.setitem(data_files.REGISTRY, "svhn", unchecked)
    for name in ("train_32x32.mat", "test_32x32.mat"):
        write_svhn_mat(tmp_path / name, 4, X=np.full((32, 32, 3, 4), 255, np.uint8), y=np.array([[1], [2], [1], [2]]))
    ds = data.load("svhn", data_dir=tmp_path, download=False)
    assert ds.x_train.dtype == np.float32 and 0.99 < ds.x_train.max() <= 1


def test_class_rule_is_the_same_for_every_format(tmp_path):
    x = fake_images(30)
    y = np.arange(30) % 5
    one = np.zeros(30, np.uint8)
    for what, load in every_format(tmp_path, "one", x[:20], one[:20], x[20:], one[20:]):
        refused(load, r"y_train holds only one class \(label 0, all 20 rows\)",
                {"idx": tmp_path / "one", "npz": tmp_path / "one.npz"}.get(what))
    negative = (y - 1).astype(np.int8)
    for what, load in every_format(tmp_path, "neg", x[:20], negative[:20], x[20:], y[20:]):
        refused(load, r"y_train holds a negative label \(-1, row 0\)",
                {"idx": tmp_path / "neg", "npz": tmp_path / "neg.npz"}.get(what))
    # a test label the network has no output for: training shows 0..4, so 5 outputs, and the test holds a 7
    y_test = y[20:].copy()
    y_test[3] = 7
    np.savez(tmp_path / "seven.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y_test)
    message = refused(lambda: data.load(tmp_path / "seven.npz"), "y_test holds a label out of range: label 7 in 1 "
                      r"of 10 rows \(the first: row 3\)", tmp_path / "seven.npz")
    assert "network has 5 outputs" in message and "classes array" in message
    np.savez(tmp_path / "named.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y_test,
             classes=np.array(list("abcdefgh")))
    assert data.load(tmp_path / "named.npz").classes == list("abcdefgh")   # named classes: 7 has an output
    # an IDX folder has MNIST's 10 classes whatever its training labels show
    ds = data.load(write_idx_folder(tmp_path / "two", x[:20], (y[:20] % 2).astype(np.uint8), x[20:],
                                    (y[20:] % 2).astype(np.uint8)))
    assert len(ds.classes) == 10


def test_data_problems_in_an_idx_folder_are_one_data_error_line(tmp_path):
    x, y = fake_images(30), (np.arange(30) % 10).astype(np.uint8)
    nan = np.where(x > 250, np.nan, x / 255).astype(np.float32)
    cases = {"nan": ((nan[:20], y[:20], x[20:], y[20:]), r"x_train contains NaN or inf \(\d+ values\)"),
             "neg": ((x[:20], y[:20].astype(np.int8) - 1, x[20:], y[20:]), "negative label"),
             "float": ((x[:20], y[:20].astype(np.float32), x[20:], y[20:]), "integer array of class indices"),
             "shape": ((x[:20], y[:20], fake_images(10)[:, :20, :20], y[20:]),
                       r"train images have shape \(28, 28\) but test images \(20, 20\)"),
             "rows": ((x[:20], y[:19], x[20:], y[20:]), r"y_train must have shape \(20,\), one label per row")}
    for tag, (arrays, message) in cases.items():
        refused(lambda: data.load(write_idx_folder(tmp_path / tag, *arrays)), message, tmp_path / tag)


def test_an_empty_split_is_refused_at_load_in_every_format(tmp_path):
    x, y = fake_images(30), np.arange(30) % 3
    for split, arrays in (("train", (x[:0], y[:0], x[20:], y[20:])), ("test", (x[:20], y[:20], x[:0], y[:0]))):
        for what, load in every_format(tmp_path, split, *arrays):
            refused(load, f"the {split} split is empty", {"idx": tmp_path / split, "npz": tmp_path / f"{split}.npz"}
                    .get(what))
    np.savez(tmp_path / "val.npz", x_train=x[:20], y_train=y[:20], x_val=x[:0], y_val=y[:0], x_test=x[20:],
             y_test=y[20:])
    refused(lambda: data.load(tmp_path / "val.npz"), "the val split is empty.*leave out x_val and y_val",
            tmp_path / "val.npz")


def test_idx_images_of_another_shape_say_what_was_found_and_expected(tmp_path):
    x, y = fake_images(30), (np.arange(30) % 10).astype(np.uint8)
    cases = {"flat": (x.reshape(30, -1), r"shape \(20, 784\) \(rows of pixels\)"),
             "rgb": (np.repeat(x[..., None], 3, -1), r"shape \(20, 28, 28, 3\) \(images with channels\).*\.npz")}
    for tag, (images, message) in cases.items():
        folder = write_idx_folder(tmp_path / tag, images[:20], y[:20], images[20:], y[20:])
        text = refused(lambda: data.load(folder), message, folder)
        assert r"must hold (N, rows, cols)" in text and "pair up" not in text


def notmnist_folder(tmp_path, x_train, y_train):
    """notMNIST's shipped test split and the given training split, in one folder."""
    folder = tmp_path / "nm"
    shutil.copytree(data_files.REPO_DATA / "notmnist", folder, dirs_exist_ok=True)
    formats.write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    formats.write_idx(folder / "train-labels-idx1-ubyte.gz", y_train)
    return folder


def test_notmnist_training_split_is_checked_for_structure(tmp_path, monkeypatch):
    mnist = data.load("mnist")
    digits = (mnist.x_train[:1200] * 255).round().astype(np.uint8).reshape(-1, 28, 28)
    folder = notmnist_folder(tmp_path, digits, mnist.y_train[:1200].astype(np.uint8))
    message = refused(lambda: data.load("notmnist", data_dir=folder), r"not notMNIST's training split \(images are "
                      r"uint8 \(1200, 28, 28\), expected uint8 \(60000, 28, 28\)", folder)
    assert "--data PATH" in message
    # MNIST's own 60,000 training digits have the structure but not the content
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(data_files.REPO_DATA / "mnist" / name, folder / name)
    refused(lambda: data.load("notmnist", data_dir=folder), "MNIST's training digits, not notMNIST's", folder)
    # a training split of the published structure (made small here) loads, as the canonical files
    monkeypatch.setattr(data_files, "NOTMNIST_TRAIN_SHAPE", (100, 28, 28))
    notmnist_folder(tmp_path, fake_images(100), (np.arange(100) % 9).astype(np.uint8))   # no J
    refused(lambda: data.load("notmnist", data_dir=folder), "expected every one of 0..9", folder)
    notmnist_folder(tmp_path, fake_images(100), (np.arange(100) % 10).astype(np.uint8))
    ds = data.load("notmnist", data_dir=folder)
    assert not ds.canonical and ds.x_train.shape == (100, 784) and ds.classes[0] == "A"   # no checksum: custom


def test_a_notmnist_training_split_without_a_published_checksum_is_a_custom_run(tmp_path, monkeypatch):
    """Issue 28, item 2: any training split of notMNIST's structure (Fashion-MNIST's files, MNIST's inverted) in a
    notMNIST folder counted as the canonical notMNIST, with no deviation: nobody published that split's checksum,
    so the files are named by their fingerprint; the test split alone (verified) stays canonical."""
    from tinykd.experiments.settings import Table1, data_deviations
    monkeypatch.setattr(data_files, "NOTMNIST_TRAIN_SHAPE", (100, 28, 28))
    mnist = data.load("mnist")
    inverted = (255 - (mnist.x_train[:100] * 255).round()).astype(np.uint8).reshape(-1, 28, 28)
    folder = notmnist_folder(tmp_path, inverted, (np.arange(100) % 10).astype(np.uint8))
    ds = data.load("notmnist", data_dir=folder)
    assert ds.canonical is False
    cfg = Table1(dataset="notmnist", data_dir=str(folder))
    assert data_deviations(cfg, ds) == {"data_files": "notmnist files not verified by a published checksum "
                                                      f"(fingerprint {ds.fingerprint()[:16]})"}
    shutil.copytree(data_files.REPO_DATA / "notmnist", tmp_path / "only_test")
    split = data.load("notmnist", data_dir=tmp_path / "only_test", split_test=0.5)
    assert split.canonical and data_deviations(Table1(dataset="notmnist", split_test=0.5), split) == {}


@pytest.mark.parametrize("how", ["dataset", "data_dir", "TINYKD_DATA", "blank"])
def test_an_empty_path_is_refused_never_the_current_folder_or_the_default(how, tmp_path, monkeypatch):
    """Issue 28, item 2: ``--data "$MYDATA"`` with MYDATA unset reaches the program as "": an empty path was the
    current folder (a data_dir of "" searched ./ and ./mnist/), or $TINYKD_DATA="" was taken as unset and the
    search went on elsewhere. Each is one line naming what is empty."""
    write_mnist_folder(tmp_path / "mnist")        # files an empty path would find in the current folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TINYKD_DATA", raising=False)
    if how == "TINYKD_DATA":
        monkeypatch.setenv("TINYKD_DATA", "")
        load, what = (lambda: data.load("mnist")), r"\$TINYKD_DATA is empty \(''\)"
    elif how == "data_dir":
        load, what = (lambda: data.load("mnist", data_dir="")), r"data_dir \(--data-dir\) is empty \(''\)"
    else:
        value = "" if how == "dataset" else "  "
        load, what = (lambda: data.load(value)), rf"dataset is empty \({value!r}\)"
    refused(load, what + ", as an unset shell variable gives; ")


def test_data_reached_through_a_link_is_named_by_the_path_given(tmp_path):
    """Issue 28, item 2: two names for one content are named by the one this run was given, never by where a link
    points (the source followed links: a run given b.npz, a link to a.npz, said it trained on a.npz)."""
    x, y = fake_images(30), (np.arange(30) % 3).astype(np.uint8)
    np.savez(tmp_path / "a.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    os.symlink(tmp_path / "a.npz", tmp_path / "b.npz")
    write_mnist_folder(tmp_path / "folder")
    os.symlink(tmp_path / "folder", tmp_path / "linked")
    a, b = data.load(tmp_path / "a.npz"), data.load(tmp_path / "b.npz")
    assert a.fingerprint() == b.fingerprint() and (a.source, b.source) == (str(tmp_path / "a.npz"),
                                                                           str(tmp_path / "b.npz"))
    linked = data.load(tmp_path / "linked")
    assert (linked.name, linked.source) == ("linked", str(tmp_path / "linked"))
    os.symlink(data_files.REPO_DATA / "mnist", tmp_path / "mnist")
    assert data.load("mnist", data_dir=tmp_path).source == str(tmp_path / "mnist")


def test_notmnist_split_test_with_a_training_split_present_is_one_data_error(tmp_path, monkeypatch):
    # reproduce_table.py --dataset notmnist --split-test 0.5 on a folder with a training split: not a traceback
    monkeypatch.setattr(data_files, "NOTMNIST_TRAIN_SHAPE", (100, 28, 28), raising=False)
    folder = notmnist_folder(tmp_path, fake_images(100), (np.arange(100) % 10).astype(np.uint8))
    assert data.load("notmnist", data_dir=folder).x_train.shape == (100, 784)
    with pytest.raises(DataError, match=r"training split is present \(in .*nm\).*leave it out") as e:
        data.load("notmnist", data_dir=folder, split_test=0.5)
    assert "\n" not in str(e.value)


def test_canonical_says_whether_the_files_are_the_named_data_sets_own(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TINYKD_DATA", raising=False)
    assert data.load("mnist").canonical and data.load("mnist", val=100).subset(50).canonical
    assert data.load("notmnist", split_test=0.5, download=False).canonical
    shutil.copytree(data_files.REPO_DATA / "mnist", tmp_path / "copy")   # MNIST's bytes, but as your own data
    assert not data.load(tmp_path / "copy").canonical and not small().canonical


def test_a_path_named_like_a_data_set_says_what_happened(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for asked in ("mnist", "MNIST", "notMNIST"):
        message = refused(lambda: data.load(Path(asked)), "does not exist: .* was taken as the path of your own data")
        assert "unknown data set" not in message and f"data.load({asked.lower()!r})" in message
    assert "unknown data set 'cifar'" in refused(lambda: data.load(Path("cifar")), "not one of the named data sets")


def test_class_count_against_the_networks_says_what_is_wrong(tmp_path):
    x = fake_images(40)
    y = np.arange(40) % 10
    y[17] = 10   # one bad label: 11 classes by the labels
    np.savez(tmp_path / "bad.npz", x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    message = refused(lambda: dataset.check_outputs(data.load(tmp_path / "bad.npz"), 10),
                      r"label 10 is out of range for the networks' 10 outputs \(labels 0\.\.9\), in 1 of 30 train "
                      r"rows \(the first: row 17\)")
    assert "11 classes" not in message
    np.savez(tmp_path / "five.npz", x_train=x[:30], y_train=y[:30] % 5, x_test=x[30:], y_test=y[30:] % 5)
    five = data.load(tmp_path / "five.npz")
    refused(lambda: dataset.check_outputs(five, 10), "has 5 classes .* 10 outputs; .* name all 10 in the .npz's "
            "optional classes array")
    message = refused(lambda: dataset.check_outputs(replace(five, source="arrays"), 10), "5 classes")
    assert "classes array" not in message
    assert dataset.check_outputs(five, 5) is five


def test_a_subset_of_one_class_is_refused_like_any_single_class_data():
    """The class rule holds after ``subset`` too: the first rows of a sorted file are often one class."""
    ds = data.from_arrays(np.zeros((4, 2, 2), np.uint8), np.array([0, 0, 1, 1]), np.zeros((2, 2, 2), np.uint8),
                          np.array([0, 1]))
    assert ds.subset(3).x_train.shape[0] == 3
    with pytest.raises(DataError, match=r"subset 2 .*only one class \(label 0.*at least two classes.*larger subset"):
        ds.subset(2)


def test_a_validation_split_leaving_one_training_class_is_refused():
    """The class rule holds after ``preprocess`` (the validation split) too (issue 18, item 11): --val 599 of 600 trains on one image."""
    x, y = fake_images(60), np.arange(60) % 10
    ds = data.from_arrays(x[:40], y[:40], x[40:], y[40:])
    assert np.unique(data.preprocess(ds, val=38).y_train).size == 2   # two images left, of two classes: allowed
    with pytest.raises(DataError, match="holding out val=39 of custom's 40 training images: y_train holds only one "
                       r"class \(label \d, all 1 rows\).*hold out fewer") as e:
        data.preprocess(ds, val=39)
    assert "\n" not in str(e.value)


def test_prepare_refuses_a_validation_split_that_leaves_one_class(tmp_path):
    from tinykd.experiments import settings, setup
    x, y = fake_images(60), np.arange(60) % 10
    np.savez(tmp_path / "d.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    cfg = replace(settings.Table1(), data=str(tmp_path / "d.npz"), val=39)
    with pytest.raises(DataError, match="hold out fewer"):
        setup.load_data(cfg)


def test_idx_folder_with_a_file_both_raw_and_gzipped_is_refused(tmp_path, monkeypatch):
    """Item 1: X and X.gz in one folder may differ; for your own folder reading either would be a guess."""
    arrays = write_mnist_folder(tmp_path / "both")
    name = data_files.MNIST_FILES["test_labels"]
    formats.write_idx(tmp_path / "both" / name, (arrays["test_labels"] + 1) % 10)
    message = refused(lambda: data.load(tmp_path / "both"), f"holds both {name} and {name}.gz .*remove one of them")
    assert str(tmp_path / "both") in message
    # a named data set's files verified by checksum: both present is unambiguous (the raw one is read and verified)
    mine = tmp_path / "mine" / "mnist"
    shutil.copytree(data_files.REPO_DATA / "mnist", mine)
    for f in mine.glob("*.gz"):
        (mine / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))
    monkeypatch.delenv("TINYKD_DATA", raising=False)
    assert data.load("mnist", data_dir=tmp_path / "mine").x_test.shape == (10000, 784)
    # without a published checksum (notMNIST's training split) both present is refused likewise
    nm = notmnist_folder(tmp_path, fake_images(3), np.arange(3, dtype=np.uint8))
    formats.write_idx(nm / "train-labels-idx1-ubyte", np.arange(3, dtype=np.uint8))
    refused(lambda: data.load("notmnist", data_dir=nm), "holds both train-labels-idx1-ubyte and "
            r"train-labels-idx1-ubyte\.gz")


@pytest.mark.parametrize("value, downloads", [("", True), ("0", True), (" 1 ", False), ("1", False)])
def test_tinykd_offline_takes_0_1_or_empty(tmp_path, monkeypatch, value, downloads):
    """Item 9: strict like TINYKD_DEBUG; "no", "false", "maybe" are errors, not offline."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data_files, "REPO_DATA", tmp_path / "nothing")
    monkeypatch.delenv("TINYKD_DATA", raising=False)
    monkeypatch.setenv("TINYKD_OFFLINE", value)
    fetched = []

    def fetch(url, *args, **kwargs):
        fetched.append(url)
        raise OSError("no network in tests")

    monkeypatch.setattr(data_files, "fetch", fetch)
    with pytest.raises(DataError) as e:
        data_files.locate("mnist", "test_labels", progress=False)
    assert bool(fetched) == downloads and ("downloading is off" in str(e.value)) != downloads


@pytest.mark.parametrize("value", ["no", "false", "maybe", "true", "2"])
def test_tinykd_offline_refuses_anything_else_in_one_line(monkeypatch, value):
    monkeypatch.setenv("TINYKD_OFFLINE", value)
    monkeypatch.setattr(data_files, "fetch", lambda *a, **k: pytest.fail("downloaded"))
    with pytest.raises(DataError, match=f"TINYKD_OFFLINE must be 1 .* or 0/unset .*got '{value}'") as e:
        data.load("mnist")   # even with the files present: a typo is said, never read as one or the other
    assert "\n" not in str(e.value)


def test_tinykd_data_naming_a_missing_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYKD_DATA", str(tmp_path / "typo"))
    with pytest.raises(DataError, match=r"\$TINYKD_DATA is '.*typo', which is not an existing folder") as e:
        data.load("mnist")
    assert "\n" not in str(e.value)
    (tmp_path / "typo").mkdir()   # an existing folder without mnist/ in it: searched, then the next place
    assert data.load("mnist").x_test.shape == (10000, 784)


def test_a_uint64_label_beyond_int64_is_refused_as_such(tmp_path):
    x, y = fake_images(30), (np.arange(30) % 3).astype(np.uint64)
    y[4] = 2 ** 63 + 5
    np.savez(tmp_path / "big.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    message = refused(lambda: data.load(tmp_path / "big.npz"), r"y_train holds label 9223372036854775813 \(row 4\)",
                      tmp_path / "big.npz")
    assert "negative" not in message


def test_input_shape_must_hold_one_images_values():
    x, y = np.zeros((6, 20, 30), np.uint8), np.arange(6) % 2
    refused(lambda: data.from_arrays(x, y, x, y, input_shape=(28, 28)), r"input_shape \(28, 28\) holds 784 values "
            r"but each image has 600 \(shape \(20, 30\)\)")
    assert data.from_arrays(x.reshape(6, -1), y, x.reshape(6, -1), y, input_shape=(20, 30)).input_shape == (20, 30)


def test_duplicate_class_names_are_refused(tmp_path):
    x, y = fake_images(30), np.arange(30) % 3
    refused(lambda: data.from_arrays(x, y, x, y, classes=["a", "b", "a"]), "classes names 'a' more than once")
    np.savez(tmp_path / "dup.npz", x_train=x, y_train=y, x_test=x, y_test=y, classes=np.array(["cat", "dog", "dog"]))
    refused(lambda: data.load(tmp_path / "dup.npz"), "classes names 'dog' more than once", tmp_path / "dup.npz")


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_first_images_are_refused_saying_how_to_move_the_axis(tmp_path, channels):
    """Item 10: (N, C, 28, 28) is not guessed: the layout is decided once, by dataset.image_shape, at load."""
    x = np.repeat(fake_images(30)[:, None], channels, axis=1)
    y = np.arange(30) % 3
    np.savez(tmp_path / "cf.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    message = refused(lambda: data.load(tmp_path / "cf.npz"), rf"shape \({channels}, 28, 28\) look channels-first",
                      tmp_path / "cf.npz")
    assert "(N, rows, cols) or (N, rows, cols, channels)" in message and "np.moveaxis(x, 1, -1)" in message
    ds = data.from_arrays(np.moveaxis(x, 1, -1), y, np.moveaxis(x, 1, -1), y)
    assert ds.input_shape == (28, 28, channels)


def test_the_flat_data_jitter_message_speaks_to_python_users_too(tmp_path):
    """Item 8: the flat-data refusal says how to turn the jitter off from Python as well as on the command line."""
    from tinykd.experiments import settings, setup
    x, y = fake_images(60).reshape(60, -1), np.arange(60) % 10
    np.savez(tmp_path / "flat.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    cfg = replace(settings.Table1(), data=str(tmp_path / "flat.npz"), val=10, jitter=2)
    with pytest.raises(settings.ConfigError, match=r"pass --jitter 0 \(jitter=0 in the settings, from Python\)"):
        setup.load_data(cfg)
