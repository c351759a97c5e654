"""Exercise: a two-layer network's backward pass, end to end (docs/derivations.md §8, with §2, §5 and §6).

a = x W₁ + 1b₁ᵀ, h = max(a, 0), z = h W₂ + 1b₂ᵀ, L = H(y, softmax(z)) (§2's mean cross-entropy). Walk the layers
in reverse: dz = (P − Y)/N, then §5 for W₂ and b₂ and the hidden layer's gradient, §6's ReLU, §5 again for W₁, b₁.
Check every result by its shape. NumPy only; leave the arguments unchanged.

Check: python -m tinykd.exercises check network_backward
"""
import numpy as np


def network_backward(x, labels, W1, b1, W2, b2):
    """x: shape (N, I); labels: y, integers in [0, C), shape (N,); W1: (I, H); b1: (H,); W2: (H, C); b2: (C,).
    Returns (loss, dW1, db1, dW2, db2): the mean cross-entropy and its gradient for every parameter."""
    raise NotImplementedError
