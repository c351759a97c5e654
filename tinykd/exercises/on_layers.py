"""The exercises on layers and the optimiser: a dense layer's backward (§5), inverted dropout (§7), one Adam step
(§9), the binary layer's scaling-factor gradient and straight-through estimator (§13), batch normalisation's backward
(§14). tinykd's own layers are the reference; each mistake is tinykd's result with one thing done wrong."""
import numpy as np

from ..binary import _scaled_sign_backward, abs_mean, binarize
from ..gradcheck import numerical_grad, off_kink
from ..layers import BatchNorm, Dense, Dropout
from ..optim import Adam
from .core import Exercise

N, I, O = 5, 3, 4     # batch, inputs and outputs all differ, so a transposed or misplaced product has another shape


def _rng(seed):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------------ §5 dense layer
def _dense_cases():
    cases = []
    for seed in (21, 22):
        r = _rng(seed)
        cases.append({"args": (r.standard_normal((N, I)), r.standard_normal((I, O)), r.standard_normal((N, O)))})
    return cases


def _dense_reference(case):
    x, w, g = case["args"]
    layer = Dense(I, O, dtype=np.float64)
    layer.params["W"][...] = w
    layer.forward(x, train=True)
    dx = layer.backward(g)
    return dx, layer.grads["W"].copy(), layer.grads["b"].copy()


def _dense_numeric(case):
    x, w, g = (a.copy() for a in case["args"])
    b = np.zeros(O)

    def f():
        return (g * (x @ w + b)).sum()
    return numerical_grad(f, x), numerical_grad(f, w), numerical_grad(f, b)


def _dense_mistake(kind):
    def variant(case):
        x, w, g = case["args"]
        if kind == "upstream":
            ones = np.ones((N, O))
            return ones @ w.T, x.T @ ones, ones.sum(axis=0)
        dx, dw, db = g @ w.T, x.T @ g, g.sum(axis=0)
        out = {"transposed": (dx, g.T @ x, db), "db_mean": (dx, dw, db / N), "dw_mean": (dx, dw / N, db),
               "sign": (-dx, -dw, -db), "db_axis": (dx, dw, g.sum(axis=1))}
        return out[kind]
    return variant


DENSE = Exercise(
    "dense_backward", 5, "a dense layer's backward pass", ("dx", "dW", "db"), _dense_cases, _dense_reference,
    _dense_numeric, [
        ("transposed weight gradient: dW = xᵀ g (I×N · N×O) has W's shape I×O; gᵀ x is its transpose",
         _dense_mistake("transposed")),
        ("db divided by N: g = ∂L/∂h already carries the loss's 1/N; the bias's gradient is the plain sum over the "
         "rows", _dense_mistake("db_mean")),
        ("dW divided by N: g already carries the loss's 1/N, and dW = xᵀ g sums over the rows",
         _dense_mistake("dw_mean")),
        ("sign error: h is linear in x, W and b with positive coefficients", _dense_mistake("sign")),
        ("upstream gradient forgotten: every gradient is a product with g = ∂L/∂h (dx = g Wᵀ, dW = xᵀ g, db = gᵀ1)",
         _dense_mistake("upstream")),
        ("db summed along the wrong axis: a bias entry is used by every row, so db sums over the rows (axis 0)",
         _dense_mistake("db_axis")),
    ])


# -------------------------------------------------------------------------------------------------- §7 dropout
def _dropout_cases():
    cases = []
    for seed, p in ((23, 0.3), (24, 0.6)):
        r = _rng(seed)
        x = off_kink(r.standard_normal((N, O)), 0.1)       # no zero input, so the kept units are where h != 0
        mask = (_dropout(p, seed).forward(x, train=True) != 0).astype(np.float64)
        cases.append({"args": (r.standard_normal((N, O)), mask, p), "x": x, "seed": seed})
    return cases


def _dropout(p, seed):
    """tinykd's Dropout, its generator seeded so that every forward on a case draws that case's mask."""
    return Dropout(p, _rng(seed + 100))


def _dropout_reference(case):
    g, _, p = case["args"]
    layer = _dropout(p, case["seed"])
    layer.forward(case["x"], train=True)
    return (layer.backward(g),)


def _dropout_numeric(case):
    g, mask, p = case["args"]
    x = case["x"].copy()
    return (numerical_grad(lambda: (g * x * mask / (1 - p)).sum(), x),)


def _dropout_mistake(kind):
    def variant(case):
        g, m, p = case["args"]
        return ({"scale": g * m, "p": g * m / p, "mask": g / (1 - p), "upstream": m / (1 - p),
                 "inverted": g * (1 - m) / (1 - p)}[kind],)
    return variant


DROPOUT = Exercise(
    "dropout_backward", 7, "inverted dropout's backward pass", ("dx",), _dropout_cases, _dropout_reference,
    _dropout_numeric, [
        ("1/(1 − p) forgotten: inverted dropout scales the kept units by 1/(1 − p) going forward, so the gradient "
         "too", _dropout_mistake("scale")),
        ("divided by p instead of 1 − p: p is the probability of dropping a unit, 1 − p of keeping it",
         _dropout_mistake("p")),
        ("mask forgotten: a dropped unit passed nothing forward, so it passes nothing back", _dropout_mistake("mask")),
        ("upstream gradient forgotten: dx = g ⊙ M/(1 − p), not M/(1 − p) alone", _dropout_mistake("upstream")),
        ("mask inverted: M is 1 where a unit is kept", _dropout_mistake("inverted")),
    ])


# ------------------------------------------------------------------------------------------------------ §9 Adam
def _adam_cases():
    cases = []
    for seed, t, eps in ((25, 1, 1e-8), (26, 4, 1e-3)):
        r = _rng(seed)
        first = t == 1     # at the first step both moments are still 0
        m = np.zeros((I, O)) if first else 0.1 * r.standard_normal((I, O))
        v = np.zeros((I, O)) if first else 0.01 * r.random((I, O))
        cases.append({"args": (r.standard_normal((I, O)), r.standard_normal((I, O)), m, v, t, 0.01, 0.9, 0.999,
                               eps)})
    return cases


def _adam_reference(case):
    theta, g, m, v, t, lr, b1, b2, eps = case["args"]
    params = [("theta", theta.copy(), g.copy())]
    opt = Adam(params, lr=lr, betas=(b1, b2), eps=eps)
    opt.t = t - 1                                  # Adam stores the moments scaled: m/(1 − β₁), v/(1 − β₂)
    opt.state[0][0][...] = m / (1 - b1)
    opt.state[0][1][...] = v / (1 - b2)
    opt.step()
    return params[0][1], opt.state[0][0] * (1 - b1), opt.state[0][1] * (1 - b2)


def _adam_algorithm_1(case, kind=None):
    """Kingma & Ba's Algorithm 1, written out (``kind``: one mistake made)."""
    theta, g, m, v, t, lr, b1, b2, eps = case["args"]
    m = b1 * m + (1.0 if kind == "beta_factor" else 1 - b1) * g
    v = b2 * v + (1.0 if kind == "beta_factor" else 1 - b2) * (g if kind == "square" else g * g)
    m_hat, v_hat = (m, v) if kind == "bias" else (m / (1 - b1 ** t), v / (1 - b2 ** t))
    with np.errstate(invalid="ignore"):    # a v built from g, not g², is negative somewhere: NaN, as the learner's
        step = lr * m_hat / (np.sqrt(v_hat + eps) if kind == "eps" else np.sqrt(v_hat) + eps)
    return theta + step if kind == "sign" else theta - step, m, v


def _adam_update(case, outputs):
    """Adam's outputs as compared: the update θ_t − θ_(t−1) (θ itself would hide a wrong step), m, v."""
    theta, m, v = outputs
    return theta - case["args"][0], m, v


ADAM = Exercise(
    "adam_step", 9, "one Adam step, Algorithm 1", ("update θ_t − θ_(t−1)", "m", "v"), _adam_cases, _adam_reference,
    _adam_algorithm_1, [
        ("bias correction forgotten: m̂ = m/(1 − β₁^t) and v̂ = v/(1 − β₂^t) undo the moments' zero start",
         lambda case: _adam_algorithm_1(case, "bias")),
        ("ε inside the square root: θ ← θ − η m̂/(√v̂ + ε)", lambda case: _adam_algorithm_1(case, "eps")),
        ("the moments' (1 − β) factors forgotten: m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g²",
         lambda case: _adam_algorithm_1(case, "beta_factor")),
        ("v from g, not g²: the second moment is a running mean of the squared gradient",
         lambda case: _adam_algorithm_1(case, "square")),
        ("sign error: θ moves against the gradient, θ ← θ − η m̂/(√v̂ + ε)",
         lambda case: _adam_algorithm_1(case, "sign")),
    ], numeric_label="Algorithm 1 written out", transform=_adam_update)


# ------------------------------------------------------------------------ §13 binary weights: scales and the STE
def _binary_cases():
    cases = []
    for seed, ste in ((27, True), (28, False), (29, True)):
        r = _rng(seed)
        w = off_kink(r.uniform(-1.5, 1.5, (N, O)), 1e-2)      # some |W| > 1, outside the STE's window
        cases.append({"args": (w, r.standard_normal((N, O)), ste)})
    return cases


def _binary_reference(case):
    w, g, ste = case["args"]
    s = binarize(w)
    return (_scaled_sign_backward(w, s, abs_mean(w, s, 0), g.copy(), axis=0, ste=ste),)


def _binary_numeric(case):
    """Finite differences of ⟨g, W̃(W)⟩ without the STE (sign's own derivative is 0 away from 0), plus the STE
    term by its definition α_o g [|W| ≤ 1]: the estimator is not a derivative."""
    w, g, ste = case["args"]
    w = w.copy()
    alpha = np.abs(w).mean(axis=0)
    exact = numerical_grad(lambda: (g * np.where(w >= 0, 1.0, -1.0) * np.abs(w).mean(axis=0)).sum(), w)
    return (exact + (alpha * g * (np.abs(w) <= 1) if ste else 0),)


def _binary_mistake(kind):
    def variant(case):
        w, g, ste = case["args"]
        s = np.where(w >= 0, 1.0, -1.0)
        rows = w.shape[0]
        axis = 1 if kind == "axis" else 0
        alpha = np.abs(w).mean(axis=axis, keepdims=True)
        scale = s * (g * s).mean(axis=axis, keepdims=True)
        if kind == "sum":
            scale = scale * rows
        if kind == "paper":
            scale = g / rows
        window = 1.0 if kind == "window" else (np.abs(w) <= 1)
        term = (1.0 if kind == "alpha" else alpha) * g * window
        with_ste = (not ste) if kind == "ste" else ste
        out = scale + (term if with_ste else 0)
        return (-out if kind == "sign" else out,)
    return variant


BINARY = Exercise(
    "binary_weight_backward", 13, "binary weights: the scaling factor's gradient and the straight-through estimator",
    ("dW",), _binary_cases, _binary_reference, _binary_numeric, [
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


# -------------------------------------------------------------------------------------- §14 batch normalisation
def _batchnorm_cases():
    cases = []
    for seed, n in ((30, 6), (31, 4)):
        r = _rng(seed)
        cases.append({"args": (1 + 2 * r.standard_normal((n, I)), r.uniform(0.5, 2, I), r.standard_normal((n, I)),
                               1e-5)})
    return cases


def _batchnorm_reference(case):
    x, gamma, g, eps = case["args"]
    bn = BatchNorm(x.shape[1], eps=eps, dtype=np.float64)
    bn.params["gamma"][...] = gamma
    bn.forward(x, train=True)
    dx = bn.backward(g)
    return dx, bn.grads["gamma"].copy(), bn.grads["beta"].copy()


def _batchnorm_numeric(case):
    x, gamma, g, eps = (a.copy() if isinstance(a, np.ndarray) else a for a in case["args"])
    b = np.zeros_like(gamma)

    def f():
        mu, nu = x.mean(axis=0), x.var(axis=0)
        return (g * ((x - mu) / np.sqrt(nu + eps) * gamma + b)).sum()
    return numerical_grad(f, x), numerical_grad(f, gamma), numerical_grad(f, b)


def _batchnorm_mistake(kind):
    def variant(case):
        x, gamma, g, eps = case["args"]
        axis = 1 if kind == "axis" else 0
        mu, nu = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
        r = 1 / np.sqrt(nu + eps)
        xhat = (x - mu) * r
        dxhat = g if kind == "gamma" else g * gamma
        mean = (lambda a: a.sum(axis=axis, keepdims=True)) if kind == "n" else \
            (lambda a: a.mean(axis=axis, keepdims=True))
        dx = r * (dxhat - (0 if kind in ("mu", "both") else mean(dxhat)) -
                  (0 if kind in ("nu", "both") else xhat * mean(dxhat * xhat)))
        dgamma, db = (g * xhat).sum(axis=axis), g.sum(axis=axis)
        if kind == "param_mean":
            dgamma, db = dgamma / x.shape[0], db / x.shape[0]
        return (-dx, -dgamma, -db) if kind == "sign" else (dx, dgamma, db)
    return variant


BATCHNORM = Exercise(
    "batchnorm_backward", 14, "batch normalisation's backward pass", ("dx", "dγ", "db"), _batchnorm_cases,
    _batchnorm_reference, _batchnorm_numeric, [
        ("μ's path forgotten (the mean_n dx̂ term): x reaches x̂ through μ as well, dμ = −r Σ_n dx̂_n",
         _batchnorm_mistake("mu")),
        ("ν's path forgotten (the x̂ ⊙ mean_n(dx̂ ⊙ x̂) term): x reaches x̂ through ν as well",
         _batchnorm_mistake("nu")),
        ("μ and ν treated as constants: x reaches x̂ directly, through μ and through ν", _batchnorm_mistake("both")),
        ("missing 1/N: ∂μ/∂x_n = 1/N and ∂ν/∂x_n = 2(x_n − μ)/N, so the batch sums are means", _batchnorm_mistake("n")),
        ("γ forgotten: the upstream gradient passes through the scale first, dx̂ = γ ⊙ g", _batchnorm_mistake("gamma")),
        ("statistics along the wrong axis: BatchNorm normalises each feature over the batch (axis 0)",
         _batchnorm_mistake("axis")),
        ("dγ and db divided by N: g already carries the loss's 1/N; they are sums over the rows",
         _batchnorm_mistake("param_mean")),
        ("sign error", _batchnorm_mistake("sign")),
    ])

EXERCISES = [DENSE, DROPOUT, ADAM, BINARY, BATCHNORM]
