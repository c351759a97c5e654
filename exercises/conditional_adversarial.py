"""Exercise: the conditional adversarial student's loss and gradient (docs/derivations.md §19).

A fixed linear conditional discriminator sees each row's standardised logits z̃_S (§16, ε_z = 1e-12) and its class
as a one-hot row of Y: q = [z̃_S, Y] W + b, D = σ(q). The student's loss is
  L = λ_CE H(y, P_S) + λ_logit L_logit + λ_adv L_class(z_S | 0)
with H from §2, L_class from §4 and §11 (target 0: being called the teacher), and L_logit the mean over all N·C
entries of |z_S − z_T| (logit_loss="l1", with sign(0) = 0) or of ½ (z_S − z_T)² ("l2"). Use the log-sum-exp of
§1: the checker includes logits of ±1000. NumPy only; leave the arguments unchanged.

Check: python -m tinykd.exercises check conditional_adversarial
"""
import numpy as np


def conditional_adversarial(student_logits, teacher_logits, labels, W, b, ce_weight, logit_weight, adv_weight,
                            logit_loss):
    """student_logits: z_S, teacher_logits: z_T, both shape (N, C); labels: y, integers, shape (N,);
    W: shape (2C, 1), its first C rows for z̃_S, its last C for Y; b: shape (1,); ce_weight: λ_CE;
    logit_weight: λ_logit; adv_weight: λ_adv; logit_loss: "l1" or "l2".
    Returns (loss, dz_S): the loss (a number) and its gradient with respect to z_S, shape (N, C)."""
    raise NotImplementedError
