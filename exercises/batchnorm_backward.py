"""Exercise: batch normalisation's backward pass (docs/derivations.md §14).

Per feature (column), over the batch: μ = mean_n x_n, ν = mean_n (x_n − μ)², r = 1/√(ν + ε_BN),
x̂_n = (x_n − μ) r, h_n = γ x̂_n + b. Given g = ∂L/∂h, return dx, dγ and db. Draw the computation graph first:
x reaches x̂ three ways.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check batchnorm_backward
"""
import numpy as np


def batchnorm_backward(x, gamma, grad, eps):
    """x: shape (N, F); gamma: γ, shape (F,); grad: g = ∂L/∂h, shape (N, F); eps: ε_BN.
    Returns (dx, dgamma, db), shapes (N, F), (F,), (F,)."""
    raise NotImplementedError
