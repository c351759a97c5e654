"""The exercises on logits: softmax with temperature (§1), cross-entropy (§2), the KL of KD's soft targets (§3),
the logistic discriminator (§4, §11) and the adversarial student (§11). tinykd's own functions are the reference;
each mistake is tinykd's result with one thing done wrong."""
import numpy as np

from .. import functional as F
from ..discriminator import Discriminator
from ..distill import AdversarialKD
from ..gradcheck import numerical_grad
from .core import Exercise

N, C = 5, 4     # batch and classes differ, so a sum over the wrong axis gives a wrong shape or a wrong value


def _rng(seed):
    return np.random.default_rng(seed)


def _fd(f, x):
    """Finite differences of the scalar ``f()`` w.r.t. ``x`` (perturbed in place)."""
    return numerical_grad(f, x)


def _softmax_axis(z, tau, axis):
    e = np.exp((z - z.max(axis=axis, keepdims=True)) / tau)
    return e / e.sum(axis=axis, keepdims=True)


# ------------------------------------------------------------------------------------------ §1 softmax backward
def _softmax_cases():
    cases = []
    for seed, tau in ((1, 2.5), (2, 0.7)):
        r = _rng(seed)
        z, g = 2 * r.standard_normal((N, C)), r.standard_normal((N, C))
        cases.append({"args": (F.softmax(z, tau), g, tau), "z": z})
    return cases


def _softmax_numeric(case):
    z, (_, g, tau) = case["z"].copy(), case["args"]
    return (_fd(lambda: (g * F.softmax(z, tau)).sum(), z),)


def _softmax_mistake(kind):
    def variant(case):
        p, g, tau = case["args"]
        inner = (g * p).sum(axis=0 if kind == "axis" else 1, keepdims=True)
        total = g.sum(axis=1, keepdims=True)
        out = {"tau": p * (g - inner), "tau_times": p * (g - inner) * tau, "axis": p * (g - inner) / tau,
               "sign": -p * (g - inner) / tau, "upstream": p * (1 - p) / tau, "diagonal": g * p * (1 - p) / tau,
               "log_softmax": (g - p * total) / tau, "unweighted": p * (g - total) / tau}
        return (out[kind],)
    return variant


SOFTMAX = Exercise(
    "softmax_backward", 1, "softmax with temperature: the backward pass", ("dz",), _softmax_cases,
    lambda case: (F.softmax_backward(*case["args"]),), _softmax_numeric, [
        ("missing 1/τ: P^τ = softmax(z/τ), so the chain rule brings the factor 1/τ of z/τ", _softmax_mistake("tau")),
        ("multiplied by τ instead of divided: the inner derivative of z/τ is 1/τ", _softmax_mistake("tau_times")),
        ("softmax sum taken along the wrong axis: ⟨g, P⟩ sums over the classes of each row (axis 1), not over the "
         "batch", _softmax_mistake("axis")),
        ("sign error: dz = P ⊙ (g − ⟨g, P⟩·1)/τ", _softmax_mistake("sign")),
        ("upstream gradient forgotten: P ⊙ (1 − P)/τ is the Jacobian's diagonal alone; the backward multiplies the "
         "Jacobian by g", _softmax_mistake("upstream")),
        ("off-diagonal terms dropped: every P_k depends on every z_j through Z, so dz_j sums g_k ∂P_k/∂z_j over "
         "all k (the ⟨g, P⟩ term)", _softmax_mistake("diagonal")),
        ("log-softmax's backward, (g − P·Σ_k g_k)/τ: that one is for g = ∂L/∂log P; here g = ∂L/∂P, so §1's "
         "vector-Jacobian product of softmax applies, dz = P ⊙ (g − ⟨g, P⟩·1)/τ", _softmax_mistake("log_softmax")),
        ("⟨g, P⟩ = Σ_k g_k P_k, weighted by P, not Σ_k g_k (the unweighted sum is log-softmax's): "
         "dz = P ⊙ (g − ⟨g, P⟩·1)/τ (§1)", _softmax_mistake("unweighted")),
    ])


# -------------------------------------------------------------------------------------------- §2 cross-entropy
def _ce_cases():
    cases = []
    for seed in (3, 4):
        r = _rng(seed)
        cases.append({"args": (3 * r.standard_normal((N, C)), r.integers(0, C, N))})
    return cases


def _ce_numeric(case):
    z, y = case["args"][0].copy(), case["args"][1]
    return None, _fd(lambda: F.cross_entropy(z, y)[0], z)


def _ce_mistake(kind):
    def variant(case):
        z, y = case["args"]
        p = _softmax_axis(z, 1.0, 0 if kind == "axis" else 1)
        onehot = np.eye(C)[y]
        loss = -np.log(p[np.arange(N), y]).mean()
        grad = {"n": (p - onehot), "sign": (onehot - p) / N, "axis": (p - onehot) / N,
                "label_only": -(1 - p) * onehot / N}[kind]
        return loss * (N if kind == "n" else 1), grad
    return variant


CROSS_ENTROPY = Exercise(
    "cross_entropy", 2, "cross-entropy on integer labels: value and gradient", ("loss", "dz"), _ce_cases,
    lambda case: F.cross_entropy(*case["args"]), _ce_numeric, [
        ("missing 1/N: the loss is a mean over the N rows, so the value and every gradient carry 1/N",
         _ce_mistake("n")),
        ("sign error: the gradient is prediction minus target, (P − Y)/N", _ce_mistake("sign")),
        ("softmax along the wrong axis: each row (axis 1) is one sample's distribution over the classes",
         _ce_mistake("axis")),
        ("only the label's column: log P_y depends on every logit through the softmax's denominator, so every "
         "column gets P, and the label's column P − 1", _ce_mistake("label_only")),
    ])


# ------------------------------------------------------------------------------------- §3 KD's soft-target KL
def _kl_cases():
    cases = []
    for seed, tau, t_squared in ((5, 3.0, False), (6, 2.5, True), (7, 4.0, True)):
        r = _rng(seed)
        cases.append({"args": (2 * r.standard_normal((N, C)), 3 * r.standard_normal((N, C)), tau, t_squared)})
    return cases


def _kl_numeric(case):
    zs, zt, tau, t2 = case["args"]
    zs = zs.copy()
    return None, _fd(lambda: F.kl_divergence(zs, zt, tau, t2)[0], zs)


def _kl_mistake(kind):
    def variant(case):
        zs, zt, tau, t2 = case["args"]
        axis = 0 if kind == "axis" else 1
        ps, pt = _softmax_axis(zs, tau, axis), _softmax_axis(zt, 1.0 if kind == "teacher_tau" else tau, axis)
        weight = tau * tau if (t2 and kind != "t2") or kind == "t2_always" else 1.0
        if t2 and kind == "t_not_t2":
            weight = tau         # τ·KL and τ·(P_S − P_T)/(τN) = (P_S − P_T)/N
        kl = (pt * (np.log(pt) - np.log(ps))).sum() / N
        ce = -(pt * np.log(ps)).sum() / N
        value = (ce if kind == "cross_entropy" else kl) * weight * (N if kind == "n" else 1)
        grad = (ps - pt) * weight / (1.0 if kind == "tau" else tau) / (1 if kind == "n" else N)
        if kind == "reversed":   # KL(P_S ‖ P_T) and its own gradient, through §1's softmax backward
            r = np.log(ps) - np.log(pt)
            value, grad = (ps * r).sum() / N * weight, F.softmax_backward(ps, r, tau) / N * weight
        return value, -grad if kind == "sign" else grad
    return variant


KL = Exercise(
    "kl_divergence", 3, "KD's soft targets: the KL, its gradient, and Hinton's τ²", ("loss", "dz"), _kl_cases,
    lambda case: F.kl_divergence(*case["args"]), _kl_numeric, [
        ("missing 1/τ in the gradient: the student's logits enter the softmax as z_S/τ", _kl_mistake("tau")),
        ("missing τ²: with t_squared=True both the value and the gradient are multiplied by τ²", _kl_mistake("t2")),
        ("τ² applied with t_squared=False too: Hinton's factor is optional", _kl_mistake("t2_always")),
        ("missing 1/N: the loss is a mean over the N rows", _kl_mistake("n")),
        ("sign error: the gradient is the student's minus the teacher's, (P_S^τ − P_T^τ)/(τN)", _kl_mistake("sign")),
        ("softmax along the wrong axis: each row (axis 1) is one sample's distribution over the classes",
         _kl_mistake("axis")),
        ("the value is the soft cross-entropy H(P_T^τ, P_S^τ), not the KL: subtract the teacher's entropy "
         "H(P_T^τ) (the gradient is the same)", _kl_mistake("cross_entropy")),
        ("τ instead of τ² with t_squared=True: Hinton's factor is τ², on the value (τ² KL) and on the gradient; "
         "§10's a τ (P_S^τ − P_T^τ)/N is τ² times §3's (P_S^τ − P_T^τ)/(τN), not τ times it", _kl_mistake("t_not_t2")),
        ("teacher's logits not divided by τ: the soft targets are P_T^τ = softmax(z_T/τ), at the student's "
         "temperature (§3)", _kl_mistake("teacher_tau")),
        ("KL the wrong way round: KD's term is KL(P_T^τ ‖ P_S^τ) = (1/N) Σ P_T^τ log(P_T^τ/P_S^τ), the teacher's "
         "distribution first (§3)", _kl_mistake("reversed")),
    ])


# --------------------------------------------------------------------------- §4, §11 the logistic discriminator
def _discriminator(w, b):
    """tinykd's linear discriminator on raw logits, with the weights ``w`` (C×1) and bias ``b`` (1,)."""
    d = Discriminator(w.shape[0], hidden=0, features="raw", backend="numpy", dtype=np.float64)
    dense = d.net.layers[0]
    dense.params["W"][...] = w
    dense.params["b"][...] = b
    return d, dense


def _logistic_cases():
    cases = []
    for seed, label in ((8, 1.0), (9, 0.0)):
        r = _rng(seed)
        cases.append({"args": (2 * r.standard_normal((N, C)), label, r.standard_normal((C, 1)),
                               r.standard_normal(1))})
    return cases


def _logistic_reference(case):
    z, label, w, b = case["args"]
    d, dense = _discriminator(w, b)
    loss, dz = d.loss(z, label)
    return loss, dz, dense.grads["W"].copy(), dense.grads["b"].copy()


def _logistic_value(z, label, w, b):
    q = z @ w + b
    return (np.maximum(q, 0) - q * label + np.log1p(np.exp(-np.abs(q)))).mean()


def _logistic_numeric(case):
    z, label, w, b = (a.copy() if isinstance(a, np.ndarray) else a for a in case["args"])
    return (None, _fd(lambda: _logistic_value(z, label, w, b), z), _fd(lambda: _logistic_value(z, label, w, b), w),
            _fd(lambda: _logistic_value(z, label, w, b), b))


def _logistic_mistake(kind):
    def variant(case):
        z, label, w, b = case["args"]
        q = z @ w + b
        dq = {"sign": label - F.sigmoid(q), "sigma": q - label}.get(kind, F.sigmoid(q) - label) / N
        if kind == "n":
            dq = dq * N
        value = _logistic_value(z, label, w, b) * (N if kind == "n" else 1)
        if kind == "upstream":
            return value, np.ones((N, 1)) @ w.T, z.T @ np.ones((N, 1)), np.ones(1)
        dw = dq.T @ z if kind == "transposed" else z.T @ dq
        return value, dq @ w.T, dw, dq.sum(axis=0)
    return variant


LOGISTIC = Exercise(
    "logistic_discriminator", 4, "the logistic discriminator: its loss, and its gradients (§4, §11)",
    ("loss", "dz", "dW", "db"), _logistic_cases, _logistic_reference, _logistic_numeric, [
        ("sign error: ∂ℓ/∂q = σ(q) − c, prediction minus target", _logistic_mistake("sign")),
        ("σ forgotten: ∂ℓ/∂q = σ(q) − c, not q − c (the sigmoid's slope cancels the log's, not the sigmoid "
         "itself)", _logistic_mistake("sigma")),
        ("missing 1/N: L_class is a mean over the N rows", _logistic_mistake("n")),
        ("transposed weight gradient: dW = zᵀ dq has W's shape C×1", _logistic_mistake("transposed")),
        ("upstream gradient forgotten: dz = dq Wᵀ and dW = zᵀ dq, where dq = (σ(q) − c)/N; ∂q/∂z = Wᵀ alone is the "
         "Jacobian", _logistic_mistake("upstream")),
    ])


# ------------------------------------------------------------------------------------- §11 adversarial student
def _adversarial_cases():
    cases = []
    for seed, form in ((10, "minimax"), (11, "nonsaturating")):
        r = _rng(seed)
        cases.append({"args": (2 * r.standard_normal((N, C)), r.integers(0, C, N), r.standard_normal((C, 1)),
                               r.standard_normal(1), 0.7, 0.3, form)})
    return cases


def _adversarial_reference(case):
    zs, y, w, b, alpha, beta, form = case["args"]
    d, _ = _discriminator(w, b)
    return AdversarialKD(d, alpha=alpha, beta=beta, form=form, updates="fixed")(zs, y)


def _adversarial_numeric(case):
    zs, y, w, b, alpha, beta, form = case["args"]
    zs = zs.copy()
    return None, _fd(lambda: _adversarial_reference({"args": (zs, y, w, b, alpha, beta, form)})[0], zs)


def _adversarial_mistake(kind):
    def variant(case):
        zs, y, w, b, alpha, beta, form = case["args"]
        label = 1.0 if form == "minimax" else 0.0
        sign = -1.0 if form == "minimax" else 1.0
        if kind == "form":
            label = 1.0 - label
        if kind == "sign":
            sign = -sign
        ce, dce = F.cross_entropy(zs, y)
        if kind == "axis":
            p = _softmax_axis(zs, 1.0, 0)
            ce, dce = -np.log(p[np.arange(N), y]).mean(), (p - np.eye(C)[y]) / N
        q = zs @ w + b
        adv = _logistic_value(zs, label, w, b)
        dq = (F.sigmoid(q) - label) / (1 if kind == "n" else N)
        dadv = np.ones((N, 1)) @ w.T / N if kind == "upstream" else dq @ w.T
        return alpha * ce + sign * beta * adv, alpha * dce + sign * beta * dadv
    return variant


ADVERSARIAL = Exercise(
    "adversarial_student", 11, "the adversarial student's gradient through a linear discriminator on raw logits",
    ("loss", "dz"), _adversarial_cases, _adversarial_reference, _adversarial_numeric, [
        ("sign error on the adversarial term: minimax is λ_CE H − λ_adv L_class(z_S | 1) (the student raises D's "
         "loss), non-saturating λ_CE H + λ_adv L_class(z_S | 0)", _adversarial_mistake("sign")),
        ("the other form's target: minimax differentiates ℓ(q, 1) (∂ℓ/∂q = −(1 − D)), non-saturating ℓ(q, 0) "
         "(∂ℓ/∂q = D)", _adversarial_mistake("form")),
        ("missing 1/N on the adversarial term: L_class is a mean over the N rows", _adversarial_mistake("n")),
        ("upstream gradient forgotten: the adversarial gradient is dq Wᵀ with dq = (σ(q) − c)/N, not Wᵀ/N alone",
         _adversarial_mistake("upstream")),
        ("softmax along the wrong axis in the cross-entropy: each row (axis 1) is one sample's distribution",
         _adversarial_mistake("axis")),
    ])

EXERCISES = [SOFTMAX, CROSS_ENTROPY, KL, LOGISTIC, ADVERSARIAL]
