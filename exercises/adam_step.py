"""Exercise: one Adam step, Kingma & Ba's Algorithm 1 (docs/derivations.md §9).

Not a gradient, an update: from the moments m, v after step t − 1 and the gradient g of step t, compute the new
moments, their bias corrections m̂ and v̂, and the new parameters. Work out why the first step moves every entry
by about η, whatever the size of its gradient.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check adam_step
"""
import numpy as np


def adam_step(theta, grad, m, v, t, lr, beta1, beta2, eps):
    """theta: θ_(t−1); grad: g_t; m, v: the moments m_(t−1), v_(t−1) (zeros before the first step), all one shape;
    t: this step's number (1 for the first); lr: η; beta1, beta2: β₁, β₂; eps: ε.
    Returns (theta, m, v) after the step: θ_t, m_t, v_t."""
    raise NotImplementedError
