"""Losses between student and teacher logits beyond Hinton's soft targets, each returning ``(value, gradient)``:
decoupled KD (``decoupled_kd``), DIST's correlations (``dist_loss``, ``pearson``) and the L1 or L2 logit distance
of conditional adversarial KD (``logit_distance``).

Like ``functional``, nothing here reads a value back to the host: shapes and dtypes are checked on every call,
values only with ``TINYKD_DEBUG=1``. Derivations: ``docs/derivations.md`` §16–§19; finite-difference checks:
``tests/test_logit_losses.py``.
"""
from . import functional as F
from .backend import get_array_module
from .checks import check_weights


def _logsumexp(u, xp):
    """log Σ_k exp u_k per row, the row maximum taken out first (entries may be −inf, not all of a row)."""
    m = u.max(axis=1, keepdims=True)
    return m + xp.log(xp.exp(u - m).sum(axis=1, keepdims=True))


def _decoupled_parts(u, target_mask, xp):
    """For scaled logits u = z/τ: log b (the binary [target, rest] probabilities, shape (N, 2)) and log p̂ (the
    distribution over the non-target classes; 0 in the target column, which every use masks out)."""
    lse = _logsumexp(u, xp)
    rest = xp.where(target_mask, -xp.inf, u)
    lse_rest = _logsumexp(rest, xp)
    log_target = (u * target_mask).sum(axis=1, keepdims=True) - lse
    log_b = xp.concatenate([log_target, lse_rest - lse], axis=1)
    log_hat = xp.where(target_mask, 0, u - lse_rest)
    return log_b, log_hat


def decoupled_kd(student_logits, teacher_logits, targets, temperature=4.0, alpha=1.0, beta=8.0):
    """Decoupled KD (Zhao et al. 2022; docs/derivations.md §17): ``L = (τ²/N) Σ_n (λ_TC TCKD + λ_NC NCKD)`` at
    temperature τ, with ``λ_TC`` the argument ``alpha`` and ``λ_NC`` the argument ``beta`` (the paper's names;
    paper: 1 and 8, τ = 4).

    With ``P^τ = softmax(z/τ)`` and y the class of a row (``targets``): TCKD is the KL between the binary
    distributions ``(P_T,y^τ, 1 − P_T,y^τ)`` and ``(P_S,y^τ, 1 − P_S,y^τ)``; NCKD the KL between the distributions
    over the other classes, ``P̂_k = P_k^τ/(1 − P_y^τ)`` for k ≠ y (0 in column y). Classical KD is
    ``TCKD + (1 − P_T,y^τ) NCKD``, which ties NCKD's weight to the teacher's confidence: DKD sets both weights free.

    Gradient w.r.t. the student logits: ``dz_S = (τ/N)·(λ_TC (P_S,y^τ − P_T,y^τ)(Y − P̂_S) + λ_NC (P̂_S − P̂_T))``.
    Every log-probability is computed in log space, so any finite logits give a finite value and gradient (a
    teacher sure to 1e−300 included). ``targets``: integer class of each row, in [0, C); C ≥ 2.
    """
    F.check_logit_pair(student_logits, teacher_logits)
    F.check_temperature(temperature)
    alpha, beta = check_weights("decoupled_kd", alpha=alpha, beta=beta)
    n, c = student_logits.shape
    if c < 2:
        raise ValueError(f"decoupled KD needs at least 2 classes (a target and the rest), got {c}")
    F.check_labels(targets, n, c, "targets")
    xp = get_array_module(student_logits)
    dt = student_logits.dtype.type
    tau = dt(temperature)
    mask = xp.arange(c)[None, :] == targets[:, None]
    log_bs, log_hs = _decoupled_parts(student_logits / tau, mask, xp)
    log_bt, log_ht = _decoupled_parts(teacher_logits / tau, mask, xp)
    bs, bt = xp.exp(log_bs), xp.exp(log_bt)
    hs, ht = xp.where(mask, 0, xp.exp(log_hs)), xp.where(mask, 0, xp.exp(log_ht))
    tckd = (bt * (log_bt - log_bs)).sum()
    nckd = (ht * (log_ht - log_hs)).sum()
    scale = tau * tau / dt(n)
    loss = scale * (dt(alpha) * tckd + dt(beta) * nckd)
    grad = mask.astype(student_logits.dtype) - hs
    grad *= dt(alpha) * (bs[:, :1] - bt[:, :1])
    grad += dt(beta) * (hs - ht)
    grad *= tau / dt(n)
    return loss, grad


def pearson(a, b, axis, eps=1e-8):
    """Pearson correlation of the arrays ``a`` (U) and ``b`` (V) along ``axis`` (docs/derivations.md §18); returns
    ``(corr, ∂corr/∂U)``, corr with the axis reduced. With ``Ū = U − mean_j(U)·1`` and V̄ alike, ``corr = Σ_j Ū_j V̄_j
    / Q_UV`` with ``Q_UV = ‖Ū‖ ‖V̄‖ + ε_corr`` (``eps``; the DIST authors' form, Huang et al. 2022), which keeps a
    constant U (Ū = 0) finite (corr = 0 there), and ``∂corr/∂Ū = (V̄ − corr ‖V̄‖ Ū/‖Ū‖) / Q_UV`` (Ū/‖Ū‖ read as
    0 where Ū = 0). ``∂corr/∂U`` is that minus its mean along the axis (the centring's Jacobian), subtracted
    explicitly because the rounded Ū does not sum to 0 (§18, Step 2).
    """
    xp = get_array_module(a)
    dt = a.dtype.type
    ac = a - a.mean(axis=axis, keepdims=True)
    bc = b - b.mean(axis=axis, keepdims=True)
    na = xp.sqrt((ac * ac).sum(axis=axis, keepdims=True))
    nb = xp.sqrt((bc * bc).sum(axis=axis, keepdims=True))
    denom = na * nb + dt(eps)
    rho = (ac * bc).sum(axis=axis, keepdims=True) / denom
    grad = bc - rho * nb * ac / xp.where(na > 0, na, dt(1))   # ā = 0 where na = 0: the term is 0 there
    grad /= denom
    grad -= grad.mean(axis=axis, keepdims=True)
    return rho.squeeze(axis), grad


def dist_loss(student_logits, teacher_logits, temperature=4.0, beta=2.0, gamma=2.0):
    """DIST (Huang et al. 2022; docs/derivations.md §18): ``L = τ² λ_inter (1 − (1/N) Σ_n corr(P_S,n·^τ, P_T,n·^τ))
    + τ² λ_intra (1 − (1/C) Σ_k corr(P_S,·k^τ, P_T,·k^τ))``, with ``P^τ = softmax(z/τ)``, ``λ_inter`` the argument
    ``beta`` and ``λ_intra`` the argument ``gamma`` (the paper's names), and corr the Pearson correlation
    (``pearson``, the authors' ``Σ_j Ū_j V̄_j / Q_UV`` with ε_corr = 1e-8).

    The first term (inter-class) asks each sample's student probabilities to rank and space the classes as the
    teacher's do, up to a shift and scale; the second (intra-class) asks each class's probabilities across the
    batch to vary as the teacher's do. Gradient: G = ∂L/∂P_S^τ from ``pearson``, then ``softmax_backward`` at τ.
    The intra-class term needs a batch of at least 2 rows (a correlation across one row is undefined).
    """
    F.check_logit_pair(student_logits, teacher_logits)
    F.check_temperature(temperature)
    beta, gamma = check_weights("dist_loss", beta=beta, gamma=gamma)
    n, c = student_logits.shape
    if gamma and n < 2:
        raise ValueError("DIST's intra-class term (gamma > 0) correlates each class across the batch and needs a "
                         f"batch of at least 2 rows, got {n}")
    if beta and c < 2:
        raise ValueError(f"DIST's inter-class term (beta > 0) needs at least 2 classes, got {c}")
    dt = student_logits.dtype.type
    tau = dt(temperature)
    ys = F.softmax(student_logits, temperature)
    yt = F.softmax(teacher_logits, temperature)
    rho_inter, g_inter = pearson(ys, yt, axis=1)
    rho_intra, g_intra = pearson(ys, yt, axis=0)
    scale = tau * tau
    loss = scale * (dt(beta) * (1 - rho_inter.mean()) + dt(gamma) * (1 - rho_intra.mean()))
    g_inter *= -scale * dt(beta) / dt(n)
    g_inter -= (scale * dt(gamma) / dt(c)) * g_intra
    return loss, F.softmax_backward(ys, g_inter, temperature)


LOGIT_DISTANCES = ("l1", "l2")


def logit_distance(student_logits, teacher_logits, kind="l1"):
    """Mean distance between student and teacher logits over every entry: ``l1``: ``mean |z_S − z_T|``, gradient
    ``sign(z_S − z_T)/(NC)`` (0 where they are equal: a subgradient); ``l2``: ``½ mean (z_S − z_T)²``, gradient
    ``(z_S − z_T)/(NC)``. Unlike KD's soft targets it sees the logits' shift and scale (conditional adversarial KD
    keeps it beside its adversarial term: Xu, Hsu & Huang 2017; Belagiannis et al. 2018)."""
    F.check_logit_pair(student_logits, teacher_logits)
    if kind not in LOGIT_DISTANCES:
        raise ValueError(f"kind must be one of {LOGIT_DISTANCES}, got {kind!r}")
    xp = get_array_module(student_logits)
    dt = student_logits.dtype.type
    diff = student_logits - teacher_logits
    count = dt(diff.size)
    if kind == "l1":
        return xp.abs(diff).sum() / count, xp.sign(diff) / count
    return (diff * diff).sum() / (2 * count), diff / count
