"""Logit standardisation, decoupled KD, DIST and the logit distance (``tinykd.functional.standardise``,
``tinykd.logit_losses``): finite-difference gradients in float64, the identities each method rests on, extreme
logits, float32 against a float64 reference on every backend, and refused hyper-parameters."""
import decimal

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tinykd import gradcheck
from backends import assert_close, host, move
from tinykd import functional as F
from tinykd import logit_losses as L

batches = st.integers(1, 12)
classes = st.integers(2, 10)
seeds = st.integers(0, 2**32 - 1)
scales = st.sampled_from([0.1, 1.0, 3.0, 30.0])
temperatures = st.sampled_from([0.5, 1.0, 4.0, 20.0])


def problem(seed, n, c, scale=3.0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, c)) * scale, r.standard_normal((n, c)) * scale, r.integers(0, c, n)


# ------------------------------------------------------------------------------------------- standardisation
@given(n=batches, c=st.integers(3, 10), scale=st.sampled_from([1.0, 3.0, 30.0]), seed=seeds)
def test_standardise_gradient(n, c, scale, seed):
    """(With two classes z̃ is ±1 whatever the logits, and a row whose spread is near the stencil's step measures
    the stencil: both are kept out.)"""
    z, t, _ = problem(seed, n, c, scale)
    g = np.random.default_rng(seed + 1).standard_normal((n, c))   # a random direction: L = <g, z̃>
    zs, sigma = F.standardise(z)
    gradcheck.check(lambda: (F.standardise(z)[0] * g).sum(), z, F.standardise_backward(zs, sigma, g),
                    "standardise")
    loss = lambda s, u: F.kl_divergence(s, u, 2.0)   # noqa: E731
    _, grad = F.on_standardised(loss, z, t)
    gradcheck.check(lambda: F.on_standardised(loss, z, t)[0], z, grad, "KL on standardised logits")


@given(n=batches, c=classes, a=st.floats(0.01, 100), b=st.floats(-1e3, 1e3), seed=seeds)
def test_standardise_forgets_shift_and_scale(n, c, a, b, seed):
    """z̃ has mean 0 and variance 1 per row, and a positive scale and any shift of the logits leave it unchanged:
    exactly the freedoms a student used to fool a discriminator on raw logits."""
    z, t, _ = problem(seed, n, c)
    zs, _ = F.standardise(z)
    np.testing.assert_allclose(zs.mean(axis=1), 0, atol=1e-12)
    v = ((z - z.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
    np.testing.assert_allclose((zs * zs).mean(axis=1), v / (v + F.STANDARDISE_EPS), rtol=1e-12)   # 1, up to ε
    centred = z - z.mean(axis=1, keepdims=True)    # docs/derivations.md §16: exact with ε/a² in place of ε
    np.testing.assert_allclose(F.standardise(a * z + b)[0], centred / np.sqrt(v[:, None] + F.STANDARDISE_EPS / a**2),
                               rtol=1e-7, atol=1e-9)
    loss = lambda s, u: F.kl_divergence(s, u, 2.0)   # noqa: E731
    assert float(F.on_standardised(loss, a * z + b, t)[0]) == pytest.approx(float(F.on_standardised(loss, z, t)[0]),
                                                                             rel=1e-6, abs=1e-9)


def test_a_row_of_equal_logits_standardises_to_zero():
    zs, sigma = F.standardise(np.full((2, 5), 7.0))
    np.testing.assert_array_equal(zs, 0.0)
    assert np.isfinite(F.standardise_backward(zs, sigma, np.ones((2, 5)))).all()


# ---------------------------------------------------------------------------------------------- decoupled KD
@given(n=batches, c=classes, scale=scales, tau=temperatures, alpha=st.floats(0, 3), beta=st.floats(0, 10),
       seed=seeds)
def test_decoupled_kd_gradient(n, c, scale, tau, alpha, beta, seed):
    assume(alpha or beta)                      # two 0 weights are refused (test_weights_that_are_all_zero...)
    zs, zt, y = problem(seed, n, c, scale)
    _, grad = L.decoupled_kd(zs, zt, y, tau, alpha, beta)
    gradcheck.check(lambda: L.decoupled_kd(zs, zt, y, tau, alpha, beta)[0], zs, grad, "decoupled_kd",
                    floor=gradcheck.FLOOR * max(tau * tau, 1.0))


@given(c=classes, scale=scales, tau=temperatures, seed=seeds)
def test_decoupled_kd_splits_classical_kd(c, scale, tau, seed):
    """Zhao et al.'s identity: KL(P_T ‖ P_S) = TCKD + (1 − P_T,t) · NCKD, row by row (so one row here, where the
    weight 1 − P_T,t of NCKD is one number)."""
    zs, zt, y = problem(seed, 1, c, scale)
    rest = 1 - F.softmax(zt, tau)[0, y[0]]
    kl, g_kl = F.kl_divergence(zs, zt, tau, t_squared=True)
    dkd, g_dkd = L.decoupled_kd(zs, zt, y, tau, alpha=1.0, beta=rest)
    assert float(dkd) == pytest.approx(float(kl), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(g_dkd, g_kl, rtol=1e-8, atol=1e-12)


@given(n=batches, c=classes, scale=scales, seed=seeds)
def test_decoupled_kd_is_zero_when_student_is_teacher(n, c, scale, seed):
    z, _, y = problem(seed, n, c, scale)
    value, grad = L.decoupled_kd(z, z.copy(), y, 4.0, 1.0, 8.0)
    assert abs(float(value)) < 1e-10
    np.testing.assert_allclose(grad, 0, atol=1e-12)
    _, _, y2 = problem(seed + 1, n, c)
    assert float(L.decoupled_kd(z + 1.0, z, y2, 4.0)[0]) < 1e-10   # a shift of every logit changes nothing


def test_extreme_logits_stay_finite():
    """Logits of ±1e4 (a teacher sure to e^−5000, which underflows to 0): every value and gradient finite, and the
    decoupled loss of a student that puts all mass on the wrong class is large, not NaN."""
    for dtype in (np.float32, np.float64):
        zs = np.array([[1e4, -1e4, 0, 5], [0, 0, 0, 0], [-1000, 1, 2, 3]], dtype=dtype)
        zt = np.array([[-1e4, 1e4, 3, 0], [1e3, 0, 0, -1e3], [1, 2, 3, -1000]], dtype=dtype)
        y = np.array([0, 2, 3])
        for value, grad in (L.decoupled_kd(zs, zt, y, 4.0), L.decoupled_kd(zs, zt, y, 1.0, 0.0, 1.0),
                            L.dist_loss(zs, zt, 4.0), L.logit_distance(zs, zt, "l2"),
                            F.on_standardised(lambda s, t: F.kl_divergence(s, t, 2.0), zs, zt)):
            assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == dtype
        assert float(L.decoupled_kd(zs, zt, y, 4.0)[0]) > 1e4


# ------------------------------------------------------------------------------------------------------ DIST
@pytest.mark.parametrize("axis", [0, 1])
@given(n=st.integers(3, 10), c=st.integers(3, 10), seed=seeds)
def test_pearson_gradient(axis, n, c, seed):
    """(Two entries correlate at ±1 whatever their values: a flat function whose gradient only ε moves, which finite
    differences cannot resolve relatively; so at least three.)"""
    a, b, _ = problem(seed, n, c)
    rho, grad = L.pearson(a, b, axis)
    w = np.random.default_rng(seed + 2).standard_normal(rho.shape)   # L = <w, ρ>
    full = np.expand_dims(w, axis) * grad
    gradcheck.check(lambda: (L.pearson(a, b, axis)[0] * w).sum(), a, full, f"pearson axis {axis}")
    assert np.all(np.abs(rho) <= 1 + 1e-12)


def pearson_reference(a, b, eps, digits=40):
    """ρ and dρ/da of every row of the float64 arrays ``a``, ``b``, in ``digits``-digit decimal arithmetic (exact
    inputs: a float converts to Decimal without rounding), from docs/derivations.md §18's formulas: the centred
    vectors are exact here, so the centring's projection changes nothing but rounding."""
    rhos, grads = [], []
    with decimal.localcontext(decimal.Context(prec=digits)):
        e = decimal.Decimal(eps)
        for row_a, row_b in zip(a.tolist(), b.tolist()):
            u, v = [decimal.Decimal(x) for x in row_a], [decimal.Decimal(x) for x in row_b]
            u = [x - sum(u) / len(u) for x in u]
            v = [x - sum(v) / len(v) for x in v]
            s, uu, vv = sum(x * y for x, y in zip(u, v)), sum(x * x for x in u), sum(y * y for y in v)
            denom = uu.sqrt() * vv.sqrt() + e
            rho = s / denom
            g = [(y - rho * vv.sqrt() * x / uu.sqrt()) / denom for x, y in zip(u, v)]
            rhos.append(float(rho))
            grads.append([float(x - sum(g) / len(g)) for x in g])
    return np.array(rhos), np.array(grads)


@pytest.mark.parametrize("axis", [0, 1])
def test_pearson_on_nearly_constant_vectors_matches_a_40_digit_reference(axis):
    """Issue 18, item 22. ā = a − mean(a) is a rounded difference: on a nearly constant vector its sum is not 0 but
    a few ulps of the mean, a large part of ā itself. Without projecting the gradient onto centred vectors
    (subtracting its mean along the axis) that offset stayed in the gradient: 2·10⁻⁹ from exact, relatively, on
    these rows; with it, about 10⁻¹⁶. Finite differences cannot see this (their own error is ~10⁻¹¹), so the reference
    is the exact gradient in 40-digit arithmetic."""
    r = np.random.default_rng(7)
    a = 100.0 + 1e-6 * r.standard_normal((6, 9))            # nearly constant: spread 10⁻⁶ around 100
    b = np.concatenate([a[:3] + 1e-9 * r.standard_normal((3, 9)), r.standard_normal((3, 9))])  # near a; and not
    a, b = (a, b) if axis == 1 else (a.T.copy(), b.T.copy())
    rho, grad = L.pearson(a, b, axis)
    ref_rho, ref_grad = pearson_reference(a if axis == 1 else a.T, b if axis == 1 else b.T, 1e-8)
    ref_grad = ref_grad if axis == 1 else ref_grad.T
    np.testing.assert_allclose(rho, ref_rho, rtol=1e-12, atol=1e-15)
    size = np.abs(ref_grad).max(axis=axis)                   # each vector's gradient against its own size
    error = (np.abs(grad - ref_grad).max(axis=axis) / size).max()
    assert error < 1e-12, f"relative error {error:.1e} from the exact gradient"
    assert (np.abs(grad.sum(axis=axis)) / size).max() < 1e-12   # no push along a shift, as for the exact one


def authors_dist(zs, zt, tau, beta, gamma, eps=1e-8):
    """DIST exactly as Huang et al.'s code computes it (hunto/image_classification_sota, lib/models/losses/
    dist_kd.py: ``cosine_similarity(a − a.mean(1), b − b.mean(1), eps)`` with the norms' product plus eps below),
    times τ² as in their paper, written independently of ``tinykd.logit_losses``."""
    def softmax(z):
        e = np.exp(z / tau - (z / tau).max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def correlation(a, b):   # one per row
        a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
        return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + eps)
    ys, yt = softmax(zs), softmax(zt)
    return tau**2 * (beta * (1 - correlation(ys, yt).mean()) + gamma * (1 - correlation(ys.T, yt.T).mean()))


@pytest.mark.parametrize("student_scale", [1e-4, 1e-3, 1.0])
def test_dist_is_the_authors_form(student_scale):
    """Issue 18, item 23: ε enters as the authors' code has it, ``Σ ā b̄ / (‖ā‖ ‖b̄‖ + ε)``, on nearly flat
    probabilities (a student whose logits are still near 0, where the place of ε matters) and on spread ones."""
    r = np.random.default_rng(3)
    zs, zt = student_scale * r.standard_normal((32, 10)), 3.0 * r.standard_normal((32, 10))
    expected = authors_dist(zs, zt, 4.0, 2.0, 1.5)
    assert float(L.dist_loss(zs, zt, 4.0, 2.0, 1.5)[0]) == pytest.approx(expected, rel=1e-12)


@given(n=st.integers(3, 10), c=st.integers(3, 10), scale=scales, tau=temperatures, beta=st.floats(0, 3),
       gamma=st.floats(0, 3), seed=seeds)
def test_dist_gradient(n, c, scale, tau, beta, gamma, seed):
    """(At least three rows and classes, as for ``pearson``: two entries correlate at ±1 except within ε of a flat
    vector, where the correlation turns from −1 to 1 over a width of about ε/‖b̄‖, too
    sharp for the finite-difference stencil; the 40-digit test above covers that region.)"""
    assume(beta or gamma)
    zs, zt, _ = problem(seed, n, c, scale)
    _, grad = L.dist_loss(zs, zt, tau, beta, gamma)
    gradcheck.check(lambda: L.dist_loss(zs, zt, tau, beta, gamma)[0], zs, grad, "dist_loss",
                    floor=gradcheck.FLOOR * max(tau * tau, 1.0))


@given(n=st.integers(2, 10), c=classes, a=st.floats(0.1, 10), seed=seeds)
def test_dist_ignores_what_correlation_ignores(n, c, a, seed):
    """A student whose probabilities equal the teacher's costs only what ε takes from ρ = A/(A + ε) (A the
    centred sum of squares); ρ itself is blind to a positive scale and a shift of either argument (the 'relaxed
    match' DIST is built on), and is −1 for a mirrored one."""
    zs, zt, _ = problem(seed, n, c, 1.0)
    yt = F.softmax(zt, 4.0)
    left = [1 - (lambda s: s / (s + 1e-8))(((yt - yt.mean(axis, keepdims=True)) ** 2).sum(axis)).mean()
            for axis in (1, 0)]
    assert float(L.dist_loss(zt, zt.copy(), 4.0)[0]) == pytest.approx(16 * 2 * sum(left), rel=1e-6, abs=1e-15)
    ys, yt = F.softmax(zs, 4.0), F.softmax(zt, 4.0)
    for axis in (0, 1):
        rho = L.pearson(ys, yt, axis, eps=0.0)[0]
        np.testing.assert_allclose(L.pearson(a * ys + 3.0, yt, axis, eps=0.0)[0], rho, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(L.pearson(-ys, ys, axis, eps=0.0)[0], -1.0, rtol=1e-9)


def test_dist_does_not_fade_at_high_temperature():
    """docs/derivations.md §18: at high τ the correlations of P^τ become those of the centred logits, so DIST's
    gradient divided by its τ² tends to a limit (the gaps shrink like 1/τ) instead of shrinking like §3's soft term
    (1/τ²). ε_corr ends the limit once P^τ's spread is near √ε_corr: τ of several hundred for these logits."""
    zs, zt, _ = problem(4, 8, 6)
    per_t2 = [np.asarray(L.dist_loss(zs, zt, t)[1]) / t**2 for t in (50.0, 100.0, 200.0)]
    gaps = [np.abs(a - b).max() / np.abs(b).max() for a, b in zip(per_t2, per_t2[1:])]
    assert gaps[1] < 0.02 and gaps[1] < 0.7 * gaps[0]                # converging, like 1/τ
    assert np.abs(per_t2[-1]).max() > 1e-3                           # to a limit that is not 0
    kd = [np.abs(F.kl_divergence(zs, zt, t)[1]).max() for t in (100.0, 200.0)]
    assert kd[1] == pytest.approx(kd[0] / 4, rel=2e-2)               # KD without τ²: 1/τ²


# ----------------------------------------------------------------------------------------- logit distance
@pytest.mark.parametrize("kind", ["l1", "l2"])
@given(n=batches, c=classes, seed=seeds)
def test_logit_distance_gradient(kind, n, c, seed):
    zs, zt, _ = problem(seed, n, c)
    zs = zt + gradcheck.off_kink(zs - zt, gap=1e-2)   # L1's kink is where student and teacher logits agree
    value, grad = L.logit_distance(zs, zt, kind)
    gradcheck.check(lambda: L.logit_distance(zs, zt, kind)[0], zs, grad, f"logit_distance({kind})")
    expected = np.abs(zs - zt).mean() if kind == "l1" else 0.5 * ((zs - zt) ** 2).mean()
    assert float(value) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------- every backend, float32
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_matches_float64_reference(xp, dtype):
    zs, zt, y = problem(0, 16, 10)
    ref = {"dkd": L.decoupled_kd(zs, zt, y, 4.0), "dist": L.dist_loss(zs, zt, 4.0),
           "l1": L.logit_distance(zs, zt, "l1"), "std": F.standardise(zs)}
    s, t, yy = move(xp, zs, zt, y, dtype=dtype)
    got = {"dkd": L.decoupled_kd(s, t, yy, 4.0), "dist": L.dist_loss(s, t, 4.0), "l1": L.logit_distance(s, t, "l1"),
           "std": F.standardise(s)}
    for k in ref:
        for a, b in zip(got[k], ref[k]):
            assert a.dtype == dtype
            assert_close(a, np.asarray(b), dtype, scale=100.0)
    assert host(got["dkd"][0]).shape == ()


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_hyper_parameters_are_refused():
    zs, zt, y = problem(0, 4, 5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        L.decoupled_kd(zs[:, :1], zt[:, :1], np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        L.decoupled_kd(zs, zt, y, 0.0)
    with pytest.raises(ValueError, match="batch of at least 2 rows"):
        L.dist_loss(zs[:1], zt[:1])
    assert np.isfinite(L.dist_loss(zs[:1], zt[:1], gamma=0.0)[0])   # the inter-class term alone needs one row
    with pytest.raises(ValueError, match="kind must be one of"):
        L.logit_distance(zs, zt, "l3")
    with pytest.raises(ValueError, match="teacher_logits must have the student's shape"):
        L.dist_loss(zs, zt[:, :4])
    with pytest.raises(TypeError, match="dtype"):
        L.decoupled_kd(zs, zt.astype(np.float32), y)
    with pytest.raises(TypeError, match="integer array"):
        L.decoupled_kd(zs, zt, y.astype(float))
    for call, match in ((lambda: L.decoupled_kd(zs, zt, y, alpha=float("nan")), "alpha must be a finite number"),
                        (lambda: L.decoupled_kd(zs, zt, y, beta=-1.0), "beta must be a finite number >= 0"),
                        (lambda: L.dist_loss(zs, zt, beta=-1.0), "beta must be a finite number >= 0"),
                        (lambda: L.dist_loss(zs, zt, gamma=True), "gamma must be a finite number"),
                        (lambda: F.standardise(zs, eps=0.0), "eps must be a finite number > 0"),
                        (lambda: F.standardise(zs, eps=-1.0), "eps must be a finite number > 0")):
        with pytest.raises(ValueError, match=match):
            call()


def test_weights_that_are_all_zero_are_refused():
    """Issue 28, item 4: DKD and DIST took two 0 weights, a loss of 0 whose gradient cannot move the student."""
    zs, zt, y = problem(0, 4, 5)
    with pytest.raises(ValueError, match=r"^decoupled_kd: alpha and beta are all 0, so the loss and its gradient "
                                         r"are 0 and cannot move the student; give at least one a weight > 0$"):
        L.decoupled_kd(zs, zt, y, alpha=0.0, beta=0)
    with pytest.raises(ValueError, match=r"^dist_loss: beta and gamma are all 0"):
        L.dist_loss(zs, zt, beta=0, gamma=0.0)
    assert float(L.decoupled_kd(zs, zt, y, alpha=0.0, beta=1.0)[0]) > 0   # one weight is enough
    assert float(L.dist_loss(zs, zt, beta=0.0, gamma=1.0)[0]) > 0


def test_decoupled_kd_refuses_targets_out_of_range(no_debug):
    """A direct call reads its targets' range (``functional.check_labels``): −1 would be the last class."""
    zs, zt, y = problem(0, 4, 5)
    for bad in (np.array([0, 1, -1, 2]), np.array([0, 5, 1, 2])):
        with pytest.raises(ValueError, match=r"^targets must lie in \[0, 5\) for 5 classes"):
            L.decoupled_kd(zs, zt, bad)
