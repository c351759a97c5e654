"""The exercises on updates and binary weights: one Adam step (§9), the binary layer's scaling-factor gradient and
straight-through estimator (§13), and the max-norm projection (§20). tinykd's own optimiser and layers are the
reference; each mistake is the right result with one thing done wrong, written out with NumPy."""
import numpy as np

from ..binary import _scaled_sign_backward, abs_mean, binarize
from ..gradcheck import numerical_grad, off_kink
from ..optim import Adam, max_norm
from .core import Exercise, case
from .on_logits import f32, rng


# ------------------------------------------------------------------------------------------------------ §9 Adam
def _adam_cases():
    out = []
    for seed, shape, t, lr, b1, b2, eps, scale, dtype in (
            (70, (3, 4), 1, 0.01, 0.9, 0.999, 1e-8, 1.0, None),
            (71, (2, 5), 4, 0.05, 0.8, 0.99, 1e-3, 1e-3, None),
            (72, (2, 3), 2, 0.05, 0.5, 0.9, 1e-2, 0.03, np.float32),
            (73, (1, 4), 7, 0.1, 0.95, 0.995, 1e-4, 1e-3, None)):
        r = rng(seed)
        first = t == 1     # at the first step both moments are still 0
        m = np.zeros(shape) if first else 0.5 * scale * r.standard_normal(shape)
        v = np.zeros(shape) if first else (scale ** 2) * r.random(shape)
        args = (r.standard_normal(shape), scale * r.standard_normal(shape), m, v, t, lr, b1, b2, eps)
        out.append(case(f32(*args) if dtype else args, shape="×".join(map(str, shape)), t=t, lr=lr,
                        betas=(b1, b2), eps=eps))
    return out


def _adam_reference(c):
    theta, g, m, v, t, lr, b1, b2, eps = c["args"]
    params = [("theta", theta.copy(), g.copy())]
    opt = Adam(params, lr=lr, betas=(b1, b2), eps=eps)
    opt.t = t - 1                                  # Adam stores the moments scaled: m/(1 − β₁), v/(1 − β₂)
    opt.state[0][0][...] = m / (1 - b1)
    opt.state[0][1][...] = v / (1 - b2)
    opt.step()
    return params[0][1], opt.state[0][0] * (1 - b1), opt.state[0][1] * (1 - b2)


def _adam_algorithm_1(c, kind=None):
    """Kingma & Ba's Algorithm 1, written out (``kind``: one mistake made)."""
    theta, g, m, v, t, lr, b1, b2, eps = c["args"]
    if kind == "default_betas":
        b1, b2 = 0.9, 0.999
    m = b1 * m + (1.0 if kind == "beta_factor" else 1 - b1) * g
    v = b2 * v + (1.0 if kind == "beta_factor" else 1 - b2) * (g if kind == "square" else g * g)
    k = t - 1 if kind == "t_minus_1" else t
    m_hat, v_hat = (m, v) if kind == "bias" else (m / (1 - b1 ** k), v / (1 - b2 ** k))
    with np.errstate(all="ignore"):        # v from g, not g², is negative somewhere; t − 1 = 0 divides by 0
        if kind == "tf_eps":
            step = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
        else:
            step = lr * m_hat / (np.sqrt(v_hat + eps) if kind == "eps" else np.sqrt(v_hat) + eps)
    if kind == "hats":
        m, v = m_hat, v_hat
    return theta + step if kind == "sign" else theta - step, m, v


def _adam_update(c, outputs):
    """Adam's outputs as compared: the update θ_t − θ_(t−1) (θ itself would hide a wrong step), m, v."""
    theta, m, v = outputs
    return theta - c["args"][0], m, v


ADAM = Exercise(
    "adam_step", ("theta", "grad", "m", "v", "t", "lr", "beta1", "beta2", "eps"), 9, "one Adam step, Algorithm 1",
    ("update θ_t − θ_(t−1)", "m", "v"), _adam_cases, _adam_reference, _adam_algorithm_1, [
        ("bias correction forgotten: m̂ = m/(1 − β₁^t) and v̂ = v/(1 − β₂^t) undo the moments' zero start",
         lambda c: _adam_algorithm_1(c, "bias")),
        ("bias correction with t − 1: t is this step's number (1 for the first), and m_t already includes g_t, so "
         "m̂_t = m_t/(1 − β₁^t)", lambda c: _adam_algorithm_1(c, "t_minus_1")),
        ("ε inside the square root: θ ← θ − η m̂/(√v̂ + ε)", lambda c: _adam_algorithm_1(c, "eps")),
        ("TensorFlow's ε̂: with the corrections folded into η_t, the guard is ε̂ = ε √(1 − β₂^t), not ε (§9); or "
         "write Algorithm 1 as it is, η m̂/(√v̂ + ε)", lambda c: _adam_algorithm_1(c, "tf_eps")),
        ("the moments' (1 − β) factors forgotten: m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g²",
         lambda c: _adam_algorithm_1(c, "beta_factor")),
        ("v from g, not g²: the second moment is a running mean of the squared gradient",
         lambda c: _adam_algorithm_1(c, "square")),
        ("m̂ and v̂ returned as the moments: the next step needs m_t and v_t, uncorrected (the correction is "
         "applied afresh at every step)", lambda c: _adam_algorithm_1(c, "hats")),
        ("β₁, β₂ hard-coded to 0.9 and 0.999: use the arguments beta1 and beta2",
         lambda c: _adam_algorithm_1(c, "default_betas")),
        ("sign error: θ moves against the gradient, θ ← θ − η m̂/(√v̂ + ε)", lambda c: _adam_algorithm_1(c, "sign")),
    ], numeric_label="Algorithm 1 written out", transform=_adam_update)


# ------------------------------------------------------------------------ §13 binary weights: scales and the STE
def _binary_cases():
    out = []
    for seed, i, o, ste, dtype in ((74, 5, 4, True, None), (75, 4, 3, False, None), (76, 1, 3, True, None),
                                   (77, 6, 2, False, None), (78, 3, 5, True, np.float32)):
        r = rng(seed)
        w = off_kink(r.uniform(-1.5, 1.5, (i, o)), 1e-2)      # some |W| > 1, outside the STE's window
        args = (w, r.standard_normal((i, o)), ste)
        out.append(case(f32(*args) if dtype else args, I=i, O=o, ste=ste))
    return out


def _binary_reference(c):
    w, g, ste = c["args"]
    s = binarize(w)
    return (_scaled_sign_backward(w, s, abs_mean(w, s, 0), g.copy(), axis=0, ste=ste),)


def _binary_numeric(c):
    """Finite differences of ⟨g, W̃(W)⟩ without the STE (sign's own derivative is 0 away from 0), plus the STE
    term by its definition α_o g [|W| ≤ 1]: the estimator is not a derivative."""
    w, g, ste = c["args"]
    w = w.copy()
    alpha = np.abs(w).mean(axis=0)
    exact = numerical_grad(lambda: (g * np.where(w >= 0, 1.0, -1.0) * np.abs(w).mean(axis=0)).sum(), w)
    return (exact + (alpha * g * (np.abs(w) <= 1) if ste else 0),)


def _binary_mistake(kind):
    def variant(c):
        w, g, ste = c["args"]
        s = np.where(w >= 0, 1.0, -1.0)
        axis = 1 if kind == "axis" else 0
        alpha = np.abs(w).mean(axis=axis, keepdims=True)
        scale = s * (g * s).mean(axis=axis, keepdims=True)
        if kind == "sum":
            scale = scale * w.shape[0]
        if kind == "paper":
            scale = g / w.shape[0]
        window = 1.0 if kind == "window" else (np.abs(w) <= 1)
        term = (1.0 if kind == "alpha" else alpha) * g * window
        with_ste = (not ste) if kind == "ste" else ste
        out = scale + (term if with_ste else 0)
        return (-out if kind == "sign" else out,)
    return variant


BINARY = Exercise(
    "binary_weight_backward", ("W", "grad", "ste"), 13,
    "binary weights: the scaling factor's gradient and the straight-through estimator", ("dW",), _binary_cases,
    _binary_reference, _binary_numeric, [
        ("XNOR-Net's approximation: only the i′ = i term kept, dW̃/I; α_o depends on every entry of its column, so "
         "dW_io sums dW̃_i′o B_W,i′o over i′", _binary_mistake("paper")),
        ("the STE's window forgotten: hardtanh is flat where |W| > 1, so the estimator passes nothing there",
         _binary_mistake("window")),
        ("α forgotten in the STE term: W̃ = B_W diag(α), so the STE term is α_o dW̃_io [|W_io| ≤ 1]",
         _binary_mistake("alpha")),
        ("missing 1/I: α_o is a mean over the I inputs, not a sum", _binary_mistake("sum")),
        ("mean along the wrong axis: α has one entry per output unit, a mean down each column of W (axis 0)",
         _binary_mistake("axis")),
        ("sign error: W̃ = sign(W) α with α ≥ 0, so dW has the sign of dW̃'s projections", _binary_mistake("sign")),
        ("the STE term where ste says otherwise: ste=True adds α_o dW̃ [|W| ≤ 1], ste=False leaves the exact "
         "gradient alone", _binary_mistake("ste")),
    ])


# ------------------------------------------------------------------------------------------------- §20 max-norm
def _max_norm_cases():
    out = []
    for seed, i, o, c, dtype in ((79, 4, 5, 1.0, None), (80, 3, 2, 2.5, None), (81, 1, 4, 0.5, None),
                                 (82, 6, 3, 1.7, np.float32)):
        r = rng(seed)
        w = r.standard_normal((i, o)) * r.uniform(0.2, 2.0, o) * 2 * c / np.sqrt(i)   # columns inside and outside
        if seed == 79:
            w[:, 2] = 0.0                                          # a zero column: inside the ball, left alone
        args = (w, c)
        out.append(case(f32(*args) if dtype else args, I=i, O=o, c=c))
    return out


def _max_norm_reference(c):
    w, limit = c["args"]
    return (max_norm(w.copy(), limit, np.empty(w.shape[1])),)


def _max_norm_written(c):
    w, limit = c["args"]
    norms = np.sqrt((w * w).sum(axis=0))
    return (w * np.minimum(1.0, limit / np.where(norms > 0, norms, np.inf)),)


def _max_norm_mistake(kind):
    def variant(c):
        w, limit = c["args"]
        axis = 1 if kind == "rows" else 0
        norms = np.sqrt((w * w).sum(axis=axis, keepdims=True))
        if kind == "frobenius":
            norms = np.sqrt((w * w).sum())
        if kind == "clip":
            return (np.clip(w, -limit, limit),)
        if kind == "always":
            return (w * limit / norms,)
        if kind == "normalise_first":
            return (w / norms * np.minimum(norms, limit),)
        if kind == "squared":
            norms = norms * norms
        return (w * np.minimum(1.0, limit / np.where(norms > 0, norms, np.inf)),)
    return variant


MAX_NORM = Exercise(
    "max_norm", ("W", "c"), 20, "max-norm: the projection of each column onto the ball ‖w‖ ≤ c", ("W",),
    _max_norm_cases, _max_norm_reference, _max_norm_written, [
        ("the norms of the rows: a unit's incoming weights are a column of W (shape (in, out)), so each column is "
         "projected", _max_norm_mistake("rows")),
        ("every column scaled to length c: a column already inside the ball is its own closest point and is left "
         "alone, w·min(1, c/‖w‖)", _max_norm_mistake("always")),
        ("‖w‖² compared with c: the constraint is on the length, ‖w‖ ≤ c", _max_norm_mistake("squared")),
        ("each entry clipped to [−c, c]: the ball's closest point scales the whole column, w·min(1, c/‖w‖)",
         _max_norm_mistake("clip")),
        ("one norm for the whole matrix: each unit's column has its own ball", _max_norm_mistake("frobenius")),
        ("a zero column divided by its zero norm (NaN): write the factor as c / max(‖w‖, c), which leaves a zero "
         "column alone", _max_norm_mistake("normalise_first")),
    ], numeric_label="the projection written out")

EXERCISES = [ADAM, BINARY, MAX_NORM]
