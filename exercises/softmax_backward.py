"""Exercise: the backward pass of softmax with temperature (docs/derivations.md §1).

P = softmax(z/τ), row by row. Given P and g = ∂L/∂P (a gradient with respect to the probabilities), return
dz = ∂L/∂z. Hint: write the Jacobian ∂P_k/∂z_j first, then sum g_k times it over k.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check softmax_backward
"""
import numpy as np


def softmax_backward(probs, grad, temperature):
    """probs: P^τ, shape (N, C); grad: g = ∂L/∂P, shape (N, C); temperature: τ > 0.
    Returns dz = ∂L/∂z, shape (N, C)."""
    raise NotImplementedError
