"""Binary students: BWN and XNOR dense layers (Rastegari et al. 2016), batch normalisation, bit-packed inference.

A binary layer keeps real-valued *latent* weights ``W`` for the optimiser and computes with their signs:

- **BWN** (binary weights): ``y = (x @ sign(W)) ⊙ α + b``, ``α_j = mean_i |W_ij|`` (one per output unit);
- **XNOR** (binary weights and inputs): ``y = ((sign(x) @ sign(W)) ⊙ β) ⊙ α + b``, ``β_n = mean_i |x_ni|`` (one
  per sample), so the product of signs is an integer that XNOR and popcount compute exactly.

``sign`` is ``where(v >= 0, 1, −1)`` (``np.sign(0) == 0`` would drop inputs). Its derivative is 0 almost
everywhere, so training uses the straight-through estimator (STE): ``d sign(v)/dv := 1{|v| <= 1}``. The scaling
factors have a true gradient, ``dα_j/dW_ij = sign(W_ij)/n_in`` (likewise for β); backward applies the full chain
rule through them, plus the STE term. Derivations: ``docs/derivations.md`` §13–15; tests: ``tests/test_binary.py``.
"""
import numpy as np

from .backend import get_array_module, resolve, to_host
from .layers import Dense, Network, ReLU, batched

WORD = 64  # bits per packed word


def binarize(v):
    """sign(v) as ±1 in v's dtype, with sign(0) = +1: ``2·[v >= 0] − 1``, three passes and no temporary
    (``where(v >= 0, 1, −1)`` with scalar branches is six times slower in NumPy)."""
    xp = get_array_module(v)
    s = xp.empty_like(v)
    xp.greater_equal(v, 0, out=s)
    s *= 2
    s -= 1
    return s


def abs_mean(v, s, axis):
    """``mean |v|`` along ``axis`` given ``s = sign(v)``, as ``mean(v ⊙ s)`` in one pass (α per output unit for
    weights, axis 0; β per sample for inputs, axis 1)."""
    xp = get_array_module(v)
    return xp.einsum("ij,ij->j" if axis == 0 else "ij,ij->i", v, s) / v.dtype.type(v.shape[axis])


class BinaryDense:
    """A dense layer with binary weights (``mode="bwn"``) or binary weights and inputs (``mode="xnor"``).

    ``ste``: include the straight-through term in backward (True for training; False leaves exactly the true
    gradient of the scaling factors, which the finite-difference tests check).
    """

    def __init__(self, n_in, n_out, mode="bwn", rng=None, xp=np, dtype=np.float32):
        if mode not in ("bwn", "xnor"):
            raise ValueError(f"mode must be 'bwn' or 'xnor', got {mode!r}")
        dense = Dense(n_in, n_out, init="glorot", rng=rng, xp=xp, dtype=dtype)  # latent weights, Glorot-scaled
        self.params, self.grads = dense.params, dense.grads
        self.mode, self.n_in, self.ste, self.needs_input_grad = mode, n_in, True, True
        self._cache = None

    def binary_weights(self):
        """(sign(W), α): the ±1 matrix and the per-output-unit scale."""
        w = self.params["W"]
        sw = binarize(w)
        return sw, abs_mean(w, sw, axis=0)

    def forward(self, x, train=False):
        sw, alpha = self.binary_weights()
        if self.mode == "xnor":
            sx = binarize(x)
            beta = abs_mean(x, sx, axis=1)
            y = sx @ sw
            y *= beta[:, None]
        else:
            sx, beta = x, None
            y = x @ sw
        y *= alpha
        y += self.params["b"]
        self._cache = (x, sx, beta, sw, alpha) if train else None
        return y

    def backward(self, grad):
        x, sx, beta, sw, alpha = self._cache
        w = self.params["W"]
        # y = x̃ W̃ + b with W̃ = sign(W) α and x̃ = sign(x) β (xnor) or x (bwn)
        xt = sx * beta[:, None] if beta is not None else x
        xp = get_array_module(grad)
        xp.matmul(xt.T, grad, out=self.grads["W"])         # dL/dW̃, turned into dL/dW in place
        _scaled_sign_backward(w, sw, alpha, self.grads["W"], axis=0, ste=self.ste)
        grad.sum(axis=0, out=self.grads["b"])
        self._cache = None
        if not self.needs_input_grad:
            return None
        g_xt = (grad * alpha) @ sw.T                        # dL/dx̃ = g W̃ᵀ
        if beta is None:
            return g_xt
        return _scaled_sign_backward(x, sx, beta, g_xt, axis=1, ste=self.ste)


def _scaled_sign_backward(v, s, scale, g, axis, ste):
    """Gradient w.r.t. v of ``ṽ = sign(v) · mean_axis|v|`` given ``g = dL/dṽ``, computed in place in ``g``.

    True part (scale): ``dṽ_k/dv_i = sign(v_k) sign(v_i) / n`` within a group → ``sign(v) · mean_axis(g ⊙ sign(v))``.
    STE part: ``scale · g ⊙ 1{|v| <= 1}``.
    """
    xp = get_array_module(v)
    keep = (lambda a: a[:, None]) if axis == 1 else (lambda a: a)
    c = keep(abs_mean(g, s, axis))                      # mean_axis(g ⊙ s), read before g is overwritten
    if ste:
        # always built, even when v is known to lie in [−1, 1] (clipped weights): skipping it would need a read of
        # v on the host, a GPU synchronisation per layer and step; building it costs about 2% of a CPU step
        g *= xp.abs(v) <= 1
        g *= keep(scale)
        g += s * c
    else:
        xp.multiply(s, c, out=g)
    return g


class BatchNorm:
    """Batch normalisation (Ioffe & Szegedy 2015) over the batch axis, with running statistics for inference.

    Training: ``x̂ = (x − μ_B)/√(σ²_B + ε)``, ``y = γ x̂ + β`` (σ² biased); running ``μ, σ²`` (σ² unbiased) are
    updated with momentum. Inference uses the running statistics. Backward (training mode):
    ``dx = (γ/√(σ²+ε)) · (g − mean(g) − x̂ · mean(g ⊙ x̂))``, ``dγ = Σ g ⊙ x̂``, ``dβ = Σ g``.
    """

    def __init__(self, n, momentum=0.1, eps=1e-5, xp=np, dtype=np.float32):
        self.params = {"gamma": xp.ones(n, dtype=dtype), "beta": xp.zeros(n, dtype=dtype)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.running_mean, self.running_var = xp.zeros(n, dtype=dtype), xp.ones(n, dtype=dtype)
        self.momentum, self.eps = momentum, eps
        self._cache = None

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

    def backward(self, grad):
        xhat, inv = self._cache
        (grad * xhat).sum(axis=0, out=self.grads["gamma"])
        grad.sum(axis=0, out=self.grads["beta"])
        g = grad * self.params["gamma"]
        dx = g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0)
        dx *= inv
        self._cache = None
        return dx


class BinaryMLP(Network):
    """A binary MLP from layer sizes.

    ``mode="bwn"``: [BinaryDense(bwn) → BatchNorm → ReLU] × hidden → BinaryDense(bwn).
    ``mode="xnor"``: BinaryDense(bwn, real pixels in) → BatchNorm → [BinaryDense(xnor) → BatchNorm] × … →
    BinaryDense(xnor): every layer after the first binarises its input, the sign being the non-linearity
    (XNOR-Net's order: BatchNorm, binary activation, binary layer).
    Latent weights are clipped to [−1, 1] after each optimiser step (``after_step``), as in BinaryConnect.
    """

    def __init__(self, sizes, mode="bwn", seed=0, backend=None, dtype=np.float32):
        if mode not in ("bwn", "xnor"):
            raise ValueError(f"mode must be 'bwn' or 'xnor', got {mode!r}")
        sizes = list(sizes)
        # int() would truncate a width of 100.7 to 100 without a word; bools are ints to Python but not widths
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
                                     for s in sizes):
            raise ValueError(f"sizes must list at least two positive integers (input, ..., classes), got {sizes}")
        sizes = [int(s) for s in sizes]
        self.xp, self.sizes, self.mode, self.dtype = resolve(backend), sizes, mode, np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer_mode = "xnor" if (mode == "xnor" and i > 0) else "bwn"
            self.layers.append(BinaryDense(a, b, layer_mode, rng=rng, xp=self.xp, dtype=dtype))
            if i < len(sizes) - 2:
                self.layers.append(BatchNorm(b, xp=self.xp, dtype=dtype))
                if mode == "bwn":
                    self.layers.append(ReLU(inplace=True))
        self.layers[0].needs_input_grad = False

    def named_parameters(self):
        out = []
        for i, layer in enumerate(self.layers):
            for k in layer.params:
                out.append((f"{type(layer).__name__.lower()}{i}.{k}", layer.params[k], layer.grads[k]))
        return out

    def after_step(self):
        """Clip latent weights to [−1, 1], as BinaryConnect does: beyond it the STE term is 0 (only the scale term still
        moves a weight), and an unclipped weight would drift ever further from a sign flip."""
        for layer in self.layers:
            if isinstance(layer, BinaryDense):
                self.xp.clip(layer.params["W"], -1, 1, out=layer.params["W"])

    def named_buffers(self):
        """Batch-norm running statistics by name: not trained by gradient, but they shape inference outputs, so a
        checkpoint must hold them (``tinykd.checkpoint``)."""
        out = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, BatchNorm):
                out += [(f"batchnorm{i}.running_mean", layer.running_mean),
                        (f"batchnorm{i}.running_var", layer.running_var)]
        return out

    def config(self):
        """What rebuilds this network (``checkpoint.build``): its kind and constructor arguments."""
        return {"model": "BinaryMLP", "sizes": self.sizes, "mode": self.mode, "dtype": self.dtype.name}


# ------------------------------------------------------------------------------------------ bit-packed inference
def pack_signs(s):
    """Pack a ±1 (or any real: sign(v) with sign(0)=+1) matrix row-wise into uint64 words; bit 1 means +1.

    Rows of ``n`` entries become ``ceil(n/64)`` words; the padding bits are 0 in every row, so they match in
    any XOR of two packed rows and are discounted by the caller. Returns (words, n).
    """
    if not hasattr(s, "dtype") or s.ndim != 2:
        raise ValueError(f"pack_signs needs a 2-D array, got {getattr(s, 'shape', type(s).__name__)}")
    if s.dtype.kind not in "fiu":
        raise TypeError(f"pack_signs needs a numeric array, got dtype {s.dtype}")
    s = to_host(s)
    n = s.shape[1]
    bits = s >= 0
    pad = -n % WORD
    if pad:
        bits = np.concatenate([bits, np.zeros((s.shape[0], pad), bool)], axis=1)
    packed = np.packbits(bits, axis=1, bitorder="little")             # uint8, 8 per word
    return np.ascontiguousarray(packed).view(np.uint64), n


def _check_width(n, words, low):
    """Raise unless ``n`` is an integer with ``low <= n <= 64 · words``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not low <= n <= WORD * words:
        raise ValueError(f"n must be an integer in [{low}, {WORD * words}] for rows packed into {words} words "
                         f"of {WORD} bits, got {n!r}; pass the n that pack_signs returned")


def unpack_signs(words, n, dtype=np.float32):
    """Inverse of ``pack_signs``: the ±1 matrix of width n (0 <= n <= 64 · words)."""
    if words.dtype != np.uint64 or words.ndim != 2:
        raise TypeError(f"unpack_signs needs a 2-D uint64 array, got {words.dtype} with shape {words.shape}")
    _check_width(n, words.shape[1], 0)
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, :n]
    one = np.dtype(dtype).type(1)
    return np.where(bits.astype(bool), one, -one)


def xnor_popcount_dot(x_words, w_words, n, rows=256):
    """``sign(x) @ sign(W)ᵀ`` from packed rows: ``n − 2·popcount(x XOR w)`` for every (sample, unit) pair.

    ``x_words`` (N, words), ``w_words`` (units, words). ``n`` must satisfy ``64 (words − 1) < n <= 64 words``:
    only bits beyond n are padding, zero in both and so never counted. A few rows take one broadcast XOR over all
    words (fewest NumPy calls: batch 1 is call-bound); more rows go word by word, summing counts into blocks of
    ``rows`` samples, which avoids the (N, units, words) temporary and the slow reduction over its short last axis
    (about twice as fast at batch 128–1024 here).
    """
    if x_words.shape[1] != w_words.shape[1]:
        raise ValueError(f"packed widths differ: {x_words.shape[1]} vs {w_words.shape[1]} words")
    words = x_words.shape[1]
    _check_width(n, words, WORD * (words - 1) + 1)
    (m, units), step = (x_words.shape[0], w_words.shape[0]), min(rows, x_words.shape[0])
    if m <= 4:
        out = np.bitwise_count(x_words[:, None, :] ^ w_words[None, :, :]).sum(axis=2, dtype=np.int64)
    else:
        out = np.zeros((m, units), dtype=np.int64)
        w_cols = np.ascontiguousarray(w_words.T)                       # word k of every unit, contiguous
        xor, count = np.empty((step, units), np.uint64), np.empty((step, units), np.uint8)
        for i in range(0, m, step):
            k = min(step, m - i)
            for j in range(words):
                np.bitwise_xor(x_words[i:i + k, j, None], w_cols[j], out=xor[:k])
                out[i:i + k] += np.bitwise_count(xor[:k], out=count[:k])
    out *= -2
    out += n
    return out


class PackedBinaryMLP:
    """Inference-only form of a ``BinaryMLP``: weight signs packed 64 to a word, plus α, biases and BatchNorm.

    XNOR layers compute their integer products by XNOR and popcount; BWN layers (real inputs) multiply by the
    ±1 matrix. Both then rescale in the same order as the float emulation, so outputs match it exactly.

    Memory: ``nbytes`` counts what the model stores (sign words). At run time a BWN layer also holds its ±1 matrix
    unpacked, in the model's dtype, built once here: a product with real inputs needs BLAS, BLAS needs floats,
    and unpacking on every call made an XNOR network's batch-1 inference 15 times slower (4.5 ms against 0.3 ms
    here). In XNOR mode only the first layer (real pixels in) is BWN; in BWN mode every layer is, and packing then
    saves storage, not run-time memory.
    """

    def __init__(self, model):
        if not isinstance(model, BinaryMLP):
            raise TypeError(f"PackedBinaryMLP packs a BinaryMLP, got {type(model).__name__}")
        self.sizes, self.dtype, self.steps = model.sizes, model.dtype, []
        for layer in model.layers:
            if isinstance(layer, BinaryDense):
                sw, alpha = layer.binary_weights()
                words, n = pack_signs(to_host(sw).T)                     # one packed row per output unit
                # the same C-ordered ±1 matrix the emulation multiplies by, so BLAS sums in the same order
                signs = None if layer.mode == "xnor" else np.ascontiguousarray(unpack_signs(words, n, self.dtype).T)
                self.steps.append(("dense", layer.mode, words, n, to_host(alpha), to_host(layer.params["b"]), signs))
            elif isinstance(layer, BatchNorm):
                bn = BatchNorm(layer.params["gamma"].shape[0], layer.momentum, layer.eps)
                for src, dst in ((layer.params, bn.params),):
                    for k in src:
                        dst[k][...] = to_host(src[k])
                bn.running_mean[...] = to_host(layer.running_mean)
                bn.running_var[...] = to_host(layer.running_var)
                self.steps.append(("bn", bn))
            else:
                self.steps.append(("relu", None))

    def forward(self, x):
        """Logits for a batch ``x`` (any backend; computed on the host) of the model's dtype."""
        x = to_host(x)
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the model is {self.dtype}; cast the data once, up front")
        for step in self.steps:
            if step[0] == "bn":
                x = step[1].forward(x)
            elif step[0] == "relu":
                x = np.maximum(x, 0)
            else:
                _, mode, words, n, alpha, b, signs = step
                if mode == "xnor":
                    xw, _ = pack_signs(x)
                    y = xnor_popcount_dot(xw, words, n).astype(x.dtype)
                    y *= abs_mean(x, binarize(x), axis=1)[:, None]
                else:
                    y = x @ signs
                y *= alpha
                y += b
                x = y
        return x

    def predict(self, x, batch_size=10000):
        return batched(lambda xb: self.forward(xb).argmax(axis=1), to_host(x), batch_size)

    def nbytes(self):
        """Bytes of the packed model: sign words plus float32 α, biases and BatchNorm parameters/statistics."""
        total = 0
        for step in self.steps:
            if step[0] == "dense":
                total += step[2].nbytes + step[4].nbytes + step[5].nbytes
            elif step[0] == "bn":
                bn = step[1]
                total += sum(p.nbytes for p in bn.params.values()) + bn.running_mean.nbytes + bn.running_var.nbytes
        return total
