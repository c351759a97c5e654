import inspect
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinykd import gradcheck
from backends import assert_close, host, move
from tinykd import MLP
from tinykd import functional as F
from tinykd import logit_losses as L
from tinykd.backend import cupy_available
from tinykd.binary import BinaryMLP
from tinykd.discriminator import Discriminator
from tinykd.distill import DIST, DKD, KD, AdversarialKD, ConditionalAdversarialKD, Supervised, check_pair
from tinykd.fitnets import HintLoss, HintNet

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
    kl, _ = F.kl_divergence(zs, zt, 4.0)
    assert float(KD(4.0, 0.7)(zs, y, zt)[0]) == pytest.approx(float(h) + 0.7 * float(kl), rel=1e-12)
    assert float(KD(4.0, 0.7, "hinton")(zs, y, zt)[0]) == pytest.approx(0.3 * float(h) + 0.7 * 16 * float(kl),
                                                                        rel=1e-12)
    assert float(Supervised()(zs, y)[0]) == pytest.approx(float(h))


def teacher_entropy(zt, t):
    """H(P_T^τ), mean over the rows: what the soft cross-entropy adds to the KL."""
    p = F.softmax(zt, t)
    return float(-(p * F.log_softmax(zt, t)).sum() / zt.shape[0])


@pytest.mark.parametrize("t", [1.0, 4.0, 20.0])
def test_kd_objectives_report_the_kl_with_the_cross_entropys_gradient(t):
    """Issue 18, item 19: the soft term's value is the KL (0 when the student matches the teacher), not the soft
    cross-entropy, which adds the constant τ²·H(P_T^τ) (818 at τ = 20, where P_T^τ is nearly uniform and H near
    log C); the gradient is the cross-entropy's, unchanged (docs/derivations.md §3, §10)."""
    zs, zt, y = problem(1, 12, 10, scale=5.0)
    entropy = teacher_entropy(zt, t)
    assert t * t * entropy > 0.5                     # the constant that used to be printed is not small
    d = discriminator(0, 10, 0, "logprob")
    pure_soft = {"hinton": KD(t, 1.0, "hinton"), "standardised": KD(t, 1.0, "hinton", standardise=True),
                 "adversarial": AdversarialKD(d, alpha=0.0, beta=0.0, kd_weight=1.0, temperature=t)}
    for name, obj in pure_soft.items():
        value, grad = obj(zt.copy(), y, zt)          # the student is the teacher: nothing left to learn
        assert abs(float(value)) < 1e-9, name
        np.testing.assert_allclose(grad, 0, atol=1e-12, err_msg=name)
    kl, g_kl = F.kl_divergence(zs, zt, t, t_squared=True)
    ce, g_ce = F.soft_cross_entropy(zs, zt, t, t_squared=True)
    assert float(ce) - float(kl) == pytest.approx(t * t * entropy, rel=1e-9)   # the constant that was dropped
    value, grad = KD(t, 1.0, "hinton")(zs, y, zt)
    assert float(value) == pytest.approx(float(kl), rel=1e-12)
    np.testing.assert_array_equal(grad, g_ce)        # the same gradient, to the last bit
    h, g_h = F.cross_entropy(zs, y)
    value, grad = KD(t, 0.5)(zs, y, zt)              # the additive form: H(y, P_S) + λ KL
    assert float(value) == pytest.approx(float(h) + 0.5 * float(kl) / t**2, rel=1e-12)
    np.testing.assert_allclose(grad, g_h + 0.5 * F.soft_cross_entropy(zs, zt, t)[1], rtol=1e-12, atol=1e-15)
    obj = pure_soft["adversarial"]
    value, grad = obj(zs, y, zt)
    assert float(value) == pytest.approx(float(kl) / t**2, rel=1e-12)
    gradcheck.check(lambda: obj(zs, y, zt)[0], zs, grad, "AdversarialKD's KL term")
    obj = pure_soft["standardised"]
    value, grad = obj(zs, y, zt)
    assert float(value) == pytest.approx(float(F.on_standardised(lambda s, u: F.kl_divergence(s, u, t, True),
                                                                 zs, zt)[0]), rel=1e-12)
    gradcheck.check(lambda: obj(zs, y, zt)[0], zs, grad, "standardised KD's KL term", floor=gradcheck.FLOOR * t * t)


def test_kd_has_two_forms():
    with pytest.raises(ValueError, match="form must be 'additive' or 'hinton', got 'report'"):
        KD(4.0, 0.7, "report")


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


class _NormedStudent(BinaryMLP):
    """A student with BatchNorm below its hidden layers (BinaryMLP "bwn": BinaryDense, BatchNorm, ReLU, ...), read
    at a hidden layer as an MLP is."""

    hidden_index = MLP.hidden_index


@pytest.mark.parametrize("guided, below", [(1, ["binarydense0", "batchnorm0"]),
                                           (2, ["binarydense0", "batchnorm0", "binarydense1", "batchnorm1"])])
def test_hint_net_takes_the_student_parameters_below_the_guided_layer_with_batchnorm(guided, below):
    """Picking ``2 × (Dense layers below)`` names from the student took binarydense0 alone at layer 1 (BatchNorm's
    γ, β stayed untrained in stage 1) and the first BatchNorm instead of the second binary layer at layer 2."""
    student = _NormedStudent([6, 5, 4, 3], mode="bwn", seed=0, dtype=np.float64)
    net = HintNet(student, guided, hint_width=7)
    keys = {"binarydense": ("W", "b"), "batchnorm": ("gamma", "beta")}
    want = [f"{layer}.{k}" for layer in below for k in keys[layer.rstrip("0123456789")]]
    assert [name for name, _, _ in net.named_parameters()] == want + ["regressor.W", "regressor.b"]
    ids = {name: id(p) for name, p, _ in student.named_parameters()}
    assert all(ids[name] == id(p) for name, p, _ in net.named_parameters()[:-2])  # the student's own arrays
    assert [name for name, _ in net.named_buffers()] == [f"{layer}.{k}" for layer in below if "batchnorm" in layer
                                                         for k in ("running_mean", "running_var")]
    x = np.random.default_rng(0).standard_normal((8, 6))
    _, g = HintLoss()(net.forward(x, train=True), None, np.zeros((8, 7)))
    net.backward(g)
    assert all(np.abs(grad).sum() > 0 for _, _, grad in net.named_parameters())  # each one reached by backward


@pytest.mark.parametrize("standardise", [False, True])
@pytest.mark.parametrize("ignore_label", [None, -1])
def test_one_kd_step_checks_each_array_once(standardise, ignore_label, monkeypatch):
    """KD checks its logits and labels at its entry and its functions skip theirs (``checked=True``): one KD step
    checked the student logits' dtype and shape five times (cross-entropy, its log-softmax, the pair, the soft
    term's log-softmax), more with ``standardise``. Each function called directly still checks its inputs."""
    import tinykd.distill as distill_module
    seen = []
    shape_rule, label_rule = F.check_logits_shape, F.check_label_vector

    def count_shape(logits, name="logits"):
        seen.append(id(logits))
        return shape_rule(logits, name)

    def count_labels(name, y, rows=None):
        seen.append(id(y))
        return label_rule(name, y, rows)

    monkeypatch.setattr(F, "check_logits_shape", count_shape)
    monkeypatch.setattr(F, "check_label_vector", count_labels)
    monkeypatch.setattr(distill_module, "check_label_vector", count_labels, raising=False)
    zs, zt, y = problem(0, 5, 4)
    if ignore_label is not None:
        y[1] = ignore_label
    KD(2.0, 0.5, ignore_label=ignore_label, standardise=standardise)(zs, y, zt)
    assert sorted(seen) == sorted([id(zs), id(zt), id(y)])
    for call in (lambda: F.cross_entropy(zs[:, :1].ravel(), y), lambda: F.kl_divergence(zs, zt[:2]),
                 lambda: F.log_softmax(zs.ravel()), lambda: F.standardise(zs.ravel())):
        with pytest.raises(ValueError):
            call()


def test_bad_objective_arguments():
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
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
        with pytest.raises(TypeError, match="discriminator must have loss, step and describe methods"):
            AdversarialKD(bad)

    class Duck:
        def loss(self, a, label):
            return a.sum(), np.ones_like(a)

        def step(self, teacher_logits, student_logits):
            return 0.0

    with pytest.raises(TypeError, match="lacks describe"):   # a student's identity needs its discriminator's
        AdversarialKD(Duck())
    Duck.describe = lambda self: {"duck": True}
    assert AdversarialKD(Duck()).describe()["discriminator"] == {"duck": True}


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


# ------------------------------------------------------------------- DKD, DIST, standardised KD, conditional adv.
NEW_OBJECTIVES = {
    "kd_standardised": lambda ignore: KD(2.0, 0.9, "hinton", standardise=True, ignore_label=ignore),
    "dkd": lambda ignore: DKD(1.0, 8.0, 4.0, ignore_label=ignore),
    "dkd_standardised": lambda ignore: DKD(0.5, 2.0, 2.0, ce_weight=0.3, standardise=True, ignore_label=ignore),
    "dist": lambda ignore: DIST(2.0, 2.0, 4.0, ignore_label=ignore),
    "dist_inter_only": lambda ignore: DIST(1.0, 0.0, 1.0, ce_weight=0.5, ignore_label=ignore),
}


@pytest.mark.parametrize("method", sorted(NEW_OBJECTIVES))
@pytest.mark.parametrize("unlabelled", [False, True])
@given(n=st.integers(2, 12), c=st.integers(3, 10), scale=st.sampled_from([0.3, 3.0, 30.0]), seed=seeds)
def test_new_objective_gradients(method, unlabelled, n, c, scale, seed):
    """Each whole objective (its cross-entropy, and the soft term through the standardisation where asked) against
    finite differences; with unlabelled rows (−1) DKD takes the teacher's prediction as their target class."""
    if method.startswith("dist"):   # two entries correlate at ±1 but within ε of a flat column: see test_dist_gradient
        n = max(n, 3)
    zs, zt, y = problem(seed, n, c, scale)
    if unlabelled:
        y = np.where(np.random.default_rng(seed).random(n) < 0.5, -1, y)
    obj = NEW_OBJECTIVES[method](-1 if unlabelled else None)
    _, grad = obj(zs, y, zt)
    gradcheck.check(lambda: obj(zs, y, zt)[0], zs, grad, method, floor=gradcheck.FLOOR * 16)


def test_dkd_on_unlabelled_rows_uses_the_teachers_class():
    zs, zt, y = problem(3, 6, 5)
    hidden = y.copy()
    hidden[::2] = -1
    filled = np.where(hidden == -1, zt.argmax(axis=1), hidden)
    a = DKD(ce_weight=0.0, ignore_label=-1)(zs, hidden, zt)
    b = DKD(ce_weight=0.0)(zs, filled, zt)
    assert float(a[0]) == pytest.approx(float(b[0]), rel=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)


def conditional(seed, c, hidden=(5, 4), features="standardised", smoothing=0.1, xp=np, dtype=np.float64,
                kink_inputs=None, classes=None):
    d = Discriminator(c, hidden=hidden, features=features, conditional=True, smoothing=smoothing, seed=seed,
                      lr=1e-4, dtype=dtype, backend=xp)
    r = np.random.default_rng(seed)
    for _, p, _ in d.net.named_parameters():
        p[...] = move(xp, r.standard_normal(p.shape) * 0.5, dtype=dtype)
    if kink_inputs is not None:
        gradcheck.off_kinks(d.net.layers, d._input(kink_inputs, classes)[0], gap=1e-3)
    return d


@pytest.mark.parametrize("features", ["standardised", "raw", "logprob"])
@pytest.mark.parametrize("logit_loss", ["l1", "l2"])
@given(n=st.integers(2, 10), c=st.integers(3, 8), ramp=st.sampled_from([0, 3]), seed=seeds)
def test_conditional_adversarial_gradient_through_the_discriminator(features, logit_loss, n, c, ramp, seed):
    """The student's whole loss (cross-entropy, logit distance, ramped non-saturating term through a conditional
    two-hidden-layer D on the z-scored logits and the one-hot class) against finite differences. The objective's
    own D step runs once, before the check; the check then evaluates the loss with D and the ramp held."""
    zs, zt, y = problem(seed, n, c)
    zs = zt + gradcheck.off_kink(zs - zt, gap=1e-2)     # away from L1's kink
    d = conditional(seed, c, features=features)
    obj = ConditionalAdversarialKD(d, beta=0.7, ramp_steps=ramp, logit_weight=0.5, logit_loss=logit_loss)
    obj(zs, y, zt)                                        # one D step; the ramp moves to its second value
    gradcheck.off_kinks(d.net.layers, d._input(zs, y)[0], gap=1e-3)
    weight = obj.adversarial_weight()

    def loss():
        hard, _ = F.cross_entropy(zs, y)
        dist = L.logit_distance(zs, zt, logit_loss)[0]
        return hard + 0.5 * dist + weight * d.loss(zs, 0, y)[0]
    hard_g = F.cross_entropy(zs, y)[1]
    grad = hard_g + 0.5 * L.logit_distance(zs, zt, logit_loss)[1] + weight * d.loss(zs, 0, y)[1]
    gradcheck.check(loss, zs, grad, f"conditional adversarial ({features}, {logit_loss})", h=gradcheck.H_RELU,
                    floor=1e-3)
    # and the objective computes exactly that loss and gradient (its D step frozen for the comparison)
    d.step = lambda *a: None
    value, g = obj(zs, y, zt)
    assert float(value) == pytest.approx(float(loss()), rel=1e-12)
    np.testing.assert_allclose(g, grad, rtol=1e-10, atol=1e-14)


def test_adversarial_weight_ramps_from_zero():
    zs, zt, y = problem(0, 8, 5)
    obj = ConditionalAdversarialKD(conditional(0, 5), beta=0.4, ramp_steps=4)
    weights = []
    for _ in range(6):
        weights.append(obj.adversarial_weight())
        obj(zs, y, zt)
    assert weights == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.4])
    assert ConditionalAdversarialKD(conditional(0, 5), beta=0.4).adversarial_weight() == 0.4


def test_conditional_discriminator_sees_the_class(rng, xp):
    """The same logits called with another class give another verdict (the one-hot enters the network), the class
    columns get no gradient, and the discriminator takes one step per call with smoothed teacher targets."""
    zs, zt, y = move(xp, *problem(1, 12, 6))
    d = conditional(1, 6, xp=xp)
    other = (y + 1) % 6
    assert not np.allclose(host(d.logit(zs, y)), host(d.logit(zs, other)))
    _, g = d.loss(zs, 0, y)
    assert g.shape == zs.shape
    np.testing.assert_allclose(host(g.sum(axis=1)), 0, atol=1e-10)   # z-scored: blind to a shift of the logits
    np.testing.assert_allclose(host((g * F.standardise(zs)[0]).sum(axis=1)), 0, atol=1e-10)   # and to a scale
    before = d.opt.t
    ConditionalAdversarialKD(d)(zs, y, zt)
    assert d.opt.t == before + 1


def test_smoothing_moves_the_teachers_target(rng):
    """One-sided label smoothing: the discriminator's loss on teacher rows is the logistic loss against target
    s = smoothing, on student rows against 1."""
    zs, zt, y = problem(2, 6, 4)
    for s in (0.0, 0.2):
        d = conditional(2, 4, smoothing=s)
        z_t, z_s = d.logit(zt, y)[:, None], d.logit(zs, y)[:, None]
        expected = (F.logistic_loss(z_t, np.full((6, 1), s))[0] + F.logistic_loss(z_s, np.ones((6, 1)))[0]) / 2
        assert float(d.step(zt, zs, y)) == pytest.approx(float(expected), rel=1e-12)


def test_bad_arguments_of_the_new_methods():
    for make, match in ((lambda: DKD(alpha=-1), "alpha must be a finite number >= 0"),
                        (lambda: DKD(beta=float("nan")), "beta must be a finite number >= 0"),
                        (lambda: DKD(temperature=0), "temperature must be a finite number > 0"),
                        (lambda: DKD(temperature=-2.0), "temperature must be a finite number > 0"),
                        (lambda: DKD(ce_weight=-0.1), "ce_weight must be"),
                        (lambda: DKD(ignore_label=3), "ignore_label must be a negative integer"),
                        (lambda: DIST(beta=-1), "beta must be"),
                        (lambda: DIST(gamma=-1), "gamma must be"),
                        (lambda: DIST(temperature=float("inf")), "temperature must be a finite number"),
                        (lambda: ConditionalAdversarialKD(conditional(0, 5), beta=-0.1), "beta must be"),
                        (lambda: ConditionalAdversarialKD(conditional(0, 5), logit_weight=-1), "logit_weight must"),
                        (lambda: ConditionalAdversarialKD(conditional(0, 5), ramp_steps=-1), "ramp_steps must"),
                        (lambda: ConditionalAdversarialKD(conditional(0, 5), logit_loss="huber"),
                         "logit_loss must be one of"),
                        (lambda: ConditionalAdversarialKD(Discriminator(5)), "needs a conditional discriminator"),
                        (lambda: AdversarialKD(conditional(0, 5)), "use ConditionalAdversarialKD"),
                        (lambda: Discriminator(5, smoothing=0.5), "smoothing must be a number in"),
                        (lambda: Discriminator(5, smoothing=-0.1), "smoothing must be a number in"),
                        (lambda: Discriminator(5, hidden=(64, 0)), "hidden widths must be >= 1"),
                        (lambda: Discriminator(5, hidden=(64, 2.5)), "each hidden width must be an integer"),
                        (lambda: Discriminator(5, hidden="64"), "each hidden width must be an integer"),
                        (lambda: Discriminator(0), "n_classes must be an integer >= 1")):
        with pytest.raises(ValueError, match=match):
            make()
    for make in (lambda: KD(standardise=1), lambda: DKD(standardise="yes"), lambda: Discriminator(5, conditional=1)):
        with pytest.raises(TypeError, match="must be True or False"):
            make()
    zs, zt, y = problem(0, 1, 5)
    with pytest.raises(ValueError, match="batch of at least 2 rows"):
        DIST()(zs, y, zt)
    with pytest.raises(ValueError, match="at least 2 classes"):
        DKD()(zs[:, :1], np.zeros(1, dtype=int), zt[:, :1])
    zs8, zt8, y8 = problem(0, 8, 5)
    d = conditional(0, 5)
    obj = ConditionalAdversarialKD(d)
    for logits, teacher, labels, match in ((zs8, zt8[:4], y8, "teacher_logits must have the student's shape"),
                                           (zs8[:, :4], zt8[:, :4], y8 % 4, "built for 5 classes"),
                                           (zs8.astype(np.float32), zt8.astype(np.float32), y8, "built for 5 classes"),
                                           (zs8, zt8, y8[:5], "labels must have shape")):
        with pytest.raises((ValueError, TypeError), match=match):
            obj(logits, labels, teacher)
    assert d.opt.t == 0                        # refused before the discriminator took a step
    with pytest.raises(ValueError, match="needs each row's class"):
        d.loss(zs, 0)
    with pytest.raises(ValueError, match="not conditional: give no classes"):
        Discriminator(5).loss(zs, 0, y)
    with pytest.raises(ValueError, match="needs each row's class"):
        d.fit(np.zeros((10, 5)), np.ones((10, 5)))


# ------------------------------------------------------------------ issue 18: complete descriptions, label checks
def alternatives():
    """For each described class: its constructor's keyword arguments for a base object, and for every parameter
    another value (None: no other value can be built here). ``test_every_setting_is_described`` introspects each
    constructor, so a parameter added without an entry here fails."""
    def disc(**kw):
        return Discriminator(5, **kw)

    def cdisc(**kw):
        return Discriminator(5, conditional=True, **kw)

    other_backend = "cupy" if cupy_available() else None
    return {
        Discriminator: ({"n_classes": 5}, {
            "n_classes": 6, "hidden": (4, 3), "features": "logprob", "temperature": 2.0, "lr": 1e-4, "seed": 1,
            "backend": other_backend, "dtype": np.float64, "conditional": True, "smoothing": 0.1}),
        Supervised: ({}, {"ignore_label": -1}),
        KD: ({}, {"temperature": 2.0, "weight": 0.5, "form": "hinton", "ignore_label": -1, "standardise": True}),
        DKD: ({}, {"alpha": 2.0, "beta": 4.0, "temperature": 2.0, "ce_weight": 0.5, "standardise": True,
                   "ignore_label": -1}),
        DIST: ({}, {"beta": 1.0, "gamma": 1.0, "temperature": 2.0, "ce_weight": 0.5, "ignore_label": -1}),
        AdversarialKD: ({"discriminator": disc()}, {
            "discriminator": disc(temperature=3.0), "alpha": 0.5, "beta": 0.2, "form": "nonsaturating",
            "updates": "alternating", "d_steps": 2, "kd_weight": 0.5, "temperature": 2.0}),
        ConditionalAdversarialKD: ({"discriminator": cdisc()}, {
            "discriminator": cdisc(smoothing=0.1), "beta": 0.2, "ramp_steps": 10, "logit_weight": 0.5,
            "logit_loss": "l2", "ce_weight": 0.5, "ignore_label": -1}),
        HintLoss: ({}, {}),
    }


def test_every_setting_is_described():
    """Issue 18, item 6: an objective's ``describe()`` is part of a run's identity, so it names every constructor
    argument (AdversarialKD's left out τ, d_steps and its discriminator's settings), and changing any one of them,
    alone, changes it. JSON-ready, since records store it and identities hash it."""
    for cls, (base, others) in alternatives().items():
        params = ([] if cls.__init__ is object.__init__    # HintLoss: no settings
                  else [p for p in inspect.signature(cls.__init__).parameters if p != "self"])
        assert sorted(params) == sorted(others), f"{cls.__name__}: a setting without an alternative in this test"
        described = cls(**base).describe()
        assert json.loads(json.dumps(described)) == described, cls.__name__
        for name in params:
            assert name in described, f"{cls.__name__}.describe() leaves out {name}"
            if others[name] is None:
                continue
            changed = cls(**{**base, name: others[name]}).describe()
            assert changed != described and changed[name] != described[name], f"{cls.__name__}: {name}"


def test_a_discriminators_description_follows_its_training():
    """What a pre-trained discriminator learnt from is part of it: each ``fit``'s settings enter ``describe()``, as do
    Adam's β's and ε (code defaults that the constructor does not expose)."""
    r = np.random.default_rng(0)
    t, s = r.standard_normal((40, 5)), r.standard_normal((40, 5))
    d = Discriminator(5, dtype=np.float64)
    before = d.describe()
    assert before["adam_betas"] == [0.9, 0.999] and before["adam_eps"] == 1e-8 and before["fits"] == []
    d.fit(t, s, epochs=1, batch_size=16, seed=3)
    after = d.describe()
    assert after["fits"] == [{"rows": 40, "epochs": 1, "batch_size": 16, "holdout": 0.2, "seed": 3}]
    assert AdversarialKD(d).describe()["discriminator"] == after
    d.opt.eps = 1e-7
    assert d.describe()["adam_eps"] == 1e-7


def test_discriminator_fit_checks_its_classes_once_with_the_label_rule(no_debug):
    """Issue 18, item 1: the classes of a conditional discriminator's ``fit`` follow ``checks.check_label_vector``
    (a label column is refused with its fix) and their range is checked once, where they enter, even outside debug
    mode: out of range, a class would be an all-zero one-hot row, silently."""
    r = np.random.default_rng(0)
    t, s, y = r.standard_normal((20, 5)), r.standard_normal((20, 5)), r.integers(0, 5, 20)
    d = conditional(0, 5)
    for classes, error, match in ((y[:, None], ValueError, r"classes must have shape \(20,\).*y\.ravel\(\)"),
                                  (y[:19], ValueError, r"classes must have shape \(20,\), one label per row"),
                                  (y.astype(float), TypeError, "classes must be an integer array"),
                                  (np.where(y == 0, 5, y), ValueError, r"classes must lie in \[0, 5\)"),
                                  (np.where(y == 0, -1, y), ValueError, r"classes must lie in \[0, 5\)")):
        with pytest.raises(error, match=match):
            d.fit(t, s, epochs=1, classes=classes)
    assert d.opt.t == 0 and d.fits == []                  # refused before any step
    with pytest.raises(ValueError, match=r"classes must have shape \(20,\)"):
        d.loss(t, 0, y[:, None])                          # the per-call checks name the argument too
    assert 0 <= d.fit(t, s, epochs=1, classes=y) <= 1


def test_an_interrupted_hint_stage_with_a_dropout_student_resumes_bit_for_bit(tmp_path):
    """HintNet hands its student's dropout generator to the run checkpoint, so stage 1 resumes exactly."""
    from tinykd.optim import Adam
    from tinykd.runs.runstate import RunFile
    from tinykd.train import fit
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 6), dtype=np.float32), rng.integers(0, 3, 40)
    hint = rng.standard_normal((40, 5)).astype(np.float32)

    def stage(epochs, path=None, resume=False):
        student = MLP([6, 8, 8, 3], dropout=0.5, seed=3)
        net = HintNet(student, 1, 5, seed=4)
        fit(net, HintLoss(), Adam(net), x, y, epochs, batch_size=8, teacher=hint, seed=5, progress=False,
            checkpoint=None if path is None else RunFile(path), resume=resume)
        return [p.copy() for _, p, _ in net.named_parameters()]

    assert len(HintNet(MLP([6, 8, 3], dropout=0.5), 1, 5).named_generators()) == 1
    straight = stage(3)
    path = str(tmp_path / "hint.npz")
    stage(1, path)
    resumed = stage(3, path, resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(straight, resumed))


# ------------------------------------------------------------------------------------------- issue 28, item 4
def objectives_with_labels(c, ignore):
    """Every objective that reads labels, built with ``ignore_label=ignore`` where it has one."""
    built = {"Supervised": Supervised(ignore_label=ignore), "KD": KD(2.0, 0.5, ignore_label=ignore),
             "KD_hinton": KD(2.0, 0.5, "hinton", ignore_label=ignore), "DKD": DKD(ignore_label=ignore),
             "DIST": DIST(ignore_label=ignore),
             "ConditionalAdversarialKD": ConditionalAdversarialKD(conditional(0, c), ignore_label=ignore)}
    if ignore is None:
        built["AdversarialKD"] = AdversarialKD(Discriminator(c, dtype=np.float64), kd_weight=0.5)
    return built


@pytest.mark.parametrize("name", sorted(objectives_with_labels(5, None)))
def test_every_objective_refuses_labels_out_of_range_called_directly(name, no_debug):
    """Called directly, ``Supervised`` (through ``F.cross_entropy``) scored label −1 as class C − 1, and label C
    ended in NumPy's words: every objective now says it in one line, −1 allowed only with ``ignore_label``, and
    before a discriminator moves."""
    zs, zt, y = problem(0, 6, 5)
    for bad, match in ((np.where(y == y[0], -1, y), r"got values in \[-1, \d\].*unlabelled row only for an "
                                                    r"objective built with ignore_label"),
                       (np.where(y == y[0], 5, y), r"got values in \[\d, 5\]; labels are class indices")):
        obj = objectives_with_labels(5, None)[name]
        with pytest.raises(ValueError, match=r"^labels must lie in \[0, 5\) for 5 classes, " + match):
            obj(zs, bad, zt)
        d = getattr(obj, "discriminator", None)
        assert d is None or d.opt.t == 0                          # refused before the discriminator moved
    if name != "AdversarialKD":
        obj = objectives_with_labels(5, -1)[name]
        loss, grad = obj(zs, np.where(y == y[0], -1, y), zt)     # −1 is an unlabelled row where ignore_label says so
        assert np.isfinite(float(loss)) and np.isfinite(grad).all()
        with pytest.raises(ValueError, match=r"besides ignore_label=-1"):
            obj(zs, np.where(y == y[0], -2, y), zt)


@pytest.mark.parametrize("make, names", [
    (lambda: DKD(alpha=0, beta=0.0, ce_weight=0), "DKD: alpha, beta and ce_weight are all 0"),
    (lambda: DIST(beta=0, gamma=0, ce_weight=0.0), "DIST: beta, gamma and ce_weight are all 0"),
    (lambda: AdversarialKD(Discriminator(5), alpha=0, beta=0), "AdversarialKD: alpha, beta and kd_weight are all 0"),
    (lambda: ConditionalAdversarialKD(conditional(0, 5), beta=0, logit_weight=0, ce_weight=0),
     "ConditionalAdversarialKD: beta, logit_weight and ce_weight are all 0")])
def test_objective_weights_that_cannot_move_the_student_are_refused(make, names):
    """DKD and DIST took all-zero weights: a loss of 0 and a gradient of 0, a run that trains nothing and looks like
    one that converged. KD needs no rule: its hard term's weight is 1 (additive) or 1 − a with the soft term's a."""
    with pytest.raises(ValueError, match=rf"^{names}, so the loss and its gradient are 0 and cannot move the "
                                         r"student; give at least one a weight > 0$"):
        make()


def test_dkd_and_dist_without_their_soft_terms_are_the_cross_entropy():
    """The soft term's weights may both be 0 when ``ce_weight`` is not: the loss is then λ_CE · H(y, P_S) (the soft
    function, which refuses two 0 weights itself, is not called)."""
    zs, zt, y = problem(1, 6, 5)
    hard, g_hard = Supervised()(zs, y)
    for obj in (DKD(alpha=0, beta=0, ce_weight=0.5), DIST(beta=0, gamma=0, ce_weight=0.5)):
        loss, grad = obj(zs, y, zt)
        assert float(loss) == pytest.approx(0.5 * float(hard), rel=1e-12)
        np.testing.assert_allclose(grad, 0.5 * g_hard, rtol=1e-12)
    assert DIST(beta=1.0, gamma=0.0).min_batch_rows == 1 and DIST().min_batch_rows == 2


def test_a_discriminator_seed_is_named():
    for bad, error in ((-1, ValueError), (1.5, TypeError)):
        with pytest.raises(error, match=r"^seed must be an integer >= 0"):
            Discriminator(5, seed=bad)
        with pytest.raises(error, match=r"^seed must be an integer >= 0"):
            Discriminator(5).fit(np.zeros((10, 5)), np.ones((10, 5)), seed=bad)
    with pytest.raises(TypeError, match=r"^dtype must be float32 \(training\) or float64"):
        Discriminator(5, dtype=np.float16)
