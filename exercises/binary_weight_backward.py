"""Exercise: binary weights, the scaling factor's gradient and the straight-through estimator
(docs/derivations.md §13).

The layer computes with W̃ = B_W diag(α), B_W = sign(W) (sign(0) = +1), α_o = (1/I) Σ_i |W_io| (one scale per
column). Given dW̃ = ∂L/∂W̃, return dW: the exact part through α (sign itself has derivative 0 away from 0), plus,
when ste is True, the straight-through term α_o dW̃_io [|W_io| ≤ 1].
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check binary_weight_backward
"""
import numpy as np


def binary_weight_backward(W, grad, ste):
    """W: the latent weights, shape (I, O); grad: dW̃, shape (I, O); ste: True or False.
    Returns dW, shape (I, O)."""
    raise NotImplementedError
