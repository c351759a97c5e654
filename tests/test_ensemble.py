"""The ensemble teacher (``tinykd.ensemble``, ``docs/derivations.md`` §21): its logits give the mean of the members'
P^τ under KD's softmax(·/τ), exactly and stably; KD's gradient against that target by finite differences (float64),
for both averages; what the two averages are, and where they differ; the one-line refusals; float32 stays float32."""
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends import host, move
from tinykd import MLP, gradcheck
from tinykd import functional as F
from tinykd.distill import KD
from tinykd.ensemble import Ensemble, ensemble_logits, select

ROOT = Path(__file__).resolve().parents[1]
seeds = st.integers(0, 2**32 - 1)


def members(seed, k, n, c, scale=3.0):
    """``k`` members' logits, one N×C array each, float64."""
    r = np.random.default_rng(seed)
    return [scale * r.standard_normal((n, c)) + r.standard_normal(c) for _ in range(k)]


def mean_of_distributions(zs, tau):
    """``(1/K_T) Σ_T softmax(z_T/τ)``, written out."""
    return np.mean([F.softmax(z, tau) for z in zs], axis=0)


class Fixed:
    """A member whose logits are given: ``logits(x)`` returns them (for rows ``x`` of indices)."""

    def __init__(self, z):
        self.z = z

    def logits(self, x):
        return self.z[x]


# ------------------------------------------------------------------------------------------------- the claim
@given(k=st.integers(1, 6), n=st.integers(1, 8), c=st.integers(2, 12), tau=st.sampled_from([0.5, 1.0, 4.0, 20.0]),
       scale=st.sampled_from([0.1, 3.0, 30.0]), seed=seeds)
def test_the_ensemble_logits_give_the_mean_of_the_members_distributions(k, n, c, tau, scale, seed):
    zs = members(seed, k, n, c, scale)
    target = F.softmax(ensemble_logits(zs, tau), tau)
    np.testing.assert_allclose(target, mean_of_distributions(zs, tau), rtol=0, atol=1e-12)
    # the logits are exactly τ log P̄^τ (no constant per row left): their tempered log-sum-exp is 0
    lse = np.logaddexp.reduce(ensemble_logits(zs, tau) / tau, axis=1)
    np.testing.assert_allclose(lse, 0, atol=1e-12)
    # the class gives the same, from members with logits(x); and from one K_T×N×C array
    ensemble = Ensemble([Fixed(z) for z in zs])
    np.testing.assert_array_equal(ensemble.logits(np.arange(n), tau), ensemble_logits(zs, tau))
    np.testing.assert_array_equal(ensemble_logits(np.stack(zs), tau), ensemble_logits(zs, tau))


def test_one_member_is_that_members_distribution(rng):
    z = 5 * rng.standard_normal((6, 7))
    for tau in (0.5, 1.0, 4.0, 20.0):
        np.testing.assert_allclose(ensemble_logits([z], tau), tau * F.log_softmax(z, tau), rtol=0, atol=1e-12)
        np.testing.assert_allclose(F.softmax(ensemble_logits([z], tau), tau), F.softmax(z, tau), atol=1e-15)
        np.testing.assert_array_equal(ensemble_logits([z], tau, "logits"), z)


def test_stable_at_logits_of_1000(rng):
    zs = [np.where(rng.random((5, 4)) < 0.5, -1000.0, 1000.0) + rng.standard_normal((5, 4)) for _ in range(3)]
    for tau in (0.5, 1.0, 2.0):
        out = ensemble_logits(zs, tau)
        assert np.isfinite(out).all()
        np.testing.assert_allclose(F.softmax(out, tau), mean_of_distributions(zs, tau), atol=1e-12)
        # the log of the mean is finite where every member's probability underflows: its log is about −2000/τ
        with np.errstate(divide="ignore"):
            naive = tau * np.log(mean_of_distributions(zs, tau))
        assert np.isneginf(naive).any()
        finite = np.isfinite(naive)
        np.testing.assert_allclose(out[finite], naive[finite], atol=1e-9)
        reference = tau * (np.logaddexp.reduce([F.log_softmax(z, tau) for z in zs], axis=0) - np.log(len(zs)))
        np.testing.assert_allclose(out, reference, rtol=1e-12)
    assert np.isfinite(ensemble_logits(zs, None, "logits")).all()


# ------------------------------------------------------------------------------------------- KD's gradient
@pytest.mark.parametrize("average", ["probabilities", "logits"])
@pytest.mark.parametrize("form", ["additive", "hinton"])
@given(k=st.integers(1, 4), n=st.integers(1, 8), c=st.integers(2, 10), tau=st.sampled_from([1.0, 4.0, 20.0]),
       w=st.floats(0.1, 1), seed=seeds)
def test_kd_gradient_against_the_ensemble_target(average, form, k, n, c, tau, w, seed):
    zs = members(seed, k, n, c)
    r = np.random.default_rng(seed + 1)
    student, labels = 3 * r.standard_normal((n, c)), r.integers(0, c, n)
    teacher = ensemble_logits(zs, tau, average)
    objective = KD(tau, w, form)
    _, grad = objective(student, labels, teacher)
    gradcheck.check(lambda: objective(student, labels, teacher)[0], student, grad, f"KD({form}) on an ensemble "
                    f"({average})", floor=gradcheck.FLOOR * tau * tau)
    # the closed form of §21: (1 − a)(P_S − Y)/N + a τ (P_S^τ − P̄^τ)/N (additive: 1, and λ_KD/(τN))
    target = mean_of_distributions(zs, tau) if average == "probabilities" else F.softmax(np.mean(zs, axis=0), tau)
    hard = (F.softmax(student) - np.eye(c)[labels]) / n
    soft = (F.softmax(student, tau) - target) / n
    closed = (1 - w) * hard + w * tau * soft if form == "hinton" else hard + w * soft / tau
    np.testing.assert_allclose(grad, closed, rtol=1e-10, atol=1e-13)


def test_the_averaged_target_gives_the_members_mean_gradient_and_a_constant_apart_value(rng):
    zs, student = members(7, 4, 6, 5), 2 * rng.standard_normal((6, 5))
    tau = 4.0
    value, grad = F.kl_divergence(student, ensemble_logits(zs, tau), tau, t_squared=True)
    each = [F.kl_divergence(student, z, tau, t_squared=True) for z in zs]
    np.testing.assert_allclose(grad, np.mean([g for _, g in each], axis=0), rtol=1e-12, atol=1e-15)
    p_bar = mean_of_distributions(zs, tau)

    def entropy(p):
        return -(p * np.log(p)).sum() / p.shape[0]
    spread = entropy(p_bar) - np.mean([entropy(F.softmax(z, tau)) for z in zs])
    assert spread > 0
    np.testing.assert_allclose(np.mean([v for v, _ in each]), value + tau * tau * spread, rtol=1e-12)
    # a student that is the ensemble has KL 0 while the members' mean KL keeps the spread
    assert abs(F.kl_divergence(ensemble_logits(zs, tau), ensemble_logits(zs, tau), tau)[0]) < 1e-14


# --------------------------------------------------------------------------------- the two averages, compared
def test_the_logit_mean_is_the_normalised_geometric_mean(rng):
    zs = members(3, 3, 5, 6)
    for tau in (0.7, 1.0, 4.0):
        geometric = np.exp(np.mean([F.log_softmax(z, tau) for z in zs], axis=0))
        geometric /= geometric.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(F.softmax(ensemble_logits(zs, tau, "logits"), tau), geometric, atol=1e-14)
    same = [zs[0]] * 3                                    # members that agree: both averages are that member
    for average in ("probabilities", "logits"):
        np.testing.assert_allclose(F.softmax(ensemble_logits(same, 2.0, average), 2.0), F.softmax(zs[0], 2.0),
                                   atol=1e-14)


@given(k=st.integers(1, 5), n=st.integers(1, 6), c=st.integers(2, 8), tau=st.sampled_from([0.5, 1.0, 4.0]),
       seed=seeds)
def test_the_probability_mean_is_never_more_confident_than_its_most_confident_member(k, n, c, tau, seed):
    zs = members(seed, k, n, c)
    most = np.max([F.softmax(z, tau).max(axis=1) for z in zs], axis=0)
    assert (F.softmax(ensemble_logits(zs, tau), tau).max(axis=1) <= most + 1e-12).all()
    if c == 2:                            # with two classes the logit mean's difference lies between the members'
        assert (F.softmax(ensemble_logits(zs, tau, "logits"), tau).max(axis=1) <= most + 1e-12).all()


def test_only_the_logit_mean_can_be_more_confident_than_every_member():
    """§21's three-class example: members agree on class 1 (0.620) and disagree on the runner-up."""
    zs = [np.array([[0.0, -0.5, -5.0]]), np.array([[0.0, -5.0, -0.5]])]
    for z in zs:
        assert round(F.softmax(z)[0, 0], 3) == 0.620
    np.testing.assert_allclose(F.softmax(ensemble_logits(zs, 1.0)), [[0.620, 0.190, 0.190]], atol=5e-4)
    np.testing.assert_array_equal(ensemble_logits(zs, None, "logits"), [[0.0, -2.75, -2.75]])
    np.testing.assert_allclose(F.softmax(ensemble_logits(zs, 1.0, "logits")), [[0.887, 0.057, 0.057]], atol=5e-4)


def test_the_two_averages_meet_at_high_temperature():
    """Their difference shrinks as τ⁻² (τ⁻³ with two classes, §3's vanishing second-order term)."""
    for c, order in ((5, 2), (2, 3)):
        zs = members(11, 3, 4, c)

        def gap(tau):
            return np.abs(F.softmax(ensemble_logits(zs, tau), tau) - F.softmax(np.mean(zs, axis=0), tau)).max()
        for tau in (50.0, 100.0):
            assert gap(2 * tau) / gap(tau) == pytest.approx(2.0**-order, rel=0.1), (c, tau)


def test_the_ensemble_logits_are_the_ensembles_at_one_temperature_only():
    """Read at τ′ ≠ τ they give (P̄^τ)^(τ/τ′), normalised, not the mean of the members' P^τ′ (§21)."""
    zs = members(5, 3, 4, 6)
    at4 = ensemble_logits(zs, 4.0)
    read_at_1 = F.softmax(at4, 1.0)
    power = mean_of_distributions(zs, 4.0) ** 4.0
    np.testing.assert_allclose(read_at_1, power / power.sum(axis=1, keepdims=True), atol=1e-12)
    assert np.abs(read_at_1 - mean_of_distributions(zs, 1.0)).max() > 1e-2


def test_worked_example_matches_the_document():
    """Every number of §21's table (two members, two classes), recomputed."""
    doc = (ROOT / "docs" / "derivations.md").read_text(encoding="utf-8")
    section = re.search(r"^## 21\. .*?(?=^## |\Z)", doc, re.M | re.S).group(0)
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.e+-]+) \|$", section, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 4, 20]
    assert "`z_1 = [4, 0]`, `z_2 = [−1, 0]`" in section
    zs = [np.array([[4.0, 0.0]]), np.array([[-1.0, 0.0]])]
    for tau, p1, p2, prob_mean, logit_mean, difference in rows:
        tau = float(tau)
        got = [F.softmax(z, tau)[0, 0] for z in zs]
        got += [F.softmax(ensemble_logits(zs, tau), tau)[0, 0], F.softmax(ensemble_logits(zs, tau, "logits"), tau)[0, 0]]
        assert [f"{v:.4f}" for v in got] == [p1, p2, prob_mean, logit_mean], tau
        assert f"{got[3] - got[2]:.2e}" == difference, tau


# ------------------------------------------------------------------------------ networks, dtypes, backends
def test_members_of_different_sizes_and_float32_stays_float32(xp):
    nets = [MLP([6, 5, 3], seed=1, backend=xp), MLP([6, 12, 7, 3], seed=2, backend=xp), MLP([6, 3], seed=3,
                                                                                          backend=xp)]
    x = move(xp, np.random.default_rng(0).standard_normal((9, 6)), dtype=np.float32)
    for average in ("probabilities", "logits"):
        ensemble = Ensemble(nets, average)
        out = ensemble.logits(x, 4.0)
        assert out.dtype == np.float32 and out.shape == (9, 3) and type(out) is type(x)
        zs = [host(net.logits(x)).astype(np.float64) for net in nets]
        np.testing.assert_allclose(host(out), ensemble_logits(zs, 4.0, average), rtol=2e-5, atol=2e-5)
        assert host(ensemble.predict(x)).tolist() == ensemble_logits(zs, 1.0, average).argmax(axis=1).tolist()
    assert Ensemble(nets, "logits").logits(x).dtype == np.float32
    assert Ensemble(nets).count_params() == sum(net.count_params() for net in nets)


def test_the_ensemble_feeds_kd_and_fit_as_any_teacher_does():
    from tinykd import SGD
    from tinykd.train import fit
    r = np.random.default_rng(0)
    x, y = r.standard_normal((32, 6)).astype(np.float32), r.integers(0, 3, 32)
    ensemble = Ensemble([MLP([6, 8, 3], seed=s) for s in (1, 2)])
    student = MLP([6, 4, 3], seed=3)
    fit(student, KD(4.0), SGD(student, lr=0.1), x, y, epochs=1, batch_size=8, teacher=ensemble.logits(x, 4.0))
    with pytest.raises(ValueError, match="needs temperature=τ"):            # a function of x alone is refused
        fit(student, KD(4.0), SGD(student, lr=0.1), x, y, epochs=1, batch_size=8, teacher=ensemble.logits)


def test_the_one_line_refusals():
    z = np.zeros((2, 3))

    def refused(error, match, call):
        with pytest.raises(error, match=match) as info:
            call()
        assert "\n" not in str(info.value), str(info.value)

    refused(ValueError, "at least one member", lambda: Ensemble([]))
    refused(ValueError, "at least one member's logits", lambda: ensemble_logits([], 1.0))
    refused(TypeError, "has no logits", lambda: Ensemble([object()]))
    refused(TypeError, "a list of trained networks", lambda: Ensemble(MLP([4, 3])))
    refused(ValueError, "average must be 'probabilities'", lambda: Ensemble([Fixed(z)], "mean"))
    refused(ValueError, "average must be 'probabilities'", lambda: ensemble_logits([z], 1.0, "geometric"))
    refused(ValueError, "different numbers of classes", lambda: Ensemble([MLP([4, 3]), MLP([4, 5, 2])]))
    refused(ValueError, "member 1's logits have shape", lambda: ensemble_logits([z, np.zeros((2, 4))], 1.0))
    refused(TypeError, "cast the members to one dtype", lambda: ensemble_logits([z, z.astype(np.float32)], 1.0))
    refused(TypeError, "floating array", lambda: ensemble_logits([np.zeros((2, 3), int)], 1.0))
    refused(ValueError, "temperature=τ", lambda: ensemble_logits([z], None))
    refused(ValueError, "needs temperature=τ", lambda: Ensemble([Fixed(z)]).logits(np.arange(2)))
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        for average in ("probabilities", "logits"):
            refused(ValueError, "temperature must be", lambda: Ensemble([Fixed(z)], average).logits(np.arange(2),
                                                                                                     bad))
    refused(TypeError, "temperature must be a real number", lambda: ensemble_logits([z], "4", "logits"))


def _val_logits(rng, y, classes, accuracy):
    """Logits that put most mass on the label on about ``accuracy`` of the rows (a random wrong class elsewhere)."""
    n = y.size
    top = np.where(rng.random(n) < accuracy, y, (y + rng.integers(1, classes, n)) % classes)
    z = rng.standard_normal((n, classes))
    z[np.arange(n), top] += 3.0
    return z


def test_select_adds_networks_while_they_lower_the_validation_errors_and_reports_every_step():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    logits = {name: _val_logits(rng, y, 5, acc) for name, acc in (("a", 0.8), ("b", 0.78), ("c", 0.76),
                                                                   ("bad", 0.05))}
    average, members, steps = select(logits, y)
    assert set(steps) == {"probabilities", "logits"} and members == steps[average][-1][0]
    single = {n: int((z.argmax(1) != y).sum()) for n, z in logits.items()}
    assert "bad" not in members and single[members[0]] == min(single.values())   # the best one first; the bad never
    assert len(members) > 1                                   # independent errors: averaging pays
    for how, trace in steps.items():
        pairs = [tuple(step[1:]) for step in trace]
        assert pairs == sorted(pairs, reverse=True) and len(set(pairs)) == len(pairs)   # each step strictly lower
        for names, errors, ce in trace:                        # the numbers are the ensemble's, recomputed
            z = ensemble_logits([logits[n] for n in names], 1.0, how)
            assert errors == int((z.argmax(1) != y).sum())
            log_p = z - z.max(1, keepdims=True)
            log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
            assert ce == pytest.approx(-log_p[np.arange(400), y].mean(), rel=1e-12)
    assert all(steps[average][-1][1:] <= trace[-1][1:] for trace in steps.values())   # the lower average wins


def test_select_keeps_one_network_that_no_other_improves_and_breaks_ties_by_order():
    """A copy of a member changes nothing, float32 logits included (select takes them in float64, where the rounding
    of a mean is far below its tolerance; a copy that passed for a gain would double a member's weight)."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 10, 5000)
        z = (_val_logits(rng, y, 10, 0.9) * 3).astype(np.float32)
        average, members, steps = select({"first": z, "copy": z.copy()}, y)
        assert members == ["first"] and average == "probabilities", seed   # ties: the paper's average
        assert [len(t) for t in steps.values()] == [1, 1]
    with pytest.raises(ValueError, match="at least one"):
        select({}, y)
    with pytest.raises(ValueError, match="first's validation logits have shape \\(3, 10\\), for 5000 labels"):
        select({"first": np.zeros((3, 10))}, y)
