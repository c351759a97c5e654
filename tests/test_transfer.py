"""The transfer sets of Hinton et al.'s MNIST experiments and the bias-shift search (on validation only)."""
import inspect

import numpy as np
import pytest

from tinykd import data

from tinykd.data import transfer


@pytest.fixture(scope="module")
def labels():
    return data.load("mnist").y_train


def test_omit_3_has_no_3_at_all_and_everything_else(labels):
    rows = transfer.without_classes(labels, [3])
    assert not np.any(labels[rows] == 3)
    assert rows.size == np.sum(labels != 3) and np.all(np.diff(rows) > 0)


def test_only_7_and_8(labels):
    rows = transfer.only_classes(labels, [7, 8])
    assert set(np.unique(labels[rows]).tolist()) == {7, 8} and rows.size == np.sum(np.isin(labels, [7, 8]))
    with pytest.raises(ValueError, match="do not occur"):
        transfer.only_classes(labels[labels != 8], [7, 8])


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.2])
def test_label_fractions_are_stratified_and_seeded(labels, fraction):
    partial = transfer.partly_labelled(labels, fraction, seed=0)
    kept = partial != transfer.UNLABELLED
    assert kept.sum() == round(fraction * labels.size)
    np.testing.assert_array_equal(partial[kept], labels[kept])           # kept labels are the true ones
    share = np.bincount(labels[kept], minlength=10) / kept.sum()
    np.testing.assert_allclose(share, np.bincount(labels, minlength=10) / labels.size, atol=1.5 / kept.sum())
    np.testing.assert_array_equal(partial, transfer.partly_labelled(labels, fraction, seed=0))
    assert not np.array_equal(partial, transfer.partly_labelled(labels, fraction, seed=1))
    with pytest.raises(ValueError, match="fraction"):
        transfer.partly_labelled(labels, 0.0)


def test_bias_shift_search_chooses_on_validation_only():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 400)
    logits = rng.standard_normal((400, 10))
    logits[np.arange(400), y] += 3.0
    logits[:, 3] -= 4.0                                   # the 3 is under-confident, as after omitting all 3s
    shift, curve = transfer.bias_shift_search(logits, y, [3], np.arange(0, 8.01, 0.5))
    best = min(c["val_errors"] for c in curve)
    assert [c["shift"] for c in curve if c["val_errors"] == best][0] == shift and 2.0 <= shift <= 6.0
    wrong = transfer.shifted_predictions(logits, [3], shift) != y
    assert wrong.sum() == best < curve[0]["val_errors"]
    # the search is handed validation logits and labels only: it has no way to see a test set
    assert list(inspect.signature(transfer.bias_shift_search).parameters) == ["val_logits", "val_labels", "classes",
                                                                             "shifts"]


def test_every_transfer_function_checks_its_labels(labels):
    """Issue 18, item 1: a label column or a label per something else is refused, never broadcast."""
    y = labels[:400]
    logits = np.random.default_rng(0).standard_normal((400, 10))
    calls = {"without_classes": lambda y: transfer.without_classes(y, [3]),
             "only_classes": lambda y: transfer.only_classes(y, [7, 8]),
             "partly_labelled": lambda y: transfer.partly_labelled(y, 0.5),
             "bias_shift_search": lambda y: transfer.bias_shift_search(logits, y, [3], [0.0, 1.0])}
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"one label per row, got shape \(400, 1\); flatten a label column"):
            call(y[:, None])
        with pytest.raises(TypeError, match="integer array of class indices"):
            call(y.astype(np.float64))
        call(y)   # the same labels as a vector pass
    for wrong in (y[:1], y[:399]):   # one label per row of logits, not one for all or one short
        with pytest.raises(ValueError, match=r"val_logits must have shape \(N, classes\) with N = \d+ rows"):
            transfer.bias_shift_search(logits, wrong, [3], [0.0])
    with pytest.raises(ValueError, match="val_logits must have shape"):
        transfer.bias_shift_search(logits[:, 0], y, [3], [0.0])
    with pytest.raises(ValueError, match=r"classes \[10\] are not output indices of 10-class logits"):
        transfer.shifted_predictions(logits, [10], 1.0)
