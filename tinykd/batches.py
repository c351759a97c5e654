"""Batches: one epoch's shuffled mini-batches on the device, whole data sets in large batches, and jitter.

Nothing here reads a value back to the host: the shuffling permutation is drawn on the host and uploaded (the
epoch's one host-to-device copy), and jitter draws its shifts on the device.
"""
import math

import numpy as np

from .backend import get_array_module, to_device
from .checks import is_int


def batches(*arrays, batch_size, rng=None):
    """Mini-batches (tuples of aligned slices of ``arrays``) of one epoch, shuffled by the NumPy generator ``rng``.

    The permutation is drawn on the host (the same stream on CPU and GPU), uploaded once per epoch (the epoch's
    one host-to-device copy, which reads nothing back) and applied once, so every batch is a contiguous slice of an
    array already on the device. ``rng=None`` keeps the order; a seed is not a generator (``default_rng(seed)`` makes
    one, checking the seed).
    """
    if not is_int(batch_size, 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):   # a seed enters through default_rng only
        raise TypeError(f"rng must be a NumPy generator (tinykd.backend.default_rng(seed)) or None, got "
                        f"{type(rng).__name__}")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"arrays to batch together must share their first dimension, got "
                         f"{[a.shape[0] for a in arrays]}")
    if rng is not None:
        perm = to_device(rng.permutation(n), get_array_module(arrays[0]))
        arrays = [a[perm] for a in arrays]
    for i in range(0, n, batch_size):
        yield tuple(a[i:i + batch_size] for a in arrays)


def batched(fn, x, batch_size=10000):
    """``fn`` applied to ``x`` in large batches and concatenated (evaluation, cached teacher outputs).

    Zero rows give ``fn(x)`` itself, e.g. a (0, C) array of logits: there is no batch to concatenate, but the
    result still has the shape every caller expects."""
    if x.shape[0] == 0:
        return fn(x)
    xp = get_array_module(x)
    return xp.concatenate([fn(xb) for xb, in batches(x, batch_size=batch_size)])


def check_jitter(max_shift, image_shape, features=None):
    """Raise unless ``max_shift`` is a whole number of pixels from 0 to below half the image side (a larger shift
    can push half an image or more out of its frame), and (for a shift above 0) ``image_shape`` is given, is (H, W)
    or (H, W, C) and holds ``features`` values (the width of a flattened row) when that is given.
    """
    if not is_int(max_shift, 0):
        raise ValueError(f"jitter_pixels must be a whole number of pixels >= 0, got {max_shift!r}")
    if max_shift == 0:
        return
    if image_shape is None:      # a flat row does not say its image's shape, and a guess (28x28) would scramble it
        raise ValueError(f"jitter_pixels={max_shift} shifts images, so give image_shape=(height, width), e.g. "
                         "ds.input_shape: the shape each row of x was flattened from")
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if shape is None or len(shape) not in (2, 3) or not all(is_int(s, 1) for s in shape):
        raise ValueError(f"image_shape must be (height, width) or (height, width, channels), got {image_shape!r}")
    side = min(shape[:2])
    if 2 * max_shift >= side:
        raise ValueError(f"jitter_pixels must be below half the image side: at most {(side - 1) // 2} for "
                         f"{shape[0]}x{shape[1]} images, got {max_shift}")
    if features is not None and math.prod(shape) != features:
        raise ValueError(f"image_shape {shape} holds {math.prod(shape)} values but each row of x has {features}; "
                         "give the shape the rows were flattened from")


def jitter(x, image_shape, max_shift, rng):
    """Translate each image by its own random (dy, dx) in [−k, k]², filling with zeros, without a Python loop.

    ``x`` holds flattened images of ``image_shape`` (H, W) or (H, W, C); ``rng`` is a generator of x's array
    module; ``max_shift`` (k) is checked by ``check_jitter``. The batch is padded by k on each side and every
    sample's window gathered with one fancy index.
    """
    check_jitter(max_shift, image_shape, x.shape[1])
    if max_shift == 0:
        return x
    xp = get_array_module(x)
    n, k = x.shape[0], int(max_shift)
    h, w = image_shape[:2]
    imgs = x.reshape((n, *image_shape))
    pad = [(0, 0), (k, k), (k, k)] + [(0, 0)] * (len(image_shape) - 2)
    padded = xp.pad(imgs, pad)
    shifts = rng.integers(0, 2 * k + 1, size=(2, n))
    rows = shifts[0][:, None] + xp.arange(h)
    cols = shifts[1][:, None] + xp.arange(w)
    out = padded[xp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, -1)
