"""Transfer sets and output-bias shifts: the pieces of Hinton, Vinyals & Dean's (2015, §3) MNIST experiments.

A *transfer set* is the training rows a student is distilled on: ``without_classes`` drops whole classes (no 3),
``only_classes`` keeps a few (only 7s and 8s), ``partly_labelled`` hides most labels (``UNLABELLED`` = −1). A
student that never saw a class gets too low a bias for it; ``bias_shift_search`` chooses the shift of those output
biases on validation logits and labels only (the paper chose it on the test set).
"""
import numpy as np

from ..checks import check_label_vector, is_int
from .dataset import stratified_mask

UNLABELLED = -1


def _in_classes(y, classes):
    """Which labels of ``y`` are in ``classes``, once ``y`` passes the label rule and each class occurs in it."""
    check_label_vector("labels", y)
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError("name at least one class")
    present = set(np.unique(y).tolist())
    missing = [c for c in classes if c not in present]
    if missing:
        raise ValueError(f"classes {missing} do not occur in the labels")
    return np.isin(y, classes)


def without_classes(y, classes):
    """Indices of the rows whose label is not in ``classes`` (e.g. every 3 removed)."""
    return np.flatnonzero(~_in_classes(y, classes))


def only_classes(y, classes):
    """Indices of the rows whose label is in ``classes`` (e.g. only 7s and 8s)."""
    return np.flatnonzero(_in_classes(y, classes))


def partly_labelled(y, fraction, seed=0):
    """Labels with all but a stratified, seeded ``fraction`` replaced by ``UNLABELLED`` (−1)."""
    check_label_vector("labels", y)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    y = np.asarray(y)
    keep = stratified_mask(y, int(round(fraction * y.shape[0])), seed)
    return np.where(keep, y, UNLABELLED).astype(y.dtype)


def shifted_predictions(logits, classes, shift):
    """Predicted classes after adding ``shift`` to the output bias (so to the logits) of each of ``classes``."""
    logits = np.array(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, classes), got shape {logits.shape}")
    bad = [c for c in classes if not is_int(c, 0, logits.shape[1] - 1)]
    if bad:
        raise ValueError(f"classes {bad} are not output indices of {logits.shape[1]}-class logits")
    logits[:, list(classes)] += shift
    return logits.argmax(axis=1)


def bias_shift_search(val_logits, val_labels, classes, shifts):
    """``(best_shift, curve)``: the shift of ``classes``' output biases with the fewest validation errors (the
    smallest |shift| on ties), and ``[{"shift", "val_errors", "val_errors_on_classes"}]`` for every shift."""
    check_label_vector("val_labels", val_labels)
    if np.ndim(val_logits) != 2 or np.shape(val_logits)[0] != val_labels.shape[0]:
        raise ValueError(f"val_logits must have shape (N, classes) with N = {val_labels.shape[0]} rows, one per "
                         f"validation label, got shape {np.shape(val_logits)}")
    shifts = sorted(float(s) for s in shifts)
    if not shifts:
        raise ValueError("give at least one shift to try")
    on = np.isin(val_labels, list(classes))
    curve = []
    for s in shifts:
        wrong = shifted_predictions(val_logits, classes, s) != val_labels
        curve.append({"shift": s, "val_errors": int(wrong.sum()), "val_errors_on_classes": int(wrong[on].sum())})
    best = min(curve, key=lambda c: (c["val_errors"], abs(c["shift"])))
    return best["shift"], curve
