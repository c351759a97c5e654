import math

import numpy as np
import pytest

from tinykd import MLP, SGD, Adam
from tinykd.optim import adam_step_reference


def triple(value, grad):
    return [("w", np.array(value, dtype=np.float64), np.array(grad, dtype=np.float64))]


def test_adam_three_steps_by_hand():
    # Kingma & Ba, Algorithm 1, with lr=0.1, betas (0.9, 0.999), eps=1e-8, written out independently of the
    # implementation's folded form. First step: m̂ = g, v̂ = g², so θ moves by lr·g/(|g| + eps), which is lr·sign(g)
    # only up to a relative eps/(|g| + eps) of the move (2e-8 here, 2e-9 of θ: within the rtol=1e-8 check below).
    params = triple([1.0, -2.0], [0.0, 0.0])
    opt = Adam(params, lr=0.1)
    theta, g = params[0][1], params[0][2]
    expected = np.array([1.0, -2.0])
    m = v = np.zeros(2)
    for t, grad in enumerate(([0.5, -3.0], [-1.0, 0.25], [2.0, 1e-3]), start=1):
        g[...] = grad
        opt.step()
        m = 0.9 * m + 0.1 * np.array(grad)
        v = 0.999 * v + 0.001 * np.array(grad) ** 2
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        expected = expected - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
        np.testing.assert_allclose(theta, expected, rtol=1e-12)
        if t == 1:
            np.testing.assert_allclose(theta, [0.9, -1.9], rtol=1e-8)
    # after three steps (step two, first entry, by hand: m̂ = -0.2894737, √v̂ = 0.7906880, θ = 0.9366104)
    np.testing.assert_allclose(theta, [0.89464479, -1.79259261], rtol=1e-7)


def test_sgd_momentum_and_nesterov():
    for nesterov in (False, True):
        params = triple([1.0], [0.0])
        opt = SGD(params, lr=0.5, momentum=0.9, nesterov=nesterov)
        theta, g = params[0][1], params[0][2]
        expected, buf = 1.0, 0.0
        for grad in (1.0, -2.0, 0.5):
            g[...] = grad
            opt.step()
            buf = 0.9 * buf + grad
            expected -= 0.5 * ((grad + 0.9 * buf) if nesterov else buf)
            assert theta[0] == pytest.approx(expected, rel=1e-12)
    params = triple([1.0], [2.0])
    SGD(params, lr=0.25).step()
    assert params[0][1][0] == 0.5


def test_weight_decay_applies_to_weights_only():
    model = MLP([3, 2], seed=0, dtype=np.float64)
    (_, w, gw), (_, b, gb) = model.named_parameters()
    b[...] = 1.0
    w0 = w.copy()
    gw[...] = 0
    gb[...] = 0
    SGD(model, lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(w, w0 * (1 - 0.1 * 0.5))
    np.testing.assert_array_equal(b, 1.0)


@pytest.mark.parametrize("make", [lambda p: Adam(p, weight_decay=1e-4),
                                  lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)])
def test_updates_in_place_and_keep_float32(make):
    model = MLP([6, 5, 3])
    before = [(p, p.ctypes.data, p.copy()) for _, p, _ in model.named_parameters()]
    for _, _, g in model.named_parameters():
        g[...] = 0.1
    opt = make(model)
    opt.step()
    for (p, address, old), (_, p_now, _) in zip(before, model.named_parameters()):
        assert p_now is p and p.ctypes.data == address and p.dtype == np.float32
        assert not np.array_equal(p, old)
    assert all(a.dtype == np.float32 for state in opt.state for a in state)
    assert all(a.dtype == np.float32 for block in opt._blocks for a in block[1:])


def test_bad_hyperparameters():
    params = triple([1.0], [0.0])
    for kwargs in ({"lr": 0}, {"lr": -1}, {"lr": float("nan")}, {"betas": (1.0, 0.9)}, {"eps": -1},
                   {"weight_decay": -0.1}):
        with pytest.raises(ValueError):
            Adam(params, **kwargs)
    with pytest.raises(ValueError, match="nesterov=True needs momentum"):
        SGD(params, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        SGD(params, momentum=1.5)
    with pytest.raises(ValueError, match="at least one"):
        Adam([])
    assert math.isclose(Adam(params, lr=1).lr, 1.0)


def test_blocked_updates_match_the_whole_array_formula():
    # 100,000 entries span several blocks of tinykd.optim.BLOCK; the last block is a partial one
    from tinykd import optim
    assert 100_000 > 3 * optim.BLOCK and 100_000 % optim.BLOCK
    r = np.random.default_rng(0)
    theta0 = r.standard_normal((250, 400))
    params = [("w", theta0.copy(), np.zeros_like(theta0)), ("b", np.ones(7), np.zeros(7))]
    opt = Adam(params, lr=0.01, weight_decay=0.1)
    expected, m, v = theta0.copy(), 0, 0
    for t in range(1, 4):
        grad = r.standard_normal(theta0.shape)
        params[0][2][...] = grad
        opt.step()
        grad = grad + 0.1 * expected
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        expected = expected - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(params[0][1], expected, rtol=1e-10)
    np.testing.assert_array_equal(params[1][1], 1.0)  # zero gradient, no decay on biases: Adam leaves it


@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.01, weight_decay=0.1),
                                  lambda p: SGD(p, lr=0.1, weight_decay=0.1),
                                  lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)],
                         ids=["adam", "sgd", "momentum", "nesterov"])
def test_weight_decay_leaves_the_gradients_untouched(make):
    # the gradient arrays belong to the layers: weight decay is g + wd·θ in the scratch buffer, never in g.
    # 100,000 entries span several blocks; the gradient is kept across steps, so a decay added into it would
    # compound, and the parameters would leave the reference below.
    r = np.random.default_rng(0)
    theta0 = r.standard_normal((250, 400))
    params = [("w", theta0.copy(), r.standard_normal(theta0.shape)), ("b", np.ones(7), r.standard_normal(7))]
    grads = [g.copy() for _, _, g in params]
    opt = make(params)
    expected, m, v, buf = theta0.copy(), 0, 0, 0
    for t in range(1, 4):
        opt.step()
        for (_, _, g), g0 in zip(params, grads):
            np.testing.assert_array_equal(g, g0)
        g = grads[0] + 0.1 * expected
        if isinstance(opt, Adam):
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g**2
            expected = expected - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        else:
            buf = opt.momentum * buf + g
            direction = (g + opt.momentum * buf) if opt.nesterov else (buf if opt.momentum else g)
            expected = expected - 0.1 * direction
    np.testing.assert_allclose(params[0][1], expected, rtol=1e-10)


def test_optimisers_describe_every_setting_as_built():
    """What a run's identity takes from the optimiser (issue 18, item 6): every setting that shapes the updates,
    with the rate it was built with (a schedule overwrites ``lr`` each epoch)."""
    model = MLP([3, 4, 2])
    adam = Adam(model, lr=2e-3, betas=(0.8, 0.99), eps=1e-7, weight_decay=1e-4)
    adam.lr = 5e-4
    assert adam.describe() == {"optimizer": "Adam", "lr": 2e-3, "betas": [0.8, 0.99], "eps": 1e-7,
                               "weight_decay": 1e-4, "max_norm": None}
    assert Adam(model).describe() == {"optimizer": "Adam", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
                                      "weight_decay": 0.0, "max_norm": None}
    assert SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3).describe() == {
        "optimizer": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3, "max_norm": None}


def test_max_norm_is_the_projection_onto_the_ball():
    """``max_norm`` scales a column (a unit's incoming weights) outside the ball onto its sphere and leaves one
    inside (or zero) as it is; the result is the closest point of the ball (checked against 200 points of it)."""
    from tinykd.optim import max_norm
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 5)) * np.array([0.01, 0.5, 1.0, 3.0, 0.0])
    expected = np.stack([c if np.linalg.norm(c) <= 0.7 else 0.7 * c / np.linalg.norm(c) for c in w.T], axis=1)
    np.testing.assert_allclose(max_norm(w.copy(), 0.7, np.empty(5)), expected, rtol=1e-14, atol=0)
    for c, pc in zip(w.T, expected.T):
        ball = rng.standard_normal((200, 6))
        ball *= 0.7 * rng.uniform(0, 1, (200, 1)) ** (1 / 6) / np.linalg.norm(ball, axis=1, keepdims=True)
        assert np.linalg.norm(c - pc) <= np.linalg.norm(c - ball, axis=1).min() + 1e-12


@pytest.mark.parametrize("opt_class, kw", [(Adam, dict(lr=0.05)), (SGD, dict(lr=0.5, momentum=0.9, nesterov=True))])
def test_a_max_norm_step_is_the_plain_step_then_the_projection(opt_class, kw):
    """Every step of an optimiser with ``max_norm=c`` is the same step without it followed by the projection of
    each weight matrix's columns; biases are never projected; every column ends inside the ball."""
    a, b = MLP([6, 5, 3], seed=1, dtype=np.float64), MLP([6, 5, 3], seed=1, dtype=np.float64)
    constrained, plain = opt_class(a, max_norm=0.7, **kw), opt_class(b, **kw)
    rng = np.random.default_rng(0)
    for _ in range(5):
        for (_, _, ga), (_, _, gb) in zip(a.named_parameters(), b.named_parameters()):
            ga[...] = gb[...] = rng.standard_normal(ga.shape) * 10
        constrained.step()
        plain.step()
        for (name, pa, _), (_, pb, _) in zip(a.named_parameters(), b.named_parameters()):
            if name.endswith(".W"):
                norms = np.linalg.norm(pb, axis=0)
                np.testing.assert_allclose(pa, pb * np.minimum(1, 0.7 / norms), rtol=1e-13, atol=1e-15)
                assert norms.max() > 0.7 and np.linalg.norm(pa, axis=0).max() <= 0.7 * (1 + 1e-12)
            else:
                np.testing.assert_array_equal(pa, pb)
            pb[...] = pa                  # the next step starts from the same point (the states are equal)
    assert constrained.describe()["max_norm"] == 0.7 and plain.describe()["max_norm"] is None
    with pytest.raises(ValueError, match="max_norm"):
        opt_class(a, max_norm=0.0, **kw)


# ------------------------------------------------------------------------- issue 27, item 6: Algorithm 1 first
def test_the_reference_step_is_algorithm_1_by_hand():
    """``adam_step_reference`` against the first two steps worked out by hand (lr 0.1, defaults otherwise)."""
    theta, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    theta, m, v = adam_step_reference(theta, np.array([0.5, -3.0]), m, v, 1, lr=0.1)
    np.testing.assert_allclose(m, [0.05, -0.3])
    np.testing.assert_allclose(v, [0.00025, 0.009])
    np.testing.assert_allclose(theta, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 3.0 / (3.0 + 1e-8)], rtol=1e-15)
    theta, m, v = adam_step_reference(theta, np.array([-1.0, 0.25]), m, v, 2, lr=0.1)
    np.testing.assert_allclose(theta[0], 0.9366104, rtol=1e-7)   # as in test_adam_three_steps_by_hand
    theta2, _, _ = adam_step_reference(np.array([2.0]), np.array([0.0]), np.zeros(1), np.zeros(1), 1,
                                       weight_decay=0.5)
    np.testing.assert_allclose(theta2, 2.0 - 1e-3 * 1.0 / (1.0 + 1e-8))   # g + λθ = 1: the decay is a gradient


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("betas, eps, weight_decay, block", [((0.9, 0.999), 1e-8, 0.0, None),
                                                              ((0.5, 0.9), 1e-3, 0.0, 64),
                                                              ((0.0, 0.99), 1e-6, 1e-2, None),
                                                              ((0.95, 0.9999), 0.1, 0.3, 100)])
def test_adam_is_the_reference_step_on_every_parameter(dtype, betas, eps, weight_decay, block):
    """The efficient ``Adam`` (corrections folded into two scalars, moments stored scaled, blocks) equals
    Algorithm 1 as ``adam_step_reference`` writes it, over 12 steps on a model's weights and biases (weight decay on
    the weight matrices only), with its float64 arithmetic: to 1e-10 in float64, to float32's rounding in float32.
    Small blocks split the arrays so a partial block is covered. The moments agree too, once unscaled."""
    model = MLP([7, 300, 3], seed=0, dtype=dtype)
    opt = Adam(model, lr=0.02, betas=betas, eps=eps, weight_decay=weight_decay, block=block)
    ref = [(p.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape)) for _, p, _ in model.named_parameters()]
    rng = np.random.default_rng(1)
    for t in range(1, 13):
        for i, ((name, p, g), (theta, m, v)) in enumerate(zip(model.named_parameters(), ref)):
            g[...] = rng.standard_normal(g.shape) * rng.choice([1e-4, 1.0, 30.0])
            decay = weight_decay if p.ndim > 1 else 0.0
            ref[i] = adam_step_reference(theta, g.astype(np.float64), m, v, t, lr=0.02, betas=betas, eps=eps,
                                         weight_decay=decay)
        opt.step()
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for (name, p, _), (theta, m, v), (m_scaled, v_scaled) in zip(model.named_parameters(), ref, opt.state):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, theta, rtol=tol, atol=tol * 0.02, err_msg=name)
        np.testing.assert_allclose(m_scaled * (1 - betas[0]), m, rtol=tol * 10, atol=1e-30, err_msg=name)
        np.testing.assert_allclose(v_scaled * (1 - betas[1]), v, rtol=tol * 10, atol=1e-30, err_msg=name)


def test_the_reference_step_keeps_the_dtype_and_writes_nothing():
    theta, g = np.ones(4, np.float32), np.full(4, 0.5, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    new, m1, v1 = adam_step_reference(theta, g, m, v, 1)
    assert new.dtype == m1.dtype == v1.dtype == np.float32
    assert (theta == 1).all() and (m == 0).all() and (v == 0).all() and (g == 0.5).all()


# ------------------------------------------------------------------------------------------- issue 28, item 4
def test_adam_and_sgd_refuse_settings_they_cannot_follow():
    """eps = 0 divides 0 by 0 for an entry whose gradient has always been 0 (NaN weights); betas that are not a
    pair and a nesterov that is not a bool ended in Python's or NumPy's words, or were taken as something else."""
    params = triple([1.0, 2.0], [0.0, 1.0])
    for eps in (0, 0.0, -1e-8):
        with pytest.raises(ValueError, match=rf"^eps must be a finite number > 0, got {eps!r}$"):
            Adam(params, eps=eps)
    for betas in ((0.9,), 0.9, (0.9, 0.99, 0.999)):
        with pytest.raises(ValueError, match=r"^betas must be a pair \(β1, β2\) of numbers in \[0, 1\), got"):
            Adam(params, betas=betas)
    with pytest.raises(ValueError, match=r"^betas\[1\] must be a finite number in \[0, 1\), got 1"):
        Adam(params, betas=[0.9, 1])
    with pytest.raises(TypeError, match="^nesterov must be True or False, got 'no'$"):
        SGD(params, momentum=0.9, nesterov="no")
    assert Adam(params, betas=[0.8, 0.9]).describe()["betas"] == [0.8, 0.9]   # a list is a pair too
