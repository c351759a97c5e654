import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinykd import gradcheck
from backends import assert_close, host, move
from tinykd import MLP, SGD
from tinykd.backend import default_rng
from tinykd import functional as F
from tinykd.binary import BinaryDense, BinaryMLP
from tinykd.layers import BatchNorm, Dense, Dropout, ReLU, load_network_arrays, network_arrays
from tinykd.runs.checkpoints import load_model, read_network, save_model

batches = st.integers(1, 16)
widths = st.integers(1, 32)
seeds = st.integers(0, 2**32 - 1)
H_RELU = gradcheck.H_RELU  # a ReLU network is differentiable only away from its kinks (gradcheck.off_kinks)


@given(n=batches, a=widths, b=widths, seed=seeds)
def test_dense_backward(n, a, b, seed):
    r = np.random.default_rng(seed)
    layer = Dense(a, b, rng=r, dtype=np.float64)
    layer.params["b"][...] = r.standard_normal(b)
    x, g = r.standard_normal((n, a)), r.standard_normal((n, b))

    def f():
        return (g * layer.forward(x)).sum()

    layer.forward(x, train=True)
    dx = layer.backward(g)
    gradcheck.check(f, x, dx, "Dense.backward dx")
    for name in ("W", "b"):
        gradcheck.check(f, layer.params[name], layer.grads[name], f"Dense.backward d{name}")


@given(n=batches, a=widths, seed=seeds)
def test_relu_backward(n, a, seed):
    r = np.random.default_rng(seed)
    x = gradcheck.off_kink(r.standard_normal((n, a)))
    g = r.standard_normal((n, a))
    relu = ReLU()
    relu.forward(x, train=True)
    gradcheck.check(lambda: (g * relu.forward(x)).sum(), x, relu.backward(g), "ReLU.backward", h=H_RELU)


@given(n=batches, a=widths, p=st.floats(0.0, 0.9), seed=seeds)
def test_dropout_backward_is_its_mask(n, a, p, seed):
    r = np.random.default_rng(seed)
    x, g = r.standard_normal((n, a)), r.standard_normal((n, a))

    def f():  # the same mask every call: the stochastic layer is a fixed linear map once its mask is drawn
        layer.rng = np.random.default_rng(seed)
        return (g * layer.forward(x, train=True)).sum()

    layer = Dropout(p, np.random.default_rng(seed))
    f()
    gradcheck.check(f, x, layer.backward(g), "Dropout.backward")


@given(sizes=st.lists(widths, min_size=2, max_size=4), n=batches, dropout=st.sampled_from([0.0, 0.3]),
       seed=seeds)
def test_mlp_end_to_end_gradients(sizes, n, dropout, seed):
    sizes = [*sizes[:-1], max(2, sizes[-1])]
    model = MLP(sizes, dropout=dropout, input_dropout=dropout / 2, seed=seed, dtype=np.float64)
    r = np.random.default_rng(seed)
    for _, p, _ in model.named_parameters():
        p[...] += r.standard_normal(p.shape) * 0.1
    x = r.standard_normal((n, sizes[0]))
    y = r.integers(0, sizes[-1], n)
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]

    def same_masks():  # one fixed mask per dropout layer across evaluations
        for k, layer in enumerate(dropouts):
            layer.rng = np.random.default_rng([seed, k])

    def loss_and_grad():
        same_masks()
        return F.cross_entropy(model.forward(x, train=True), y)

    same_masks()
    gradcheck.off_kinks(model.layers, x)
    model.backward(loss_and_grad()[1])
    for name, p, g in model.named_parameters():
        gradcheck.check(lambda: loss_and_grad()[0], p, g.copy(), f"MLP+cross_entropy d{name}", h=H_RELU,
                        floor=1e-3)


@given(n=batches, seed=seeds, h=st.integers(1, 2))
def test_hidden_layer_read_and_injection(n, seed, h):
    model = MLP([6, 5, 4, 3], seed=seed, dtype=np.float64)
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, 6))
    stop = model.hidden_index(h)
    g = r.standard_normal((n, model.sizes[h]))
    gradcheck.off_kinks(model.layers, x)
    hidden = model.forward(x, train=True, stop=stop)
    assert hidden.shape == (n, model.sizes[h]) and (hidden >= 0).all()
    model.backward(g, start=stop)
    first = model.named_parameters()[0]
    gradcheck.check(lambda: (g * model.forward(x, stop=stop)).sum(), first[1], first[2].copy(),
                    f"hidden {h} injection", h=H_RELU, floor=1e-3)


# ----------------------------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_layer_keeps_its_dtype(dtype, rng, xp):
    x = move(xp, rng.standard_normal((4, 5)).astype(dtype))
    for layer in (Dense(5, 5, backend=xp, dtype=dtype), ReLU(), Dropout(0.5, default_rng(0, xp))):
        y = layer.forward(x, train=True)
        dx = layer.backward(xp.ones_like(y))
        assert y.dtype == dtype and dx.dtype == dtype
        assert all(g.dtype == dtype for g in layer.grads.values())
    model = MLP([5, 7, 3], dropout=0.5, dtype=dtype, backend=xp)
    logits = model.forward(x, train=True)
    assert logits.dtype == dtype
    model.backward(F.cross_entropy(logits, move(xp, np.array([0, 1, 2, 0])))[1])
    assert all(p.dtype == dtype and g.dtype == dtype for _, p, g in model.named_parameters())


def test_every_layer_owns_its_dicts_and_backward_needs_a_training_forward():
    relu_a, relu_b, drop_a, drop_b = ReLU(), ReLU(), Dropout(0.5, default_rng(0)), Dropout(0.5, default_rng(1))
    assert relu_a.params is not relu_b.params and relu_a.grads is not relu_b.grads
    assert drop_a.params is not drop_b.params and relu_a.params is not drop_a.params
    x, dy = np.ones((4, 3), np.float32), np.ones((4, 3), np.float32)
    for layer in (Dense(3, 3), ReLU(), Dropout(0.5, default_rng(0)), BatchNorm(3), BinaryDense(3, 3)):
        message = rf"{type(layer).__name__}\.backward called without a forward\(x, train=True\) before it"
        with pytest.raises(RuntimeError, match=message):
            layer.backward(dy)                          # no forward at all
        layer.forward(x)
        with pytest.raises(RuntimeError, match=message):
            layer.backward(dy)                          # an inference forward keeps nothing
        layer.forward(x, train=True)
        layer.backward(dy.copy())
        with pytest.raises(RuntimeError, match=message):
            layer.backward(dy)                          # what a forward kept serves one backward
    idle = Dropout(0.0, None)
    idle.forward(x, train=True)
    assert idle.backward(dy) is dy                      # p = 0: the identity, in training too


def test_dropout_statistics(xp):
    layer = Dropout(0.3, default_rng(0, xp))
    x = xp.ones((2000, 500), dtype=np.float32)
    y = layer.forward(x, train=True)
    assert abs(float((y == 0).mean()) - 0.3) < 0.005
    assert abs(float(y.mean()) - 1.0) < 0.01  # inverted dropout keeps the expected value
    np.testing.assert_array_equal(np.unique(host(y)), np.array([0, 1 / 0.7], dtype=np.float32))
    assert layer.forward(x, train=False) is x


def test_dense_skips_input_gradient_for_first_layer(xp):
    model = MLP([3, 4, 2], backend=xp)
    model.forward(xp.ones((2, 3), np.float32), train=True)
    assert model.layers[0].needs_input_grad is False
    assert model.layers[0].backward(xp.ones((2, 4), np.float32)) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_steps_on_every_backend_match_a_float64_reference(xp, dtype):
    """Forward, cross-entropy, backward and three SGD steps of an MLP in ``dtype`` on ``xp``, against the same in
    float64 on NumPy: the same initial weights (drawn with NumPy), the same data (made with NumPy, then moved)."""
    r = np.random.default_rng(1)
    x, y = r.standard_normal((32, 20)), r.integers(0, 5, 32)
    results = []
    for on, dt in ((np, np.float64), (xp, dtype)):
        model = MLP([20, 16, 16, 5], seed=3, backend=on, dtype=dt)
        opt = SGD(model, lr=0.1, momentum=0.9)
        xb, yb = move(on, x, y, dtype=dt)
        for _ in range(3):
            loss, grad = F.cross_entropy(model.forward(xb, train=True), yb)
            model.backward(grad)
            opt.step()
        results.append((host(loss), [host(p) for _, p, _ in model.named_parameters()]))
    (ref_loss, ref), (loss, params) = results
    assert_close(loss, ref_loss, dtype)
    for p, p_ref in zip(params, ref):
        assert p.dtype == dtype
        assert_close(p, p_ref, dtype, scale=10)


# ------------------------------------------------------------------------------------------ counts, save/load
def test_parameter_counts_match_the_report():
    teacher, student = MLP([784, 1200, 1200, 10]), MLP([784, 800, 800, 10])
    assert teacher.count_params(biases=False) == 2_392_800
    assert teacher.count_params() == 2_392_800 + 1200 + 1200 + 10
    assert student.count_params(biases=False) == 784 * 800 + 800 * 800 + 800 * 10


def test_save_load_round_trip(tmp_path, xp):
    a, b = MLP([5, 7, 3], seed=1, backend=xp), MLP([5, 7, 3], seed=2, backend=xp)
    path = tmp_path / "sub" / "m.npz"
    save_model(path, a)
    assert os.listdir(path.parent) == ["m.npz"]  # no temp file left behind
    load_model(path, b)
    for (_, pa, _), (_, pb, _) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(host(pa), host(pb))
    c = read_network(path, backend=xp)
    x = move(xp, np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32))
    np.testing.assert_array_equal(host(a.forward(x)), host(c.forward(x)))
    with pytest.raises(ValueError, match=r"sizes \[5, 7, 3\].*sizes \[5, 8, 3\]"):
        load_model(path, MLP([5, 8, 3]))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        load_model(tmp_path / "junk.npz", b)
    # a network's state is the engine's (layers.network_arrays); its files are tinykd.runs.checkpoints' alone
    assert not any(hasattr(MLP, name) for name in ("save", "load", "from_checkpoint"))


def test_bad_inputs():
    with pytest.raises(ValueError, match="sizes must list"):
        MLP([784])
    with pytest.raises(ValueError, match="sizes must list"):
        MLP([784, 0, 10])
    with pytest.raises(ValueError, match="dropout probability"):
        MLP([4, 4, 2], dropout=1.0)
    with pytest.raises(ValueError, match="init must be"):
        Dense(3, 3, init="xavier")
    model = MLP([4, 5, 6, 2])
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\)"):
        model.forward(np.zeros((3, 5), np.float32))
    with pytest.raises(TypeError, match="x has dtype float64 but the model is float32"):
        model.forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"hidden layer must be an integer in \[1, 2\]"):
        model.hidden_index(3)
    with pytest.raises(ValueError, match="hidden layer"):
        model.hidden_index(0)
    with pytest.raises(ValueError, match="backend must be one of"):
        MLP([4, 2], backend="tpu")


def test_predict_and_logits_of_zero_rows(xp):
    """Issue 18, item 12: ``predict`` on zero rows was a ValueError from ``concatenate``; it is a (0,) vector of
    classes and ``logits`` a (0, C) array."""
    model = MLP([5, 7, 3], seed=0, backend=xp)
    x = move(xp, np.zeros((0, 5), dtype=np.float32))
    assert model.logits(x).shape == (0, 3) and model.logits(x).dtype == np.float32
    assert model.predict(x).shape == (0,)


def test_the_model_describes_its_initialisation_and_its_generators():
    """What a run's identity takes from the model (issue 18, item 6): the architecture and every setting of its
    initialisation; and the generators a run checkpoint must keep (item 10): the dropout masks', once."""
    model = MLP([4, 6, 6, 2], dropout=0.5, input_dropout=0.2, seed=3)
    d = model.describe()
    assert d == {**model.config(), "init": "he", "output_init": "glorot", "seed": 3, "dropout_seed": 4}
    assert MLP([4, 6, 6, 2], init="glorot").describe()["init"] == "glorot"
    w_he = MLP([4, 6, 2], seed=1).layers[0].params["W"]
    w_glorot = MLP([4, 6, 2], seed=1, init="glorot").layers[0].params["W"]
    np.testing.assert_allclose(w_glorot, w_he * np.sqrt(4 / (4 + 6)), rtol=1e-6)   # the same draws, rescaled
    assert [(name, rng is model.rng) for name, rng in model.named_generators()] == [("layer0.rng", True)]
    assert MLP([4, 6, 2]).named_generators() == []


# Batch >= 3: with two samples the normalised outputs are ±1 whatever x is, so dx vanishes (up to ε) and a
# relative check would only measure finite-difference noise.
@given(n=st.integers(3, 16), a=widths, seed=seeds)
def test_batchnorm_gradients(n, a, seed):
    r = np.random.default_rng(seed)
    bn = BatchNorm(a, dtype=np.float64)
    bn.params["gamma"][...] = r.standard_normal(a)
    bn.params["beta"][...] = r.standard_normal(a)
    x, g = r.standard_normal((n, a)) * 3 + 1, r.standard_normal((n, a))

    def f():
        return (g * bn.forward(x, train=True)).sum()

    f()
    dx = bn.backward(g)
    gradcheck.check(f, x, dx, "BatchNorm dx")
    for name in ("gamma", "beta"):
        gradcheck.check(f, bn.params[name], bn.grads[name].copy(), f"BatchNorm d{name}")


def test_batchnorm_running_statistics_and_inference(xp):
    r = np.random.default_rng(0)
    bn = BatchNorm(3, backend=xp)
    x = move(xp, (r.standard_normal((500, 3)) * [1, 2, 3] + [5, -1, 0]).astype(np.float32))
    y = host(bn.forward(x, train=True))
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    for _ in range(200):
        bn.forward(x, train=True)
    x = host(x)
    np.testing.assert_allclose(host(bn.running_mean), x.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(host(bn.running_var), x.var(axis=0, ddof=1), rtol=1e-4)
    out = bn.forward(move(xp, x))
    np.testing.assert_allclose(host(out), y, rtol=2e-3, atol=1e-3)  # running var is the unbiased one
    assert out.dtype == np.float32


def test_batchnorm_training_needs_two_rows():
    bn = BatchNorm(3)
    x = np.array([[1.0, -2.0, 5.0]], dtype=np.float32)
    with pytest.raises(ValueError, match="at least 2 rows"):
        bn.forward(x, train=True)
    np.testing.assert_array_equal(bn.running_var, 1.0)  # left as it was, not dragged towards 0
    np.testing.assert_array_equal(bn.running_mean, 0.0)
    assert bn.forward(x).shape == (1, 3)  # inference on one row uses the running statistics: fine
    assert bn.forward(np.concatenate([x, -x]), train=True).shape == (2, 3)


def test_parameter_and_buffer_names_are_the_ones_checkpoints_store():
    """One ``Network.named_parameters`` and one naming scheme for every network: each layer by its kind and its
    number among the layers of that kind (an MLP's dropout layers between its Dense layers change nothing)."""
    from tinykd.binary import BinaryMLP
    mlp = MLP([4, 6, 6, 2], dropout=0.5, input_dropout=0.2)
    assert [name for name, _, _ in mlp.named_parameters()] == [f"dense{k}.{p}" for k in range(3) for p in "Wb"]
    assert mlp.named_buffers() == []
    binary = BinaryMLP([4, 6, 6, 2], mode="bwn")
    assert [name for name, _, _ in binary.named_parameters()] == [
        "binarydense0.W", "binarydense0.b", "batchnorm0.gamma", "batchnorm0.beta", "binarydense1.W", "binarydense1.b",
        "batchnorm1.gamma", "batchnorm1.beta", "binarydense2.W", "binarydense2.b"]
    assert [name for name, _ in binary.named_buffers()] == [
        "batchnorm0.running_mean", "batchnorm0.running_var", "batchnorm1.running_mean", "batchnorm1.running_var"]
    trained = network_arrays(BinaryMLP([4, 6, 6, 2], mode="bwn", seed=3))
    with pytest.raises(ValueError, match=r"^state: holds arrays this model does not have: batchnorm4\.beta"):
        load_network_arrays(BinaryMLP([4, 6, 6, 2], mode="bwn"),
                            {**trained, "batchnorm4.beta": trained["batchnorm1.beta"]})
    layers = binary.layers
    _, gamma, d_gamma = binary.named_parameters()[2]
    assert gamma is layers[1].params["gamma"] and d_gamma is layers[1].grads["gamma"]
    assert binary.named_buffers()[0][1] is layers[1].running_mean


# ------------------------------------------------------------------------------------------- issue 28, item 4
def test_predict_refuses_non_finite_rows_with_the_rule_errors_applies(xp):
    """``predict`` answered class 0 for a NaN row where ``train.errors`` refused it: one rule now
    (``functional.check_finite``), the same line from both."""
    from tinykd.train import errors
    model = MLP([5, 7, 3], seed=0, backend=xp)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    x[2, 1] = np.nan
    x = move(xp, x)
    with pytest.raises(ValueError) as predicted:
        model.predict(x)
    with pytest.raises(ValueError) as counted:
        errors(model, x, move(xp, np.zeros(4, dtype=int)))
    assert str(predicted.value) == str(counted.value) == (
        "x contains NaN or inf; every value must be finite: clean or drop those rows (1 of its 4 rows, the first at "
        "index 2)")


def test_predict_and_logits_refuse_what_is_not_an_array_naming_it():
    """``predict(list)`` ended in a message from NumPy that named no argument; array-likes are refused alike by
    ``predict``, ``logits``, ``errors`` and ``fit`` (``checks.check_rows``: which backend and dtype would a list
    mean?)."""
    model = MLP([3, 4, 2])
    rows = [[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]]
    for call in (model.predict, model.logits):
        with pytest.raises(TypeError, match=r"^x must be an array of shape \(N, features\), got list: convert it "
                                            r"with numpy.asarray"):
            call(rows)
        with pytest.raises(ValueError, match=r"^x must have shape \(N, 3\), one flattened sample per row, got shape "
                                             r"\(2, 4\)$"):
            call(np.zeros((2, 4), np.float32))
    assert model.predict(np.asarray(rows, np.float32)).shape == (2,)


def test_load_network_arrays_refuses_non_finite_weights():
    model, source = MLP([3, 4, 2], seed=0), MLP([3, 4, 2], seed=1)
    before = network_arrays(model)
    state = network_arrays(source)
    state["dense1.b"][1] = np.inf
    with pytest.raises(ValueError, match=r"^state: dense1\.b contains NaN or inf; every value must be finite: load "
                                         r"weights from a run that did not diverge \(1 of its 2 entries"):
        load_network_arrays(model, state)
    state["dense1.b"][1] = 0.0
    state["dense0.W"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^state: dense0\.W contains NaN or inf"):
        load_network_arrays(model, state)
    assert all(np.array_equal(v, network_arrays(model)[k]) for k, v in before.items())   # nothing half-loaded


def test_saving_under_a_file_names_the_path(tmp_path):
    (tmp_path / "run").write_text("a file, not a folder")
    model = MLP([3, 2])
    with pytest.raises(ValueError, match=r"^path .*run/m\.npz cannot be written: .*run is a file, not a folder"):
        save_model(tmp_path / "run" / "m.npz", model)
    with pytest.raises(ValueError, match=r"cannot write checkpoint .*: it is a folder; give a file path"):
        save_model(tmp_path, model)               # a folder: the checkpoint's own rule (test_checkpoint.py)
    assert os.listdir(tmp_path) == ["run"]


@pytest.mark.parametrize("make", [lambda dt: MLP([3, 4, 2], dtype=dt), lambda dt: Dense(3, 2, dtype=dt),
                                  lambda dt: BatchNorm(3, dtype=dt),
                                  lambda dt: BinaryMLP([3, 4, 2], dtype=dt)],
                         ids=["MLP", "Dense", "BatchNorm", "BinaryMLP"])
def test_dtypes_the_engine_does_not_train_are_refused_up_front(make):
    """float16 built a network that trained to wrong numbers (or failed in NumPy's words); integers too."""
    for bad in (np.float16, "float16", np.int32):
        with pytest.raises(TypeError, match=r"^dtype must be float32 \(training\) or float64 \(gradient checks\)"):
            make(bad)
    assert make(np.float64) is not None


def test_seeds_and_generators_are_named():
    for bad, error in ((-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=r"^seed must be an integer >= 0"):
            MLP([3, 4, 2], seed=bad)
    assert MLP([3, 2], seed=None).seed is None and MLP([3, 2], seed=np.int64(3)).describe()["seed"] == 3
    with pytest.raises(TypeError, match=r"^Dropout's rng must be a random generator .*got int"):
        Dropout(0.5, 7)
    assert Dropout(0.0, None).forward(np.ones((2, 2)), train=True).shape == (2, 2)   # p = 0 draws nothing
