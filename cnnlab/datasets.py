"""Images for training small CNNs; nothing is ever downloaded.

scikit-learn ships a copy of the UCI "Optical Recognition of Handwritten
Digits" data set (Alpaydin & Kaynak 1998): 1,797 grayscale images of 8x8
pixels, the digits 0 to 9 in about equal numbers. They are small enough
that even the pure-Python backend can run a CNN on them.

:func:`synthetic_shapes` draws a second data set on the fly, at any image
size: lines, circles and squares, for experiments with bigger images.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .checks import check_fits_in_memory

# Pixels in scikit-learn's copy are counts of set pixels in 4x4 blocks of a 32x32 bitmap: 0 to 16.
MAX_PIXEL = 16.0


def load_digits_images(dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as images.

    Returns
    -------
    x : ndarray, shape (N, 1, 8, 8)
        Pixel intensities scaled to [0, 1], one channel, of the given float dtype.
    y : ndarray of int64, shape (N,)
        The digit each image shows, 0 to 9.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type, got {dtype}")
    digits = load_digits()
    x = (digits.images / MAX_PIXEL).astype(dtype)[:, None, :, :]
    return x, digits.target.astype(np.int64)


def digits_split(test_size: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed, stratified train/test split of the digits, normalised with training statistics.

    Stratified means every digit makes up the same share of both parts as of
    the whole set. Pixels are shifted and scaled by one mean and one standard
    deviation computed on the training images only (:func:`digits_mean_std`),
    so nothing about the test images leaks into training. The same ``seed``
    always gives the same split.

    Returns
    -------
    x_train, y_train, x_test, y_test
        float32 images (N, 1, 8, 8) and int64 labels (N,).
    """
    x_train, y_train, x_test, y_test = _split(test_size, seed)
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test


def digits_mean_std(test_size: float = 0.25, seed: int = 0) -> tuple[float, float]:
    """The mean and standard deviation that :func:`digits_split` normalises with.

    Pixels in [0, 1] become ``(pixel - mean) / std``: apply the same to a new
    image (say, one drawn by hand) before showing it to a trained network.
    """
    x_train = _split(test_size, seed)[0]
    return float(x_train.mean()), float(x_train.std())


def _split(test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits_images(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return x_train, y_train, x_test, y_test


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


SHAPES = ("line", "circle", "square")
"""The classes of :func:`synthetic_shapes`, in label order: 0 line, 1 circle, 2 square."""


def synthetic_shapes(
    n: int, image_size: int = 16, seed: int = 0, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` grayscale images of a line, a circle or a square, drawn at random; labels 0, 1, 2.

    Each image holds one white shape on black: a straight line at any angle,
    a circle outline, or an axis-aligned square outline, of random size and
    position, with strokes about ``image_size / 16`` pixels wide (at least
    one) and anti-aliased edges, so the shapes look alike at every size; the
    brightest pixel of each shape is 1.
    Gaussian noise of standard deviation ``noise`` is added. The classes come
    in equal numbers (up to one) in random order, and the same ``seed``
    always gives the same images.

    Returns
    -------
    x : float32 (n, 1, image_size, image_size), values about 0 to 1
    y : int64 (n,), the index of the shape in :data:`SHAPES`
    """
    if not _is_int(n) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not _is_int(image_size) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8 (smaller shapes are not recognisable), got {image_size!r}")
    if not isinstance(noise, numbers.Real) or isinstance(noise, bool):
        raise TypeError(f"noise must be a number, got {noise!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    n, image_size = int(n), int(image_size)
    # The noise is drawn in float64 for all images at once: the largest array made here.
    check_fits_in_memory("images", (n, 1, image_size, image_size), np.float64, f"n {n} and image_size {image_size}")
    rng = np.random.default_rng(int(seed))
    y = rng.permutation(np.arange(n) % len(SHAPES)).astype(np.int64)
    size = float(image_size)
    half_width = max(1.0, size / 16) / 2  # half the stroke width, in pixels
    rows, cols = np.mgrid[0:image_size, 0:image_size] + 0.5  # pixel centres
    x = np.empty((n, 1, image_size, image_size), np.float32)
    for k, label in enumerate(y):
        radius = rng.uniform(0.2, 0.35) * size  # half the shape's extent
        margin = radius + half_width + 0.5  # keeps the whole stroke inside the image
        cy, cx = rng.uniform(margin, size - margin, size=2)
        dy, dx = rows - cy, cols - cx
        if SHAPES[label] == "line":
            angle = rng.uniform(0, math.pi)
            along = dx * math.cos(angle) + dy * math.sin(angle)
            across = -dx * math.sin(angle) + dy * math.cos(angle)
            distance = np.hypot(np.maximum(np.abs(along) - radius, 0), across)  # to the segment
        elif SHAPES[label] == "circle":
            distance = np.abs(np.hypot(dx, dy) - radius)
        else:
            distance = np.abs(np.maximum(np.abs(dx), np.abs(dy)) - radius)
        stroke = np.clip(half_width + 0.5 - distance, 0.0, 1.0)  # 1 on the stroke, fading over one pixel
        x[k, 0] = stroke / stroke.max()  # a thin stroke may pass between pixel centres: its brightest pixel is 1
    if noise:
        x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    return x, y
