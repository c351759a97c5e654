"""The exercises on layers: a dense layer's backward (§5), inverted dropout (§7), a two-layer network end to end (§8)
and batch normalisation's backward (§14). tinykd's own layers are the reference; each mistake is the right result
with one thing done wrong, written out with NumPy."""
import numpy as np

from .. import functional as F
from ..gradcheck import numerical_grad, off_kink
from ..layers import MLP, BatchNorm, Dense, Dropout
from .core import Exercise, case
from .on_logits import f32, log_softmax, rng


# ------------------------------------------------------------------------------------------------ §5 dense layer
def _dense_cases():
    out = []
    for seed, n, i, o, dtype in ((50, 5, 3, 4, None), (51, 1, 2, 3, None), (52, 4, 4, 2, np.float32),
                                 (53, 6, 3, 5, None)):
        r = rng(seed)
        args = (r.standard_normal((n, i)), r.standard_normal((i, o)), r.standard_normal((n, o)))
        out.append(case(f32(*args) if dtype else args, N=n, I=i, O=o))
    return out


def _dense_reference(c):
    x, w, g = c["args"]
    layer = Dense(*w.shape, dtype=np.float64)
    layer.params["W"][...] = w
    layer.forward(x, train=True)
    dx = layer.backward(g)
    return dx, layer.grads["W"].copy(), layer.grads["b"].copy()


def _dense_numeric(c):
    x, w, g = (a.copy() for a in c["args"])
    b = np.zeros(w.shape[1])

    def f():
        return (g * (x @ w + b)).sum()
    return numerical_grad(f, x), numerical_grad(f, w), numerical_grad(f, b)


def _dense_mistake(kind):
    def variant(c):
        x, w, g = c["args"]
        n = x.shape[0]
        if kind == "upstream":
            ones = np.ones_like(g)
            return ones @ w.T, x.T @ ones, ones.sum(axis=0)
        dx, dw, db = g @ w.T, x.T @ g, g.sum(axis=0)
        out = {"transposed": (dx, g.T @ x, db), "db_mean": (dx, dw, db / n), "dw_mean": (dx, dw / n, db),
               "sign": (-dx, -dw, -db), "db_axis": (dx, dw, g.sum(axis=1))}
        return out[kind]
    return variant


DENSE = Exercise(
    "dense_backward", ("x", "W", "grad"), 5, "a dense layer's backward pass", ("dx", "dW", "db"), _dense_cases,
    _dense_reference, _dense_numeric, [
        ("transposed weight gradient: dW = xᵀ g (I×N · N×O) has W's shape I×O; gᵀ x is its transpose",
         _dense_mistake("transposed")),
        ("db divided by N (a bias gradient averaged instead of summed): g = ∂L/∂h already carries the loss's 1/N; "
         "the bias's gradient is the plain sum over the rows", _dense_mistake("db_mean")),
        ("dW divided by N: g already carries the loss's 1/N, and dW = xᵀ g sums over the rows",
         _dense_mistake("dw_mean")),
        ("sign error: h is linear in x, W and b with positive coefficients", _dense_mistake("sign")),
        ("upstream gradient forgotten: every gradient is a product with g = ∂L/∂h (dx = g Wᵀ, dW = xᵀ g, db = gᵀ1)",
         _dense_mistake("upstream")),
        ("db summed along the wrong axis: a bias entry is used by every row, so db sums over the rows (axis 0)",
         _dense_mistake("db_axis")),
    ])


# -------------------------------------------------------------------------------------------------- §7 dropout
def _dropout(p, seed):
    """tinykd's Dropout, its generator seeded so that every forward on a case draws that case's mask."""
    return Dropout(p, rng(seed + 100))


def _dropout_cases():
    out = []
    for seed, n, o, p, dtype in ((54, 5, 4, 0.3, None), (55, 1, 3, 0.6, None), (56, 4, 2, 0.45, np.float32),
                                 (57, 3, 5, 0.1, None)):
        r = rng(seed)
        x = off_kink(r.standard_normal((n, o)), 0.1)      # no zero input, so the kept units are where h != 0
        mask = (_dropout(p, seed).forward(x, train=True) != 0).astype(np.float64)
        args = (r.standard_normal((n, o)), mask, p)
        out.append(case(f32(*args) if dtype else args, N=n, O=o, p=p))
        out[-1].update(x=x, seed=seed)
    return out


def _dropout_reference(c):
    g, _, p = c["args"]
    layer = _dropout(p, c["seed"])
    layer.forward(c["x"], train=True)
    return (layer.backward(g),)


def _dropout_numeric(c):
    g, mask, p = c["args"]
    x = c["x"].copy()
    return (numerical_grad(lambda: (g * x * mask / (1 - p)).sum(), x),)


def _dropout_mistake(kind):
    def variant(c):
        g, m, p = c["args"]
        return ({"scale": g * m, "p": g * m / p, "mask": g / (1 - p), "upstream": m / (1 - p),
                 "inverted": g * (1 - m) / (1 - p)}[kind],)
    return variant


DROPOUT = Exercise(
    "dropout_backward", ("grad", "mask", "p"), 7, "inverted dropout's backward pass", ("dx",), _dropout_cases,
    _dropout_reference, _dropout_numeric, [
        ("1/(1 − p) forgotten: inverted dropout scales the kept units by 1/(1 − p) going forward, so the gradient "
         "too", _dropout_mistake("scale")),
        ("divided by p instead of 1 − p: p is the probability of dropping a unit, 1 − p of keeping it",
         _dropout_mistake("p")),
        ("mask forgotten: a dropped unit passed nothing forward, so it passes nothing back", _dropout_mistake("mask")),
        ("upstream gradient forgotten: dx = g ⊙ M/(1 − p), not M/(1 − p) alone", _dropout_mistake("upstream")),
        ("mask inverted: M is 1 where a unit is kept", _dropout_mistake("inverted")),
    ])


# --------------------------------------------------------------------------------- §8 a two-layer network
def _network_cases():
    out = []
    for seed, n, i, h, c, dtype in ((58, 5, 3, 4, 3, None), (59, 1, 4, 3, 2, None), (60, 4, 2, 5, 4, np.float32),
                                    (61, 6, 3, 2, 5, None)):
        r = rng(seed)
        while True:                                # pre-activations kept away from ReLU's kink
            x, w1, b1 = r.standard_normal((n, i)), r.standard_normal((i, h)), 0.5 * r.standard_normal(h)
            if np.abs(x @ w1 + b1).min() > 0.05 and ((x @ w1 + b1) > 0).any():
                break
        args = (x, r.integers(0, c, n), w1, b1, r.standard_normal((h, c)), 0.5 * r.standard_normal(c))
        out.append(case(f32(*args) if dtype else args, N=n, I=i, H=h, C=c))
    return out


def _network(w1, b1, w2, b2):
    net = MLP([w1.shape[0], w1.shape[1], w2.shape[1]], backend="numpy", dtype=np.float64)
    for layer, w, b in zip((net.layers[0], net.layers[2]), (w1, w2), (b1, b2)):
        layer.params["W"][...] = w
        layer.params["b"][...] = b
    return net


def _network_reference(c):
    x, y, w1, b1, w2, b2 = c["args"]
    net = _network(w1, b1, w2, b2)
    loss, g = F.cross_entropy(net.forward(x, train=True), y)
    net.backward(g)
    first, second = net.layers[0].grads, net.layers[2].grads
    return loss, first["W"].copy(), first["b"].copy(), second["W"].copy(), second["b"].copy()


def _network_numeric(c):
    x, y, *params = (a.copy() for a in c["args"])

    def f():
        return _network_reference({"args": (x, y, *params)})[0]
    return (None, *(numerical_grad(f, p) for p in params))


def _network_mistake(kind):
    def variant(c):
        x, y, w1, b1, w2, b2 = c["args"]
        n, k = x.shape[0], w2.shape[1]
        a = x @ w1 + b1
        h = np.maximum(a, 0)
        lp = log_softmax(h @ w2 + b2)
        loss = -lp[np.arange(n), y].mean()
        g = (np.exp(lp) - np.eye(k)[y]) / (1 if kind == "n" else n)
        if kind == "n":
            loss = loss * n
        if kind == "sign":
            g = -g
        dh = g @ w2.T
        da = dh if kind == "relu" else dh * (a > 0)
        grads = []
        for inp, d in ((x, da), (h, g)):
            dw = d.T @ inp if kind == "transposed" else inp.T @ d
            db = d.sum(axis=0)
            grads += [dw / n if kind == "dw_mean" else dw, db / n if kind == "db_mean" else db]
        return (loss, *grads)
    return variant


NETWORK = Exercise(
    "network_backward", ("x", "labels", "W1", "b1", "W2", "b2"), 8,
    "a two-layer network end to end: cross-entropy back through Dense, ReLU, Dense",
    ("loss", "dW1", "db1", "dW2", "db2"), _network_cases, _network_reference, _network_numeric, [
        ("ReLU's mask forgotten: the hidden gradient is dh ⊙ [x W₁ + 1b₁ᵀ > 0] before the first layer's backward "
         "(§6)", _network_mistake("relu")),
        ("transposed weight gradient: dW = (layer input)ᵀ (gradient of its output), W's own shape",
         _network_mistake("transposed")),
        ("missing 1/N: the loss is a mean over the rows, so dz = (P − Y)/N and every gradient carries 1/N",
         _network_mistake("n")),
        ("a bias gradient averaged instead of summed: the 1/N is already in dz; db = Σ_n of the output's gradient",
         _network_mistake("db_mean")),
        ("dW divided by N again: the 1/N is already in dz; dW = xᵀ g sums over the rows", _network_mistake("dw_mean")),
        ("sign error: the output's gradient is prediction minus target, (P − Y)/N", _network_mistake("sign")),
    ])


# -------------------------------------------------------------------------------------- §14 batch normalisation
def _batchnorm_cases():
    out = []
    for seed, n, f, eps, dtype in ((62, 6, 3, 1e-5, None), (63, 4, 2, 0.1, None), (64, 5, 4, 1e-3, np.float32),
                                   (65, 3, 3, 0.5, None)):
        r = rng(seed)
        args = (1 + 2 * r.standard_normal((n, f)), r.uniform(0.5, 2, f), r.standard_normal((n, f)), eps)
        out.append(case(f32(*args) if dtype else args, N=n, F=f, eps=eps))
    return out


def _batchnorm_reference(c):
    x, gamma, g, eps = c["args"]
    bn = BatchNorm(x.shape[1], eps=eps, dtype=np.float64)
    bn.params["gamma"][...] = gamma
    bn.forward(x, train=True)
    dx = bn.backward(g)
    return dx, bn.grads["gamma"].copy(), bn.grads["beta"].copy()


def _batchnorm_numeric(c):
    x, gamma, g, eps = (a.copy() if isinstance(a, np.ndarray) else a for a in c["args"])
    b = np.zeros_like(gamma)

    def f():
        mu, nu = x.mean(axis=0), x.var(axis=0)
        return (g * ((x - mu) / np.sqrt(nu + eps) * gamma + b)).sum()
    return numerical_grad(f, x), numerical_grad(f, gamma), numerical_grad(f, b)


def _batchnorm_wrong_forward(kind):
    """The gradients of a forward pass written with one mistake (the variance divided by N − 1, or ε_BN outside
    the square root), by finite differences: what a backward consistent with that forward gives."""
    def variant(c):
        x, gamma, g, eps = (a.copy() if isinstance(a, np.ndarray) else a for a in c["args"])

        def xhat():
            mu = x.mean(axis=0)
            nu = ((x - mu) ** 2).sum(axis=0) / (x.shape[0] - (kind == "unbiased"))
            return (x - mu) / (np.sqrt(nu) + eps if kind == "eps_outside" else np.sqrt(nu + eps))
        dx = numerical_grad(lambda: (g * xhat() * gamma).sum(), x)
        return dx, (g * xhat()).sum(axis=0), g.sum(axis=0)
    return variant


def _batchnorm_mistake(kind):
    def variant(c):
        x, gamma, g, eps = c["args"]
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
    "batchnorm_backward", ("x", "gamma", "grad", "eps"), 14, "batch normalisation's backward pass",
    ("dx", "dγ", "db"), _batchnorm_cases, _batchnorm_reference, _batchnorm_numeric, [
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
        ("the unbiased variance (divided by N − 1): ν is the biased batch variance, divided by N (§14)",
         _batchnorm_wrong_forward("unbiased")),
        ("ε_BN outside the square root: r = 1/√(ν + ε_BN)", _batchnorm_wrong_forward("eps_outside")),
        ("sign error", _batchnorm_mistake("sign")),
    ])

EXERCISES = [DENSE, DROPOUT, NETWORK, BATCHNORM]
