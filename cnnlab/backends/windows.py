"""Zero padding and the strided windows of convolution and pooling, for every backend.

A window of size (KH, KW) at stride (SH, SW) reads, for its tap (di, dj), the
elements ``a[:, :, i*SH + di, j*SW + dj]`` of every output (i, j). For one tap and
all outputs together that is one strided slice of ``a``: im2col gathers through
these slices, pooling reduces over them, and the backward operators add into them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def pad2d(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Zero-pad the last two axes of x (N, C, H, W) by (ph, pw) on each side.

    Returns x itself when there is nothing to pad: callers read it, never write it.
    """
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def window_taps(
    a: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    out_hw: tuple[int, int],
) -> Iterator[np.ndarray]:
    """Yield the strided view (N, C, OH, OW) of a (N, C, H, W) under each window tap.

    Taps (di, dj) come in row-major order.

    ``view[:, :, i, j]`` is ``a[:, :, i*sh + di, j*sw + dj]``, element (di, dj) of
    window (i, j). A view never holds one element twice, so ``view += g`` adds into
    ``a`` correctly even where windows overlap.
    """
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, stride, out_hw
    rows, cols = sh * (oh - 1) + 1, sw * (ow - 1) + 1
    for di in range(kh):
        for dj in range(kw):
            yield a[:, :, di : di + rows : sh, dj : dj + cols : sw]
