"""The size of KD's soft-target gradient against the temperature τ, with and without Hinton's τ² factor: no training,
a second or so (docs/why_kd.md, "Why τ²"; the derivation is docs/derivations.md §3).

A fixed teacher and student (random logits, seeded) stand in for two networks on one batch. For each τ the script
prints the norm of the gradient of the soft term with respect to the student's logits: ``KL(P_T^τ ‖ P_S^τ)`` alone,
whose gradient ``(P_S^τ − P_T^τ)/(τN)`` fades like ``1/τ²``, and ``τ² KL``, whose gradient ``τ(P_S^τ − P_T^τ)/N``
tends to the centred-logit-matching limit ``((z_S − z̄_S·1) − (z_T − z̄_T·1))/(CN)``, printed last.

    python docs/why_kd.py
"""
import numpy as np

from tinykd import functional as F

TAUS = (1, 2, 4, 8, 16, 32, 64)


def logits(seed=0, rows=64, classes=10):
    """A teacher confident on one class per row (logits spread over about 10 units) and a weaker student (about 3)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    teacher = 2.0 * rng.standard_normal((rows, classes))
    teacher[np.arange(rows), labels] += 8.0
    student = 0.3 * teacher + rng.standard_normal((rows, classes))
    return student, teacher


def gradient_sizes(taus=TAUS, seed=0):
    """[(τ, ‖grad of KL‖, ‖grad of τ² KL‖)] for the fixed pair, and the norm of the high-temperature limit."""
    zs, zt = logits(seed)
    rows = [(tau, float(np.linalg.norm(F.kl_divergence(zs, zt, tau)[1])),
             float(np.linalg.norm(F.kl_divergence(zs, zt, tau, t_squared=True)[1]))) for tau in taus]
    n, c = zs.shape
    centred = (zs - zs.mean(axis=1, keepdims=True)) - (zt - zt.mean(axis=1, keepdims=True))
    return rows, float(np.linalg.norm(centred)) / (c * n)


def main():
    rows, limit = gradient_sizes()
    print("soft-target gradient w.r.t. the student's logits (Frobenius norm, 64 rows, 10 classes)")
    print(f"{'τ':>4}  {'KL':>10}  {'KL: ÷ the row above':>20}  {'τ²·KL':>10}")
    previous = None
    for tau, plain, scaled in rows:
        ratio = f"{plain / previous:.2f}" if previous else ""
        print(f"{tau:>4}  {plain:>10.2e}  {ratio:>20}  {scaled:>10.2e}")
        previous = plain
    print(f"τ → ∞: τ²·KL tends to centred logit matching, norm {limit:.2e}; KL alone to 0, like 1/τ²")


if __name__ == "__main__":
    main()
