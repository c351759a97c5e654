"""Exercise: decoupled KD, its value and gradient (docs/derivations.md §17).

Per row of class y, at temperature τ: TCKD, the KL between the binary distributions (P_T,y^τ, 1 − P_T,y^τ) and
(P_S,y^τ, 1 − P_S,y^τ); NCKD, the KL between the distributions over the other classes, P̂_k = P_k^τ/(1 − P_y^τ)
(k ≠ y). L = (τ²/N) Σ_n (λ_TC TCKD + λ_NC NCKD). Everything in log space: the checker includes logits of ±1000.
NumPy only; leave the arguments unchanged.

Check: python -m tinykd.exercises check decoupled_kd
"""
import numpy as np


def decoupled_kd(student_logits, teacher_logits, targets, temperature, tc_weight, nc_weight):
    """student_logits: z_S, teacher_logits: z_T, both shape (N, C), C ≥ 2; targets: y, integers, shape (N,);
    temperature: τ > 0; tc_weight: λ_TC; nc_weight: λ_NC.
    Returns (loss, dz_S): the loss (a number) and its gradient with respect to z_S, shape (N, C)."""
    raise NotImplementedError
