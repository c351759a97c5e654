import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

from tinykd import gradcheck
from backends import assert_close, host, move
from tinykd import functional as F
from tinykd.backend import get_array_module, training_step
from tinykd.checks import check_label_vector, check_real

batches = st.integers(1, 16)
classes = st.integers(2, 32)
seeds = st.integers(0, 2**32 - 1)
temperatures = st.sampled_from([0.5, 1.0, 2.0, 4.0, 20.0, 100.0]) | st.floats(0.5, 100.0)
scales = st.sampled_from([0.1, 1.0, 10.0, 100.0, 1000.0])


def logits_of(seed, n, c, scale, dtype=np.float64):
    return (np.random.default_rng(seed).standard_normal((n, c)) * scale).astype(dtype)


# ------------------------------------------------------------------------------------------ finite differences
@given(n=batches, c=classes, t=temperatures, scale=scales, seed=seeds)
def test_softmax_backward_matches_finite_differences(n, c, t, scale, seed):
    z = logits_of(seed, n, c, scale)
    g = np.random.default_rng(seed + 1).standard_normal((n, c))
    p = F.softmax(z, t)
    gradcheck.check(lambda: (g * F.softmax(z, t)).sum(), z, F.softmax_backward(p, g, t), "softmax_backward")


@given(n=batches, c=classes, t=temperatures, scale=scales, seed=seeds)
def test_log_softmax_backward_matches_finite_differences(n, c, t, scale, seed):
    z = logits_of(seed, n, c, scale)
    g = np.random.default_rng(seed + 1).standard_normal((n, c))
    lp = F.log_softmax(z, t)
    gradcheck.check(lambda: (g * F.log_softmax(z, t)).sum(), z, F.log_softmax_backward(lp, g, t),
                    "log_softmax_backward")


@given(n=batches, c=classes, scale=scales, seed=seeds)
def test_cross_entropy_gradient(n, c, scale, seed):
    z = logits_of(seed, n, c, scale)
    y = np.random.default_rng(seed + 1).integers(0, c, n)
    _, grad = F.cross_entropy(z, y)
    gradcheck.check(lambda: F.cross_entropy(z, y)[0], z, grad, "cross_entropy")


@given(n=batches, c=classes, scale=scales, seed=seeds)
def test_cross_entropy_with_unlabelled_rows_gradient(n, c, scale, seed):
    z = logits_of(seed, n, c, scale)
    r = np.random.default_rng(seed + 1)
    y = np.where(r.random(n) < 0.5, -1, r.integers(0, c, n))
    _, grad = F.cross_entropy(z, y, ignore_label=-1)
    gradcheck.check(lambda: F.cross_entropy(z, y, ignore_label=-1)[0], z, grad, "cross_entropy(ignore_label)")


def test_unlabelled_rows_add_nothing(rng, xp):
    """The ignored rows' loss and gradient are 0; the labelled rows' are those of the labelled rows alone."""
    z = rng.standard_normal((6, 4))
    y = np.array([2, -1, 0, -1, -1, 3])
    loss, grad = F.cross_entropy(*move(xp, z, y), ignore_label=-1)
    keep = y >= 0
    ref_loss, ref_grad = F.cross_entropy(z[keep], y[keep])
    assert_close(loss, ref_loss, np.float64)
    assert_close(host(grad)[keep], ref_grad, np.float64)
    assert np.all(host(grad)[~keep] == 0)
    loss, grad = F.cross_entropy(*move(xp, z, np.full(6, -1)), ignore_label=-1)   # no label in the batch
    assert float(host(loss)) == 0 and np.all(host(grad) == 0)


@pytest.mark.parametrize("loss", [F.soft_cross_entropy, F.kl_divergence])
@pytest.mark.parametrize("t_squared", [False, True])
@given(n=batches, c=classes, t=temperatures, scale=scales, seed=seeds)
def test_soft_target_gradient(loss, t_squared, n, c, t, scale, seed):
    zs = logits_of(seed, n, c, scale)
    zt = logits_of(seed + 1, n, c, scale)
    _, grad = loss(zs, zt, t, t_squared)
    # the loss sums log-probabilities as large as max|z|/τ, times τ² with Hinton's factor: round-off grows alike
    floor = gradcheck.FLOOR * max(1.0, max(np.abs(zs).max(), np.abs(zt).max()) / t) * (t * t if t_squared else 1)
    gradcheck.check(lambda: loss(zs, zt, t, t_squared)[0], zs, grad, f"{loss.__name__}(t_squared={t_squared})",
                    floor=floor)
    # the closed form of docs/derivations.md: (P_S^τ − P_T^τ)/(τN), times τ² with Hinton's factor
    expected = (scipy.special.softmax(zs / t, axis=1) - scipy.special.softmax(zt / t, axis=1)) / (t * n)
    np.testing.assert_allclose(grad, expected * (t * t if t_squared else 1), rtol=1e-9, atol=1e-14 * max(1.0, t))


@given(n=batches, scale=scales, seed=seeds, shape2d=st.booleans())
def test_logistic_loss_gradient(n, scale, seed, shape2d):
    r = np.random.default_rng(seed)
    z = r.standard_normal((n, 1) if shape2d else n) * scale
    t = r.random(z.shape)
    _, grad = F.logistic_loss(z, t)
    gradcheck.check(lambda: F.logistic_loss(z, t)[0], z, grad, "logistic_loss")


# ------------------------------------------------------------------------------------ independent references
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_on_every_backend_match_a_float64_reference(xp, dtype):
    r = np.random.default_rng(0)
    zs, zt = r.standard_normal((16, 10)) * 5, r.standard_normal((16, 10)) * 5
    y = r.integers(0, 10, 16)
    t = (y % 2).astype(np.float64)
    for fn, args in ((F.cross_entropy, (zs, y)), (F.soft_cross_entropy, (zs, zt, 4.0, True)),
                     (F.kl_divergence, (zs, zt, 2.0)), (F.logistic_loss, (zs[:, 0], t)),
                     (lambda z: (F.softmax(z, 3.0), F.log_softmax(z, 3.0)), (zs,))):
        reference = fn(*args)
        out = fn(*(move(xp, a, dtype=dtype) if isinstance(a, np.ndarray) else a for a in args))
        for value, ref in zip(out, reference):
            assert value.dtype == dtype and get_array_module(value) is xp
            assert_close(value, ref, dtype, scale=10)


@given(n=batches, c=classes, t=temperatures, scale=scales, seed=seeds)
def test_softmax_matches_scipy(n, c, t, scale, seed):
    z = logits_of(seed, n, c, scale)
    np.testing.assert_allclose(F.softmax(z, t), scipy.special.softmax(z / t, axis=1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(F.log_softmax(z, t), scipy.special.log_softmax(z / t, axis=1), rtol=1e-12,
                               atol=1e-9)


def test_cross_entropy_value_matches_reference(rng, xp):
    z = rng.standard_normal((7, 5))
    y = rng.integers(0, 5, 7)
    loss, _ = F.cross_entropy(*move(xp, z, y))
    expected = -np.mean(scipy.special.log_softmax(z, axis=1)[np.arange(7), y])
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_kl_is_zero_iff_equal_and_differs_from_cross_entropy_by_entropy(rng, xp):
    z = rng.standard_normal((6, 10)) * 3
    kl, grad = F.kl_divergence(*move(xp, z, z.copy()), 4.0)
    assert abs(float(kl)) < 1e-14 and np.abs(host(grad)).max() < 1e-15
    zs = rng.standard_normal((6, 10))
    h, _ = F.soft_cross_entropy(*move(xp, zs, z), 4.0)
    kl, _ = F.kl_divergence(*move(xp, zs, z), 4.0)
    pt = scipy.special.softmax(z / 4.0, axis=1)
    entropy = -(pt * np.log(pt)).sum() / 6
    assert float(h) == pytest.approx(float(kl) + entropy, rel=1e-12)
    assert float(kl) > 0


def test_t_squared_scales_value_and_gradient(rng, xp):
    zs, zt = move(xp, rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))
    h1, g1 = F.soft_cross_entropy(zs, zt, 5.0)
    h2, g2 = F.soft_cross_entropy(zs, zt, 5.0, t_squared=True)
    assert float(h2) == pytest.approx(25 * float(h1), rel=1e-12)
    np.testing.assert_allclose(host(g2), 25 * host(g1), rtol=1e-12)


def test_logistic_loss_matches_reference(rng, xp):
    z = rng.standard_normal(50) * 5
    t = (rng.random(50) < 0.5).astype(float)
    s = scipy.special.expit(z)
    expected = np.mean(-t * np.log(s) - (1 - t) * np.log(1 - s))
    assert float(F.logistic_loss(*move(xp, z, t))[0]) == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(host(F.sigmoid(move(xp, z))), s, rtol=1e-12)


# ----------------------------------------------------------------------------------------------- stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_logits(dtype, xp):
    z = xp.asarray(np.array([[-1000, 1], [1e4, -1e4], [-1e4, 1e4], [3e4, 3e4 - 1]], dtype=dtype))
    zt = z[::-1].copy()
    y = xp.asarray(np.array([0, 0, 0, 1]))
    for t in (0.5, 1.0, 20.0, 100.0):
        for out in (F.softmax(z, t), F.log_softmax(z, t), *F.soft_cross_entropy(z, zt, t), *F.kl_divergence(z, zt, t)):
            assert np.isfinite(host(out)).all()
    loss, grad = F.cross_entropy(z, y)
    assert np.isfinite(host(loss)) and np.isfinite(host(grad)).all()
    # row 1: label 0 loses by 1001, exactly
    assert float(F.cross_entropy(z[:1], y[:1])[0]) == pytest.approx(1001.0, rel=1e-6)
    zl = xp.asarray(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype))
    loss, grad = F.logistic_loss(zl, xp.ones_like(zl))
    assert np.isfinite(host(loss)) and np.isfinite(host(grad)).all()
    assert float(loss) == pytest.approx((1e4 + 50 + np.log(2)) / 5, rel=1e-5)
    np.testing.assert_array_equal(host(F.sigmoid(xp.asarray(np.array([-1e4, 1e4], dtype=dtype)))), [0, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype, rng, xp):
    z = xp.asarray(rng.standard_normal((5, 4)).astype(dtype))
    y = xp.asarray(np.array([0, 1, 2, 3, 0]))
    outs = [F.softmax(z, 3.0), F.log_softmax(z, 3.0), F.softmax_backward(F.softmax(z), z),
            F.log_softmax_backward(F.log_softmax(z), z), *F.cross_entropy(z, y),
            *F.soft_cross_entropy(z, z[::-1].copy(), 3.0, True), *F.kl_divergence(z, z[::-1].copy(), 3.0),
            *F.logistic_loss(z[:, 0], xp.ones(5, dtype=dtype)), F.sigmoid(z)]
    for out in outs:
        assert out.dtype == dtype


# -------------------------------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors(xp, debug):
    """Value checks (labels in range, finite logits, targets in [0, 1]) run per call in debug mode only (the
    training loop checks its data once instead: tests/test_train.py); type and shape checks always."""
    def a(*args, **kwargs):
        return xp.asarray(np.array(*args, **kwargs))
    z = xp.zeros((3, 4))
    with pytest.raises(ValueError, match="labels must have shape"):
        F.cross_entropy(z, a([0, 1]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        F.cross_entropy(z, a([0, 1, 4]))
    with pytest.raises(ValueError, match="labels must lie"):
        F.cross_entropy(z, a([0, -1, 2]))
    with pytest.raises(TypeError, match="labels must be an integer array"):
        F.cross_entropy(z, a([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="logits must be a floating array"):
        F.cross_entropy(xp.zeros((3, 4), dtype=int), a([0, 1, 2]))
    with pytest.raises(ValueError, match="logits must have shape"):
        F.cross_entropy(xp.zeros(4), a([0]))
    bad = z.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        F.cross_entropy(bad, a([0, 1, 2]))
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="teacher_logits contains NaN or inf"):
        F.soft_cross_entropy(z, bad, 2.0)
    for t in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            F.soft_cross_entropy(z, z, t)
    with pytest.raises(TypeError, match="temperature must be a real number"):
        F.kl_divergence(z, z, "2")
    with pytest.raises(ValueError, match="teacher_logits must have the student's shape"):
        F.soft_cross_entropy(z, np.zeros((3, 5)))
    with pytest.raises(TypeError, match="differs from student_logits dtype"):
        F.soft_cross_entropy(z, z.astype(np.float32))
    with pytest.raises(ValueError, match="targets must have the logits' shape"):
        F.logistic_loss(xp.zeros(3), xp.zeros(2))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        F.logistic_loss(xp.zeros(3), a([0, 2.0, 1]))
    with pytest.raises(ValueError, match="z contains NaN"):
        F.logistic_loss(a([np.nan]), a([1.0]))


def test_check_temperature_is_check_real():
    """The temperature's rule is ``checks.check_real``'s (finite, > 0), in its words; only a non-number is a
    ``TypeError``."""
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError) as rule:
            check_real("temperature", bad, low_open=True)
        with pytest.raises(ValueError) as ours:
            F.check_temperature(bad)
        assert str(ours.value) == str(rule.value)
    assert F.check_temperature(np.float32(2.5)) == 2.5 and type(F.check_temperature(3)) is float
    for bad in ("2", True, None):
        with pytest.raises(TypeError, match="temperature must be a real number > 0"):
            F.check_temperature(bad)


def test_check_labels_is_the_one_label_rule(no_debug, xp):
    """Issue 18, item 1: the losses' label check is ``checks.check_label_vector`` (the same words for the same
    fault, a label column told how to flatten itself), plus the range (``check_label_range``): on a direct call
    always, inside a training step in debug mode only."""
    z = xp.zeros((3, 4))
    for bad in (np.array([[0], [1], [2]]), np.array([0, 1]), np.array([0.0, 1.0, 2.0]), np.array(1), [0, 1, 2]):
        bad = xp.asarray(bad) if isinstance(bad, np.ndarray) else bad
        with pytest.raises((TypeError, ValueError)) as rule:
            check_label_vector("labels", bad, rows=3)
        with pytest.raises(type(rule.value)) as ours:
            F.check_labels(bad, 3, 4)
        assert str(ours.value) == str(rule.value)
        with pytest.raises(type(rule.value), match="labels must"):
            F.cross_entropy(z, bad)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\).*y\.ravel\(\)"):
        F.cross_entropy(z, xp.zeros((3, 1), dtype=int))
    bad = xp.asarray(np.array([0, 5, -1]))
    with pytest.raises(ValueError, match=r"^labels must lie in \[0, 4\) for 4 classes, got values in \[-1, 5\]"):
        F.check_labels(bad, 3, 4)                                 # a direct call: where the labels enter
    with training_step():
        F.check_labels(bad, 3, 4)                                 # inside a step the range is not read (no sync)
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 4\)"):
        F.check_label_range(bad, 4, "classes")


def test_value_checks_run_per_call_only_in_debug_mode(no_debug, monkeypatch):
    """Without TINYKD_DEBUG a bad value flows through (a NaN loss, which the training loop stops at); shapes and
    dtypes are still checked."""
    from tinykd import backend
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    assert np.isnan(F.cross_entropy(bad, np.array([0, 1, 2]))[0])
    assert np.isnan(F.logistic_loss(np.array([np.nan]), np.array([1.0]))[0])
    with pytest.raises(TypeError, match="labels must be an integer array"):
        F.cross_entropy(bad, np.array([0.0, 1.0, 2.0]))
    monkeypatch.setattr(backend, "_DEBUG", None)
    monkeypatch.setenv("TINYKD_DEBUG", "yes")
    with pytest.raises(ValueError, match="TINYKD_DEBUG must be 1"):
        backend.debug()
    monkeypatch.setenv("TINYKD_DEBUG", "1")
    assert backend.debug() is True
    monkeypatch.setenv("TINYKD_DEBUG", "0")
    assert backend.debug() is True  # read once: later changes of the environment do not count


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_family_rejects_integer_logits_and_bad_temperatures(fn):
    # on integer logits τ was cast to the logits' dtype: τ = 2.7 became 2, and τ = 0.5 became 0 (NaN)
    for t in (2.7, 0.5):
        with pytest.raises(TypeError, match="logits must be a floating array"):
            fn(np.array([[1, 2, 3]]), t)
    with pytest.raises(ValueError, match="logits must have shape"):
        fn(np.zeros(3), 1.0)
    z = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(F.softmax(z, 2.7), scipy.special.softmax(z / 2.7, axis=1), rtol=1e-12)
    p, lp, g = F.softmax(z), F.log_softmax(z), np.ones_like(z)
    for t in (0, -1.0, float("nan"), float("inf")):
        for call in (lambda: fn(z, t), lambda: F.softmax_backward(p, g, t), lambda: F.log_softmax_backward(lp, g, t)):
            with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
                call()
    with pytest.raises(TypeError, match="temperature must be a real number"):
        fn(z, "2")


def test_standardise_has_one_spelling_across_the_public_api():
    """British ``standardise`` everywhere: ``data.load``/``preprocess`` once took ``standardize=`` beside
    ``F.standardise`` and ``KD(standardise=...)``."""
    import importlib
    import inspect
    import pkgutil
    import tinykd
    american = []
    for info in pkgutil.iter_modules(tinykd.__path__):
        module = importlib.import_module(f"tinykd.{info.name}")
        for name, obj in vars(module).items():
            if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__:
                try:
                    params = inspect.signature(obj).parameters
                except (TypeError, ValueError):
                    continue
                american += [f"{info.name}.{name}({p}=)" for p in (name, *params) if "standardiz" in p.lower()]
    assert not american
    assert "standardise" in inspect.signature(tinykd.distill.KD).parameters


# ------------------------------------------------------------------------------------------- issue 28, item 4
def test_label_minus_one_is_unlabelled_only_where_ignore_label_says_so(xp, no_debug):
    """``cross_entropy`` called directly scored label −1 as the last class (NumPy reads index −1 from the end) and
    label C failed in NumPy's words (CuPy wraps it): each is now one line, −1 allowed only with ``ignore_label``."""
    z = xp.asarray(np.random.default_rng(0).standard_normal((3, 10)))
    with pytest.raises(ValueError, match=r"^labels must lie in \[0, 10\) for 10 classes, got values in \[-1, 2\]; "
                                         r".*a negative label marks an unlabelled row only for an objective built "
                                         r"with ignore_label"):
        F.cross_entropy(z, xp.asarray(np.array([0, -1, 2])))
    with pytest.raises(ValueError, match=r"got values in \[0, 10\]; labels are class indices"):
        F.cross_entropy(z, xp.asarray(np.array([0, 10, 2])))
    with pytest.raises(ValueError, match=r"got values in \[0, 10\] besides ignore_label=-1"):
        F.cross_entropy(z, xp.asarray(np.array([0, 10, -1])), ignore_label=-1)
    with pytest.raises(ValueError, match=r"got values in \[-2, 2\] besides ignore_label=-1"):
        F.cross_entropy(z, xp.asarray(np.array([-1, -2, 2])), ignore_label=-1)
    loss, grad = F.cross_entropy(z, xp.asarray(np.array([0, -1, 2])), ignore_label=-1)
    two, _ = F.cross_entropy(z[[0, 2]], xp.asarray(np.array([0, 2])))
    assert float(loss) == pytest.approx(float(two), rel=1e-12) and not host(grad)[1].any()


def test_non_finite_values_are_one_line_naming_where(xp):
    """``check_finite``: the one rule for non-finite data (``fit``, ``errors``, ``predict``, ``load_network_arrays``)."""
    a = np.zeros((5, 3))
    F.check_finite("x", xp.asarray(a))
    F.check_finite("x", None)
    a[[1, 3], 2] = [np.nan, -np.inf]
    with pytest.raises(ValueError, match=r"^x contains NaN or inf; every value must be finite: clean or drop those "
                                         r"rows \(2 of its 5 rows, the first at index 1\)$"):
        F.check_finite("x", xp.asarray(a))
    with pytest.raises(ValueError, match=r"^b contains NaN or inf; every value must be finite: retrain \(1 of its 3 "
                                         r"entries, the first at index 2\)$"):
        F.check_finite("b", xp.asarray(a[1]), "retrain")
