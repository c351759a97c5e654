"""Bit-packed inference for a trained ``BinaryMLP``: weight signs packed 64 to a ``uint64`` word, XNOR layers
computed by XOR and popcount (``np.bitwise_count``), on the host.

The packed network reproduces the float emulation's logits bit for bit (``tests/test_binary.py``). Derivation:
``docs/derivations.md`` §15.
"""
from typing import NamedTuple

import numpy as np

from .backend import to_host
from .batches import batched
from .binary import BinaryDense, BinaryMLP, abs_mean, binarize
from .checks import check_rows, is_int
from .functional import check_finite
from .layers import BatchNorm, ReLU

WORD = 64  # bits per packed word


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
    bits = np.pad(s >= 0, ((0, 0), (0, -n % WORD)))                   # False (bit 0) up to a whole word
    packed = np.packbits(bits, axis=1, bitorder="little")             # uint8, 8 per word
    return np.ascontiguousarray(packed).view(np.uint64), n


def _check_width(n, words, low):
    """Raise unless ``n`` is an integer with ``low <= n <= 64 · words``."""
    if not is_int(n, low, WORD * words):
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
    ``rows`` samples, which avoids the (N, units, words) temporary and the slow reduction over its short last axis.
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


class PackedDense(NamedTuple):
    """One binary layer, packed: sign words (one row per output unit) of width ``n``, the scale α and the bias,
    and for a BWN layer (real inputs) its ±1 matrix unpacked once in the model's dtype (None for XNOR)."""
    mode: str
    words: np.ndarray
    n: int
    alpha: np.ndarray
    b: np.ndarray
    signs: np.ndarray = None

    def nbytes(self):
        """Bytes the layer stores: sign words, α and bias (the unpacked ±1 matrix is a run-time copy)."""
        return self.words.nbytes + self.alpha.nbytes + self.b.nbytes

    def forward(self, x):
        """The layer's output in the float emulation's order of operations, so it matches it exactly."""
        if self.mode == "xnor":
            xw, _ = pack_signs(x)
            y = xnor_popcount_dot(xw, self.words, self.n).astype(x.dtype)
            y *= abs_mean(x, binarize(x), axis=1)[:, None]
        else:
            y = x @ self.signs
        y *= self.alpha
        y += self.b
        return y


def _host_batchnorm(layer):
    """A host copy of a ``BatchNorm`` layer (parameters and running statistics)."""
    bn = BatchNorm(layer.params["gamma"].shape[0], layer.momentum, layer.eps, dtype=layer.params["gamma"].dtype)
    for k in layer.params:
        bn.params[k][...] = to_host(layer.params[k])
    bn.running_mean[...] = to_host(layer.running_mean)
    bn.running_var[...] = to_host(layer.running_var)
    return bn


class PackedBinaryMLP:
    """Inference-only form of a ``BinaryMLP``: weight signs packed 64 to a word, plus α, biases and BatchNorm.

    XNOR layers compute their integer products by XNOR and popcount; BWN layers (real inputs) multiply by the
    ±1 matrix. Both then rescale in the same order as the float emulation, so outputs match it exactly.

    Memory: ``nbytes()`` counts what the model stores (sign words, α, biases, BatchNorm), ``sign_bytes()`` the sign
    words alone. At run time a BWN layer also holds its ±1 matrix unpacked once, in the model's dtype (a product
    with real inputs needs BLAS, and BLAS needs floats). In XNOR mode only the first layer (real pixels in) is BWN; in
    BWN mode every layer is, and packing then saves storage, not run-time memory.
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
                self.steps.append(PackedDense(layer.mode, words, n, to_host(alpha), to_host(layer.params["b"]),
                                              signs))
            elif isinstance(layer, BatchNorm):
                self.steps.append(_host_batchnorm(layer))
            else:
                self.steps.append(ReLU())

    def forward(self, x):
        """Logits for a batch ``x`` (any backend; computed on the host) of the model's dtype."""
        x = to_host(x)
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the model is {self.dtype}; cast the data once, up front")
        for step in self.steps:
            x = step.forward(x)
        return x

    def predict(self, x, batch_size=10000):
        """Predicted classes, with ``Network.predict``'s rule: ``x`` an array of shape (N, sizes[0])
        (``checks.check_rows``), every value finite (``functional.check_finite``: a NaN row has no class, and argmax
        would call it class 0)."""
        check_rows("x", x, self.sizes[0])
        x = to_host(x)
        check_finite("x", x)
        return batched(lambda xb: self.forward(xb).argmax(axis=1), x, batch_size)

    def sign_bytes(self):
        """Bytes of the packed sign words alone: the weights."""
        return sum(step.words.nbytes for step in self.steps if isinstance(step, PackedDense))

    def nbytes(self):
        """Bytes of the packed model: sign words plus α, biases and BatchNorm parameters and statistics."""
        total = 0
        for step in self.steps:
            if isinstance(step, PackedDense):
                total += step.nbytes()
            elif isinstance(step, BatchNorm):
                total += sum(a.nbytes for a in (*step.params.values(), step.running_mean, step.running_var))
        return total
