"""Dense, ReLU, Dropout and the MLP that chains them, each with ``forward(x, train)`` and a hand-written ``backward``.

A layer owns its parameters and gradients (dicts by name: ``params["W"]``, ``grads["W"]``) and keeps exactly
what its backward needs from the last forward. ``backward(grad)`` fills ``grads`` and returns the gradient
w.r.t. the layer's input. Derivations: ``docs/derivations.md``; checks: ``tests/test_layers.py``.
"""
import numpy as np

from . import checkpoint
from .backend import get_array_module, resolve


class Dense:
    """Affine map ``y = x W + b`` with ``W`` of shape (in, out).

    Backward, for g = dL/dy: ``dW = xᵀ g``, ``db = Σ_rows g``, ``dx = g Wᵀ``. The input gradient is skipped when
    ``needs_input_grad`` is False (the first layer of a network, whose input is data), saving one matrix product.
    """

    def __init__(self, n_in, n_out, init="he", rng=None, xp=np, dtype=np.float32):
        if not (isinstance(n_in, (int, np.integer)) and isinstance(n_out, (int, np.integer))) or n_in < 1 \
                or n_out < 1:
            raise ValueError(f"Dense sizes must be positive integers, got n_in={n_in!r}, n_out={n_out!r}")
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        # He et al. (2015) keep the variance of ReLU activations constant (2/fan_in); Glorot & Bengio (2010)
        # balance forward and backward variance (2/(fan_in+fan_out)) for layers with no ReLU after them.
        if init == "he":
            std = np.sqrt(2.0 / n_in)
        elif init == "glorot":
            std = np.sqrt(2.0 / (n_in + n_out))
        else:
            raise ValueError(f"init must be 'he' or 'glorot', got {init!r}")
        w = (rng.standard_normal((n_in, n_out)) * std).astype(dtype)
        self.params = {"W": xp.asarray(w), "b": xp.zeros(n_out, dtype=dtype)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.needs_input_grad = True
        self._x = None

    def forward(self, x, train=False):
        self._x = x if train else None
        y = x @ self.params["W"]
        y += self.params["b"]
        return y

    def backward(self, grad):
        xp = get_array_module(grad)
        if self._x is None:
            raise RuntimeError("Dense.backward called without a forward(x, train=True) before it")
        xp.matmul(self._x.T, grad, out=self.grads["W"])
        grad.sum(axis=0, out=self.grads["b"])
        self._x = None
        return grad @ self.params["W"].T if self.needs_input_grad else None


class ReLU:
    """``y = max(x, 0)``; backward ``dx = g ⊙ [x > 0]`` (the kink at 0 gets gradient 0).

    With ``inplace=True`` (how ``MLP`` uses it) forward overwrites its input and backward its incoming gradient,
    saving two allocations per layer and step; safe there because both arrays are fresh products of a ``Dense``.
    """

    params = grads = {}

    def __init__(self, inplace=False):
        self.inplace = inplace
        self._mask = None

    def forward(self, x, train=False):
        xp = get_array_module(x)
        y = xp.maximum(x, 0, out=x if self.inplace else None)
        self._mask = y > 0 if train else None
        return y

    def backward(self, grad):
        if self.inplace:
            grad *= self._mask
        else:
            grad = grad * self._mask
        self._mask = None
        return grad


class Dropout:
    """Inverted dropout (Srivastava et al. 2014): in training ``y = x ⊙ m / (1−p)``, ``m ~ Bernoulli(1−p)``.

    Dividing by the keep probability during training makes ``E[y] = x``, so inference is the identity.
    Backward: ``dx = g ⊙ m / (1−p)``. The mask comes from the generator ``rng`` (same array module as x).
    """

    params = grads = {}

    def __init__(self, p, rng):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"dropout probability p must be a number in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = rng
        self._scale = None

    def forward(self, x, train=False):
        if not train or self.p == 0:
            self._scale = None
            return x
        xp = get_array_module(x)
        keep = x.dtype.type(1 - self.p)
        scale = self.rng.random(x.shape, dtype=x.dtype)
        xp.less(scale, keep, out=scale)  # the Bernoulli mask, written over the uniforms: no second array
        scale /= keep
        self._scale = scale
        return x * scale

    def backward(self, grad):
        if self._scale is None:
            return grad
        grad = grad * self._scale
        self._scale = None
        return grad


def batched(fn, x, batch_size=10000):
    """``fn`` applied to ``x`` in large batches and concatenated (evaluation, cached teacher outputs)."""
    xp = get_array_module(x)
    return xp.concatenate([fn(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


class Network:
    """What every network in tinykd shares: a list of ``layers`` run forward and backward, evaluation in large
    batches, and parameter counts. Subclasses build ``layers`` and name their parameters."""

    def forward(self, x, train=False, stop=None):
        """Logits for a batch ``x`` of shape (batch, sizes[0]); ``stop`` returns the output of layers[:stop]."""
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"x must have shape (batch, {self.sizes[0]}), got {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the model is {self.dtype}; cast the data once, up front")
        for layer in self.layers[:stop]:
            x = layer.forward(x, train)
        return x

    def backward(self, grad, start=None):
        """Backpropagate ``grad`` (w.r.t. the output of layers[:start], the logits by default) to every parameter.

        Returns the gradient w.r.t. the network's input when its first layer computes one, else None.
        """
        for layer in reversed(self.layers[:start]):
            grad = layer.backward(grad)
            if grad is None:
                break
        return grad

    def predict(self, x, batch_size=10000):
        """Predicted classes, evaluated in large batches (inference mode)."""
        return batched(lambda xb: self.forward(xb).argmax(axis=1), x, batch_size)

    def logits(self, x, batch_size=10000):
        """Inference-mode logits for a whole data set, in large batches."""
        return batched(self.forward, x, batch_size)

    def count_params(self, biases=True):
        """Number of parameters; ``biases=False`` counts weights only (the founding report's convention)."""
        return sum(int(p.size) for name, p, _ in self.named_parameters() if biases or name.endswith(".W"))

    def named_buffers(self):
        """[(name, array)] of state that is not trained by gradient but shapes the outputs (batch-norm statistics)."""
        return []

    # ------------------------------------------------------------------ state, through tinykd/checkpoint.py
    def state_dict(self):
        """Host copies of the parameters and buffers, by name."""
        return checkpoint.network_arrays(self)

    def load_state_dict(self, arrays, source="state"):
        """Load ``state_dict()``'s arrays; every name with its exact shape (nothing is broadcast)."""
        checkpoint.load_network_arrays(self, arrays, source)

    def save(self, path, identity=None, **info):
        """Write parameters, buffers and configuration to ``path`` (.npz) atomically; see ``tinykd.checkpoint``."""
        checkpoint.save_model(path, self, identity, **info)

    def load(self, path, identity=None):
        """Load a model checkpoint written for this configuration; ``CheckpointError`` naming any mismatch."""
        return checkpoint.load_weights(self, path, identity)

    @classmethod
    def from_checkpoint(cls, path, backend=None, identity=None):
        """Build the network a checkpoint describes and load it."""
        model = checkpoint.load_model(path, backend, identity)
        if not isinstance(model, cls):
            raise checkpoint.CheckpointError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


class MLP(Network):
    """A multilayer perceptron from layer sizes, e.g. ``MLP([784, 1200, 1200, 10])``.

    Layers: [Dropout(input)] Dense ReLU [Dropout] Dense ReLU [Dropout] ... Dense (logits). The hidden layer
    ``h`` (1-based, after its ReLU) can be read with ``forward(x, stop=model.hidden_index(h))`` and a gradient
    injected there with ``backward(g, start=model.hidden_index(h))`` (FitNets hints use this).
    """

    def __init__(self, sizes, dropout=0.0, input_dropout=0.0, seed=0, backend=None, dtype=np.float32,
                 input_grad=False):
        sizes = list(sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
            raise ValueError(f"sizes must list at least two positive integers (input, ..., classes), got {sizes}")
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"dtype must be a floating type, got {dtype}")
        self.xp = resolve(backend)
        self.sizes = [int(s) for s in sizes]
        self.dtype = np.dtype(dtype)
        self.dropout, self.input_dropout, self.seed = float(dropout), float(input_dropout), seed
        init_rng = np.random.default_rng(seed)
        self.rng = self.xp.random.default_rng(None if seed is None else seed + 1)
        self.layers = []
        if input_dropout:
            self.layers.append(Dropout(input_dropout, self.rng))
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            last = i == len(self.sizes) - 2
            self.layers.append(Dense(a, b, init="glorot" if last else "he", rng=init_rng, xp=self.xp, dtype=dtype))
            if not last:
                self.layers.append(ReLU(inplace=True))
                if dropout:
                    self.layers.append(Dropout(dropout, self.rng))
        # A network fed with data needs no gradient w.r.t. its input (one matrix product saved per step); one fed
        # with another network's outputs (the discriminator) does.
        self._first_dense().needs_input_grad = bool(input_grad)
        self.input_grad = bool(input_grad)

    def _first_dense(self):
        return next(layer for layer in self.layers if isinstance(layer, Dense))

    def config(self):
        """What rebuilds this network (``checkpoint.build``): its kind and constructor arguments."""
        return {"model": "MLP", "sizes": self.sizes, "dropout": self.dropout, "input_dropout": self.input_dropout,
                "dtype": self.dtype.name, "input_grad": self.input_grad}

    # -------------------------------------------------------------------------------------------- structure
    def hidden_index(self, h):
        """Position in ``layers`` just after hidden layer ``h``'s ReLU (1 <= h <= number of hidden layers)."""
        n_hidden = len(self.sizes) - 2
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 1 <= h <= n_hidden:
            raise ValueError(f"hidden layer must be an integer in [1, {n_hidden}] for sizes {self.sizes}, got {h!r}")
        relus = [i for i, layer in enumerate(self.layers) if isinstance(layer, ReLU)]
        return relus[h - 1] + 1

    def named_parameters(self):
        """[(name, param, grad)] in layer order, names like ``"dense0.W"``."""
        out, k = [], 0
        for layer in self.layers:
            if isinstance(layer, Dense):
                for name in ("W", "b"):
                    out.append((f"dense{k}.{name}", layer.params[name], layer.grads[name]))
                k += 1
        return out
