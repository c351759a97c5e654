"""Exercise: a dense layer's backward pass (docs/derivations.md §5).

h = x W + 1bᵀ. Given g = ∂L/∂h, return the gradients of x, W and b. Check every result by its shape.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check dense_backward
"""
import numpy as np


def dense_backward(x, W, grad):
    """x: shape (N, I); W: shape (I, O); grad: g = ∂L/∂h, shape (N, O).
    Returns (dx, dW, db), shapes (N, I), (I, O), (O,)."""
    raise NotImplementedError
