"""Exercise: inverted dropout's backward pass (docs/derivations.md §7).

In training h = x ⊙ M / (1 − p), with M the 0/1 keep mask drawn in the forward pass (1 = kept) and p the drop
probability. With M fixed the layer is linear: given g = ∂L/∂h, return dx.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check dropout_backward
"""
import numpy as np


def dropout_backward(grad, mask, p):
    """grad: g = ∂L/∂h; mask: M, 0.0 or 1.0, the same shape; p: the drop probability in [0, 1).
    Returns dx, g's shape."""
    raise NotImplementedError
