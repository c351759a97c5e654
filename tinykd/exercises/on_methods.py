"""The exercises on the newer methods: FitNets' hint regressor (§12), logit standardisation (§16), decoupled KD
(§17) and DIST (§18). tinykd's own functions are the reference; each mistake is the right result with one thing
done wrong: written out with NumPy, or, where the mistake is in the forward pass, the value of the wrong forward
and its gradient by finite differences (what a backward consistent with that forward gives)."""
import numpy as np

from .. import functional as F
from .. import logit_losses as L
from ..fitnets import HintLoss
from ..gradcheck import numerical_grad
from ..layers import Dense
from .core import Exercise, case
from .on_logits import STABLE, f32, rng, softmax, stress_logits


def _by_differences(value, c, at=0):
    """``(value(args), ∂value/∂args[at])`` by finite differences: a wrong forward and its consistent gradient."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in c["args"]]
    return value(*args), numerical_grad(lambda: value(*args), args[at])


# ------------------------------------------------------------------------------------------ §12 the hint regressor
def _hint_cases():
    out = []
    for seed, n, fs, ft, dtype in ((90, 5, 3, 4, None), (91, 1, 4, 2, None), (92, 4, 2, 5, np.float32),
                                   (93, 6, 3, 3, None)):
        r = rng(seed)
        args = (np.abs(r.standard_normal((n, fs))), np.abs(r.standard_normal((n, ft))), r.standard_normal((fs, ft)),
                0.3 * r.standard_normal(ft))
        out.append(case(f32(*args) if dtype else args, N=n, F_S=fs, F_T=ft))
    return out


def _hint_reference(c):
    hs, ht, w, b = c["args"]
    regressor = Dense(*w.shape, dtype=np.float64)
    regressor.params["W"][...] = w
    regressor.params["b"][...] = b
    loss, dr = HintLoss()(regressor.forward(hs, train=True), None, ht)
    dhs = regressor.backward(dr)
    return loss, dhs, regressor.grads["W"].copy(), regressor.grads["b"].copy()


def _hint_value(hs, ht, w, b):
    d = hs @ w + b - ht
    return (d * d).sum() / (2 * hs.shape[0])


def _hint_numeric(c):
    hs, ht, w, b = (a.copy() for a in c["args"])
    return (None, *(numerical_grad(lambda: _hint_value(hs, ht, w, b), a) for a in (hs, w, b)))


def _hint_mistake(kind):
    def variant(c):
        hs, ht, w, b = c["args"]
        n, ft = ht.shape
        d = hs @ w + b - ht
        value, dr = (d * d).sum() / (2 * n), d / n
        if kind == "no_half":
            value, dr = 2 * value, 2 * dr
        elif kind == "mean_nf":          # PyTorch's MSELoss: the mean of the squares over all N·F_T entries
            value, dr = (d * d).mean(), 2 * d / (n * ft)
        elif kind == "n":
            value, dr = value * n, dr * n
        elif kind == "sign":
            dr = -dr
        dw = dr.T @ hs if kind == "transposed" else hs.T @ dr
        return value, dr @ w.T, dw, dr.sum(axis=0) / (n if kind == "db_mean" else 1)
    return variant


HINT = Exercise(
    "hint_regressor", ("h_S", "h_T", "W_R", "b_R"), 12, "FitNets' hint: the regressor's loss and gradients",
    ("loss", "dh_S", "dW_R", "db_R"), _hint_cases, _hint_reference, _hint_numeric, [
        ("the ½ forgotten: L = (1/(2N)) Σ_n ‖h_R − h_T‖², whose gradient is (h_R − h_T)/N", _hint_mistake("no_half")),
        ("mean over all N·F_T entries (PyTorch's MSELoss): L sums over the units and takes half the mean over the "
         "rows", _hint_mistake("mean_nf")),
        ("missing 1/N: the loss is a mean over the N rows", _hint_mistake("n")),
        ("sign error: dh_R = (h_R − h_T)/N, prediction minus target", _hint_mistake("sign")),
        ("transposed weight gradient: dW_R = h_Sᵀ dh_R has W_R's shape F_S×F_T", _hint_mistake("transposed")),
        ("db_R averaged instead of summed: dh_R already carries the 1/N", _hint_mistake("db_mean")),
    ])


# ------------------------------------------------------------------------------------ §16 logit standardisation
def _standardise_cases():
    out = []
    for seed, n, c, eps, dtype in ((94, 5, 4, 1e-12, None), (95, 1, 2, 0.5, None), (96, 4, 3, 1e-3, np.float32),
                                   (97, 3, 5, 2.0, None)):
        r = rng(seed)
        args = (3 * r.standard_normal((n, c)) + 2, r.standard_normal((n, c)), eps)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, eps=eps))
    return out


def _standardise_reference(c):
    z, g, eps = c["args"]
    zt, sigma = F.standardise(z, eps)
    return zt, F.standardise_backward(zt, sigma, g)


def _standardise_numeric(c):
    z, g, eps = c["args"]
    z = z.copy()
    return None, numerical_grad(lambda: (g * F.standardise(z, eps)[0]).sum(), z)


def _zscore(z, eps, kind=None, axis=1):
    d = z - z.mean(axis=axis, keepdims=True)
    nu = (d * d).sum(axis=axis, keepdims=True) / (z.shape[axis] - (kind == "unbiased"))
    return d / (np.sqrt(nu) + eps if kind == "eps_outside" else np.sqrt(nu + eps))


def _standardise_mistake(kind):
    def variant(c):
        z, g, eps = c["args"]
        if kind in ("unbiased", "eps_outside", "axis"):
            axis = 0 if kind == "axis" else 1

            def value(z, g, eps):
                return (g * _zscore(z, eps, kind, axis)).sum()
            return _zscore(z, eps, kind, axis), _by_differences(value, c)[1]
        zt = _zscore(z, eps)
        sigma = np.sqrt(((z - z.mean(axis=1, keepdims=True)) ** 2).mean(axis=1, keepdims=True) + eps)
        mean_g = 0 if kind in ("mean_path", "both") else g.mean(axis=1, keepdims=True)
        var_g = 0 if kind in ("var_path", "both") else zt * (g * zt).mean(axis=1, keepdims=True)
        dz = (g - mean_g - var_g) / {"no_sigma": 1, "sigma_squared": sigma * sigma}.get(kind, sigma)
        return zt, -dz if kind == "sign" else dz
    return variant


STANDARDISE = Exercise(
    "standardise", ("logits", "grad", "eps"), 16, "logit standardisation: the z-score and its backward",
    ("z̃", "dz"), _standardise_cases, _standardise_reference, _standardise_numeric, [
        ("the variance divided by C − 1 (Sun et al.'s code): ν_z is the population variance, mean_k (z_k − z̄)² (§16)",
         _standardise_mistake("unbiased")),
        ("ε_z outside the square root: σ_z = √(ν_z + ε_z)", _standardise_mistake("eps_outside")),
        ("statistics along the wrong axis: each row (axis 1) is standardised over its classes",
         _standardise_mistake("axis")),
        ("the mean's path forgotten (the mean_k(g) term): z reaches z̃ through z̄ as well",
         _standardise_mistake("mean_path")),
        ("the variance's path forgotten (the z̃ ⊙ mean_k(g ⊙ z̃) term): z reaches z̃ through σ_z as well",
         _standardise_mistake("var_path")),
        ("z̄ and σ_z treated as constants: dz = (g − mean_k(g)·1 − z̃ ⊙ mean_k(g ⊙ z̃)·1)/σ_z",
         _standardise_mistake("both")),
        ("missing 1/σ_z: z̃ divides by σ_z, and so does its gradient", _standardise_mistake("no_sigma")),
        ("divided by σ_z² instead of σ_z: the quotient rule's 1/σ_z² is already inside the z̃ ⊙ mean_k(g ⊙ z̃) term",
         _standardise_mistake("sigma_squared")),
        ("sign error", _standardise_mistake("sign")),
    ])


# ---------------------------------------------------------------------------------------------- §17 decoupled KD
def _dkd_cases():
    out = []
    for seed, n, c, tau, tc, nc, dtype in ((98, 5, 4, 4.0, 1.0, 8.0, None), (99, 1, 3, 2.0, 0.5, 2.0, None),
                                           (100, 4, 2, 3.0, 1.5, 0.7, np.float32), (101, 6, 5, 1.5, 2.0, 4.0, None)):
        r = rng(seed)
        args = (2 * r.standard_normal((n, c)), 3 * r.standard_normal((n, c)), r.integers(0, c, n), tau, tc, nc)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, tau=tau, tc_weight=tc, nc_weight=nc))
    r = rng(102)
    out.append(case((stress_logits(r, 3, 4), stress_logits(r, 3, 4), r.integers(0, 4, 3), 2.0, 1.0, 3.0),
                    stress=True, N=3, C=4, tau=2.0, tc_weight=1.0, nc_weight=3.0))
    return out


def _dkd_value(zs, zt, y, tau, tc, nc, kind=None):
    """DKD's value in log space, with one mistake made (``kind``)."""
    n, k = zs.shape
    mask = np.eye(k, dtype=bool)[y]

    def parts(z):
        u = z / tau
        lse = np.logaddexp.reduce(u, axis=1, keepdims=True)
        rest = np.logaddexp.reduce(np.where(mask, -np.inf, u), axis=1, keepdims=True)
        log_y = (u * mask).sum(axis=1, keepdims=True) - lse
        log_hat = u - (lse if kind == "unnormalised" else rest)
        return log_y, rest - lse, log_hat, u - lse
    ys, ns, hs, ls = parts(zs)
    yt, nt, ht, lt = parts(zt)
    tckd = np.exp(yt) * (yt - ys) + (0 if kind == "tckd_half" else np.exp(nt) * (nt - ns))
    pick = ~mask
    nckd = (np.where(pick, np.exp(ht) * (ht - hs), 0)).sum(axis=1, keepdims=True)
    if kind == "full_kl":
        nckd = (np.exp(lt) * (lt - ls)).sum(axis=1, keepdims=True)
    if kind == "coupled":
        nckd = nckd * -np.expm1(yt)
    if kind == "swapped":
        tc, nc = nc, tc
    t2 = {"no_t2": 1.0, "t_for_t2": tau}.get(kind, tau * tau)
    return t2 * (tc * tckd + nc * nckd).sum() / (n * (k if kind == "mean_nc" else 1))


def _dkd_mistake(kind):
    def variant(c):
        if kind in ("grad_t2", "sign"):
            value, grad = L.decoupled_kd(*c["args"][:3], temperature=c["args"][3], alpha=c["args"][4],
                                         beta=c["args"][5])
            return value, grad * c["args"][3] if kind == "grad_t2" else -grad
        return _by_differences(lambda *a: _dkd_value(*a, kind=kind), c)
    return variant


DKD = Exercise(
    "decoupled_kd", ("student_logits", "teacher_logits", "targets", "temperature", "tc_weight", "nc_weight"), 17,
    "decoupled KD: TCKD and NCKD, weighted apart", ("loss", "dz"), _dkd_cases,
    lambda c: L.decoupled_kd(*c["args"][:3], temperature=c["args"][3], alpha=c["args"][4], beta=c["args"][5]),
    lambda c: (None, _by_differences(_dkd_value, c)[1]), [
        ("missing τ²: L = (τ²/N) Σ_n (λ_TC TCKD + λ_NC NCKD)", _dkd_mistake("no_t2")),
        ("τ instead of τ², on the value and the gradient", _dkd_mistake("t_for_t2")),
        ("τ² in the gradient where τ belongs: each log-probability brings 1/τ, so dz_S = (τ/N)(…) (§17)",
         _dkd_mistake("grad_t2")),
        ("λ_TC and λ_NC swapped: tc_weight multiplies TCKD (the binary target/rest KL), nc_weight NCKD",
         _dkd_mistake("swapped")),
        ("NCKD still weighted by 1 − P_T,y^τ: that coupling is classical KD's; DKD sets the weight free",
         _dkd_mistake("coupled")),
        ("NCKD over every class: the non-target distribution P̂ leaves out class y and is renormalised, "
         "P̂_k = P_k^τ/(1 − P_y^τ)", _dkd_mistake("full_kl")),
        ("P̂ not renormalised: P̂_k = P_k^τ/(1 − P_y^τ) for k ≠ y, so that it sums to 1",
         _dkd_mistake("unnormalised")),
        ("TCKD's second term dropped: TCKD is the KL between the binary distributions (P_y^τ, 1 − P_y^τ), two terms",
         _dkd_mistake("tckd_half")),
        ("mean over all N·C entries: TCKD and NCKD are per row, and the loss is their mean over the N rows",
         _dkd_mistake("mean_nc")),
        ("sign error: each part is prediction minus target", _dkd_mistake("sign")),
    ], stress_hint=STABLE + "; and log(1 − P_y) = log Z_∖y − log Z (§17), never log of the difference 1 − P_y")


# ------------------------------------------------------------------------------------------------------ §18 DIST
def _dist_cases():
    out = []
    for seed, n, c, tau, inter, intra, dtype in ((103, 5, 4, 2.0, 2.0, 1.0, None), (104, 1, 3, 1.5, 1.5, 0.0, None),
                                                 (105, 4, 2, 1.0, 0.5, 2.5, np.float32),
                                                 (106, 6, 5, 3.0, 1.0, 0.5, None)):
        r = rng(seed)
        args = (3 * r.standard_normal((n, c)), 3 * r.standard_normal((n, c)), tau, inter, intra)
        out.append(case(f32(*args) if dtype else args, N=n, C=c, tau=tau, inter_weight=inter, intra_weight=intra))
    return out


def _corr(a, b, axis, centre=True):
    if centre:
        a, b = a - a.mean(axis=axis, keepdims=True), b - b.mean(axis=axis, keepdims=True)
    na, nb = np.sqrt((a * a).sum(axis=axis)), np.sqrt((b * b).sum(axis=axis))
    return (a * b).sum(axis=axis) / (na * nb + 1e-8)


def _dist_value(zs, zt, tau, inter, intra, kind=None):
    ps, pt = (zs, zt) if kind == "logits" else (softmax(zs, tau), softmax(zt, tau))
    centre = kind != "no_centre"
    if kind == "swapped":
        inter, intra = intra, inter
    rows, cols = _corr(ps, pt, 1, centre), _corr(ps, pt, 0, centre)
    if kind == "intra_axis":
        cols = rows
    reduce = np.sum if kind == "sums" else np.mean
    t2 = 1.0 if kind == "no_t2" else tau * tau
    return t2 * (inter * (1 - reduce(rows)) + (intra * (1 - reduce(cols)) if intra else 0.0))


def _dist_grad_p(zs, zt, tau, inter, intra, first_term_only=False):
    """G = ∂L/∂P_S^τ, written out (with the correlation's second term dropped if asked)."""
    ps, pt = softmax(zs, tau), softmax(zt, tau)
    n, k = ps.shape
    total = np.zeros_like(ps)
    for axis, weight, count in ((1, inter, n), (0, intra, k)):
        if not weight:
            continue
        a, b = ps - ps.mean(axis=axis, keepdims=True), pt - pt.mean(axis=axis, keepdims=True)
        na, nb = np.sqrt((a * a).sum(axis=axis, keepdims=True)), np.sqrt((b * b).sum(axis=axis, keepdims=True))
        q = na * nb + 1e-8
        rho = (a * b).sum(axis=axis, keepdims=True) / q
        g = b / q if first_term_only else (b - rho * nb * a / na) / q
        total -= tau * tau * weight / count * (g - g.mean(axis=axis, keepdims=True))
    return ps, total


def _dist_mistake(kind):
    def variant(c):
        zs, zt, tau, inter, intra = c["args"]
        if kind in ("logits", "no_centre", "swapped", "sums", "no_t2", "intra_axis"):
            return _by_differences(lambda *a: _dist_value(*a, kind=kind), c)
        value = _dist_value(zs, zt, tau, inter, intra)
        ps, big_g = _dist_grad_p(zs, zt, tau, inter, intra, first_term_only=kind == "first_term")
        if kind == "stop_at_p":
            return value, big_g
        if kind == "log_softmax_product":
            return value, (big_g - ps * big_g.sum(axis=1, keepdims=True)) / tau
        dz = ps * (big_g - (big_g * ps).sum(axis=1, keepdims=True)) / tau
        return value, {"tau": dz * tau, "sign": -dz}.get(kind, dz)
    return variant


DIST = Exercise(
    "dist_loss", ("student_logits", "teacher_logits", "temperature", "inter_weight", "intra_weight"), 18,
    "DIST: one minus the correlations, between and within classes", ("loss", "dz"), _dist_cases,
    lambda c: L.dist_loss(*c["args"][:3], beta=c["args"][3], gamma=c["args"][4]),
    lambda c: (None, _by_differences(_dist_value, c)[1]), [
        ("correlation without centring (a cosine similarity): Pearson's correlation centres both vectors first",
         _dist_mistake("no_centre")),
        ("the correlations of the logits: DIST correlates the probabilities P^τ = softmax(z/τ)",
         _dist_mistake("logits")),
        ("G = ∂L/∂P_S^τ through the log-softmax product: G differentiates the probabilities, so §1's softmax product "
         "applies, dz = P_S^τ ⊙ (G − ⟨G, P_S^τ⟩·1)/τ", _dist_mistake("log_softmax_product")),
        ("stopped at G = ∂L/∂P_S^τ: carry it through the tempered softmax to the logits", _dist_mistake("stop_at_p")),
        ("the correlation's second term dropped: ‖Ū‖ depends on U too, ∂corr/∂Ū = (V̄ − corr ‖V̄‖ Ū/‖Ū‖)/Q_UV",
         _dist_mistake("first_term")),
        ("missing τ²: both terms are multiplied by τ²", _dist_mistake("no_t2")),
        ("λ_inter and λ_intra swapped: inter_weight multiplies the rows' correlations (each sample across the "
         "classes), intra_weight the columns'", _dist_mistake("swapped")),
        ("the intra-class term along the rows: it correlates each class's column across the batch (axis 0)",
         _dist_mistake("intra_axis")),
        ("sums where means are asked: 1 − (1/N) Σ_n corr and 1 − (1/C) Σ_k corr", _dist_mistake("sums")),
        ("missing 1/τ: the probabilities are softmax(z/τ), so the softmax product carries 1/τ", _dist_mistake("tau")),
        ("sign error: the loss is one minus the correlations", _dist_mistake("sign")),
    ])

EXERCISES = [HINT, STANDARDISE, DKD, DIST]
