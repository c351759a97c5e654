"""Binary students: BWN and XNOR dense layers (Rastegari et al. 2016) and the binary MLP built from them.

A binary layer keeps real-valued *latent* weights ``W`` for the optimiser and computes with their signs:

- **BWN** (binary weights): ``y = (x @ sign(W)) ⊙ α + b``, ``α_j = mean_i |W_ij|`` (one per output unit);
- **XNOR** (binary weights and inputs): ``y = ((sign(x) @ sign(W)) ⊙ β) ⊙ α + b``, ``β_n = mean_i |x_ni|`` (one
  per sample), so the product of signs is an integer that XNOR and popcount compute exactly.

``sign`` is ``where(v >= 0, 1, −1)`` (``np.sign(0) == 0`` would drop inputs). Its derivative is 0 almost
everywhere, so training uses the straight-through estimator (STE): ``d sign(v)/dv := 1{|v| <= 1}``. The scaling
factors have a true gradient, ``dα_j/dW_ij = sign(W_ij)/n_in`` (likewise for β); backward applies the full chain
rule through them, plus the STE term. Bit-packed inference of a trained ``BinaryMLP`` is in ``tinykd/packed.py``.
Derivations: ``docs/derivations.md`` §13–15; tests: ``tests/test_binary.py``.
"""
import numpy as np

from .backend import default_rng, get_array_module
from .layers import BatchNorm, Dense, Network, ReLU


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


class BinaryDense(Dense):
    """A dense layer with binary weights (``mode="bwn"``) or binary weights and inputs (``mode="xnor"``), computed
    from the real-valued latent weights ``params["W"]`` (Glorot-initialised) that the optimiser updates.

    ``ste``: include the straight-through term in backward (True for training; False leaves exactly the true
    gradient of the scaling factors, which the finite-difference tests check).
    """

    def __init__(self, n_in, n_out, mode="bwn", rng=None, backend=None, dtype=np.float32):
        if mode not in ("bwn", "xnor"):
            raise ValueError(f"mode must be 'bwn' or 'xnor', got {mode!r}")
        super().__init__(n_in, n_out, init="glorot", rng=rng, backend=backend, dtype=dtype)
        self.mode, self.ste = mode, True

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

    def backward(self, dy):
        x, sx, beta, sw, alpha = self._kept()
        w = self.params["W"]
        # y = x̃ W̃ + b with W̃ = sign(W) α and x̃ = sign(x) β (xnor) or x (bwn)
        x_tilde = sx * beta[:, None] if beta is not None else x
        xp = get_array_module(dy)
        xp.matmul(x_tilde.T, dy, out=self.grads["W"])      # dL/dW̃, turned into dL/dW in place
        _scaled_sign_backward(w, sw, alpha, self.grads["W"], axis=0, ste=self.ste)
        dy.sum(axis=0, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        dx_tilde = (dy * alpha) @ sw.T                       # dL/dx̃ = dy W̃ᵀ
        if beta is None:
            return dx_tilde
        return _scaled_sign_backward(x, sx, beta, dx_tilde, axis=1, ste=self.ste)


def _scaled_sign_backward(v, s, scale, g, axis, ste):
    """Gradient w.r.t. v of ``ṽ = sign(v) · mean_axis|v|`` given ``g = dL/dṽ``, computed in place in ``g``.

    True part (scale): ``dṽ_k/dv_i = sign(v_k) sign(v_i) / n`` within a group → ``sign(v) · mean_axis(g ⊙ sign(v))``.
    STE part: ``scale · g ⊙ 1{|v| <= 1}``.
    """
    xp = get_array_module(v)
    keep = (lambda a: a[:, None]) if axis == 1 else (lambda a: a)
    c = keep(abs_mean(g, s, axis))                      # mean_axis(g ⊙ s), read before g is overwritten
    if ste:
        g *= xp.abs(v) <= 1     # built even for clipped weights: knowing they lie in [−1, 1] would need a host read
        g *= keep(scale)
        g += s * c
    else:
        xp.multiply(s, c, out=g)
    return g


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
        self._set_shape(sizes, backend, dtype)
        self.mode, sizes = mode, self.sizes
        rng = default_rng(seed)
        self.layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer_mode = "xnor" if (mode == "xnor" and i > 0) else "bwn"
            self.layers.append(BinaryDense(a, b, layer_mode, rng=rng, backend=self.xp, dtype=dtype))
            if i < len(sizes) - 2:
                self.layers.append(BatchNorm(b, backend=self.xp, dtype=dtype))
                if mode == "bwn":
                    self.layers.append(ReLU(inplace=True))
        self.layers[0].needs_input_grad = False

    def after_step(self):
        """Clip latent weights to [−1, 1], as BinaryConnect does: beyond it the STE term is 0 (only the scale term still
        moves a weight), and an unclipped weight would drift ever further from a sign flip."""
        for layer in self.layers:
            if isinstance(layer, BinaryDense):
                self.xp.clip(layer.params["W"], -1, 1, out=layer.params["W"])

    def config(self):
        """What rebuilds this network (``Network.from_config``): its kind and constructor arguments."""
        return {"model": "BinaryMLP", "sizes": self.sizes, "mode": self.mode, "dtype": self.dtype.name}
