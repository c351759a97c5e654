"""Exercise: the adversarial student's gradient through a linear discriminator on raw logits
(docs/derivations.md §11).

The discriminator is fixed: q = z_S W + b, D = σ(q). The student's loss is
  form="minimax":       λ_CE H(y, P_S) − λ_adv L_class(z_S | 1)
  form="nonsaturating": λ_CE H(y, P_S) + λ_adv L_class(z_S | 0)
with H from §2 and L_class from §4 and §11 (your logistic_discriminator). Then sum your gradient over the classes
of a row: that is the rate at which the row's shift drifts (§11, "The shift trap"), which no softmax can see.
The checker includes logits of ±1000, where only a stable form is finite.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check adversarial_student
"""
import numpy as np


def adversarial_student(student_logits, labels, W, b, ce_weight, adv_weight, form):
    """student_logits: z_S, shape (N, C); labels: y, integers, shape (N,); W: shape (C, 1); b: shape (1,);
    ce_weight: λ_CE; adv_weight: λ_adv; form: "minimax" or "nonsaturating".
    Returns (loss, dz_S): the student's loss and its gradient, shape (N, C)."""
    raise NotImplementedError
