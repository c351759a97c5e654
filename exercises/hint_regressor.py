"""Exercise: FitNets' hint, the regressor's loss and its gradients (docs/derivations.md §12).

A linear regressor maps the student's guided layer onto the teacher's hint layer: h_R = h_S W_R + 1b_Rᵀ, and
L = (1/(2N)) Σ_n ‖h_R,n − h_T,n‖². Return the gradients with respect to h_S (what the student's lower layers
receive, §8) and to the regressor's W_R and b_R (§5). NumPy only; leave the arguments unchanged.

Check: python -m tinykd.exercises check hint_regressor
"""
import numpy as np


def hint_regressor(h_S, h_T, W_R, b_R):
    """h_S: shape (N, F_S); h_T: shape (N, F_T); W_R: shape (F_S, F_T); b_R: shape (F_T,).
    Returns (loss, dh_S, dW_R, db_R), shapes (), (N, F_S), (F_S, F_T), (F_T,)."""
    raise NotImplementedError
