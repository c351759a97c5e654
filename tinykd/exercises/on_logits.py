"""The exercises on logits: softmax with temperature (§1), cross-entropy (§2), the KL of KD's soft targets (§3) and
the KD objective in both forms (§10). tinykd's own functions are the reference; each mistake is the right result
with one thing done wrong, written out with NumPy."""
import numpy as np

from .. import functional as F
from ..distill import KD
from ..gradcheck import numerical_grad
from .core import Exercise, case

STABLE = ("overflow at logits of ±1000 (only the stress case fails): compute log P = (z − z_max)/τ − "
          "log Σ_j exp((z_j − z_max)/τ), §1's log-sum-exp, never log(softmax(z)) nor log(exp(z)/Σ exp(z))")


def rng(seed):
    return np.random.default_rng(seed)


def log_softmax(z, tau=1.0, axis=1):
    u = z / tau
    u = u - u.max(axis=axis, keepdims=True)
    return u - np.log(np.exp(u).sum(axis=axis, keepdims=True))


def softmax(z, tau=1.0, axis=1):
    return np.exp(log_softmax(z, tau, axis))


def stress_logits(r, n, c):
    """Logits of ±1000 (plus a little noise), every row with at least one +1000."""
    z = np.where(r.random((n, c)) < 0.5, -1000.0, 1000.0) + r.standard_normal((n, c))
    z[np.arange(n), r.integers(0, c, n)] = 1000.0 + r.standard_normal(n)
    return z


def f32(*arrays):
    return tuple(a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in arrays)


# ------------------------------------------------------------------------------------------ §1 softmax backward
def _softmax_cases():
    out = []
    for seed, n, c, tau, dtype in ((1, 5, 4, 2.5, None), (2, 1, 3, 0.7, None), (3, 4, 2, 4.0, None),
                                   (4, 3, 5, 1.5, np.float32)):
        r = rng(seed)
        z, g = 2 * r.standard_normal((n, c)), r.standard_normal((n, c))
        args = (F.softmax(z, tau), g, tau)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, tau=tau))
        out[-1]["z"] = z
    return out


def _softmax_numeric(c):
    z, (_, g, tau) = c["z"].copy(), c["args"]
    return (numerical_grad(lambda: (g * F.softmax(z, tau)).sum(), z),)


def _softmax_mistake(kind):
    def variant(c):
        p, g, tau = c["args"]
        inner = (g * p).sum(axis=0 if kind == "axis" else 1, keepdims=True)
        total = g.sum(axis=1, keepdims=True)
        out = {"tau": p * (g - inner), "tau_times": p * (g - inner) * tau, "axis": p * (g - inner) / tau,
               "sign": -p * (g - inner) / tau, "upstream": p * (1 - p) / tau, "diagonal": g * p * (1 - p) / tau,
               "log_softmax": (g - p * total) / tau, "unweighted": p * (g - total) / tau,
               "tau_squared": p * (g - inner) / tau**2}
        return (out[kind],)
    return variant


SOFTMAX = Exercise(
    "softmax_backward", ("probs", "grad", "temperature"), 1, "softmax with temperature: the backward pass", ("dz",),
    _softmax_cases, lambda c: (F.softmax_backward(*c["args"]),), _softmax_numeric, [
        ("missing 1/τ: P^τ = softmax(z/τ), so the chain rule brings the factor 1/τ of z/τ", _softmax_mistake("tau")),
        ("multiplied by τ instead of divided: the inner derivative of z/τ is 1/τ", _softmax_mistake("tau_times")),
        ("divided by τ² instead of τ: z/τ brings one factor 1/τ", _softmax_mistake("tau_squared")),
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
    out = []
    for seed, n, c, dtype in ((5, 5, 4, None), (6, 1, 3, None), (7, 6, 2, None), (8, 3, 5, np.float32)):
        r = rng(seed)
        args = (3 * r.standard_normal((n, c)), r.integers(0, c, n))
        out.append(case(f32(*args) if dtype else args, N=n, C=c))
    r = rng(9)
    z = stress_logits(r, 3, 4)
    y = np.array([int(np.argmin(z[0])), 1, int(np.argmin(z[2]))])        # labels trailing by 2000
    out.append(case((z, y), stress=True, N=3, C=4))
    return out


def _ce_numeric(c):
    z, y = c["args"][0].copy(), c["args"][1]
    return None, numerical_grad(lambda: F.cross_entropy(z, y)[0], z)


def _ce_mistake(kind):
    def variant(c):
        z, y = c["args"]
        n, k = z.shape
        logp = log_softmax(z, 1.0, 0 if kind == "axis" else 1)
        p, onehot = np.exp(logp), np.eye(k)[y]
        loss = -logp[np.arange(n), y].mean()
        grad = (p - onehot) / n
        if kind == "n":
            loss, grad = loss * n, grad * n
        elif kind == "sign":
            grad = -grad
        elif kind == "label_only":
            grad = -(1 - p) * onehot / n
        elif kind == "mean_nc":
            loss, grad = loss / k, grad / k
        elif kind == "softmax_product":        # g = −Y/N (for log P) sent through softmax's product
            g = -onehot / n
            grad = p * (g - (g * p).sum(axis=1, keepdims=True))
        elif kind == "stop_at_p":
            grad = -onehot / (n * p)
        return loss, grad
    return variant


CROSS_ENTROPY = Exercise(
    "cross_entropy", ("logits", "labels"), 2, "cross-entropy on integer labels: value and gradient", ("loss", "dz"),
    _ce_cases, lambda c: F.cross_entropy(*c["args"]), _ce_numeric, [
        ("missing 1/N: the loss is a mean over the N rows, so the value and every gradient carry 1/N",
         _ce_mistake("n")),
        ("sign error: the gradient is prediction minus target, (P − Y)/N", _ce_mistake("sign")),
        ("softmax along the wrong axis: each row (axis 1) is one sample's distribution over the classes",
         _ce_mistake("axis")),
        ("only the label's column: log P_y depends on every logit through the softmax's denominator, so every "
         "column gets P, and the label's column P − 1", _ce_mistake("label_only")),
        ("mean over all N·C entries (PyTorch's reduction='mean' on −Y ⊙ log P): the loss sums over the classes "
         "and takes the mean over the N rows only ('batchmean')", _ce_mistake("mean_nc")),
        ("the softmax product instead of the log-softmax one: g = ∂H/∂log P = −Y/N differentiates log P, so it "
         "goes through §1's log-softmax product, dz = g − P·Σ_k g_k = (P − Y)/N (§2, Step 2)",
         _ce_mistake("softmax_product")),
        ("stopped at ∂H/∂P = −Y/(N P): that is the gradient with respect to the probabilities; carry it through "
         "the softmax to the logits, dz = (P − Y)/N", _ce_mistake("stop_at_p")),
    ], stress_hint=STABLE)


# ------------------------------------------------------------------------------------- §3 KD's soft-target KL
def _kl_cases():
    out = []
    for seed, n, c, tau, t2, dtype in ((10, 5, 4, 3.0, False, None), (11, 1, 3, 2.5, True, None),
                                       (12, 4, 2, 4.0, True, None), (13, 3, 5, 0.8, False, np.float32)):
        r = rng(seed)
        args = (2 * r.standard_normal((n, c)), 3 * r.standard_normal((n, c)), tau, t2)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, tau=tau, t_squared=t2))
    r = rng(14)
    out.append(case((stress_logits(r, 3, 4), stress_logits(r, 3, 4), 2.0, True), stress=True, N=3, C=4, tau=2.0,
                    t_squared=True))
    return out


def _kl_numeric(c):
    zs, zt, tau, t2 = c["args"]
    zs = zs.copy()
    return None, numerical_grad(lambda: F.kl_divergence(zs, zt, tau, t2)[0], zs)


def _kl_mistake(kind):
    def variant(c):
        zs, zt, tau, t2 = c["args"]
        n, k = zs.shape
        axis = 0 if kind == "axis" else 1
        ls, lt = log_softmax(zs, tau, axis), log_softmax(zt, 1.0 if kind == "teacher_tau" else tau, axis)
        ps, pt = np.exp(ls), np.exp(lt)
        weight = tau * tau if (t2 and kind != "t2") or kind == "t2_always" else 1.0
        if t2 and kind == "t_not_t2":
            weight = tau
        value = (pt * (lt - ls)).sum() / n
        grad = (ps - pt) / (tau * n)
        if kind == "cross_entropy":
            value = -(pt * ls).sum() / n
        elif kind == "tau":
            grad = grad * tau
        elif kind == "n":
            value, grad = value * n, grad * n
        elif kind == "mean_nc":
            value, grad = value / k, grad / k
        elif kind == "reversed":           # KL(P_S ‖ P_T) and its own gradient, through §1's softmax backward
            r = ls - lt
            value, grad = (ps * r).sum() / n, ps * (r - (ps * r).sum(axis=1, keepdims=True)) / (tau * n)
        elif kind == "softmax_product":
            g = -pt / n
            grad = ps * (g - (g * ps).sum(axis=1, keepdims=True)) / tau
        elif kind == "stop_at_p":
            grad = -pt / (n * ps)
        return value * weight, -grad * weight if kind == "sign" else grad * weight
    return variant


KL = Exercise(
    "kl_divergence", ("student_logits", "teacher_logits", "temperature", "t_squared"), 3,
    "KD's soft targets: the KL, its gradient, and Hinton's τ²", ("loss", "dz"), _kl_cases,
    lambda c: F.kl_divergence(*c["args"]), _kl_numeric, [
        ("missing 1/τ in the gradient: the student's logits enter the softmax as z_S/τ", _kl_mistake("tau")),
        ("missing τ²: with t_squared=True both the value and the gradient are multiplied by τ²", _kl_mistake("t2")),
        ("τ² applied with t_squared=False too: Hinton's factor is optional", _kl_mistake("t2_always")),
        ("missing 1/N: the loss is a mean over the N rows", _kl_mistake("n")),
        ("mean over all N·C entries (PyTorch's reduction='mean', not 'batchmean'): the KL sums over the classes "
         "and takes the mean over the N rows only", _kl_mistake("mean_nc")),
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
        ("the softmax product instead of the log-softmax one: g = −P_T^τ/N differentiates log P_S^τ, so it goes "
         "through §1's log-softmax product, dz = (g − P_S^τ Σ_k g_k)/τ = (P_S^τ − P_T^τ)/(τN)",
         _kl_mistake("softmax_product")),
        ("stopped at ∂KL/∂P_S^τ = −P_T^τ/(N P_S^τ): carry it through the tempered softmax to the logits",
         _kl_mistake("stop_at_p")),
    ], stress_hint=STABLE)


# --------------------------------------------------------------------------------------- §10 the KD objective
def _kd_cases():
    out = []
    for seed, n, c, tau, w, form, dtype in ((15, 5, 4, 3.0, 0.4, "additive", None),
                                            (16, 1, 3, 2.0, 0.7, "hinton", None),
                                            (17, 4, 2, 5.0, 1.5, "additive", None),
                                            (18, 3, 5, 4.0, 0.25, "hinton", np.float32),
                                            (19, 6, 3, 1.5, 0.9, "hinton", None)):
        r = rng(seed)
        args = (2 * r.standard_normal((n, c)), 3 * r.standard_normal((n, c)), r.integers(0, c, n), tau, w, form)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, tau=tau, weight=w, form=form))
    r = rng(20)
    out.append(case((stress_logits(r, 3, 4), stress_logits(r, 3, 4), r.integers(0, 4, 3), 2.0, 0.6, "additive"),
                    stress=True, N=3, C=4, tau=2.0, weight=0.6, form="additive"))
    return out


def _kd_reference(c):
    zs, zt, y, tau, w, form = c["args"]
    return KD(temperature=tau, weight=w, form=form)(zs, y, zt)


def _kd_numeric(c):
    zs, zt, y, tau, w, form = c["args"]
    zs = zs.copy()
    objective = KD(temperature=tau, weight=w, form=form)
    return None, numerical_grad(lambda: objective(zs, y, zt)[0], zs)


def _kd_mistake(kind):
    def variant(c):
        zs, zt, y, tau, w, form = c["args"]
        n, k = zs.shape
        hinton = (form == "hinton") != (kind == "form")
        onehot = np.eye(k)[y]
        lh = log_softmax(zs / tau if kind == "hard_tau" else zs)
        hard, g_hard = -lh[np.arange(n), y].mean(), (np.exp(lh) - onehot) / n
        if kind == "hard_tau":
            g_hard = g_hard / tau
        ls, lt = log_softmax(zs, tau), log_softmax(zt, 1.0 if kind == "teacher_tau" else tau)
        ps, pt = np.exp(ls), np.exp(lt)
        soft = (pt * (lt - ls)).sum() / n if kind != "soft_ce" else -(pt * ls).sum() / n
        g_soft = (ps - pt) / (tau * n)
        if kind == "mean_nc":
            soft, g_soft = soft / k, g_soft / k
        t2 = tau * tau if (hinton and kind != "no_t2") or (not hinton and kind == "t2_additive") else 1.0
        if hinton and kind == "tau_for_t2":
            t2 = tau
        c_hard, c_soft = (1 - w if kind != "one_minus_a" else 1.0, w * t2) if hinton else (1.0, w * t2)
        loss, grad = c_hard * hard + c_soft * soft, c_hard * g_hard + c_soft * g_soft
        if kind == "grad_tau_squared":
            grad = c_hard * g_hard + c_soft * g_soft * tau
        return loss, -grad if kind == "sign" else grad
    return variant


KD_OBJECTIVE = Exercise(
    "kd_objective", ("student_logits", "teacher_logits", "labels", "temperature", "weight", "form"), 10,
    "the KD objective, additive and Hinton's form: value and gradient", ("loss", "dz"), _kd_cases, _kd_reference,
    _kd_numeric, [
        ("τ² in the additive form: only Hinton's form multiplies the soft term by τ²", _kd_mistake("t2_additive")),
        ("missing τ² in Hinton's form: (1 − a) H + a τ² KL", _kd_mistake("no_t2")),
        ("τ instead of τ² in Hinton's form, on the value and the gradient", _kd_mistake("tau_for_t2")),
        ("τ² where τ belongs in the gradient: τ² KL has the gradient τ²·(P_S^τ − P_T^τ)/(τN) = "
         "a τ (P_S^τ − P_T^τ)/N in Hinton's form (§3's 1/τ forgotten)", _kd_mistake("grad_tau_squared")),
        ("(1 − a) missing on the hard term of Hinton's form: L = (1 − a) H(y, P_S) + a τ² KL",
         _kd_mistake("one_minus_a")),
        ("the other form's formula: additive is H + λ_KD KL, Hinton's (1 − a) H + a τ² KL; read form",
         _kd_mistake("form")),
        ("the soft term's value is the soft cross-entropy, not the KL: subtract the teacher's entropy (the "
         "gradient is the same, §3)", _kd_mistake("soft_ce")),
        ("the hard term at temperature τ: the labels' cross-entropy uses P_S = softmax(z_S), τ = 1",
         _kd_mistake("hard_tau")),
        ("teacher's logits not divided by τ: the soft targets are P_T^τ = softmax(z_T/τ)", _kd_mistake("teacher_tau")),
        ("the soft term's mean over all N·C entries (PyTorch's reduction='mean', not 'batchmean')",
         _kd_mistake("mean_nc")),
        ("sign error: both gradients are prediction minus target", _kd_mistake("sign")),
    ], stress_hint=STABLE)

EXERCISES = [SOFTMAX, CROSS_ENTROPY, KL, KD_OBJECTIVE]
