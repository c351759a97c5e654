import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradcheck
from backends import assert_close, host, move
from tinykd import MLP
from tinykd import functional as F
from tinykd.discriminator import Discriminator
from tinykd.distill import KD, AdversarialKD, HintLoss, HintNet, Supervised, check_pair

batches = st.integers(1, 16)
classes = st.integers(2, 12)
seeds = st.integers(0, 2**32 - 1)


def problem(seed, n, c, scale=3.0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, c)) * scale, r.standard_normal((n, c)) * scale, r.integers(0, c, n)


@pytest.mark.parametrize("form", ["additive", "hinton"])
@given(n=batches, c=classes, t=st.sampled_from([1.0, 2.5, 20.0]), w=st.floats(0, 1), seed=seeds)
def test_kd_objective_gradient(form, n, c, t, w, seed):
    zs, zt, y = problem(seed, n, c)
    obj = KD(t, w, form)
    _, grad = obj(zs, y, zt)
    gradcheck.check(lambda: obj(zs, y, zt)[0], zs, grad, f"KD({form})", floor=gradcheck.FLOOR * t * t)


def test_kd_forms_match_their_formulas(rng, xp):
    zs, zt, y = move(xp, *problem(0, 8, 10))
    h, _ = F.cross_entropy(zs, y)
    s, _ = F.soft_cross_entropy(zs, zt, 4.0)
    assert float(KD(4.0, 0.7)(zs, y, zt)[0]) == pytest.approx(float(h) + 0.7 * float(s), rel=1e-12)
    assert float(KD(4.0, 0.7, "hinton")(zs, y, zt)[0]) == pytest.approx(0.3 * float(h) + 0.7 * 16 * float(s),
                                                                        rel=1e-12)
    assert float(Supervised()(zs, y)[0]) == pytest.approx(float(h))


def test_report_is_the_additive_form_under_its_old_name():
    old = KD(4.0, 0.7, "report")
    assert old.form == "additive" and old.describe()["form"] == "additive"
    with pytest.raises(ValueError, match="form must be 'additive'"):
        KD(4.0, 0.7, "soft")


def discriminator(seed, c, hidden, features, kink_inputs=None, xp=np, dtype=np.float64):
    d = Discriminator(c, hidden=hidden, features=features, temperature=2.0, seed=seed, dtype=dtype, backend=xp)
    r = np.random.default_rng(seed)
    for _, p, _ in d.net.named_parameters():
        p[...] = move(xp, r.standard_normal(p.shape), dtype=dtype)
    if hidden and kink_inputs is not None:  # keep the hidden ReLU's inputs away from its kink
        gradcheck.off_kinks(d.net.layers, d._phi(kink_inputs)[0], gap=1e-3)
    return d


@pytest.mark.parametrize("features", ["raw", "centred", "logprob"])
@pytest.mark.parametrize("form", ["minimax", "nonsaturating"])
@given(n=batches, c=classes, hidden=st.sampled_from([0, 5]), kd_weight=st.sampled_from([0.0, 0.5]), seed=seeds)
def test_adversarial_objective_gradient_through_the_discriminator(features, form, n, c, hidden, kd_weight, seed):
    zs, zt, y = problem(seed, n, c)
    d = discriminator(seed, c, hidden, features, zs)
    obj = AdversarialKD(d, alpha=0.8, beta=0.3, form=form, kd_weight=kd_weight, temperature=2.0)
    _, grad = obj(zs, y, zt)
    h = gradcheck.H_RELU if hidden else gradcheck.H
    gradcheck.check(lambda: obj(zs, y, zt)[0], zs, grad, f"AdversarialKD({form}, {features}, hidden={hidden})",
                    h=h, floor=1e-3 if hidden else gradcheck.FLOOR)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["kd_additive", "kd_hinton", "hint", "adv_minimax_raw", "adv_nonsaturating_centred",
                                    "adv_minimax_logprob_kd", "adv_nonsaturating_logprob_hidden"])
def test_objectives_on_every_backend_match_a_float64_reference(xp, dtype, method):
    """Loss and gradient w.r.t. the student's outputs, in ``dtype`` on ``xp`` against float64 NumPy."""
    zs, zt, y = problem(5, 12, 10)

    def objective(on, dt):
        if method.startswith("kd"):
            return KD(4.0, 0.7, method[3:])
        if method == "hint":
            return HintLoss()
        _, form, features, *rest = method.split("_")
        hidden = 6 if "hidden" in rest else 0
        d = discriminator(0, 10, hidden, features, xp=on, dtype=dt)
        return AdversarialKD(d, alpha=0.8, beta=0.3, form=form, kd_weight=0.5 if "kd" in rest else 0.0,
                             temperature=2.0)

    ref_loss, ref_grad = objective(np, np.float64)(zs, y, zt)
    loss, grad = objective(xp, dtype)(*move(xp, zs, y, zt, dtype=dtype))
    assert loss.dtype == grad.dtype == dtype
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("features", ["raw", "centred", "logprob"])
@given(n=batches, c=classes, seed=seeds)
def test_discriminator_loss_gradient(features, n, c, seed):
    zs, _, _ = problem(seed, n, c)
    d = discriminator(seed, c, 0, features)
    for label in (0, 1):
        _, grad = d.loss(zs, label)
        gradcheck.check(lambda: d.loss(zs, label)[0], zs, grad, f"Discriminator.loss({features})")


def test_shift_invariant_features_ignore_a_constant_shift(rng, xp):
    a = move(xp, rng.standard_normal((5, 10)))
    for features in ("centred", "logprob"):
        d = discriminator(0, 10, 0, features, xp=xp)
        np.testing.assert_allclose(host(d.logit(a + 1e3)), host(d.logit(a)), rtol=1e-9, atol=1e-9)
        _, g = d.loss(a, 1)
        np.testing.assert_allclose(host(g.sum(axis=1)), 0, atol=1e-12)  # no gradient along the shift direction
    d = discriminator(0, 10, 0, "raw", xp=xp)
    assert not np.allclose(host(d.logit(a + 1e3)), host(d.logit(a)))


def test_discriminator_learns_to_tell_apart(rng, xp):
    teacher = rng.standard_normal((2000, 10)).astype(np.float32)
    student = rng.standard_normal((2000, 10)).astype(np.float32)
    teacher[:, 0] += 3  # the teacher is surer of class 0: linearly separable, up to the tails
    student[:, 0] -= 3
    teacher, student = move(xp, teacher, student)
    d = Discriminator(10, lr=1e-2, seed=0, backend=xp)
    assert d.accuracy(teacher, student) < 0.9
    acc = d.fit(teacher, student, epochs=20, batch_size=128)
    assert acc > 0.99


def test_alternating_updates_move_the_discriminator(rng, xp):
    zs, zt, y = move(xp, *problem(0, 16, 10), dtype=np.float32)
    d = Discriminator(10, seed=0, backend=xp)
    before = host(d.net.layers[0].params["W"]).copy()
    obj = AdversarialKD(d, updates="alternating", d_steps=2)
    assert obj.needs_teacher
    obj(zs, y, zt)
    assert d.opt.t == 2 and not np.array_equal(before, host(d.net.layers[0].params["W"]))
    assert not AdversarialKD(d).needs_teacher


@given(n=batches, seed=seeds, guided=st.integers(1, 2))
def test_hint_stage_gradients(n, seed, guided):
    student = MLP([6, 5, 4, 3], seed=seed, dtype=np.float64)
    net = HintNet(student, guided, hint_width=7, seed=seed)
    r = np.random.default_rng(seed)
    x, target = r.standard_normal((n, 6)), r.standard_normal((n, 7))
    gradcheck.off_kinks(student.layers[:net.stop], x, gap=1e-3)
    loss = HintLoss()
    _, g = loss(net.forward(x, train=True), None, target)
    net.backward(g)
    names = [name for name, _, _ in net.named_parameters()]
    assert names[-2:] == ["regressor.W", "regressor.b"] and len(names) == 2 * guided + 2
    for name, p, grad in net.named_parameters():
        gradcheck.check(lambda: loss(net.forward(x), None, target)[0], p, grad.copy(), f"HintNet d{name}",
                        h=gradcheck.H_RELU, floor=1e-3)


def test_bad_objective_arguments():
    with pytest.raises(ValueError, match="temperature must be finite and > 0"):
        KD(0.0)
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        KD(2.0, -1)
    with pytest.raises(ValueError, match=r"hinton form's weight a must lie in \[0, 1\]"):
        KD(2.0, 2.0, "hinton")
    d = Discriminator(10)
    with pytest.raises(ValueError, match="beta must be"):
        AdversarialKD(d, beta=-0.1)
    with pytest.raises(ValueError, match="form must be 'minimax' or 'nonsaturating'"):
        AdversarialKD(d, form="wgan")
    with pytest.raises(ValueError, match="features must be one of"):
        Discriminator(10, features="softmax")
    with pytest.raises(ValueError, match="must agree on input size and number of classes"):
        check_pair(MLP([784, 10, 10]), MLP([784, 10, 9]))
    with pytest.raises(ValueError, match=r"hidden layer must be an integer in \[1, 2\]"):
        HintNet(MLP([4, 5, 5, 2]), 3, 5)
    with pytest.raises(ValueError, match="regressor output"):
        HintLoss()(np.zeros((2, 3)), None, np.zeros((2, 4)))


def test_adversarial_kd_needs_a_discriminator_at_construction():
    for bad in (None, MLP([10, 1])):  # an MLP has no loss(logits, label) or step(teacher, student)
        with pytest.raises(TypeError, match="discriminator must have loss and step methods"):
            AdversarialKD(bad)

    class Duck:
        def loss(self, a, label):
            return a.sum(), np.ones_like(a)

        def step(self, teacher_logits, student_logits):
            return 0.0

    AdversarialKD(Duck())


def test_discriminator_fit_rejects_arguments_that_would_train_nothing(rng):
    t, s = rng.standard_normal((20, 10)).astype(np.float32), rng.standard_normal((20, 10)).astype(np.float32)
    d = Discriminator(10)
    before = d.net.layers[0].params["W"].copy()
    for kwargs, match in (({"holdout": 1.5}, "holdout must be a fraction"),
                          ({"holdout": -0.1}, "holdout must be a fraction"),
                          ({"holdout": "0.2"}, "holdout must be a fraction"),
                          ({"holdout": 1.0}, "leaves none to train on"),
                          ({"epochs": -1}, "epochs must be an integer >= 0"),
                          ({"epochs": 2.5}, "epochs must be an integer >= 0"),
                          ({"batch_size": 0}, "batch_size must be an integer >= 1")):
        with pytest.raises(ValueError, match=match):
            d.fit(t, s, **kwargs)
    for tl, sl, match in ((t, s[:15], "must pair row by row"),
                          (t[:, :9], s[:, :9], "teacher_logits must have 10 columns"),
                          (t, s[:, :9], "student_logits must have 10 columns")):
        with pytest.raises(ValueError, match=match):
            d.fit(tl, sl)
    with pytest.raises(TypeError, match="student_logits must be a floating array"):
        d.fit(t, s.astype(int))
    bad = t.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="teacher_logits contains NaN or inf"):  # checked once, where data enters
        d.fit(bad, s)
    assert d.opt.t == 0 and np.array_equal(before, d.net.layers[0].params["W"])
    assert 0 <= d.fit(t, s, epochs=0, holdout=0.5) <= 1  # no epochs: just the held-out accuracy
