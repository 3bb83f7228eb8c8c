"""The general convolution kernel: plain loops, any kernel size, stride and padding.

The first rung of chapter 9 and the fallback for every shape the faster kernels do
not take (stride > 1). One work item is one (image, filter) output plane; the
innermost loop walks one output row, so for stride 1 it reads a contiguous input
row and LLVM vectorizes it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _general_plane(xp, w, b, sh, sw, nf, out):
    """Output plane nf = n * F + f of the general kernel.

    out[n, f] = b[f] + the sum over c, di, dj of w[f, c, di, dj] *
    xp[n, c, shifted window].
    """
    n_filters, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    channels, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    n, f = nf // n_filters, nf % n_filters
    plane = out[n, f]
    plane[:, :] = b[f]
    for c in range(channels):
        image = xp[n, c]
        for di in range(kh):
            for dj in range(kw):
                tap = w[f, c, di, dj]
                for i in range(out_h):
                    src = image[i * sh + di]
                    dst = plane[i]
                    for j in range(out_w):
                        dst[j] += tap * src[j * sw + dj]


@njit(parallel=True, cache=True)
def conv2d_general(
    xp: np.ndarray, w: np.ndarray, b: np.ndarray, sh: int, sw: int, out: np.ndarray
) -> None:
    """out (N, F, OH, OW) <- correlation of the padded xp (N, C, Hp, Wp) with w.

    w (F, C, KH, KW) at stride (sh, sw), plus b (F,); one plane per work item.
    """
    for nf in prange(out.shape[0] * out.shape[1]):
        _general_plane(xp, w, b, sh, sw, nf, out)


@njit(cache=True)
def conv2d_general_serial(
    xp: np.ndarray, w: np.ndarray, b: np.ndarray, sh: int, sw: int, out: np.ndarray
) -> None:
    """:func:`conv2d_general` in one thread."""
    for nf in range(out.shape[0] * out.shape[1]):
        _general_plane(xp, w, b, sh, sw, nf, out)
