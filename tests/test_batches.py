"""Batches on the device and jitter (tinykd/batches.py)."""
import numpy as np
import pytest

from tinykd.batches import batched, batches, check_jitter, jitter


def test_batches_cover_every_sample_once_and_reproduce():
    x = np.arange(103, dtype=np.float32)[:, None]
    y = np.arange(103)
    out = list(batches(x, y, batch_size=10, rng=np.random.default_rng(5)))
    assert [len(b[1]) for b in out] == [10] * 10 + [3]
    seen = np.concatenate([b[1] for b in out])
    assert sorted(seen) == list(range(103)) and not np.array_equal(seen, y)
    assert all(np.array_equal(bx[:, 0], by) for bx, by in out)
    again = np.concatenate([b[1] for b in batches(x, y, batch_size=10, rng=np.random.default_rng(5))])
    np.testing.assert_array_equal(seen, again)
    assert np.array_equal(np.concatenate([b[1] for b in batches(x, y, batch_size=10)]), y)


def test_batches_shuffle_with_a_generator_never_a_seed():
    """Issue 28, item 4: ``rng=-1`` (or any seed) ended in "'int' object has no attribute 'permutation'"."""
    x = np.zeros((4, 1), np.float32)
    for bad in (-1, 3, np.random.RandomState(0)):
        with pytest.raises(TypeError, match=r"^rng must be a NumPy generator \(tinykd\.backend\.default_rng\(seed\)\) "
                                            r"or None, got"):
            next(batches(x, batch_size=2, rng=bad))


def test_jitter_moves_pixels_by_up_to_k_and_reproduces():
    x = np.random.default_rng(0).random((64, 28 * 28)).astype(np.float32)
    out = jitter(x, (28, 28), 2, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert not np.array_equal(out, x)
    again = jitter(x, (28, 28), 2, np.random.default_rng(1))
    np.testing.assert_array_equal(out, again)
    # every output equals its input shifted by some (dy, dx) in [-2, 2]^2 with zero fill
    imgs, outs = x.reshape(-1, 28, 28), out.reshape(-1, 28, 28)
    shifts = set()
    for img, o in zip(imgs, outs):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if np.array_equal(o, shift(img, dy, dx))]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 10  # the shifts really vary across the batch
    assert jitter(x, (28, 28), 0, None) is x
    rgb = np.random.default_rng(0).random((4, 32 * 32 * 3)).astype(np.float32)
    assert jitter(rgb, (32, 32, 3), 3, np.random.default_rng(0)).shape == rgb.shape


def shift(img, dy, dx):
    out = np.zeros_like(img)
    h, w = img.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[max(-dy, 0):h - max(dy, 0),
                                                                    max(-dx, 0):w - max(dx, 0)]
    return out


def test_batched_evaluation_concatenates_every_batch():
    x = np.arange(25, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(batched(lambda xb: 2 * xb, x, batch_size=10), 2 * x)


def test_batched_evaluation_of_zero_rows_keeps_the_output_shape():
    """Issue 18, item 12: an empty split made ``predict``/``logits`` fail in ``concatenate``; zero rows give the
    function's own (0, ...) result."""
    x = np.zeros((0, 3), dtype=np.float32)
    out = batched(lambda xb: xb @ np.ones((3, 5), dtype=np.float32), x)
    assert out.shape == (0, 5) and out.dtype == np.float32


@pytest.mark.parametrize("shift, match", [
    (2.5, r"jitter_pixels must be a whole number of pixels >= 0, got 2.5"),
    (-1, r"jitter_pixels must be a whole number of pixels >= 0, got -1"),
    (True, r"whole number of pixels"),
    (14, r"below half the image side: at most 13 for 28x28 images, got 14"),
    (40, r"below half the image side: at most 13 for 28x28 images, got 40"),
])
def test_jitter_is_a_whole_number_of_pixels_below_half_the_side(shift, match):
    """Issue 18, item 4: 2.5 ran as 2, 40 ran on 28x28 images, -1 was NumPy's "index can't contain negative
    values"."""
    x = np.zeros((4, 28 * 28), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        check_jitter(shift, (28, 28))
    with pytest.raises(ValueError, match=match):
        jitter(x, (28, 28), shift, np.random.default_rng(0))
    check_jitter(13, (28, 28))
    assert jitter(x, (28, 28), 13, np.random.default_rng(0)).shape == x.shape
    with pytest.raises(ValueError, match=r"image_shape \(27, 27\) holds 729 values but each row of x has 784"):
        jitter(x, (27, 27), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="image_shape must be"):
        check_jitter(1, (28,))


def test_jitter_needs_the_image_shape_it_is_never_guessed():
    """Issue 18, item 13: ``fit`` guessed 28x28 for any image; a shift needs ``image_shape``, said in one line."""
    with pytest.raises(ValueError, match=r"jitter_pixels=2 shifts images, so give image_shape=\(height, width\), "
                                         r"e.g. ds.input_shape"):
        check_jitter(2, None, 784)
    check_jitter(0, None, 784)      # no shift, no shape needed
