"""Learners' solutions of the exercises of §10–§21, right and wrong, written as a learner would (NumPy alone,
independently of tinykd and of the checker's variants), and the tests that the checker sorts them: every right one
passes (also in float32), every catalogued mistake is rejected with its hint, from a file in a temporary folder.
Also right solutions in unusual forms, for every section, which must pass."""
import numpy as np
import pytest

from test_exercises_solutions import _log_softmax, assert_named, check_file, in_float32
from tinykd.exercises import EXERCISES, check


def _lsm(z, tau=1.0):
    u = z / tau
    u = u - u.max(axis=1, keepdims=True)
    return u - np.log(np.exp(u).sum(axis=1, keepdims=True))


def kd_objective(mistake=None):
    def solution(zs, zt, labels, tau, weight, form):
        n, c = zs.shape
        hinton = (form == "hinton") != (mistake == "form")
        y = np.eye(c)[labels]
        hard_z = zs / tau if mistake == "hard_tau" else zs
        lp = _lsm(hard_z)
        hard = -(y * lp).sum() / n
        g_hard = (np.exp(lp) - y) / n / (tau if mistake == "hard_tau" else 1)
        ls, lt = _lsm(zs, tau), _lsm(zt, 1.0 if mistake == "teacher_tau" else tau)
        ps, pt = np.exp(ls), np.exp(lt)
        rows = n * c if mistake == "mean_nc" else n
        soft = (pt * ((0 if mistake == "soft_ce" else lt) - ls)).sum() / rows
        g_soft = (ps - pt) / (tau * rows)
        if hinton:
            factor = {"no_t2": 1.0, "tau_for_t2": tau}.get(mistake, tau**2)
            a_hard = 1.0 if mistake == "one_minus_a" else 1 - weight
            loss = a_hard * hard + weight * factor * soft
            grad = a_hard * g_hard + weight * factor * g_soft * (tau if mistake == "grad_tau_squared" else 1)
        else:
            factor = tau**2 if mistake == "t2_additive" else 1.0
            loss, grad = hard + weight * factor * soft, g_hard + weight * factor * g_soft
        return loss, -grad if mistake == "sign" else grad
    return solution


def hint_regressor(mistake=None):
    def solution(hs, ht, w, b):
        n = hs.shape[0]
        diff = hs @ w + b - ht
        if mistake == "mean_nf":
            loss, dr = (diff**2).mean(), 2 * diff / diff.size
        else:
            half = 1.0 if mistake == "no_half" else 0.5
            per = 1 if mistake == "n" else n
            loss, dr = half * (diff**2).sum() / per, 2 * half * diff / per
        if mistake == "sign":
            dr = -dr
        dw = dr.T @ hs if mistake == "transposed" else hs.T @ dr
        db = dr.mean(axis=0) if mistake == "db_mean" else dr.sum(axis=0)
        return loss, dr @ w.T, dw, db
    return solution


def standardise(mistake=None):
    def solution(z, g, eps):
        axis = 0 if mistake == "axis" else 1
        k = z.shape[axis]
        d = z - z.mean(axis=axis, keepdims=True)
        var = (d**2).sum(axis=axis, keepdims=True) / (k - 1 if mistake == "unbiased" else k)
        sigma = np.sqrt(var) + eps if mistake == "eps_outside" else np.sqrt(var + eps)
        zt = d / sigma
        if mistake in ("unbiased", "eps_outside", "axis"):    # the backward of the forward as written
            dsigma = -(g * d).sum(axis=axis, keepdims=True) / sigma**2
            dvar = dsigma * 0.5 / np.sqrt(var + (0 if mistake == "eps_outside" else eps))
            dd = g / sigma + dvar * 2 * d / (k - 1 if mistake == "unbiased" else k)
            return zt, dd - dd.mean(axis=axis, keepdims=True)
        mean_g = 0 if mistake in ("mean_path", "both") else g.mean(axis=1, keepdims=True)
        var_g = 0 if mistake in ("var_path", "both") else zt * (g * zt).mean(axis=1, keepdims=True)
        dz = (g - mean_g - var_g) / {"no_sigma": 1.0, "sigma_squared": sigma**2}.get(mistake, sigma)
        return zt, -dz if mistake == "sign" else dz
    return solution


def _binary_kl(p_log, q_log, rest_p_log, rest_q_log):
    return np.exp(p_log) * (p_log - q_log) + np.exp(rest_p_log) * (rest_p_log - rest_q_log)


def decoupled_kd(mistake=None):
    def solution(zs, zt, y, tau, tc_weight, nc_weight):
        n, c = zs.shape
        if mistake == "swapped":
            tc_weight, nc_weight = nc_weight, tc_weight
        target = np.eye(c, dtype=bool)[y]

        def split(z):
            u = z / tau
            m = u.max(axis=1, keepdims=True)
            log_z = m + np.log(np.exp(u - m).sum(axis=1, keepdims=True))
            rest = np.where(target, -np.inf, u)
            mr = rest.max(axis=1, keepdims=True)
            log_rest = mr + np.log(np.exp(rest - mr).sum(axis=1, keepdims=True))
            log_py = (u * target).sum(axis=1, keepdims=True) - log_z
            log_hat = np.where(target, 0.0, u - (log_z if mistake == "unnormalised" else log_rest))
            return log_py, log_rest - log_z, log_hat, u - log_z
        ys, ns, hs, ls = split(zs)
        yt, nt, ht, lt = split(zt)
        tckd = np.exp(yt) * (yt - ys) + (0 if mistake == "tckd_half" else np.exp(nt) * (nt - ns))
        hat_s, hat_t = np.where(target, 0, np.exp(hs)), np.where(target, 0, np.exp(ht))
        nckd = (hat_t * (ht - hs)).sum(axis=1, keepdims=True)
        # gradients by hand, per part, each times τ: (P_S,y − P_T,y)(Y − P̂_S) and P̂_S − P̂_T
        true_hat_s = np.where(target, 0, np.exp(ls - ns))       # P̂_S, renormalised (TCKD's gradient needs it)
        d_tc = (np.exp(ys) - np.exp(yt)) * (target - true_hat_s)
        if mistake == "tckd_half":      # −P_T,y log P_S,y alone: −P_T,y (Y − P_S)
            d_tc = -np.exp(yt) * (target - np.exp(ls))
        d_nc = hat_s - hat_t
        if mistake == "unnormalised":   # Σ_{k≠y} P_T,k (log P_T,k − log P_S,k), P_S = softmax(z_S/τ) on every term
            nckd = (hat_t * (ht - hs)).sum(axis=1, keepdims=True)
            d_nc = hat_t.sum(axis=1, keepdims=True) * np.exp(ls) - hat_t
        if mistake == "full_kl":
            nckd = (np.exp(lt) * (lt - ls)).sum(axis=1, keepdims=True)
            d_nc = np.exp(ls) - np.exp(lt)
        if mistake == "coupled":
            nckd, d_nc = nckd * (1 - np.exp(yt)), d_nc * (1 - np.exp(yt))
        t2 = {"no_t2": 1.0, "t_for_t2": tau}.get(mistake, tau**2)
        rows = n * c if mistake == "mean_nc" else n
        loss = t2 * (tc_weight * tckd + nc_weight * nckd).sum() / rows
        grad = t2 / tau * (tc_weight * d_tc + nc_weight * d_nc) / rows * (tau if mistake == "grad_t2" else 1)
        return loss, -grad if mistake == "sign" else grad
    return solution


def _pearson(a, b, axis, centre=True):
    """corr along ``axis`` and its gradient with respect to a (the norm guarded outside)."""
    if centre:
        a = a - a.mean(axis=axis, keepdims=True)
        b = b - b.mean(axis=axis, keepdims=True)
    na = np.sqrt((a * a).sum(axis=axis, keepdims=True))
    nb = np.sqrt((b * b).sum(axis=axis, keepdims=True))
    q = na * nb + 1e-8
    r = (a * b).sum(axis=axis, keepdims=True) / q
    g = (b - r * nb * a / np.where(na > 0, na, 1)) / q
    return r, (g - g.mean(axis=axis, keepdims=True) if centre else g)


def dist_loss(mistake=None):
    def solution(zs, zt, tau, inter, intra):
        n, c = zs.shape
        if mistake == "swapped":
            inter, intra = intra, inter
        ps, pt = (zs, zt) if mistake == "logits" else (np.exp(_lsm(zs, tau)), np.exp(_lsm(zt, tau)))
        centre = mistake != "no_centre"
        r_rows, g_rows = _pearson(ps, pt, 1, centre)
        r_cols, g_cols = _pearson(ps, pt, 1 if mistake == "intra_axis" else 0, centre)
        if mistake == "first_term":      # ‖Ū‖ taken as a constant: ∂corr/∂Ū = V̄/Q alone
            for g, axis in ((g_rows, 1), (g_cols, 0)):
                a, b = ps - ps.mean(axis=axis, keepdims=True), pt - pt.mean(axis=axis, keepdims=True)
                q = np.sqrt((a * a).sum(axis=axis, keepdims=True) * (b * b).sum(axis=axis, keepdims=True)) + 1e-8
                g[...] = b / q - (b / q).mean(axis=axis, keepdims=True)
        t2 = 1.0 if mistake == "no_t2" else tau**2
        mean_rows, mean_cols = (1.0, 1.0) if mistake == "sums" else (1 / n, 1 / (n if mistake == "intra_axis" else c))
        loss = t2 * inter * (1 - r_rows.sum() * mean_rows)
        big_g = -t2 * inter * mean_rows * g_rows
        if intra:
            loss += t2 * intra * (1 - r_cols.sum() * mean_cols)
            big_g = big_g - t2 * intra * mean_cols * g_cols
        if mistake == "stop_at_p":
            return loss, big_g
        if mistake == "log_softmax_product":
            return loss, (big_g - ps * big_g.sum(axis=1, keepdims=True)) / tau
        scale = 1.0 if mistake in ("tau", "logits") else 1 / tau
        dz = big_g if mistake == "logits" else ps * (big_g - (big_g * ps).sum(axis=1, keepdims=True)) * scale
        return loss, -dz if mistake == "sign" else dz
    return solution


def conditional_adversarial(mistake=None):
    def solution(zs, zt, labels, w, b, ce_weight, logit_weight, adv_weight, logit_loss):
        n, c = zs.shape
        y = np.eye(c)[labels]
        lp = _lsm(zs)
        ce, dce = -(y * lp).sum() / n, (np.exp(lp) - y) / n
        diff = zs - zt
        count = n if mistake == "rows" else diff.size
        if logit_loss == "l1":
            sign = np.where(diff >= 0, 1.0, -1.0) if mistake == "sign_zero" else np.sign(diff)
            dist, ddist = np.abs(diff).sum() / count, sign / count
        else:
            half = 1.0 if mistake == "no_half" else 0.5
            dist, ddist = half * (diff**2).sum() / count, 2 * half * diff / count
        d = zs - zs.mean(axis=1, keepdims=True)
        sigma = np.sqrt((d**2).mean(axis=1, keepdims=True) + 1e-12)
        zn = d / sigma
        q = np.concatenate([zn, y], axis=1) @ w + b
        target = 1.0 if mistake == "target" else 0.0
        adv = (np.maximum(q, 0) - q * target + np.log1p(np.exp(-np.abs(q)))).mean()
        dq = (1 / (1 + np.exp(-q)) - target) / (1 if mistake == "n" else n)
        dzn = dq @ (w[c:] if mistake == "class_rows" else w[:c]).T
        if mistake == "no_standardise":
            dadv = dzn
        else:
            dadv = (dzn - dzn.mean(axis=1, keepdims=True) - zn * (dzn * zn).mean(axis=1, keepdims=True)) / sigma
        s = -1.0 if mistake == "sign" else 1.0
        return (ce_weight * ce + logit_weight * dist + s * adv_weight * adv,
                ce_weight * dce + logit_weight * ddist + s * adv_weight * dadv)
    return solution


def max_norm(mistake=None):
    def solution(w, c):
        if mistake == "clip":
            return np.clip(w, -c, c)
        norms = np.linalg.norm(w, axis=1 if mistake == "rows" else 0, keepdims=True)
        if mistake == "frobenius":
            norms = np.linalg.norm(w)
        if mistake == "always":
            return w * (c / norms)
        if mistake == "normalise_first":
            with np.errstate(invalid="ignore"):
                return (w / norms) * np.minimum(norms, c)
        if mistake == "squared":
            norms = norms**2
        return w * (c / np.maximum(norms, c))
    return solution


def ensemble_target(mistake=None):
    def solution(member_logits, student_logits, temperature):
        k, n, c = member_logits.shape
        tau = temperature
        axis = 1 if mistake == "axis" else 2
        u = member_logits / (1.0 if mistake == "tau_members" else tau)
        u = u - u.max(axis=axis, keepdims=True)
        logp = u - np.log(np.exp(u).sum(axis=axis, keepdims=True))          # each member's log P_T^τ
        if mistake == "naive":
            log_pbar = np.log(np.exp(logp).mean(axis=0))
        elif mistake == "mean_log":
            log_pbar = logp.mean(axis=0)
        elif mistake == "logits":
            v = member_logits.mean(axis=0) / tau
            v = v - v.max(axis=1, keepdims=True)
            log_pbar = v - np.log(np.exp(v).sum(axis=1, keepdims=True))
        else:
            top = logp.max(axis=0)
            log_pbar = top + np.log(np.exp(logp - top).sum(axis=0))
            log_pbar = log_pbar - {"no_log_k": 0.0, "k_twice": 2 * np.log(k)}.get(mistake, np.log(k))
        pbar = np.exp(log_pbar)
        logits = log_pbar if mistake == "tau_outside" else tau * log_pbar
        w = student_logits / tau
        w = w - w.max(axis=1, keepdims=True)
        ls = w - np.log(np.exp(w).sum(axis=1, keepdims=True))
        t2 = 1.0 if mistake == "no_t2" else tau**2
        if mistake == "members_kl":
            kl = sum((np.exp(lp) * (lp - ls)).sum() for lp in logp) / (k * n)
        else:
            kl = (pbar * (log_pbar - ls)).sum() / n
        dz = (np.exp(ls) - pbar) / n * (t2 if mistake == "grad_t2" else t2 / tau)
        return logits, t2 * kl, -dz if mistake == "sign" else dz
    return solution


SOLUTIONS = {
    "kd_objective": (kd_objective, (_lsm,), {
        "t2_additive": "τ² in the additive form", "no_t2": "missing τ² in Hinton's", "tau_for_t2": "τ instead of τ²",
        "grad_tau_squared": "τ² where τ belongs", "one_minus_a": "(1 − a) missing", "form": "the other form",
        "soft_ce": "soft cross-entropy", "hard_tau": "hard term at temperature", "teacher_tau": "not divided by τ",
        "mean_nc": "N·C", "sign": "sign error"}),
    "hint_regressor": (hint_regressor, (), {
        "no_half": "½ forgotten", "mean_nf": "N·F_T", "n": "missing 1/N", "sign": "sign error",
        "transposed": "transposed weight gradient", "db_mean": "averaged instead of summed"}),
    "standardise": (standardise, (), {
        "unbiased": "C − 1", "eps_outside": "outside the square root", "axis": "wrong axis",
        "mean_path": "mean's path forgotten", "var_path": "variance's path forgotten", "both": "treated as constants",
        "no_sigma": "missing 1/σ_z", "sigma_squared": "σ_z² instead", "sign": "sign error"}),
    "decoupled_kd": (decoupled_kd, (), {
        "no_t2": "missing τ²", "t_for_t2": "τ instead of τ²", "grad_t2": "τ² in the gradient", "swapped": "swapped",
        "coupled": "still weighted", "full_kl": "over every class", "unnormalised": "not renormalised",
        "tckd_half": "second term dropped", "mean_nc": "N·C", "sign": "sign error"}),
    "dist_loss": (dist_loss, (_lsm, _pearson), {
        "no_centre": "without centring", "logits": "correlations of the logits",
        "log_softmax_product": "log-softmax product", "stop_at_p": "stopped at G", "first_term": "second term dropped",
        "no_t2": "missing τ²", "swapped": "swapped", "intra_axis": "along the rows", "sums": "sums where means",
        "tau": "missing 1/τ", "sign": "sign error"}),
    "conditional_adversarial": (conditional_adversarial, (_lsm,), {
        "target": "target is 0", "class_rows": "class columns' weights", "no_standardise": "standardisation's backward",
        "rows": "over the rows only", "no_half": "without its ½", "sign_zero": "sign(0) = +1",
        "sign": "sign error", "n": "missing 1/N"}),
    "max_norm": (max_norm, (), {
        "rows": "norms of the rows", "always": "scaled to length c", "squared": "‖w‖² compared",
        "clip": "clipped", "frobenius": "whole matrix", "normalise_first": "zero column"}),
    "ensemble_target": (ensemble_target, (), {
        "logits": "mean of the members' logits", "tau_members": "at τ = 1", "tau_outside": "without the factor τ",
        "k_twice": "divided by K_T twice", "no_log_k": "log K_T forgotten", "axis": "wrong axis",
        "mean_log": "log-probabilities", "members_kl": "mean of the members' KLs", "no_t2": "missing τ²",
        "grad_t2": "τ² where τ belongs", "sign": "sign error", "naive": "underflows"}),
}


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_a_right_solution_passes_from_its_file(name, tmp_path):
    report = check_file(tmp_path, name, SOLUTIONS)
    assert report.passed and report.lines[0].startswith(f"{name}: passed"), str(report)


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_a_right_solution_computed_in_float32_passes(name):
    report = check(name, in_float32(SOLUTIONS[name][0]()))
    assert report.passed, str(report)


@pytest.mark.parametrize("name,mistake", [(n, m) for n in sorted(SOLUTIONS) for m in SOLUTIONS[n][2]])
def test_each_catalogued_mistake_is_named_from_its_file(name, mistake, tmp_path):
    report = check_file(tmp_path, name, SOLUTIONS, mistake)
    assert_named(report, SOLUTIONS[name][2][mistake])


def test_every_catalogued_mistake_of_these_sections_is_exercised_here():
    for name, (_, _, hints) in SOLUTIONS.items():
        for hint, _ in EXERCISES[name].mistakes:
            assert any(phrase in hint for phrase in hints.values()), f"{name}: no test names '{hint}'"


def test_every_exercise_has_learners_solutions_here_or_in_the_first_sections():
    from test_exercises_solutions import SOLUTIONS as FIRST
    assert sorted({**FIRST, **SOLUTIONS}) == sorted(EXERCISES) and not set(FIRST) & set(SOLUTIONS)
