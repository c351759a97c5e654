"""Adam and SGD with momentum, updating parameters in place.

Both take ``model.named_parameters()``: a list of ``(name, param, grad)`` where ``grad`` is the array the layer
fills in ``backward``. Nothing allocates per step: each parameter owns its state and one scratch buffer.
Weight decay, when asked for, is L2 regularisation added to the gradient in place (``g ← g + wd·θ``, not
AdamW's decoupled form) and applies to weight matrices only, never to biases.
Derivations: ``docs/derivations.md``; checks: ``tests/test_optim.py``.
"""
import math

from .backend import get_array_module


def _triples(params):
    params = list(params.named_parameters() if hasattr(params, "named_parameters") else params)
    if not params:
        raise ValueError("an optimiser needs at least one (name, param, grad) triple")
    for item in params:
        if len(item) != 3 or item[1].shape != item[2].shape:
            raise ValueError("params must be (name, param, grad) triples with matching shapes, "
                             "as model.named_parameters() returns")
    return params


def _check_hyper(name, value, low=0.0, high=math.inf, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < low or value >= high or (low_open and value == low):
        raise ValueError(f"{name} must be a finite number in {'(' if low_open else '['}{low}, {high}), got {value!r}")
    return float(value)


def _decay(xp, p, g, tmp, weight_decay):
    """Add ``weight_decay · p`` to the gradient ``g`` in place, for weight matrices only."""
    if weight_decay and p.ndim > 1:
        xp.multiply(p, weight_decay, out=tmp)
        g += tmp


class Adam:
    """Adam (Kingma & Ba, 2015, Algorithm 1) with bias correction.

    ``m ← β1 m + (1−β1) g``, ``v ← β2 v + (1−β2) g²``, ``θ ← θ − α m̂ / (√v̂ + ε)`` with ``m̂ = m/(1−β1^t)``,
    ``v̂ = v/(1−β2^t)``. Computed in the paper's equivalent efficient form (end of its Section 2):
    ``θ ← θ − α_t m / (√v + ε̂)`` with ``α_t = α √(1−β2^t)/(1−β1^t)`` and ``ε̂ = ε √(1−β2^t)``, which folds both
    corrections into two scalars.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = _triples(params)
        self.lr = _check_hyper("lr", lr, low_open=True)
        self.beta1 = _check_hyper("betas[0]", betas[0], high=1.0)
        self.beta2 = _check_hyper("betas[1]", betas[1], high=1.0)
        self.eps = _check_hyper("eps", eps)
        self.weight_decay = _check_hyper("weight_decay", weight_decay)
        self.t = 0
        self.state = []
        for _, p, _ in self.params:
            xp = get_array_module(p)
            self.state.append((xp.zeros_like(p), xp.zeros_like(p), xp.empty_like(p)))

    def step(self):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c2 = math.sqrt(1 - b2 ** self.t)
        step_size = self.lr * c2 / (1 - b1 ** self.t)
        eps_hat = self.eps * c2
        for (_, p, g), (m, v, tmp) in zip(self.params, self.state):
            xp = get_array_module(p)
            _decay(xp, p, g, tmp, self.weight_decay)
            m *= b1
            xp.multiply(g, 1 - b1, out=tmp)
            m += tmp
            v *= b2
            xp.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            xp.sqrt(v, out=tmp)
            tmp += eps_hat
            xp.divide(m, tmp, out=tmp)
            tmp *= step_size
            p -= tmp

    def state_dict(self):
        return {"t": self.t, "m": [m for m, _, _ in self.state], "v": [v for _, v, _ in self.state]}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        for (m, v, _), m_new, v_new in zip(self.state, state["m"], state["v"]):
            m[...] = get_array_module(m).asarray(m_new)
            v[...] = get_array_module(v).asarray(v_new)


class SGD:
    """Stochastic gradient descent with momentum μ (and Nesterov's variant).

    ``b ← μ b + g``; plain momentum ``θ ← θ − η b``; Nesterov ``θ ← θ − η (g + μ b)`` (the form of Sutskever et
    al. 2013 as written in PyTorch). With ``momentum=0`` this is ``θ ← θ − η g``.
    """

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.params = _triples(params)
        self.lr = _check_hyper("lr", lr, low_open=True)
        self.momentum = _check_hyper("momentum", momentum, high=1.0)
        self.weight_decay = _check_hyper("weight_decay", weight_decay)
        if nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.state = []
        for _, p, _ in self.params:
            xp = get_array_module(p)
            self.state.append((xp.zeros_like(p), xp.empty_like(p)))

    def step(self):
        mu = self.momentum
        for (_, p, g), (buf, tmp) in zip(self.params, self.state):
            xp = get_array_module(p)
            _decay(xp, p, g, tmp, self.weight_decay)
            direction = g
            if mu:
                buf *= mu
                buf += g
                direction = buf
                if self.nesterov:
                    xp.multiply(buf, mu, out=tmp)
                    tmp += g
                    direction = tmp
            xp.multiply(direction, self.lr, out=tmp)
            p -= tmp

    def state_dict(self):
        return {"buf": [b for b, _ in self.state]}

    def load_state_dict(self, state):
        for (b, _), b_new in zip(self.state, state["buf"]):
            b[...] = get_array_module(b).asarray(b_new)
