"""The book's data: small example inputs and real images; nothing is ever downloaded.

``sample_image`` turns the photograph of Grace Hopper that ships with
matplotlib into a small grayscale square, ``classic_example`` is the 5x5
input and vertical-edge kernel used to explain convolution by hand, and
``kernel_presets`` holds the classic 3x3 image-processing kernels.

For training, scikit-learn ships a copy of the UCI "Optical Recognition of
Handwritten Digits" data set (Alpaydin & Kaynak 1998): 1,797 grayscale images
of 8x8 pixels, the digits 0 to 9 in about equal numbers, small enough that
even the pure-Python backend can run a CNN on them. :func:`synthetic_shapes`
draws a second data set on the fly, at any image size: lines, circles and
squares, for experiments with bigger images.
"""

from __future__ import annotations

import math

import matplotlib.cbook
import matplotlib.image
import numpy as np
from numpy.typing import DTypeLike
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from cnnlab.validation import (
    is_int,
    validate_fits_in_memory,
    validate_int,
    validate_number,
)

# ITU-R BT.601 luma weights: how bright each of red, green and blue looks.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def _resize_axis(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Resize one axis to ``size``: average blocks to shrink, repeat pixels to grow."""
    n = a.shape[axis]
    if size <= n:
        # Pixel k of the result is the mean of input pixels edges[k] .. edges[k+1] - 1.
        edges = np.linspace(0, n, size + 1).round().astype(int)
        sums = np.add.reduceat(a, edges[:-1], axis=axis)
        counts = np.diff(edges).reshape(
            [-1 if ax == axis else 1 for ax in range(a.ndim)]
        )
        return sums / counts
    nearest = (np.arange(size) * n) // size
    return np.take(a, nearest, axis=axis)


def sample_image(size: int = 128) -> np.ndarray:
    """Grace Hopper's portrait as a float32 (size, size) grayscale image in [0, 1].

    The photograph bundled with matplotlib is converted to gray, center-cropped
    to a square and resized by averaging blocks of pixels.
    """
    size = validate_int("size", size, minimum=1)
    # Resizing makes float64 arrays of (size, side) and (size, size) pixels.
    validate_fits_in_memory(
        "an image", (size, size), np.dtype(np.float64), f"size {size}"
    )
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    rgb = matplotlib.image.imread(path)[..., :3].astype(np.float64) / 255.0
    gray = rgb @ LUMA_WEIGHTS
    h, w = gray.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = gray[top : top + side, left : left + side]
    small = _resize_axis(_resize_axis(square, size, axis=0), size, axis=1)
    return np.clip(small, 0.0, 1.0).astype(np.float32)


def classic_example() -> tuple[np.ndarray, np.ndarray]:
    """The hand-worked example: a (5, 5) input x and a (3, 3) vertical-edge kernel.

    x is [[1..5], ..., [21..25]]; both are float64. Sliding the kernel over x
    gives -6 everywhere, because each row of x grows by 1 per column, so left
    minus right is always -2 per row.
    """
    x = np.arange(1, 26, dtype=np.float64).reshape(5, 5)
    w = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64)
    return x, w


def kernel_presets() -> dict[str, np.ndarray]:
    """Classic 3x3 image-processing kernels by name, as fresh float64 arrays.

    The edge kernels respond where brightness changes: "vertical edge" and
    Sobel x across columns, "horizontal edge" and Sobel y across rows (Sobel
    weights the centre row or column twice). "blur" averages a 3x3 window,
    "sharpen" adds the difference from the neighbours back, "emboss" makes
    the image look raised by comparing opposite corners, and "identity"
    changes nothing.
    """
    vertical_edge = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]
    sobel_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    kernels = {
        "vertical edge": vertical_edge,
        "horizontal edge": np.transpose(vertical_edge),
        "Sobel x": sobel_x,
        "Sobel y": np.transpose(sobel_x),
        "blur": np.full((3, 3), 1 / 9),
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
        "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    }
    return {name: np.array(k, dtype=np.float64) for name, k in kernels.items()}


# ---------------------------------------------------------------------------
# Handwritten digits and synthetic shapes, for training.


# Pixels in scikit-learn's copy are counts of set pixels in 4x4 blocks of a 32x32
# bitmap: 0 to 16.
MAX_PIXEL = 16.0


def load_digits_images(dtype: DTypeLike = np.float32) -> tuple[np.ndarray, np.ndarray]:
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


def digits_split(
    test_size: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed, stratified train/test split of the digits, normalised with training
    statistics.

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


def _split(
    test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits_images(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return x_train, y_train, x_test, y_test


SHAPES = ("line", "circle", "square")
"""The classes of :func:`synthetic_shapes` by label: 0 line, 1 circle, 2 square."""


def synthetic_shapes(
    n: int, image_size: int = 16, seed: int = 0, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random grayscale images of a line, a circle or a square; labels 0, 1, 2.

    Each image holds one white shape on black: a straight line at any angle,
    a circle outline, or an axis-aligned square outline, of random size and
    position, with strokes about ``image_size / 16`` pixels wide (at least
    one) and anti-aliased edges, so the shapes look alike at every size; the
    brightest pixel of each shape is 1. Gaussian noise of standard deviation
    ``noise`` is added. The classes come in equal numbers (up to one) in
    random order, and the same ``seed`` always gives the same images.

    Returns
    -------
    x : float32 (n, 1, image_size, image_size), values about 0 to 1
    y : int64 (n,), the index of the shape in :data:`SHAPES`
    """
    # A float n, image_size or seed is a ValueError here (validate_int would raise
    # TypeError), as it has always been; tests pin it.
    if not is_int(n) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not is_int(image_size) or image_size < 8:
        raise ValueError(
            "image_size must be an int >= 8 (smaller shapes are not recognisable), "
            f"got {image_size!r}"
        )
    try:
        noise = validate_number("noise", noise, low=0.0)
    except ValueError:  # one message for inf, NaN and negative noise
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}") from None
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    n, image_size = int(n), int(image_size)
    # The noise is drawn in float64 for all images at once: the largest array made here.
    validate_fits_in_memory(
        "images",
        (n, 1, image_size, image_size),
        np.dtype(np.float64),
        f"n {n} and image_size {image_size}",
    )
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
            # to the segment
            distance = np.hypot(np.maximum(np.abs(along) - radius, 0), across)
        elif SHAPES[label] == "circle":
            distance = np.abs(np.hypot(dx, dy) - radius)
        else:
            distance = np.abs(np.maximum(np.abs(dx), np.abs(dy)) - radius)
        # 1 on the stroke, fading over one pixel
        stroke = np.clip(half_width + 0.5 - distance, 0.0, 1.0)
        # a thin stroke may pass between pixel centres: its brightest pixel is 1
        x[k, 0] = stroke / stroke.max()
    if noise:
        x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    return x, y
