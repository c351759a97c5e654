"""The shared argument checks (tinykd/checks.py)."""
import math

import numpy as np
import pytest

from tinykd.checks import check_int, check_label_vector, check_real, is_int, is_real


def test_integers_are_ints_not_bools_floats_or_strings():
    assert is_int(3) and is_int(np.int64(3)) and is_int(0, 0) and is_int(5, 1, 5)
    for value in (True, np.bool_(True), 3.0, "3", None, 2.5):
        assert not is_int(value)
    assert not is_int(0, 1) and not is_int(6, 1, 5)
    assert check_int("epochs", np.int64(4)) == 4 and type(check_int("epochs", np.int64(4))) is int
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        check_int("batch_size", 0, 1)
    with pytest.raises(KeyError, match="seeds must be an integer >= 1"):
        check_int("seeds", 0.5, 1, KeyError)


def test_reals_are_finite_numbers_in_their_range():
    assert is_real(0.5) and is_real(np.float32(2)) and is_real(3)
    for value in (True, math.inf, math.nan, "1", None):
        assert not is_real(value)
    assert check_real("lr", 1, low_open=True) == 1.0
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got 0"):
        check_real("lr", 0, low_open=True)
    with pytest.raises(ValueError, match=r"weight must be a finite number >= 0, got -1"):
        check_real("weight", -1)
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0, 1\), got 1.0"):
        check_real("momentum", 1.0, high=1.0)


def test_label_vector_is_one_integer_label_per_row():
    y = np.arange(6) % 3
    assert check_label_vector("y", y) is y and check_label_vector("y", y.astype(np.uint8), rows=6) is not None
    with pytest.raises(ValueError, match=r"y must have shape \(6,\), one label per row, got shape \(6, 1\); flatten"):
        check_label_vector("y", y[:, None], rows=6)
    with pytest.raises(ValueError, match=r"y must have shape \(6,\), one label per row, got shape \(1,\)$"):
        check_label_vector("y", y[:1], rows=6)
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        check_label_vector("y", np.int64(3))
    for bad, kind in ((y.astype(np.float32), "float32"), (y.astype(bool), "bool"), ([0, 1], "list")):
        with pytest.raises(TypeError, match=f"y must be an integer array of class indices, got {kind}"):
            check_label_vector("y", bad)
