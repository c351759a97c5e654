"""Layers and the networks built from them, each layer with ``forward(x, train)`` and a hand-written ``backward``.

A layer owns its parameters and gradients (dicts by name: ``params["W"]``, ``grads["W"]``; empty for ReLU and
Dropout) and keeps exactly what its backward needs from the last training forward. ``backward(dy)`` takes
``dy = dL/dy`` for the layer's output, fills ``grads`` and returns ``dx = dL/dx`` for its input.
Layers: ``Dense``, ``ReLU``, ``Dropout``, ``BatchNorm``; networks: ``Network`` (what every network shares) and
``MLP``; a network's state by name, ``network_arrays`` and ``load_network_arrays`` (its files: ``tinykd.runs``).
Derivations: ``docs/derivations.md``; checks: ``tests/test_layers.py`` (every layer, BatchNorm included).
"""
import numpy as np

from . import functional as F
from .backend import default_rng, get_array_module, resolve, to_device, to_host
from .batches import batched
from .checks import check_dtype, check_rows, check_seed, is_int, is_real


class Layer:
    """What every layer shares: its own ``params`` and ``grads`` dicts, and the cache its backward reads.

    ``forward(x, train=True)`` keeps in ``_cache`` what backward needs; ``backward`` takes it with ``_kept()``, once:
    a backward without a training forward before it is an error that says so, never an arithmetic error on None.
    """

    def __init__(self):
        self.params, self.grads = {}, {}
        self._cache = None

    def buffers(self):
        """{name: array} of state not trained by gradient that shapes the outputs (none here; BatchNorm has some)."""
        return {}

    def _kept(self):
        """What the last ``forward(x, train=True)`` kept, handed over and forgotten."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called without a forward(x, train=True) before it")
        cache, self._cache = self._cache, None
        return cache


class Dense(Layer):
    """Affine map ``y = x W + b`` with ``W`` of shape (in, out).

    Backward: ``dW = xᵀ dy``, ``db = Σ_rows dy``, ``dx = dy Wᵀ``. The input gradient is skipped when
    ``needs_input_grad`` is False (the first layer of a network, whose input is data), saving one matrix product.
    """

    def __init__(self, n_in, n_out, init="he", rng=None, backend=None, dtype=np.float32):
        super().__init__()
        xp = resolve(backend)
        if not (is_int(n_in, 1) and is_int(n_out, 1)):
            raise ValueError(f"Dense sizes must be positive integers, got n_in={n_in!r}, n_out={n_out!r}")
        dtype = check_dtype(dtype)
        rng = rng if isinstance(rng, np.random.Generator) else default_rng(rng)
        # He et al. (2015) keep the variance of ReLU activations constant (2/fan_in); Glorot & Bengio (2010)
        # balance forward and backward variance (2/(fan_in+fan_out)) for layers with no ReLU after them.
        if init == "he":
            std = np.sqrt(2.0 / n_in)
        elif init == "glorot":
            std = np.sqrt(2.0 / (n_in + n_out))
        else:
            raise ValueError(f"init must be 'he' or 'glorot', got {init!r}")
        w = (rng.standard_normal((n_in, n_out)) * std).astype(dtype)
        self.params = {"W": to_device(w, xp), "b": xp.zeros(n_out, dtype=dtype)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.needs_input_grad = True

    def forward(self, x, train=False):
        self._cache = x if train else None
        y = x @ self.params["W"]
        y += self.params["b"]
        return y

    def backward(self, dy):
        x = self._kept()
        xp = get_array_module(dy)
        xp.matmul(x.T, dy, out=self.grads["W"])
        dy.sum(axis=0, out=self.grads["b"])
        return dy @ self.params["W"].T if self.needs_input_grad else None


class ReLU(Layer):
    """``y = max(x, 0)``; backward ``dx = dy ⊙ [x > 0]`` (the kink at 0 gets gradient 0).

    With ``inplace=True`` (how ``MLP`` uses it) forward overwrites its input and backward its incoming gradient,
    saving two allocations per layer and step; safe there because both arrays are fresh products of a ``Dense``.
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x, train=False):
        xp = get_array_module(x)
        y = xp.maximum(x, 0, out=x if self.inplace else None)
        self._cache = y > 0 if train else None
        return y

    def backward(self, dy):
        mask = self._kept()
        if self.inplace:
            dy *= mask
            return dy
        return dy * mask


class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014): in training ``y = x ⊙ m / (1−p)``, ``m ~ Bernoulli(1−p)``.

    Dividing by the keep probability during training makes ``E[y] = x``, so inference is the identity.
    Backward: ``dx = dy ⊙ m / (1−p)``. The mask comes from the generator ``rng`` (same array module as x).
    """

    def __init__(self, p, rng):
        super().__init__()
        if not is_real(p) or not 0 <= p < 1:
            raise ValueError(f"dropout probability p must be a number in [0, 1), got {p!r}")
        if p and not callable(getattr(rng, "random", None)):   # p = 0 draws no mask
            raise TypeError(f"Dropout's rng must be a random generator on the inputs' array module "
                            f"(tinykd.backend.default_rng(seed, xp)), got {type(rng).__name__}")
        self.p = float(p)
        self.rng = rng

    def forward(self, x, train=False):
        if not train or self.p == 0:
            self._cache = (None,) if train else None  # p = 0 in training: backward is the identity
            return x
        xp = get_array_module(x)
        keep = x.dtype.type(1 - self.p)
        scale = self.rng.random(x.shape, dtype=x.dtype)
        xp.less(scale, keep, out=scale)  # the Bernoulli mask, written over the uniforms: no second array
        scale /= keep
        self._cache = (scale,)
        return x * scale

    def backward(self, dy):
        (scale,) = self._kept()
        return dy if scale is None else dy * scale


class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy 2015; docs/derivations.md §14) over the batch axis, with running
    statistics for inference.

    Training, per feature: ``μ = mean_n x_n``, ``ν = mean_n (x_n − μ)²`` (biased), ``r = 1/√(ν + ε_BN)``,
    ``x̂ = (x − μ) r``, ``h = γ x̂ + b``: the scale ``γ`` is ``params["gamma"]``, the shift ``b`` is
    ``params["beta"]``, ``ε_BN`` is ``eps``. The running mean and unbiased variance ``ν N/(N − 1)`` are updated with
    ``momentum``; inference uses them. Backward (training mode), with ``g = dh`` (the argument ``dy``) and
    ``dx̂ = γ ⊙ g``: ``dx = r ⊙ (dx̂ − mean_n dx̂ − x̂ ⊙ mean_n(dx̂ ⊙ x̂))``, ``dγ = Σ_n g ⊙ x̂``, ``db = Σ_n g``.
    A training batch needs ``min_batch_rows`` = 2 rows (one row has no spread): ``train.fit`` refuses, before
    training, a batch size or a last batch smaller than that.
    """

    min_batch_rows = 2

    def __init__(self, n, momentum=0.1, eps=1e-5, backend=None, dtype=np.float32):
        super().__init__()
        xp = resolve(backend)
        dtype = check_dtype(dtype)
        self.params = {"gamma": xp.ones(n, dtype=dtype), "beta": xp.zeros(n, dtype=dtype)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.running_mean, self.running_var = xp.zeros(n, dtype=dtype), xp.ones(n, dtype=dtype)
        self.momentum, self.eps = momentum, eps

    def buffers(self):
        """The running statistics: not trained by gradient, but inference reads them, so checkpoints keep them."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x, train=False):
        xp = get_array_module(x)
        if train:
            n = x.shape[0]
            # one row has variance 0: the output would be all zeros and running_var would be dragged towards 0
            if n < 2:
                raise ValueError(f"BatchNorm in training mode needs a batch of at least 2 rows for its batch "
                                 f"statistics, got {n}; pick a batch size that leaves no last batch of 1, or drop "
                                 "the last partial batch")
            mean, var = x.mean(axis=0), x.var(axis=0)
            m = x.dtype.type(self.momentum)
            self.running_mean *= 1 - m
            self.running_mean += m * mean
            self.running_var *= 1 - m
            self.running_var += m * var * x.dtype.type(n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        inv = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        xhat = (x - mean) * inv
        self._cache = (xhat, inv) if train else None
        return xhat * self.params["gamma"] + self.params["beta"]

    def backward(self, dy):
        xhat, inv = self._kept()
        (dy * xhat).sum(axis=0, out=self.grads["gamma"])
        dy.sum(axis=0, out=self.grads["beta"])
        dxhat = dy * self.params["gamma"]
        dx = dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)
        dx *= inv
        return dx


class Network:
    """What every network in tinykd shares: a list of ``layers`` run forward and backward, evaluation in large
    batches, named parameters and buffers (their host copies: ``network_arrays``), parameter counts. Subclasses
    build ``layers`` and say how to rebuild themselves (``config()``).

    A parameter's name is its layer's kind and number among the layers of its kind, then its key: ``"dense1.W"``,
    ``"binarydense1.W"``, ``"batchnorm0.gamma"``, the same scheme for every network.
    """

    kinds = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Network.kinds[cls.__name__] = cls

    def _set_shape(self, sizes, backend, dtype):
        """Check and keep what every network has: its layer sizes, array module and floating dtype."""
        sizes = list(sizes)
        if len(sizes) < 2 or not all(is_int(s, 1) for s in sizes):
            raise ValueError(f"sizes must list at least two positive integers (input, ..., classes), got {sizes}")
        self.xp, self.sizes, self.dtype = resolve(backend), [int(s) for s in sizes], check_dtype(dtype)

    def forward(self, x, train=False, stop=None):
        """Logits for a batch ``x`` of shape (batch, sizes[0]); ``stop`` returns the output of layers[:stop]."""
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"x must have shape (batch, {self.sizes[0]}), got {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the model is {self.dtype}; cast the data once, up front")
        for layer in self.layers[:stop]:
            x = layer.forward(x, train)
        return x

    def backward(self, dy, start=None):
        """Backpropagate ``dy`` (w.r.t. the output of layers[:start], the logits by default) to every parameter.

        Returns the gradient w.r.t. the network's input when its first layer computes one, else None.
        """
        for layer in reversed(self.layers[:start]):
            dy = layer.backward(dy)
            if dy is None:
                break
        return dy

    def predict(self, x, batch_size=10000, checked=False):
        """Predicted classes, evaluated in large batches (inference mode).

        ``x`` must be an array of shape (N, sizes[0]) (``checks.check_rows``) with every value finite
        (``functional.check_finite``: argmax would call a NaN row class 0). ``checked=True``: the caller checked
        ``x`` once already."""
        if not checked:
            check_rows("x", x, self.sizes[0])
            F.check_finite("x", x)
        return batched(lambda xb: self.forward(xb).argmax(axis=1), x, batch_size)

    def logits(self, x, batch_size=10000):
        """Inference-mode logits for a whole data set, in large batches (``x`` as for ``predict``; a NaN row gives
        NaN logits, which show, so its values are not read)."""
        check_rows("x", x, self.sizes[0])
        return batched(self.forward, x, batch_size)

    def count_params(self, biases=True):
        """Number of parameters; ``biases=False`` counts weights only (the founding report's convention)."""
        return sum(int(p.size) for name, p, _ in self.named_parameters() if biases or name.endswith(".W"))

    def layer_names(self):
        """Each layer's name in parameter and buffer names, in layer order: its kind and its number among the layers
        of that kind (``dense0``, ``relu0``, ``dense1``)."""
        names, counts = [], {}
        for layer in self.layers:
            kind = type(layer).__name__.lower()
            names.append(f"{kind}{counts.get(kind, 0)}")
            counts[kind] = counts.get(kind, 0) + 1
        return names

    def named_parameters(self):
        """[(name, param, grad)] of every layer's parameters, in layer order (names: ``layer_names``)."""
        return [(f"{name}.{key}", p, layer.grads[key]) for name, layer in zip(self.layer_names(), self.layers)
                for key, p in layer.params.items()]

    def named_buffers(self):
        """[(name, array)] of state not trained by gradient that shapes the outputs (batch-norm statistics)."""
        return [(f"{name}.{key}", b) for name, layer in zip(self.layer_names(), self.layers)
                for key, b in layer.buffers().items()]

    def named_generators(self):
        """[(name, generator)] of the random generators the network draws from while training (the dropout masks'),
        each once, named by the first layer that holds it: a run checkpoint saves their states so that a resumed
        run draws the masks an uninterrupted one would."""
        out, seen = [], set()
        for i, layer in enumerate(self.layers):
            rng = getattr(layer, "rng", None)
            if rng is not None and id(rng) not in seen:
                seen.add(id(rng))
                out.append((f"layer{i}.rng", rng))
        return out

    @staticmethod
    def from_config(config, backend=None, source="config"):
        """A fresh network from ``model.config()``, ``{"model": its class name, **its constructor arguments}``: every
        subclass is listed in ``Network.kinds`` as it is defined, so no file format needs to know any network."""
        config = dict(config)
        kind = config.pop("model", None)
        if kind not in Network.kinds:
            raise ValueError(f"{source}: unknown model kind {kind!r} (expected one of {sorted(Network.kinds)})")
        return Network.kinds[kind](backend=backend, **config)


def _named_state(model):
    """[(name, array)]: the model's parameters, then its buffers."""
    return [(n, p) for n, p, _ in model.named_parameters()] + model.named_buffers()


def network_arrays(model):
    """Host copies of all a network holds, by name: parameters and buffers (batch-norm statistics); always copies
    (``to_host`` of a NumPy array is the array itself), so later training cannot change them."""
    return {name: np.array(to_host(a)) for name, a in _named_state(model)}


def load_network_arrays(model, arrays, source="state"):
    """Copy ``arrays`` ({name: array}, as ``network_arrays`` gives) into the model's parameters and buffers: every
    name with its exact shape and a float dtype (never broadcast), no other, every value finite (``F.check_finite``:
    NaN weights predict class 0), all checked before any copy; each refusal one ``ValueError`` line from ``source``."""
    state = _named_state(model)
    extra = sorted(set(arrays) - {name for name, _ in state})
    if extra:
        raise ValueError(f"{source}: holds arrays this model does not have: {', '.join(extra[:5])}")
    for name, a in state:
        got = arrays.get(name)
        if got is None or got.shape != a.shape or got.dtype.kind != "f":
            raise ValueError(f"{source}: {name} is {'missing' if got is None else f'{got.dtype}{got.shape}'}, "
                             f"this model needs {a.dtype}{a.shape}")
        F.check_finite(f"{source}: {name}", got, "load weights from a run that did not diverge")
    for name, a in state:
        a[...] = to_device(arrays[name], get_array_module(a), a.dtype)


class MLP(Network):
    """A multilayer perceptron from layer sizes, e.g. ``MLP([784, 1200, 1200, 10])``.

    Layers: [Dropout(input)] Dense ReLU [Dropout] Dense ReLU [Dropout] ... Dense (logits). The hidden layer
    ``h`` (1-based, after its ReLU) can be read with ``forward(x, stop=model.hidden_index(h))`` and a gradient
    injected there with ``backward(dy, start=model.hidden_index(h))`` (FitNets hints use this).
    """

    def __init__(self, sizes, dropout=0.0, input_dropout=0.0, seed=0, backend=None, dtype=np.float32,
                 input_grad=False, init="he", output_init="glorot"):
        self._set_shape(sizes, backend, dtype)
        check_seed(seed)
        self.dropout, self.input_dropout = float(dropout), float(input_dropout)
        self.seed, self.init, self.output_init = seed, init, output_init
        init_rng = default_rng(seed)
        self.rng = default_rng(None if seed is None else seed + 1, self.xp)
        self.layers = []
        if input_dropout:
            self.layers.append(Dropout(input_dropout, self.rng))
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            last = i == len(self.sizes) - 2
            self.layers.append(Dense(a, b, init=output_init if last else init, rng=init_rng, backend=self.xp,
                                     dtype=dtype))
            if not last:
                self.layers.append(ReLU(inplace=True))
                if dropout:
                    self.layers.append(Dropout(dropout, self.rng))
        # A network fed with data needs no gradient w.r.t. its input (one matrix product saved per step); one fed
        # with another network's outputs (the discriminator) does.
        self.input_grad = bool(input_grad)
        next(layer for layer in self.layers if isinstance(layer, Dense)).needs_input_grad = self.input_grad

    def config(self):
        """What rebuilds this network (``Network.from_config``): its kind and constructor arguments."""
        return {"model": "MLP", "sizes": self.sizes, "dropout": self.dropout, "input_dropout": self.input_dropout,
                "dtype": self.dtype.name, "input_grad": self.input_grad}

    def describe(self):
        """Everything on the model's side that shapes trained weights, for a run's identity: ``config()`` (which
        rebuilds the architecture; weights are then loaded, so it leaves the initialisation out) plus the
        initialisation schemes and the seed of the initial weights and of the dropout masks (``seed + 1``)."""
        return {**self.config(), "init": self.init, "output_init": self.output_init, "seed": self.seed,
                "dropout_seed": None if self.seed is None else self.seed + 1}

    def hidden_index(self, h):
        """Position in ``layers`` just after hidden layer ``h``'s ReLU (1 <= h <= number of hidden layers)."""
        n_hidden = len(self.sizes) - 2
        if not is_int(h, 1, n_hidden):
            raise ValueError(f"hidden layer must be an integer in [1, {n_hidden}] for sizes {self.sizes}, got {h!r}")
        relus = [i for i, layer in enumerate(self.layers) if isinstance(layer, ReLU)]
        return relus[h - 1] + 1
