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


class _Settings:
    lr, max_norm, jitter, teacher_dropout, teacher_input_dropout = [1e-3, 5e-4], [3.0, 4.0], 2, 0.5, 0.2


def test_the_grid_is_every_combination_named_by_its_changes_the_one_change_ones_as_candidates_names_them():
    s = _Settings()
    grid, one = selection.grid(s), selection.candidates(s)
    assert len(grid) == 2 * 2 * 2 * 2 and list(grid)[0] == "base" and grid["base"] == one["base"]
    assert all(grid[name] == recipe for name, recipe in one.items())      # the one-change candidates, same names
    both = grid["lr 0.0005, max-norm 4, no jitter, half the dropout"]
    assert both == {"lr": 5e-4, "max_norm": 4.0, "jitter": 0, "dropout": 0.25, "input_dropout": 0.1}
    assert len({tuple(sorted(r.items())) for r in grid.values()}) == len(grid)      # no recipe twice
    s.jitter, s.teacher_dropout, s.teacher_input_dropout, s.lr, s.max_norm = 0, 0.0, 0.0, [1e-3], [3.0]
    assert list(selection.grid(s)) == ["base"]                      # nothing to combine: no jitter, no dropout


def test_successive_halving_trains_the_better_half_twice_as_long_and_the_winner_is_one_that_went_the_distance():
    assert selection.rungs(90, 2) == [22, 45, 90] and selection.rungs(90, 0) == [90] and selection.rungs(3, 2) == [1, 3]
    # a is best early and worse by 4 epochs; b and c start worse; d is worst at 2 epochs, so it stops there
    curves = {"a": [10, 5, 9, 9, 9, 9, 9, 9], "b": [20, 12, 4, 3, 3, 3, 3, 3], "c": [20, 12, 9, 8, 6, 6, 6, 6],
              "d": [30, 30, 30, 1, 1, 1, 1, 1]}
    assert selection.halve(curves, 2) == ["a", "b"]                 # a: 7.5, b and c: 16 (b first), d: 30
    assert selection.halve({"x": [1, 1], "y": [1, 1], "z": [2, 2]}, 2) == ["x", "y"]     # 3 -> 2: rounded up
    cut = selection.successive(curves, [2, 4, 8])
    assert {name: len(c) for name, c in cut.items()} == {"a": 4, "b": 8, "c": 2, "d": 2}
    assert cut["d"] == [30, 30]                                      # what it would reach later is not seen
    name, epochs, scores = selection.choose(cut)
    assert name == "b" and epochs == 6 and scores["a"] == (pytest.approx(23 / 3), 4)    # a: 7.67 at 4 epochs
    # d's later dip is never seen; without halving every curve runs the whole budget, and d's wins
    assert selection.successive(curves, [8]) == curves and selection.choose(curves)[0] == "d"
    # only a curve that ran the whole budget can win, even where a shorter one scored lower
    assert selection.choose({"short": [1, 1], "long": [9, 9, 9]})[0] == "long"
