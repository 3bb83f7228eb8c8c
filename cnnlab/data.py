"""Small inputs for the book's examples; nothing is ever downloaded.

``sample_image`` turns the photograph of Grace Hopper that ships with
matplotlib into a small grayscale square, ``classic_example`` is the 5x5
input and vertical-edge kernel used to explain convolution by hand, and
``kernel_presets`` holds the classic 3x3 image-processing kernels.
"""
from __future__ import annotations

import numbers
import operator

import matplotlib.cbook
import matplotlib.image
import numpy as np

from .checks import check_fits_in_memory

# ITU-R BT.601 luma weights: how bright each of red, green and blue looks.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def _resize_axis(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Resize one axis to ``size``: average whole blocks when shrinking, repeat pixels when growing."""
    n = a.shape[axis]
    if size <= n:
        # Pixel k of the result is the mean of input pixels edges[k] .. edges[k+1] - 1.
        edges = np.linspace(0, n, size + 1).round().astype(int)
        sums = np.add.reduceat(a, edges[:-1], axis=axis)
        counts = np.diff(edges).reshape([-1 if ax == axis else 1 for ax in range(a.ndim)])
        return sums / counts
    nearest = (np.arange(size) * n) // size
    return np.take(a, nearest, axis=axis)


def sample_image(size: int = 128) -> np.ndarray:
    """Grace Hopper's portrait as a float32 (size, size) grayscale image in [0, 1].

    The photograph bundled with matplotlib is converted to gray, center-cropped
    to a square and resized by averaging blocks of pixels.
    """
    if not isinstance(size, numbers.Integral) or isinstance(size, bool):
        raise TypeError(f"size must be an int, got {size!r}")
    size = operator.index(size)
    if size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    # Resizing makes float64 arrays of (size, side) and (size, size) pixels.
    check_fits_in_memory("an image", (size, size), np.float64, f"size {size}")
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
    """The hand-worked example: x = [[1..5], ..., [21..25]] (5, 5) and a vertical-edge kernel (3, 3).

    Both are float64. Sliding the kernel over x gives -6 everywhere, because
    each row of x grows by 1 per column, so left minus right is always -2 per row.
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
