"""The exercise on distilling an ensemble (§21): the averaged soft target as stable logits, and Hinton's soft term
against it, its value and gradient. tinykd's own functions are the reference; each mistake is the right result with
one thing done wrong, written out with NumPy (a wrong target carried consistently into the value and the
gradient, as a learner's code would carry it)."""
import numpy as np

from .. import functional as F
from ..ensemble import ensemble_logits
from ..gradcheck import numerical_grad
from .core import Exercise, case
from .on_logits import f32, log_softmax, rng, softmax, stress_logits

NAIVE = ("−inf where every member's probability underflows (only the stress case fails): compute log P̄^τ = "
         "logsumexp_T(log P_T^τ) − log K_T in log space, with §1's log-softmax (§21), never log(mean_T P_T^τ)")


def _cases():
    out = []
    for seed, k, n, c, tau, dtype in ((110, 3, 5, 4, 4.0, None), (111, 1, 1, 3, 2.0, None),
                                      (112, 2, 4, 2, 1.0, np.float32), (113, 5, 6, 5, 20.0, None),
                                      (114, 2, 3, 6, 0.5, None)):
        r = rng(seed)
        args = (3 * r.standard_normal((k, n, c)) + r.standard_normal(c), 2 * r.standard_normal((n, c)), tau)
        out.append(case(f32(*args) if dtype else args, K_T=k, N=n, C=c, tau=tau))
    r = rng(115)
    members = np.stack([stress_logits(r, 3, 4) for _ in range(3)])
    members[:, 0, 3] = -1000.0                      # a class no member gives any probability at τ = 2
    out.append(case((members, stress_logits(r, 3, 4), 2.0), stress=True, K_T=3, N=3, C=4, tau=2.0))
    return out


def _reference(c):
    z, zs, tau = c["args"]
    logits = ensemble_logits(z, tau)
    loss, dz = F.kl_divergence(zs, logits, tau, t_squared=True)
    return logits, loss, dz


def _soft_term(pbar, zs, tau):
    """``τ² KL(P̄ ‖ P_S^τ)`` (mean over the rows; 0 log 0 = 0) and its gradient ``τ (P_S^τ − P̄)/N``, for any P̄."""
    ls = log_softmax(zs, tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pbar > 0, pbar * (np.log(np.where(pbar > 0, pbar, 1.0)) - ls), 0.0)
    n = zs.shape[0]
    return tau * tau * terms.sum() / n, tau * (np.exp(ls) - pbar) / n


def _log_mean(z, tau, axis=2):
    """``log P̄^τ`` written out: logsumexp over the members of the log-softmax (over ``axis``), less ``log K_T``."""
    return np.logaddexp.reduce(log_softmax(z, tau, axis=axis), axis=0) - np.log(z.shape[0])


def _numeric(c):
    z, zs, tau = c["args"]
    zs = zs.copy()
    log_pbar = _log_mean(z, tau)
    loss, _ = _soft_term(np.exp(log_pbar), zs, tau)
    return tau * log_pbar, loss, numerical_grad(lambda: _soft_term(np.exp(log_pbar), zs, tau)[0], zs)


def _mistake(kind):
    def variant(c):
        z, zs, tau = c["args"]
        k = z.shape[0]
        log_pbar = _log_mean(z, tau)
        logits = tau * log_pbar
        if kind == "logits":
            logits = tau * log_softmax(z.mean(axis=0), tau)
        elif kind == "tau_members":
            logits = tau * _log_mean(z, 1.0)
        elif kind == "k_twice":
            logits = logits - tau * np.log(k)
        elif kind == "axis":
            logits = tau * _log_mean(z, tau, axis=1)
        elif kind == "mean_log":
            logits = tau * log_softmax(z, tau, axis=2).mean(axis=0)
        elif kind == "no_log_k":
            logits = logits + tau * np.log(k)
        pbar = np.exp(logits / tau)                  # the target the learner goes on with
        if kind == "tau_outside":
            logits = log_pbar
        loss, dz = _soft_term(pbar, zs, tau)
        if kind == "members_kl":
            loss = np.mean([_soft_term(softmax(zt, tau), zs, tau)[0] for zt in z])
        elif kind == "no_t2":
            loss, dz = loss / tau**2, dz / tau**2
        elif kind == "grad_t2":
            dz = dz * tau
        elif kind == "sign":
            dz = -dz
        return logits, loss, dz
    return variant


ENSEMBLE_TARGET = Exercise(
    "ensemble_target", ("member_logits", "student_logits", "temperature"), 21,
    "distilling an ensemble: the averaged target as stable logits, and KD's soft term against it",
    ("logits", "loss", "dz"), _cases, _reference, _numeric, [
        ("the mean of the members' logits: that gives their normalised geometric mean (§21); the target is the mean "
         "of their probabilities, P̄^τ = (1/K_T) Σ_T P_T^τ", _mistake("logits")),
        ("the members' distributions at τ = 1: the soft target averages P_T^τ = softmax(z_T/τ)",
         _mistake("tau_members")),
        ("log P̄^τ returned without the factor τ: KD takes softmax(logits/τ), so the logits that give P̄^τ are "
         "τ log P̄^τ", _mistake("tau_outside")),
        ("divided by K_T twice: P̄^τ = (1/K_T) Σ_T P_T^τ, one division (its rows sum to 1)", _mistake("k_twice")),
        ("log K_T forgotten: logsumexp_T(log P_T^τ) is the log of the members' sum, not of their mean; the logits "
         "asked are exactly τ log P̄^τ = τ (logsumexp_T(log P_T^τ) − log K_T)", _mistake("no_log_k")),
        ("softmax along the wrong axis: in the K_T×N×C array of the members' logits the classes are the last axis",
         _mistake("axis")),
        ("the mean of the members' log-probabilities: the log of the mean is not the mean of the logs (that is an "
         "unnormalised geometric mean); average the probabilities, in log space", _mistake("mean_log")),
        ("the mean of the members' KLs: the same gradient, but its value carries the members' disagreement, "
         "H(P̄^τ) − mean_T H(P_T^τ), which no student can lower (§21); the loss is τ² KL(P̄^τ ‖ P_S^τ)",
         _mistake("members_kl")),
        ("missing τ²: Hinton's soft term is τ² KL(P̄^τ ‖ P_S^τ), its gradient τ (P_S^τ − P̄^τ)/N",
         _mistake("no_t2")),
        ("τ² where τ belongs in the gradient: τ² KL has the gradient τ²·(P_S^τ − P̄^τ)/(τN) (§3's 1/τ forgotten)",
         _mistake("grad_t2")),
        ("sign error: the gradient is prediction minus target, τ (P_S^τ − P̄^τ)/N", _mistake("sign")),
    ], numeric_label="the formula written out and finite differences", stress_hint=NAIVE)

EXERCISES = [ENSEMBLE_TARGET]
