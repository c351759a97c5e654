"""Exercise: KD's soft-target term, KL(P_T^τ ‖ P_S^τ), and Hinton's τ² factor (docs/derivations.md §3, used in §10).

P_S^τ = softmax(z_S/τ), P_T^τ = softmax(z_T/τ); the teacher's logits are fixed. The value is the KL (not the
soft cross-entropy: they share a gradient, not a value), a mean over the N rows; with t_squared=True both the
value and the gradient are multiplied by τ². Then read §3's "Why Hinton multiplies by τ²".
The checker includes logits of ±1000, where only a stable form is finite.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check kl_divergence
"""
import numpy as np


def kl_divergence(student_logits, teacher_logits, temperature, t_squared):
    """student_logits: z_S, teacher_logits: z_T, both shape (N, C); temperature: τ > 0; t_squared: True or False.
    Returns (loss, dz_S): the mean KL (times τ² when t_squared) and ∂loss/∂z_S, shape (N, C)."""
    raise NotImplementedError
