"""Exercise: logit standardisation, the z-score of each row and its backward pass (docs/derivations.md §16).

Per row: z̄ = mean_k z_k, ν_z = mean_k (z_k − z̄)² (divided by C), σ_z = √(ν_z + ε_z), z̃ = (z − z̄·1)/σ_z.
Given g = ∂L/∂z̃, return z̃ and dz = ∂L/∂z. z reaches z̃ three ways, as x reaches x̂ in §14.
NumPy only; leave the arguments unchanged.

Check: python -m tinykd.exercises check standardise
"""
import numpy as np


def standardise(logits, grad, eps):
    """logits: z, shape (N, C); grad: g = ∂L/∂z̃, shape (N, C); eps: ε_z > 0.
    Returns (standardised, dz): z̃ and ∂L/∂z, both shape (N, C)."""
    raise NotImplementedError
