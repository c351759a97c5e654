"""The shared argument checks (tinykd/checks.py)."""
import math

import numpy as np
import pytest

from tinykd.checks import (check_dtype, check_file_path, check_int, check_label_vector, check_real, check_rows,
                           check_seed, check_weights, is_int, is_real)


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


# ------------------------------------------------------------------------------------------- issue 28, item 4
def test_a_seed_is_a_whole_number_from_zero():
    assert check_seed(0) == 0 and check_seed(np.int64(7)) == 7 and check_seed(None) is None
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, got -1$"):
        check_seed(-1)
    for bad in (1.5, True, "3"):
        with pytest.raises(TypeError, match=r"^seed must be an integer >= 0 or None, got"):
            check_seed(bad)
    with pytest.raises(TypeError, match=r"^dropout seed must be an integer >= 0, got None$"):
        check_seed(None, "dropout seed", allow_none=False)


def test_only_the_dtypes_the_engine_computes_in():
    assert check_dtype(np.float32) == np.float32 and check_dtype("float64") == np.float64
    for bad in (np.float16, "float16", np.int32, None, "nonsense", np.complex64):
        with pytest.raises(TypeError, match=r"^dtype must be float32 \(training\) or float64 \(gradient checks\), got"):
            check_dtype(bad)


def test_weights_that_are_all_zero_cannot_move_the_student():
    assert check_weights("DKD", alpha=0, beta=1.5) == [0.0, 1.5]
    with pytest.raises(ValueError, match=r"^DKD: alpha, beta and ce_weight are all 0, so the loss and its gradient "
                                         r"are 0 and cannot move the student"):
        check_weights("DKD", alpha=0, beta=0.0, ce_weight=0)
    with pytest.raises(ValueError, match=r"beta must be a finite number >= 0, got -1"):
        check_weights("DIST", beta=-1, gamma=1)


def test_inputs_are_arrays_of_one_row_per_sample():
    x = np.zeros((3, 4), np.float32)
    assert check_rows("x", x, 4) is x
    with pytest.raises(TypeError, match=r"^x must be an array of shape \(N, features\), got list"):
        check_rows("x", x.tolist())
    with pytest.raises(ValueError, match=r"^x must have shape \(N, 5\), one flattened sample per row, got shape "
                                         r"\(3, 4\)$"):
        check_rows("x", x, 5)
    with pytest.raises(ValueError, match=r"got shape \(12,\)"):
        check_rows("x", x.ravel())


def test_a_file_path_is_neither_a_folder_nor_under_a_file(tmp_path):
    new = tmp_path / "new" / "deeper" / "m.npz"
    assert check_file_path("path", new) == str(new) and not new.parent.exists()   # checked, nothing made
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"^path .*afile/sub/m\.npz cannot be written: .*afile is a file, not a "
                                         r"folder; choose a path in a folder$"):
        check_file_path("path", tmp_path / "afile" / "sub" / "m.npz")
    with pytest.raises(ValueError, match=r"^checkpoint .* is a folder; give a file path such as"):
        check_file_path("checkpoint", tmp_path)
    with pytest.raises(TypeError, match="path must be a file path"):
        check_file_path("path", "")
