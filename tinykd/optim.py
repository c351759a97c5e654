"""Adam and SGD with momentum, updating parameters in place.

Read ``adam_step_reference`` first: Adam as Kingma & Ba (2015) write Algorithm 1, one parameter at a time, every
quantity of the paper a named array. ``Adam`` computes exactly that (up to rounding) in the form derived from it in
``docs/derivations.md`` §9; ``tests/test_optim.py`` checks the two against each other.

Both optimisers take ``model.named_parameters()`` (``(name, param, grad)`` triples, ``grad`` the array the layer
fills in ``backward``) and allocate nothing per step: each parameter owns its state, and the update runs block by
block over views built once, through one shared scratch buffer. Weight decay is L2 regularisation added to the
gradient (``g + wd·θ``, not AdamW's decoupled form), formed in the scratch buffer (the layers' gradients are only
read), on weight matrices only. ``max_norm=c`` projects every unit's incoming weights (a column of a weight matrix)
back onto the ball of radius c after each step (``max_norm``; Hinton et al. 2012, Srivastava et al. 2014).
"""
import math

import numpy as np

from .backend import get_array_module, to_device
from .checks import check_real


def adam_step_reference(theta, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """One step of Adam as Kingma & Ba (2015) write Algorithm 1, for one parameter array ``theta`` with gradient
    ``g``, first and second moments ``m`` and ``v`` (zeros before the first step) and step count ``t`` (1, 2, …);
    returns the new ``(theta, m, v)`` as new arrays:

    ``m ← β1 m + (1 − β1) g``, ``v ← β2 v + (1 − β2) g²`` (element-wise), ``m̂ = m / (1 − β1^t)``,
    ``v̂ = v / (1 − β2^t)``, ``θ ← θ − α m̂ / (√v̂ + ε)`` (α = ``lr``).

    ``weight_decay`` λ > 0 first adds ``λ θ`` to ``g`` (L2 regularisation; ``Adam`` does this for weight matrices
    only). The reference form, written for reading and for tests: ``Adam`` is the same arithmetic rearranged
    (docs/derivations.md §9; checked against this function by ``tests/test_optim.py``).
    """
    b1, b2 = betas
    if weight_decay:
        g = g + weight_decay * theta
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return theta - lr * m_hat / (get_array_module(v_hat).sqrt(v_hat) + eps), m, v


def _triples(params):
    params = list(params.named_parameters() if hasattr(params, "named_parameters") else params)
    if not params:
        raise ValueError("an optimiser needs at least one (name, param, grad) triple")
    for item in params:
        if len(item) != 3 or item[1].shape != item[2].shape:
            raise ValueError("params must be (name, param, grad) triples with matching shapes, "
                             "as model.named_parameters() returns")
    return params


# Elements per block. An Adam step makes 10 element-wise passes (12 with weight decay) over five arrays: the
# parameter, its gradient, the two moments and the scratch buffer. Done block by block, one block's five arrays
# (5 × 128 KiB in float32, twice that in float64) stay in the core's L2 cache between passes instead of streaming
# from memory ten times. CuPy gets whole arrays: there every pass is one kernel launch, and fewer launches win.
BLOCK = 1 << 15


def _blocks(params, state, block=None):
    """Per-block tuples of flat views ``(decay, p, g, *state_arrays, scratch)``, built once so a step allocates
    nothing; ``decay`` says whether weight decay applies (weight matrices, not biases)."""
    block = block or BLOCK
    xp = get_array_module(params[0][1])
    if xp is not np:
        block = None
    largest = max(p.size for _, p, _ in params)
    scratch = xp.empty(largest if block is None else min(block, largest), dtype=params[0][1].dtype)
    out = []
    for (_, p, g), arrays in zip(params, state):
        whole = (p, g, *arrays)
        flat = [a.reshape(-1) for a in whole]
        if xp is np and not all(np.shares_memory(f, a) for f, a in zip(flat, whole)):
            raise ValueError("optimiser arrays must be contiguous so that updates land in place")
        step = p.size if block is None else block
        for i in range(0, p.size, step):
            views = [f[i:i + step] for f in flat]
            out.append((p.ndim > 1, *views, scratch[:views[0].size]))
    return out


def _decay(xp, p, g, tmp, weight_decay):
    """``g + weight_decay · p`` written into the scratch ``tmp`` and returned; ``g`` belongs to the layer and is
    left as it was (a caller may read it after the step)."""
    xp.multiply(p, weight_decay, out=tmp)
    tmp += g
    return tmp


def max_norm(w, c, out):
    """Project each column of ``w`` (a unit's incoming weights, ``w`` of shape (n_in, n_out)) onto the ball
    ``‖w_j‖₂ ≤ c``, in place: ``w_j ← w_j · min(1, c/‖w_j‖)``, the Euclidean projection (the closest point of the
    ball; a column inside it is left as it is). ``out``: a buffer of n_out entries for the norms (no allocation on
    NumPy; none of it leaves the device on CuPy). Derivation: docs/derivations.md, "Max-norm"."""
    xp = get_array_module(w)
    if xp is np:
        np.einsum("ij,ij->j", w, w, out=out)
    else:
        out[...] = xp.einsum("ij,ij->j", w, w)
    xp.sqrt(out, out=out)
    xp.maximum(out, c, out=out)       # min(1, c/‖w‖) = c / max(‖w‖, c): a zero column is left alone, no 0/0
    xp.divide(c, out, out=out)
    w *= out
    return w


class _Optimizer:
    """What both optimisers share: the ``(name, param, grad)`` triples, the learning rate, L2 weight decay,
    ``n_state`` state arrays per parameter walked block by block, and the max-norm constraint on the weight matrices
    (one norm buffer each, built once)."""

    def __init__(self, params, lr, weight_decay, max_norm, block, n_state):
        self.params = _triples(params)
        self.max_norm = None if max_norm is None else check_real("max_norm", max_norm, low_open=True)
        self._norms = [] if max_norm is None else [(p, get_array_module(p).empty(p.shape[1], dtype=p.dtype))
                                                   for _, p, _ in self.params if p.ndim == 2]
        self.lr = self.initial_lr = check_real("lr", lr, low_open=True)
        self.weight_decay = check_real("weight_decay", weight_decay)
        self.state = [tuple(get_array_module(p).zeros_like(p) for _ in range(n_state)) for _, p, _ in self.params]
        self._blocks = _blocks(self.params, self.state, block)

    def _project(self):
        for w, buf in self._norms:
            max_norm(w, self.max_norm, buf)

    def _describe(self, name, **settings):
        """Every setting that shapes the updates, for a run's identity (``lr`` as built: a schedule overwrites
        ``self.lr`` each epoch and describes itself)."""
        return {"optimizer": name, "lr": self.initial_lr, **settings, "weight_decay": self.weight_decay,
                "max_norm": self.max_norm}


def _load(state, *saved):
    """Copy saved arrays (host or device) into the optimiser's ``state`` tuples, in place: ``saved[k][i]`` into
    ``state[i][k]``."""
    for arrays, new in zip(state, zip(*saved)):
        for a, a_new in zip(arrays, new):
            a[...] = to_device(a_new, get_array_module(a))


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015, Algorithm 1) with bias correction: ``adam_step_reference`` on every parameter.

    Computed in the paper's efficient form (docs/derivations.md §9), ``θ ← θ − η_t m / (√v + ε̂)`` with
    ``η_t = η √(1−β2^t)/(1−β1^t)`` (η = ``lr``, the paper's α) and ``ε̂ = ε √(1−β2^t)`` (the one ε̂ that makes the form
    exactly Algorithm 1; TF/Keras use ε̂ = ε), with the moments stored scaled: the arrays named ``m`` and ``v`` (here
    and in the state dict) hold ``m/(1−β1)`` and ``v/(1−β2)`` (the derivation's ``u`` and ``w``), so that their
    updates ``m ← β1 m + g`` and ``v ← β2 v + g²`` take two passes over memory instead of three.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, block=None, max_norm=None):
        super().__init__(params, lr, weight_decay, max_norm, block, n_state=2)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (β1, β2) of numbers in [0, 1), got {betas!r}")
        self.beta1 = check_real("betas[0]", betas[0], high=1.0)
        self.beta2 = check_real("betas[1]", betas[1], high=1.0)
        # ε > 0: at ε = 0 an entry whose gradient has always been 0 divides 0 by 0 and becomes NaN
        self.eps = check_real("eps", eps, low_open=True)
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c2 = math.sqrt(1 - b2 ** self.t)
        # with m, v stored scaled: η_t (1−β1) m / (√(1−β2) √v + ε̂) = η′ m / (√v + ε′), η′ = step, ε′ = eps_v
        step = self.lr * c2 / (1 - b1 ** self.t) * (1 - b1) / math.sqrt(1 - b2)
        eps_v = self.eps * c2 / math.sqrt(1 - b2)
        for decay, p, g, m, v, tmp in self._blocks:
            xp = get_array_module(p)
            if decay and self.weight_decay:
                g = _decay(xp, p, g, tmp, self.weight_decay)   # g is tmp now: squared in place below
            m *= b1
            m += g
            xp.multiply(g, g, out=tmp)
            v *= b2
            v += tmp
            xp.sqrt(v, out=tmp)
            tmp += eps_v
            xp.divide(m, tmp, out=tmp)
            tmp *= step
            p -= tmp
        self._project()

    def describe(self):
        return self._describe("Adam", betas=[self.beta1, self.beta2], eps=self.eps)

    def state_dict(self):
        """The step count and the moments as stored, ``m/(1−β1)`` and ``v/(1−β2)`` (exact resume)."""
        return {"t": self.t, "m": [m for m, _ in self.state], "v": [v for _, v in self.state]}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        _load(self.state, state["m"], state["v"])


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum μ (and Nesterov's variant).

    ``b ← μ b + g``; plain momentum ``θ ← θ − η b``; Nesterov ``θ ← θ − η (g + μ b)`` (the form of Sutskever et
    al. 2013 as written in PyTorch), applied as ``θ ← θ − η g`` then ``θ ← θ − ημ b`` because the decayed
    gradient may occupy the one scratch buffer. With ``momentum=0`` this is ``θ ← θ − η g``.
    """

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, block=None, max_norm=None):
        super().__init__(params, lr, weight_decay, max_norm, block, n_state=1)
        self.momentum = check_real("momentum", momentum, high=1.0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = nesterov

    def step(self):
        mu = self.momentum
        for decay, p, g, buf, tmp in self._blocks:
            xp = get_array_module(p)
            if decay and self.weight_decay:
                g = _decay(xp, p, g, tmp, self.weight_decay)
            direction, rate = g, self.lr
            if mu:
                buf *= mu
                buf += g
                direction = buf
                if self.nesterov:
                    xp.multiply(g, rate, out=tmp)   # θ −= η g here, θ −= ημ b below
                    p -= tmp
                    rate *= mu
            xp.multiply(direction, rate, out=tmp)
            p -= tmp
        self._project()

    def describe(self):
        return self._describe("SGD", momentum=self.momentum, nesterov=self.nesterov)

    def state_dict(self):
        return {"buf": [b for b, in self.state]}

    def load_state_dict(self, state):
        _load(self.state, state["buf"])
