"""Exercise: the logistic discriminator's loss and gradients (docs/derivations.md §4 and §11).

A linear discriminator on raw logits: q = z W + b (one logit q per row), D = σ(q), and the loss of calling every
row class c (0 = teacher, 1 = student) is L_class(z | c) = (1/N) Σ_n ℓ(q_n, c) with
ℓ(q, c) = −c log σ(q) − (1 − c) log(1 − σ(q)). Use §4's stable form for the value. Return the gradients with
respect to the logits z (what the student needs, §11) and to W and b (what the discriminator's own step needs).
The checker includes logits of ±1000, where only a stable form is finite.
NumPy only; leave the arguments unchanged (return new arrays).

Check: python -m tinykd.exercises check logistic_discriminator
"""
import numpy as np


def logistic_discriminator(logits, label, W, b):
    """logits: z, shape (N, C); label: c, 0.0 or 1.0; W: shape (C, 1); b: shape (1,).
    Returns (loss, dz, dW, db): L_class(z | c) and its gradients, shapes (N, C), (C, 1), (1,)."""
    raise NotImplementedError
