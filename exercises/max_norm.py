"""Exercise: the max-norm constraint, a projection after every step (docs/derivations.md §20).

Not a gradient, a projection: each column w_j of W (unit j's incoming weights) is replaced by the closest point of
the ball ‖w‖₂ ≤ c, w_j · min(1, c/‖w_j‖). Work out why that is the closest point, and what a column of zeros
becomes. Return a new array; leave W unchanged.

Check: python -m tinykd.exercises check max_norm
"""
import numpy as np


def max_norm(W, c):
    """W: shape (I, O), a column per output unit; c: the largest length a column may have, c > 0.
    Returns the projected weights, shape (I, O)."""
    raise NotImplementedError
