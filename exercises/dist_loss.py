"""Exercise: DIST, one minus the Pearson correlations, its value and gradient (docs/derivations.md §18).

With P^τ = softmax(z/τ) and corr(U, V) = Σ_j Ū_j V̄_j / (‖Ū‖ ‖V̄‖ + ε_corr) (Ū = U − mean_j(U)·1; ε_corr = 1e-8 is
negligible on the checker's cases, add it or not):
  L = τ² λ_inter (1 − (1/N) Σ_n corr(row n of P_S^τ, row n of P_T^τ))
    + τ² λ_intra (1 − (1/C) Σ_k corr(column k of P_S^τ, column k of P_T^τ))
Differentiate with respect to the probabilities first (G), then through §1's softmax product. When λ_intra = 0
there is no intra-class term (a single row has no column to correlate). NumPy only; leave the arguments unchanged.

Check: python -m tinykd.exercises check dist_loss
"""
import numpy as np


def dist_loss(student_logits, teacher_logits, temperature, inter_weight, intra_weight):
    """student_logits: z_S, teacher_logits: z_T, both shape (N, C); temperature: τ > 0;
    inter_weight: λ_inter; intra_weight: λ_intra.
    Returns (loss, dz_S): the loss (a number) and its gradient with respect to z_S, shape (N, C)."""
    raise NotImplementedError
