"""Choosing a recipe and its epochs on validation curves (tinykd.experiments.selection)."""
import numpy as np
import pytest

from tinykd.experiments import selection


def test_smoothing_is_the_mean_over_a_window_of_epochs():
    np.testing.assert_allclose(selection.smooth([9, 6, 3, 3, 6]), [6, 4, 4])
    np.testing.assert_allclose(selection.smooth([5, 4]), [4.5])           # shorter than the window: its mean
    for bad in ([], [1, float("nan")], [[1, 2]]):
        with pytest.raises(ValueError, match="validation curve"):
            selection.smooth(bad)


def test_the_lowest_smoothed_curve_wins_and_says_how_many_epochs():
    """A single lucky epoch does not win: b's dip to 10 at epoch 3 is one epoch; a stays low for three."""
    curves = {"a": [30, 20, 14, 13, 13, 14, 15], "b": [30, 25, 10, 25, 24, 23, 22]}
    name, epochs, scores = selection.choose(curves)
    assert name == "a" and epochs == 5 and scores["a"] == (pytest.approx(40 / 3), 5)
    assert scores["b"][0] == pytest.approx(min(np.convolve(curves["b"], np.ones(3) / 3, "valid")))
    assert selection.choose({"x": [5, 4, 4, 4, 4], "y": [5, 4, 4, 4, 4]})[:2] == ("x", 4)   # ties: earlier, fewer
    with pytest.raises(ValueError, match="no candidates"):
        selection.choose({})
