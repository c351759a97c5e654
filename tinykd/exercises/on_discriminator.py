"""The exercises on the discriminator: the logistic discriminator (§4, §11), the adversarial student (§11) and the
conditional adversarial student (§19). tinykd's own discriminator is the reference; each mistake is the right
result with one thing done wrong, written out with NumPy."""
import numpy as np

from .. import functional as F
from .. import logit_losses as L
from ..discriminator import Discriminator
from ..distill import AdversarialKD
from ..gradcheck import numerical_grad
from .core import Exercise, case
from .on_logits import STABLE, f32, log_softmax, rng, stress_logits

LOGISTIC_STABLE = ("overflow at large logits (only the stress case fails): use §4's stable form "
                   "ℓ(q, c) = max(q, 0) − q c + log(1 + exp(−|q|)), never log σ(q) nor log(1 − σ(q)) directly")


def _discriminator(w, b, conditional=False):
    """tinykd's linear discriminator with the weights ``w`` and bias ``b``: on raw logits, or (conditional) on the
    standardised logits and the one-hot class."""
    c = w.shape[0] // (2 if conditional else 1)
    d = Discriminator(c, hidden=0, features="standardised" if conditional else "raw", backend="numpy",
                      dtype=np.float64, conditional=conditional)
    dense = d.net.layers[0]
    dense.params["W"][...] = w
    dense.params["b"][...] = b
    return d, dense


def logistic_value(q, label):
    return (np.maximum(q, 0) - q * label + np.log1p(np.exp(-np.abs(q)))).mean()


def sigmoid(q):
    return np.exp(-np.logaddexp(0, -q))


# --------------------------------------------------------------------------- §4, §11 the logistic discriminator
def _logistic_cases():
    out = []
    for seed, n, c, label, dtype in ((30, 5, 4, 1.0, None), (31, 1, 3, 0.0, None), (32, 4, 2, 1.0, np.float32),
                                     (33, 6, 3, 0.0, None)):
        r = rng(seed)
        args = (2 * r.standard_normal((n, c)), label, r.standard_normal((c, 1)), r.standard_normal(1))
        out.append(case(f32(*args) if dtype else args, N=n, C=c, label=label))
    r = rng(34)
    out.append(case((stress_logits(r, 3, 4), 0.0, r.standard_normal((4, 1)), r.standard_normal(1)), stress=True,
                    N=3, C=4, label=0.0))
    return out


def _logistic_reference(c):
    z, label, w, b = c["args"]
    d, dense = _discriminator(w, b)
    loss, dz = d.loss(z, label)
    return loss, dz, dense.grads["W"].copy(), dense.grads["b"].copy()


def _logistic_numeric(c):
    z, label, w, b = (a.copy() if isinstance(a, np.ndarray) else a for a in c["args"])

    def f():
        return logistic_value(z @ w + b, label)
    return None, numerical_grad(f, z), numerical_grad(f, w), numerical_grad(f, b)


def _logistic_mistake(kind):
    def variant(c):
        z, label, w, b = c["args"]
        n = z.shape[0]
        label = 1 - label if kind == "flipped" else label
        q = z @ w + b
        dq = {"sign": label - sigmoid(q), "sigma": q - label}.get(kind, sigmoid(q) - label) / n
        value = logistic_value(q, label)
        if kind == "n":
            dq, value = dq * n, value * n
        if kind == "upstream":
            return value, np.ones((n, 1)) @ w.T, z.T @ np.ones((n, 1)), np.full(1, float(n))
        dw = dq.T @ z if kind == "transposed" else z.T @ dq
        return value, dq @ w.T, dw, dq.sum(axis=0) / (n if kind == "db_mean" else 1)
    return variant


LOGISTIC = Exercise(
    "logistic_discriminator", ("logits", "label", "W", "b"), 4,
    "the logistic discriminator: its loss, and its gradients (§4, §11)", ("loss", "dz", "dW", "db"),
    _logistic_cases, _logistic_reference, _logistic_numeric, [
        ("sign error: ∂ℓ/∂q = σ(q) − c, prediction minus target", _logistic_mistake("sign")),
        ("σ forgotten: ∂ℓ/∂q = σ(q) − c, not q − c (the sigmoid's slope cancels the log's, not the sigmoid "
         "itself)", _logistic_mistake("sigma")),
        ("missing 1/N: L_class is a mean over the N rows", _logistic_mistake("n")),
        ("transposed weight gradient: dW = zᵀ dq has W's shape C×1", _logistic_mistake("transposed")),
        ("upstream gradient forgotten: dz = dq Wᵀ and dW = zᵀ dq, where dq = (σ(q) − c)/N; ∂q/∂z = Wᵀ alone is the "
         "Jacobian", _logistic_mistake("upstream")),
        ("the label convention flipped: ℓ(q, c) = −c log σ(q) − (1 − c) log(1 − σ(q)) with c the label given "
         "(1 = student, D = σ(q) its probability), not 1 − c", _logistic_mistake("flipped")),
        ("db averaged instead of summed: dq already carries the mean's 1/N, so db = Σ_n dq_n",
         _logistic_mistake("db_mean")),
    ], stress_hint=LOGISTIC_STABLE)


# ------------------------------------------------------------------------------------- §11 adversarial student
def _adversarial_cases():
    out = []
    for seed, n, c, ce, adv, form, dtype in ((35, 5, 4, 0.7, 0.45, "minimax", None),
                                             (36, 1, 3, 1.3, 0.2, "nonsaturating", None),
                                             (37, 4, 2, 0.5, 0.8, "nonsaturating", np.float32),
                                             (38, 6, 3, 0.9, 0.35, "minimax", None)):
        r = rng(seed)
        args = (2 * r.standard_normal((n, c)), r.integers(0, c, n), r.standard_normal((c, 1)), r.standard_normal(1),
                ce, adv, form)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, ce_weight=ce, adv_weight=adv, form=form))
    r = rng(39)
    out.append(case((stress_logits(r, 3, 4), r.integers(0, 4, 3), r.standard_normal((4, 1)), r.standard_normal(1),
                     0.6, 0.25, "minimax"), stress=True, N=3, C=4, ce_weight=0.6, adv_weight=0.25, form="minimax"))
    return out


def _adversarial_reference(c):
    zs, y, w, b, alpha, beta, form = c["args"]
    d, _ = _discriminator(w, b)
    return AdversarialKD(d, alpha=alpha, beta=beta, form=form, updates="fixed")(zs, y)


def _adversarial_numeric(c):
    zs, y, w, b, alpha, beta, form = c["args"]
    zs = zs.copy()
    return None, numerical_grad(lambda: _adversarial_reference({"args": (zs, y, w, b, alpha, beta, form)})[0], zs)


def _adversarial_mistake(kind):
    def variant(c):
        zs, y, w, b, alpha, beta, form = c["args"]
        n, k = zs.shape
        label = 1.0 if form == "minimax" else 0.0
        sign = -1.0 if form == "minimax" else 1.0
        label = 1.0 - label if kind == "form" else label
        sign = -sign if kind == "sign" else sign
        beta = 1 - alpha if kind == "one_minus" else beta
        lp = log_softmax(zs, 1.0, 0 if kind == "axis" else 1)
        ce, dce = -lp[np.arange(n), y].mean(), (np.exp(lp) - np.eye(k)[y]) / n
        q = zs @ w + b
        adv = logistic_value(q, label)
        dq = (sigmoid(q) - label) / (1 if kind == "n" else n)
        dadv = np.ones((n, 1)) @ w.T / n if kind == "upstream" else dq @ w.T
        return alpha * ce + sign * beta * adv, alpha * dce + sign * beta * dadv
    return variant


ADVERSARIAL = Exercise(
    "adversarial_student", ("student_logits", "labels", "W", "b", "ce_weight", "adv_weight", "form"), 11,
    "the adversarial student's gradient through a linear discriminator on raw logits", ("loss", "dz"),
    _adversarial_cases, _adversarial_reference, _adversarial_numeric, [
        ("sign error on the adversarial term: minimax is λ_CE H − λ_adv L_class(z_S | 1) (the student raises D's "
         "loss), non-saturating λ_CE H + λ_adv L_class(z_S | 0)", _adversarial_mistake("sign")),
        ("the other form's target (or the label convention flipped: 1 = student): minimax differentiates ℓ(q, 1) "
         "(∂ℓ/∂q = −(1 − D)), non-saturating ℓ(q, 0) (∂ℓ/∂q = D)", _adversarial_mistake("form")),
        ("missing 1/N on the adversarial term: L_class is a mean over the N rows", _adversarial_mistake("n")),
        ("upstream gradient forgotten: the adversarial gradient is dq Wᵀ with dq = (σ(q) − c)/N, not Wᵀ/N alone",
         _adversarial_mistake("upstream")),
        ("softmax along the wrong axis in the cross-entropy: each row (axis 1) is one sample's distribution",
         _adversarial_mistake("axis")),
        ("1 − ce_weight used as the adversarial weight: λ_adv is its own argument, adv_weight (the two need not "
         "sum to 1)", _adversarial_mistake("one_minus")),
    ], stress_hint=STABLE + "; and §4's stable form for the logistic loss")


# ------------------------------------------------------------------------- §19 conditional adversarial student
def _conditional_cases():
    out = []
    for seed, n, c, ce, lw, adv, kind, dtype in ((40, 5, 4, 0.8, 0.5, 0.3, "l1", None),
                                                 (41, 1, 3, 1.2, 0.9, 0.6, "l2", None),
                                                 (42, 4, 2, 0.5, 1.5, 0.15, "l1", np.float32),
                                                 (43, 6, 3, 0.9, 0.3, 0.45, "l2", None)):
        r = rng(seed)
        zs, zt = 2 * r.standard_normal((n, c)), 2 * r.standard_normal((n, c))
        zs[0, :1] = zt[0, :1]                                   # a tie: the L1 term's subgradient is 0 there
        args = (zs, zt, r.integers(0, c, n), r.standard_normal((2 * c, 1)), r.standard_normal(1), ce, lw, adv, kind)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, ce_weight=ce, logit_weight=lw, adv_weight=adv,
                        logit_loss=kind))
    r = rng(44)
    zs, zt = stress_logits(r, 3, 4), stress_logits(r, 3, 4)
    zs[1, 2] = zt[1, 2]
    out.append(case((zs, zt, r.integers(0, 4, 3), r.standard_normal((8, 1)), r.standard_normal(1), 0.7, 0.6, 0.2,
                     "l1"), stress=True, N=3, C=4, ce_weight=0.7, logit_weight=0.6, adv_weight=0.2, logit_loss="l1"))
    return out


def _conditional_reference(c):
    zs, zt, y, w, b, ce, lw, adv, kind = c["args"]
    d, _ = _discriminator(w, b, conditional=True)
    hard, g_hard = F.cross_entropy(zs, y)
    dist, g_dist = L.logit_distance(zs, zt, kind)
    value, g_adv = d.loss(zs, 0, y)
    return ce * hard + lw * dist + adv * value, ce * g_hard + lw * g_dist + adv * g_adv


def _conditional_numeric(c):
    zs = c["args"][0].copy()
    return None, numerical_grad(lambda: _conditional_reference({"args": (zs, *c["args"][1:])})[0], zs)


def _conditional_mistake(kind):
    def variant(c):
        zs, zt, y, w, b, ce, lw, adv, loss_kind = c["args"]
        n, k = zs.shape
        lp = log_softmax(zs)
        hard, g_hard = -lp[np.arange(n), y].mean(), (np.exp(lp) - np.eye(k)[y]) / n
        diff = zs - zt
        count = diff.size / (k if kind == "rows" else 1)
        if loss_kind == "l1":
            sign = np.where(diff >= 0, 1.0, -1.0) if kind == "sign_zero" else np.sign(diff)
            dist, g_dist = np.abs(diff).sum() / count, sign / count
        else:
            half = 1.0 if kind == "no_half" else 0.5
            dist, g_dist = half * (diff * diff).sum() / count, 2 * half * diff / count
        centred = zs - zs.mean(axis=1, keepdims=True)
        sigma = np.sqrt((centred * centred).mean(axis=1, keepdims=True) + F.STANDARDISE_EPS)
        zt_ = centred / sigma
        q = np.concatenate([zt_, np.eye(k)[y]], axis=1) @ w + b
        target = 1.0 if kind == "target" else 0.0
        value = logistic_value(q, target)
        dq = (sigmoid(q) - target) / (1 if kind == "n" else n)
        dphi = dq @ (w[k:] if kind == "class_rows" else w[:k]).T
        if kind == "no_standardise":
            g_adv = dphi
        else:
            g_adv = (dphi - dphi.mean(axis=1, keepdims=True)
                     - zt_ * (dphi * zt_).mean(axis=1, keepdims=True)) / sigma
        s = -1.0 if kind == "sign" else 1.0
        return ce * hard + lw * dist + s * adv * value, ce * g_hard + lw * g_dist + s * adv * g_adv
    return variant


CONDITIONAL = Exercise(
    "conditional_adversarial", ("student_logits", "teacher_logits", "labels", "W", "b", "ce_weight", "logit_weight",
                                "adv_weight", "logit_loss"), 19,
    "the conditional adversarial student: class-conditioned discriminator, logit distance", ("loss", "dz"),
    _conditional_cases, _conditional_reference, _conditional_numeric, [
        ("the student's adversarial target is 0 (being called the teacher), non-saturating: L_class(z_S | 0), "
         "dq = σ(q)/N, not the target 1", _conditional_mistake("target")),
        ("the class columns' weights used: the input is [z̃, Y], so dz̃ = dq W[:C]ᵀ; W[C:] multiplies the one-hot "
         "class, which depends on no logit", _conditional_mistake("class_rows")),
        ("the standardisation's backward forgotten: D sees z̃, so "
         "dz = (dz̃ − mean_k(dz̃)·1 − z̃ ⊙ mean_k(dz̃ ⊙ z̃)·1)/σ_z (§16, Step 5)", _conditional_mistake("no_standardise")),
        ("the logit distance averaged over the rows only: L_logit is a mean over all N·C entries",
         _conditional_mistake("rows")),
        ("L2 without its ½: L_logit = (1/(2NC)) Σ (z_S − z_T)², whose gradient is (z_S − z_T)/(NC)",
         _conditional_mistake("no_half")),
        ("sign(0) = +1 in the L1 term: where the logits agree its subgradient is 0 (NumPy's sign; §19), unlike "
         "§13's sign(0) = +1", _conditional_mistake("sign_zero")),
        ("sign error on the adversarial term: it is added, λ_adv L_class(z_S | 0)", _conditional_mistake("sign")),
        ("missing 1/N on the adversarial term: L_class is a mean over the N rows", _conditional_mistake("n")),
    ], stress_hint=STABLE)

EXERCISES = [LOGISTIC, ADVERSARIAL, CONDITIONAL]
