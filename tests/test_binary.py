import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinykd import gradcheck
from backends import assert_close, host, move
from tinykd import MLP, Adam, data
from tinykd import functional as F
from tinykd.binary import BinaryDense, BinaryMLP, binarize
from tinykd.packed import PackedBinaryMLP, pack_signs, unpack_signs, xnor_popcount_dot
from tinykd.runs.checkpoints import load_model, save_model
from tinykd.train import fit

batches = st.integers(1, 16)
widths = st.integers(1, 32)
seeds = st.integers(0, 2**32 - 1)


def layer_problem(seed, n, a, b, mode, xp=np, dtype=np.float64):
    r = np.random.default_rng(seed)
    layer = BinaryDense(a, b, mode, rng=r, backend=xp, dtype=dtype)
    w = gradcheck.off_kink(r.uniform(-1.5, 1.5, (a, b)), 1e-2)  # some |w| > 1
    layer.params["W"][...] = move(xp, w, dtype=dtype)
    layer.params["b"][...] = move(xp, r.standard_normal(b), dtype=dtype)
    layer.ste = False
    return layer, gradcheck.off_kink(r.standard_normal((n, a)), 1e-2), r.standard_normal((n, b))


@pytest.mark.parametrize("mode", ["bwn", "xnor"])
@given(n=batches, a=widths, b=widths, seed=seeds)
def test_scaling_factor_gradients_are_exact(mode, n, a, b, seed):
    """With the STE off, backward is the true gradient: through α (and β), the signs held fixed."""
    layer, x, g = layer_problem(seed, n, a, b, mode)

    def f():
        return (g * layer.forward(x)).sum()

    layer.forward(x, train=True)
    dx = layer.backward(g)
    for name in ("W", "b"):
        gradcheck.check(f, layer.params[name], layer.grads[name].copy(), f"BinaryDense({mode}) d{name}")
    gradcheck.check(f, x, dx, f"BinaryDense({mode}) dx")


@pytest.mark.parametrize("mode", ["bwn", "xnor"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_layer_on_every_backend_matches_a_float64_reference(mode, dtype, xp):
    """Forward, and backward with and without the STE, in ``dtype`` on ``xp`` against float64 NumPy (every weight
    and input away from 0, so both see the same signs)."""
    results = []
    for on, dt in ((np, np.float64), (xp, dtype)):
        layer, x, g = layer_problem(3, 6, 70, 9, mode, xp=on, dtype=dt)  # 70 inputs: more than one 64-bit word
        x, g = move(on, x, g, dtype=dt)
        out = [layer.forward(x, train=True)]
        for ste in (False, True):
            layer.ste = ste
            layer.forward(x, train=True)
            out += [layer.backward(g.copy()), layer.grads["W"].copy(), layer.grads["b"].copy()]
        results.append([host(a) for a in out])
    for ref, a in zip(*results):
        assert a.dtype == dtype
        assert_close(a, ref, dtype, scale=10)


@pytest.mark.parametrize("mode", ["bwn", "xnor"])
def test_straight_through_term_is_its_definition(mode, xp):
    layer, x, g = layer_problem(7, 5, 9, 4, mode, xp=xp)
    x, g = move(xp, x, g)
    layer.forward(x, train=True)
    dx_true = host(layer.backward(g))
    dw_true = host(layer.grads["W"]).copy()
    layer.ste = True
    layer.forward(x, train=True)
    dx = host(layer.backward(g))
    x, g = host(x), host(g)
    w = host(layer.params["W"])
    alpha = np.abs(w).mean(axis=0)
    x_tilde = binarize(x) * np.abs(x).mean(axis=1)[:, None] if mode == "xnor" else x
    g_wt = x_tilde.T @ g                                 # dL/dW̃, W̃ = sign(W) α
    np.testing.assert_allclose(host(layer.grads["W"]) - dw_true, alpha * g_wt * (np.abs(w) <= 1), rtol=1e-12,
                               atol=1e-12)
    assert ((np.abs(w) > 1) & (host(layer.grads["W"]) != dw_true)).sum() == 0
    if mode == "xnor":
        beta = np.abs(x).mean(axis=1)[:, None]
        g_x_tilde = (g * alpha) @ binarize(w).T
        np.testing.assert_allclose(dx - dx_true, beta * g_x_tilde * (np.abs(x) <= 1), rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(dx, dx_true)  # BWN does not binarise its input: no STE on x


def test_binarize_sends_zero_to_plus_one(xp):
    np.testing.assert_array_equal(host(binarize(move(xp, np.array([-2.0, -0.0, 0.0, 3.0])))), [-1, 1, 1, 1])


@pytest.mark.parametrize("width", [1, 7, 63, 64, 65, 130, 800])
def test_packing_round_trip_and_popcount_dot_with_padding(width, xp):
    r = np.random.default_rng(width)
    s = binarize(r.standard_normal((5, width)).astype(np.float32))
    words, n = pack_signs(move(xp, s))  # a device array is packed on the host
    assert words.dtype == np.uint64 and words.shape == (5, -(-width // 64)) and n == width
    np.testing.assert_array_equal(unpack_signs(words, n), s)
    w = binarize(r.standard_normal((9, width)))
    ww, _ = pack_signs(w)
    np.testing.assert_array_equal(xnor_popcount_dot(words, ww, n), (s @ w.T).astype(np.int64))


@pytest.mark.parametrize("m", [1, 4, 5, 8, 300])
def test_popcount_dot_is_exact_for_any_batch(m):
    """Few rows take one broadcast XOR, more go word by word in row blocks (300 rows: two blocks of 128, one of 44)."""
    r = np.random.default_rng(m)
    x, w = binarize(r.standard_normal((m, 130))), binarize(r.standard_normal((70, 130)))
    (xw, n), (ww, _) = pack_signs(x), pack_signs(w)
    np.testing.assert_array_equal(xnor_popcount_dot(xw, ww, n, rows=128), (x @ w.T).astype(np.int64))


@pytest.fixture(scope="module")
def mnist_small():
    ds = data.load("mnist")
    return ds.x_train[:3000], ds.y_train[:3000], ds.x_test[:1000], ds.y_test[:1000]


@pytest.mark.parametrize("mode", ["bwn", "xnor"])
def test_packed_inference_is_bit_exact_and_small(mode, mnist_small):
    x, y, xt, yt = mnist_small
    model = BinaryMLP([784, 200, 130, 10], mode=mode, seed=0)  # 130 and 200: not multiples of 64
    from tinykd.distill import Supervised
    history = fit(model, Supervised(), Adam(model, lr=1e-2), x, y, 2, 100, x_val=xt, y_val=yt, progress=False)
    assert history[-1]["val_errors"] < 300, history  # it learns (a 3,000-image subset, two epochs)
    assert all(np.abs(layer.params["W"]).max() <= 1 for layer in model.layers if isinstance(layer, BinaryDense))
    packed = PackedBinaryMLP(model)
    np.testing.assert_array_equal(packed.forward(xt), model.logits(xt))
    np.testing.assert_array_equal(packed.forward(xt[:1]), model.forward(xt[:1]))  # batch 1 takes other paths
    with pytest.raises(TypeError, match="x has dtype float64 but the model is float32"):
        packed.forward(xt[:2].astype(np.float64))
    np.testing.assert_array_equal(packed.predict(xt), model.predict(xt))
    float_weight_bytes = 4 * sum(p.size for name, p, _ in model.named_parameters() if name.endswith(".W"))
    packed_weight_bytes = packed.sign_bytes()
    assert 28 < float_weight_bytes / packed_weight_bytes <= 32  # 32x, less the padding to 64-bit words
    assert packed.nbytes() < float_weight_bytes / 20


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="2-D array"):
        pack_signs(np.ones(5))
    with pytest.raises(TypeError, match="numeric array"):
        pack_signs(np.ones((2, 3), dtype=bool))
    with pytest.raises(TypeError, match="2-D uint64"):
        unpack_signs(np.ones((2, 3), dtype=np.uint8), 3)
    with pytest.raises(ValueError, match="packed widths differ"):
        xnor_popcount_dot(np.zeros((2, 1), np.uint64), np.zeros((2, 2), np.uint64), 64)
    with pytest.raises(ValueError, match="mode must be"):
        BinaryMLP([4, 3], mode="ternary")
    save_model(tmp_path / "float.npz", MLP([784, 20, 10]))
    with pytest.raises(ValueError, match="holds MLP .* this model is BinaryMLP"):
        load_model(tmp_path / "float.npz", BinaryMLP([784, 20, 10]))
    with pytest.raises(TypeError, match="packs a BinaryMLP"):
        PackedBinaryMLP(MLP([4, 2]))


def test_binary_save_load_round_trip(tmp_path, xp):
    a = BinaryMLP([6, 5, 3], mode="xnor", seed=0, backend=xp)
    a.forward(move(xp, np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)), train=True)
    save_model(tmp_path / "b.npz", a)
    b = load_model(tmp_path / "b.npz", BinaryMLP([6, 5, 3], mode="xnor", seed=1, backend=xp))
    x = move(xp, np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32))
    np.testing.assert_array_equal(host(a.forward(x)), host(b.forward(x)))


@pytest.mark.parametrize("mode", ["bwn", "xnor"])
def test_binary_student_distils(mnist_small, mode, xp):
    from tinykd.distill import KD
    x, y, xt, yt = move(xp, *mnist_small)
    teacher = MLP([784, 64, 10], seed=0, backend=xp)
    student = BinaryMLP([784, 128, 10], mode=mode, seed=0, backend=xp)
    fit(student, KD(4.0, 0.9, "hinton"), Adam(student, lr=1e-2), x, y, 1, 100, teacher=teacher.logits,
        progress=False)
    assert np.isfinite(host(F.cross_entropy(student.logits(xt), yt)[0]))


def test_binary_mlp_sizes_must_be_positive_integers():
    for sizes in ([784, 100.7, 10], [4, True, 2], [4, 0, 2], [4, -3, 2], [4], [4, "3", 2]):
        with pytest.raises(ValueError, match="sizes must list at least two positive integers"):
            BinaryMLP(sizes)
    assert BinaryMLP([4, np.int64(3), 2]).sizes == [4, 3, 2]


@pytest.mark.parametrize("width", [1, 64, 100])
def test_packed_width_must_match_the_words(width):
    s = binarize(np.random.default_rng(width).standard_normal((3, width)))
    words, n = pack_signs(s)
    wide = 64 * words.shape[1]
    for bad in (-1, wide + 1, wide + 64, 2.0, True):
        with pytest.raises(ValueError, match=rf"n must be an integer in \[0, {wide}\]"):
            unpack_signs(words, bad)
    assert unpack_signs(words, 0).shape == (3, 0) and unpack_signs(words, wide).shape == (3, wide)
    assert unpack_signs(words, np.int64(n)).shape == (3, width)
    low = wide - 63
    for bad in (low - 1, wide + 1, 0, float(n)):  # low - 1: a bit of the last word unaccounted for
        with pytest.raises(ValueError, match=rf"n must be an integer in \[{low}, {wide}\]"):
            xnor_popcount_dot(words, words, bad)
    np.testing.assert_array_equal(xnor_popcount_dot(words, words, n), (s @ s.T).astype(np.int64))


def test_numpy_floor_has_bitwise_count():
    # packed inference calls np.bitwise_count, new in NumPy 2.0: setup.cfg must not allow an older NumPy
    import configparser
    import pathlib
    import re
    cfg = configparser.ConfigParser()
    cfg.read(pathlib.Path(__file__).parent.parent / "setup.cfg")
    floor = re.search(r"^numpy>=(\d+)", cfg["options"]["install_requires"], re.M)
    assert floor and int(floor.group(1)) >= 2, cfg["options"]["install_requires"]
    assert hasattr(np, "bitwise_count")


def test_errors_counts_a_packed_model_and_a_binary_network_alike():
    """``train.errors`` checks its data once and counts with each model's own ``predict``: a ``Network`` told the
    data is checked, a ``PackedBinaryMLP`` (no such argument) as it is."""
    from tinykd.train import errors
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 12)).astype(np.float32), rng.integers(0, 3, 40)
    model = BinaryMLP([12, 16, 3], mode="xnor", seed=0)
    packed = PackedBinaryMLP(model)
    assert errors(packed, x, y) == errors(model, x, y) == int((model.predict(x) != y).sum())
    x[5, 0] = np.nan
    for m in (packed, model):
        with pytest.raises(ValueError, match=r"^x contains NaN or inf; every value must be finite"):
            errors(m, x, y)


def test_packed_predict_refuses_what_network_predict_refuses():
    """``PackedBinaryMLP.predict`` answered class 0 for a NaN row where ``Network.predict`` refused it: one rule now
    (``checks.check_rows``, then ``functional.check_finite``), the same line from both."""
    rng = np.random.default_rng(0)
    model = BinaryMLP([12, 16, 3], mode="xnor", seed=0)
    packed = PackedBinaryMLP(model)
    x = rng.standard_normal((6, 12)).astype(np.float32)
    x[4, 2] = np.nan
    said = []
    for m in (packed, model):
        with pytest.raises(ValueError, match=r"^x contains NaN or inf; every value must be finite") as e:
            m.predict(x)
        said.append(str(e.value))
        with pytest.raises(ValueError, match=r"^x must have shape \(N, 12\)"):
            m.predict(x[:, :5])
    assert said[0] == said[1]
