"""Learners' solutions of the exercises of §1–§9, right and wrong, written as a learner would (NumPy alone,
independently of tinykd and of the checker's variants), and the tests that the checker sorts them: every right one
passes (also computed in float32, and in unusual but right forms), every catalogued mistake is rejected with its
hint, written to a file in a temporary folder and checked as a learner's file is. ``test_exercises_methods.py``
does the same for §10–§20."""
import inspect

import numpy as np
import pytest

from tinykd.exercises import EXERCISES, check


# ---------------------------------------------------------------- writing a solution as a learner's file
def write_solution(folder, name, factory, mistake=None, helpers=(), wrap=None):
    """``folder/NAME.py`` defining ``NAME``: ``factory(mistake)`` (with the helpers' source), the learner's file;
    ``wrap``: a function's source name applied to the solution (e.g. computing in float32)."""
    parts = ["import numpy as np\n"] + [inspect.getsource(h) for h in helpers] + [inspect.getsource(factory)]
    body = f"{factory.__name__}({mistake!r})"
    if wrap is not None:
        parts.append(inspect.getsource(wrap))
        body = f"{wrap.__name__}({body})"
    path = folder / f"{name}.py"
    path.write_text("\n\n".join(parts) + f"\n\n{name} = {body}\n", encoding="utf-8")
    return path


def in_float32(solution):
    """The learner computes in float32 and returns float32: every float array argument cast down first, and every
    output (a NumPy default such as np.eye's float64 would otherwise promote some back)."""
    def float32_solution(*args):
        out = solution(*(a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                         for a in args))
        return tuple(np.float32(o) for o in out) if isinstance(out, tuple) else np.float32(out)
    return float32_solution


def named_lines(report):
    return [line for line in report.lines if "likely mistake" in line]


def assert_named(report, phrase):
    assert not report.passed, str(report)
    named = named_lines(report)
    assert named and all(phrase in line for line in named), str(report)


# ---------------------------------------------------------------- the learner's solutions, right and wrong
def _log_softmax(z, axis=1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax_backward(mistake=None):
    def solution(probs, grad, temperature):
        inner = (grad * probs).sum(axis=0 if mistake == "axis" else 1, keepdims=True)
        total = grad.sum(axis=1, keepdims=True)
        wrong = {"upstream": probs * (1 - probs), "diagonal": grad * probs * (1 - probs),
                 "log_softmax": grad - probs * total, "unweighted": probs * (grad - total)}
        dz = wrong.get(mistake, probs * (grad - inner))
        dz = {"tau_times": dz * temperature, "tau": dz, "tau_squared": dz / temperature**2}.get(mistake,
                                                                                                  dz / temperature)
        return -dz if mistake == "sign" else dz
    return solution


def cross_entropy(mistake=None):
    def solution(logits, labels):
        n, c = logits.shape
        logp = _log_softmax(logits, axis=0 if mistake == "axis" else 1)
        onehot = np.eye(c)[labels]
        scale = {"n": 1, "mean_nc": n * c}.get(mistake, n)
        loss = -(onehot * logp).sum() / scale
        p = np.exp(logp)
        if mistake == "label_only":
            grad = -(1 - p) * onehot
        elif mistake == "softmax_product":       # g = ∂H/∂log P through softmax's product
            g = -onehot
            grad = p * (g - (g * p).sum(axis=1, keepdims=True))
        elif mistake == "stop_at_p":
            grad = -onehot / p
        else:
            grad = p - onehot
        return loss, (-grad if mistake == "sign" else grad) / scale
    return solution


def kl_divergence(mistake=None):
    def solution(zs, zt, tau, t_squared):
        n, c = zs.shape
        axis = 0 if mistake == "axis" else 1
        log_ps, log_pt = _log_softmax(zs / tau, axis), _log_softmax(zt / (1 if mistake == "teacher_tau" else tau), axis)
        ps, pt = np.exp(log_ps), np.exp(log_pt)
        n = {"n": 1, "mean_nc": n * c}.get(mistake, n)
        value = (pt * ((0 if mistake == "cross_entropy" else log_pt) - log_ps)).sum() / n
        grad = (ps - pt) / n / (1 if mistake == "tau" else tau)
        if mistake in ("reversed", "reversed_value"):   # KL(P_S ‖ P_T); its gradient worked out, or §3's kept
            r = log_ps - log_pt
            value = (ps * r).sum() / n
            grad = ps * (r - (ps * r).sum(axis=1, keepdims=True)) / (tau * n) if mistake == "reversed" else grad
        if mistake == "softmax_product":
            g = -pt / n
            grad = ps * (g - (g * ps).sum(axis=1, keepdims=True)) / tau
        if mistake == "stop_at_p":
            grad = -pt / (n * ps)
        if t_squared and mistake in ("tau_on_grad", "tau_on_both"):   # §10's "a τ (P_S − P_T)/N" read as "times τ"
            value, grad = value * (tau if mistake == "tau_on_both" else tau**2), grad * tau
        elif (t_squared and mistake != "t2") or mistake == "t2_always":
            value, grad = value * tau**2, grad * tau**2
        return value, -grad if mistake == "sign" else grad
    return solution


def _logistic(z, c, w, b, mistake=None):
    n = z.shape[0]
    if mistake == "flipped":
        c = 1 - c
    q = z @ w + b
    loss = (np.maximum(q, 0) - q * c + np.log1p(np.exp(-np.abs(q)))).sum() / (1 if mistake == "n" else n)
    if mistake == "naive":                         # the unstable form the blank forbids
        d = 1 / (1 + np.exp(-q))
        loss = (-c * np.log(d) - (1 - c) * np.log(1 - d)).mean()
    d = 1 / (1 + np.exp(-q))
    dq = {"sign": c - d, "sigma": q - c}.get(mistake, d - c) / (1 if mistake == "n" else n)
    return loss, dq


def logistic_discriminator(mistake=None):
    def solution(z, c, w, b):
        with np.errstate(all="ignore"):
            loss, dq = _logistic(z, c, w, b, mistake)
        if mistake == "upstream":
            dq = np.ones_like(dq)
            return loss, dq @ w.T, z.T @ dq, dq.sum(axis=0)
        db = dq.mean(axis=0) if mistake == "db_mean" else dq.sum(axis=0)
        return loss, dq @ w.T, (dq.T @ z if mistake == "transposed" else z.T @ dq), db
    return solution


def adversarial_student(mistake=None):
    def solution(zs, y, w, b, ce_weight, adv_weight, form):
        ce, dce = cross_entropy("axis" if mistake == "axis" else None)(zs, y)
        minimax = (form == "minimax") != (mistake == "form")
        loss, dq = _logistic(zs, 1.0 if minimax else 0.0, w, b)
        sign = (-1 if form == "minimax" else 1) * (-1 if mistake == "sign" else 1)
        if mistake == "sign_minimax_only" and form == "minimax":
            sign = 1
        if mistake == "one_minus":
            adv_weight = 1 - ce_weight
        dq = dq * zs.shape[0] if mistake == "n" else dq
        dadv = np.ones_like(dq) @ w.T / zs.shape[0] if mistake == "upstream" else dq @ w.T
        return ce_weight * ce + sign * adv_weight * loss, ce_weight * dce + sign * adv_weight * dadv
    return solution


def dense_backward(mistake=None):
    def solution(x, w, g):
        if mistake == "upstream":
            g = np.ones_like(g)
        dx, dw, db = g @ w.T, x.T @ g, g.sum(axis=0)
        if mistake == "transposed":
            dw = g.T @ x
        if mistake == "db_mean":
            db = g.mean(axis=0)
        if mistake == "dw_mean":
            dw = dw / x.shape[0]
        if mistake == "db_axis":
            db = g.sum(axis=1)
        return (-dx, -dw, -db) if mistake == "sign" else (dx, dw, db)
    return solution


def dropout_backward(mistake=None):
    def solution(g, mask, p):
        keep = {"scale": 1.0, "p": p}.get(mistake, 1 - p)
        m = {"mask": 1.0, "inverted": 1 - mask}.get(mistake, mask)
        return (1.0 if mistake == "upstream" else g) * m / keep
    return solution


def network_backward(mistake=None):
    def solution(x, labels, w1, b1, w2, b2):
        n = x.shape[0]
        a = x @ w1 + b1
        h = np.maximum(a, 0)
        z = h @ w2 + b2
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        rows = np.arange(n)
        per = 1 if mistake == "n" else n
        loss = -logp[rows, labels].sum() / per
        dz = np.exp(logp)
        dz[rows, labels] -= 1
        dz = (-dz if mistake == "sign" else dz) / per
        dh = dz @ w2.T
        da = dh if mistake == "relu" else dh * (a > 0)
        out = [loss]
        for inp, d in ((x, da), (h, dz)):
            dw = d.T @ inp if mistake == "transposed" else inp.T @ d
            out += [dw / n if mistake == "dw_mean" else dw, d.mean(axis=0) if mistake == "db_mean" else d.sum(axis=0)]
        return tuple(out)
    return solution


def adam_step(mistake=None):
    def solution(theta, g, m, v, t, lr, b1, b2, eps):
        if mistake == "default_betas":
            b1, b2 = 0.9, 0.999
        a1, a2 = (1.0, 1.0) if mistake == "beta_factor" else (1 - b1, 1 - b2)
        m = b1 * m + a1 * g
        v = b2 * v + a2 * (g if mistake == "square" else g**2)
        k = t - 1 if mistake == "t_minus_1" else t
        with np.errstate(all="ignore"):   # √ of a v built from g, not g², is NaN where g < 0; 1 − β⁰ = 0
            m_hat, v_hat = (m, v) if mistake == "bias" else (m / (1 - b1**k), v / (1 - b2**k))
            if mistake == "tf_eps":       # Keras: lr_t = lr √(1 − β₂^t)/(1 − β₁^t), then m/(√v + ε)
                step = lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
            else:
                step = lr * m_hat / (np.sqrt(v_hat + eps) if mistake == "eps" else np.sqrt(v_hat) + eps)
        if mistake == "hats":
            m, v = m_hat, v_hat
        return theta + step if mistake == "sign" else theta - step, m, v
    return solution


def binary_weight_backward(mistake=None):
    def solution(w, g, ste):
        s = np.where(w >= 0, 1.0, -1.0)
        axis = 1 if mistake == "axis" else 0
        alpha = np.abs(w).mean(axis=axis, keepdims=True)
        exact = s * (g * s).sum(axis=axis, keepdims=True) / (1 if mistake == "sum" else w.shape[axis])
        if mistake == "paper":
            exact = g / w.shape[0]
        window = 1.0 if mistake == "window" else np.abs(w) <= 1
        if ste != (mistake == "ste"):
            exact = exact + (1.0 if mistake == "alpha" else alpha) * g * window
        return -exact if mistake == "sign" else exact
    return solution


def batchnorm_backward(mistake=None):
    def solution(x, gamma, g, eps):
        axis = 1 if mistake == "axis" else 0
        n = x.shape[axis]
        mu = x.mean(axis=axis, keepdims=True)
        d = x - mu
        var = (d**2).sum(axis=axis, keepdims=True) / (n - 1 if mistake == "unbiased" else n)
        std = np.sqrt(var) + eps if mistake == "eps_outside" else np.sqrt(var + eps)
        xhat = d / std
        dxhat = g if mistake == "gamma" else g * gamma
        if mistake in ("unbiased", "eps_outside"):      # the four-line backward of the forward as written
            dstd = -(dxhat * d).sum(axis=0, keepdims=True) / std**2
            dvar = dstd * (0.5 / np.sqrt(var + (0 if mistake == "eps_outside" else eps)))
            dx = dxhat / std + dvar * 2 * d / (n - 1 if mistake == "unbiased" else n)
            dx = dx - dx.mean(axis=0, keepdims=True)    # μ's path: minus the mean of everything else
            return dx, (g * xhat).sum(axis=0), g.sum(axis=0)
        r = 1 / std
        k = 1 if mistake == "n" else n
        through_mu = 0 if mistake in ("mu", "both") else dxhat.sum(axis=axis, keepdims=True) / k
        through_nu = 0 if mistake in ("nu", "both") else xhat * (dxhat * xhat).sum(axis=axis, keepdims=True) / k
        dx = r * (dxhat - through_mu - through_nu)
        dgamma, db = (g * xhat).sum(axis=axis), g.sum(axis=axis)
        if mistake == "param_mean":
            dgamma, db = dgamma / x.shape[0], db / x.shape[0]
        return (-dx, -dgamma, -db) if mistake == "sign" else (dx, dgamma, db)
    return solution


# (the learner's solution, its helpers, {mistake: a phrase its hint must contain}) for each exercise; two slips
# may share a hint (τ where τ² belongs, on the gradient alone or on the value too)
SOLUTIONS = {
    "softmax_backward": (softmax_backward, (), {
        "tau": "missing 1/τ", "tau_times": "multiplied by τ", "tau_squared": "divided by τ²", "axis": "wrong axis",
        "sign": "sign error", "upstream": "upstream gradient forgotten", "diagonal": "off-diagonal",
        "log_softmax": "log-softmax's backward", "unweighted": "weighted by P"}),
    "cross_entropy": (cross_entropy, (_log_softmax,), {
        "n": "missing 1/N", "sign": "sign error", "axis": "wrong axis", "label_only": "only the label's column",
        "mean_nc": "N·C", "softmax_product": "softmax product instead", "stop_at_p": "stopped at"}),
    "kl_divergence": (kl_divergence, (_log_softmax,), {
        "tau": "missing 1/τ", "t2": "missing τ²", "t2_always": "τ² applied with", "n": "missing 1/N",
        "mean_nc": "N·C", "sign": "sign error", "axis": "wrong axis", "cross_entropy": "soft cross-entropy",
        "tau_on_grad": "τ instead of τ²", "tau_on_both": "τ instead of τ²", "teacher_tau": "teacher's logits not",
        "reversed": "wrong way round", "reversed_value": "wrong way round",
        "softmax_product": "softmax product instead", "stop_at_p": "stopped at"}),
    "logistic_discriminator": (logistic_discriminator, (_logistic,), {
        "sign": "sign error", "sigma": "σ forgotten", "n": "missing 1/N", "transposed": "transposed weight gradient",
        "upstream": "upstream gradient forgotten", "flipped": "label convention flipped", "db_mean": "db averaged",
        "naive": "stable form"}),
    "adversarial_student": (adversarial_student, (_logistic, _log_softmax, cross_entropy), {
        "sign": "sign error", "form": "the other form", "n": "missing 1/N", "upstream": "upstream gradient forgotten",
        "axis": "wrong axis", "one_minus": "1 − ce_weight", "sign_minimax_only": "made only where form=minimax"}),
    "dense_backward": (dense_backward, (), {
        "transposed": "transposed weight gradient", "db_mean": "averaged instead of summed",
        "dw_mean": "dW divided by N", "sign": "sign error", "upstream": "upstream gradient forgotten",
        "db_axis": "wrong axis"}),
    "dropout_backward": (dropout_backward, (), {
        "scale": "1/(1 − p) forgotten", "p": "divided by p", "mask": "mask forgotten",
        "upstream": "upstream gradient forgotten", "inverted": "mask inverted"}),
    "network_backward": (network_backward, (), {
        "relu": "ReLU's mask forgotten", "transposed": "transposed weight gradient", "n": "missing 1/N",
        "db_mean": "averaged instead of summed", "dw_mean": "dW divided by N again", "sign": "sign error"}),
    "adam_step": (adam_step, (), {
        "bias": "bias correction forgotten", "t_minus_1": "with t − 1", "eps": "ε inside the square root",
        "tf_eps": "TensorFlow's ε̂", "beta_factor": "(1 − β) factors", "square": "not g²", "hats": "m̂ and v̂ returned",
        "default_betas": "hard-coded", "sign": "sign error"}),
    "binary_weight_backward": (binary_weight_backward, (), {
        "paper": "XNOR-Net's approximation", "window": "window", "alpha": "α forgotten", "sum": "missing 1/I",
        "axis": "wrong axis", "sign": "sign error", "ste": "where ste says otherwise"}),
    "batchnorm_backward": (batchnorm_backward, (), {
        "mu": "μ's path forgotten", "nu": "ν's path forgotten", "both": "treated as constants", "n": "missing 1/N",
        "gamma": "γ forgotten", "axis": "wrong axis", "param_mean": "dγ and db divided by N",
        "unbiased": "unbiased variance", "eps_outside": "outside the square root", "sign": "sign error"}),
}


def cases_of(solutions):
    return [(n, m) for n in sorted(solutions) for m in solutions[n][2]]


def check_file(tmp_path, name, solutions, mistake=None, wrap=None):
    factory, helpers, _ = solutions[name]
    return check(name, write_solution(tmp_path, name, factory, mistake, helpers, wrap))


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_a_right_solution_passes_from_its_file(name, tmp_path):
    report = check_file(tmp_path, name, SOLUTIONS)
    assert report.passed and report.state == "passed", str(report)
    assert report.lines[0].startswith(f"{name}: passed") and "likely mistake" not in str(report)
    assert "cases: 1) " in report.lines[1] and "float32" in report.lines[1]


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_a_right_solution_computed_in_float32_passes(name):
    """The tolerance follows the output's precision: float32 arithmetic is right, on every case."""
    report = check(name, in_float32(SOLUTIONS[name][0]()))
    assert report.passed, str(report)


@pytest.mark.parametrize("name,mistake", cases_of(SOLUTIONS))
def test_each_catalogued_mistake_is_named_from_its_file(name, mistake, tmp_path):
    report = check_file(tmp_path, name, SOLUTIONS, mistake)
    assert_named(report, SOLUTIONS[name][2][mistake])


def test_every_catalogued_mistake_of_these_sections_is_exercised_here():
    for name, (_, _, hints) in SOLUTIONS.items():
        for hint, _ in EXERCISES[name].mistakes:
            assert sum(phrase in hint for phrase in set(hints.values())) >= 1, f"{name}: no test names '{hint}'"
