"""Exercise: the knowledge-distillation objective in both forms, its value and gradient (docs/derivations.md §10).

form="additive":  L = H(y, P_S) + λ_KD KL(P_T^τ ‖ P_S^τ)          (weight = λ_KD ≥ 0)
form="hinton":    L = (1 − a) H(y, P_S) + a τ² KL(P_T^τ ‖ P_S^τ)   (weight = a in [0, 1])
with H from §2 (at τ = 1, your cross_entropy) and the KL from §3 (your kl_divergence). Use the log-sum-exp of §1:
the checker includes logits of ±1000. NumPy only; leave the arguments unchanged.

Check: python -m tinykd.exercises check kd_objective
"""
import numpy as np


def kd_objective(student_logits, teacher_logits, labels, temperature, weight, form):
    """student_logits: z_S, teacher_logits: z_T, both shape (N, C); labels: y, integers, shape (N,);
    temperature: τ > 0; weight: λ_KD or a; form: "additive" or "hinton".
    Returns (loss, dz_S): the objective (a number) and its gradient with respect to z_S, shape (N, C)."""
    raise NotImplementedError
