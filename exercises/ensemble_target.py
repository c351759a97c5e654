"""Exercise: distilling an ensemble, its soft target and KD's soft term against it (docs/derivations.md §21).

The K_T members' logits z_T give P_T^τ = softmax(z_T/τ); the ensemble's soft target is their mean,
P̄^τ = (1/K_T) Σ_T P_T^τ, handed to KD as the logits τ log P̄^τ (softmax(τ log P̄^τ / τ) = P̄^τ). Compute log P̄^τ
in log space (a log-sum-exp over the members of §1's log-softmax, less log K_T): the checker includes logits of
±1000, where log(mean_T P_T^τ) is −inf. Then Hinton's soft term against the target, τ² KL(P̄^τ ‖ P_S^τ) (a mean
over the N rows, P_S^τ = softmax(z_S/τ)), and its gradient with respect to z_S (§21, from §3).
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check ensemble_target
"""
import numpy as np


def ensemble_target(member_logits, student_logits, temperature):
    """member_logits: the members' z_T stacked, shape (K_T, N, C); student_logits: z_S, shape (N, C);
    temperature: τ > 0.
    Returns (logits, loss, dz_S): τ log P̄^τ, shape (N, C); τ² KL(P̄^τ ‖ P_S^τ), a number; and ∂loss/∂z_S, shape
    (N, C)."""
    raise NotImplementedError
