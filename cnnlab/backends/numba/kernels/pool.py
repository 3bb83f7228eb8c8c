"""Numba pooling kernels for NCHW and channels-last (NHWC) memory.

:func:`cnnlab.backends.numba.forward.max_pool2d` and ``avg_pool2d`` pick one by the
memory layout of x and the window: pooling reads every input once, so it is
limited by memory traffic, and the fast kernels are the ones whose innermost
loop walks memory contiguously.

* ``pool2d_nhwc``: x stored as (N, H, W, C), the layout PyTorch calls
  channels_last. For each output pixel the window's KH * KW input pixels are
  contiguous runs of C values, so the inner loop over channels vectorizes for
  any window and stride.
* ``max_pool2d_2x2_nhwc``: the common 2x2, stride 2 window on channels_last
  memory. Each output pixel is the elementwise maximum of four contiguous
  runs of C values, taken in one pass; the general NHWC kernel's loop over
  the window keeps its running maximum in memory and is 2.6x slower.
* ``max_pool2d_2x2_nchw``: the same window on (N, C, H, W).
  Each output row is the maximum of two input rows, then of neighbouring
  pairs in that row.
* ``pool2d_nchw``: any window and stride on (N, C, H, W); the fallback.

Each kernel comes as a pair: the plain name spreads its rows or planes over
all threads with ``prange``; the ``_serial`` twin runs the same loop body in
one thread, for small inputs where starting threads costs more than it saves.

NaN and inf follow PyTorch: a window's maximum is NaN when the window holds a
NaN (:func:`nan_max`), and a mean is summed in the data's dtype, in window
order, then divided by ``divisor`` (KH * KW in that dtype), so float32 values
near 3e38 overflow to inf exactly as they do in PyTorch and the other backends.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def nan_max(best, value):
    """PyTorch's running maximum: value replaces best when greater or NaN, so a NaN
    sticks.

    ``|``, not ``or``: no branch, so the loops that call it still vectorize.
    Builtin ``max`` is not NaN-aware: max(1.0, nan) is 1.0.
    """
    return value if (value > best) | (value != value) else best


@njit(cache=True, inline="always")
def _nhwc_row(x, kh, kw, sh, sw, take_max, divisor, ni, out):
    """Output row ni = n * OH + i of x (N, H, W, C) pooled into out (N, OH, OW, C)."""
    out_h, out_w, channels = out.shape[1], out.shape[2], out.shape[3]
    n, i = ni // out_h, ni % out_h
    for j in range(out_w):
        acc = out[n, i, j]
        acc[:] = x[n, i * sh, j * sw]
        for di in range(kh):
            for dj in range(kw):
                if di == 0 and dj == 0:
                    continue
                src = x[n, i * sh + di, j * sw + dj]
                for c in range(channels):
                    acc[c] = nan_max(acc[c], src[c]) if take_max else acc[c] + src[c]
        if not take_max:
            for c in range(channels):
                acc[c] /= divisor


@njit(parallel=True, cache=True)
def pool2d_nhwc(x, kh, kw, sh, sw, take_max, divisor, out):
    """Max or mean pooling of x (N, H, W, C) into out (N, OH, OW, C)."""
    for ni in prange(out.shape[0] * out.shape[1]):
        _nhwc_row(x, kh, kw, sh, sw, take_max, divisor, ni, out)


@njit(cache=True)
def pool2d_nhwc_serial(x, kh, kw, sh, sw, take_max, divisor, out):
    """:func:`pool2d_nhwc` in one thread."""
    for ni in range(out.shape[0] * out.shape[1]):
        _nhwc_row(x, kh, kw, sh, sw, take_max, divisor, ni, out)


@njit(cache=True, inline="always")
def _max_2x2_nhwc_row(x, ni, out):
    """Output row ni = n * OH + i of the 2x2, stride 2 maxima of x (N, H, W, C), into
    out (N, OH, OW, C).
    """
    out_h, out_w, channels = out.shape[1], out.shape[2], out.shape[3]
    n, i = ni // out_h, ni % out_h
    top, bottom, dst = x[n, 2 * i], x[n, 2 * i + 1], out[n, i]
    for j in range(out_w):
        a, b, c, d, pixel = (
            top[2 * j],
            top[2 * j + 1],
            bottom[2 * j],
            bottom[2 * j + 1],
            dst[j],
        )
        for k in range(channels):
            pixel[k] = nan_max(nan_max(nan_max(a[k], b[k]), c[k]), d[k])


@njit(parallel=True, cache=True)
def max_pool2d_2x2_nhwc(x, out):
    """2x2 max pooling with stride 2 of x (N, H, W, C) into out (N, H // 2, W // 2, C)."""
    for ni in prange(out.shape[0] * out.shape[1]):
        _max_2x2_nhwc_row(x, ni, out)


@njit(cache=True)
def max_pool2d_2x2_nhwc_serial(x, out):
    """:func:`max_pool2d_2x2_nhwc` in one thread."""
    for ni in range(out.shape[0] * out.shape[1]):
        _max_2x2_nhwc_row(x, ni, out)


@njit(cache=True, inline="always")
def _planes(a):
    """View (N, C, H, W) as (N*C, H, W). One index per plane, instead of a division and
    two views, matters
    when planes are small: it made pooling a batch of 4x4 planes 4x faster."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2], a.shape[3])


@njit(cache=True, inline="always")
def _max_2x2_plane(image, plane, pair_max):
    """plane (OH, OW) <- 2x2 maxima of image (H, W), stride 2; pair_max is scratch of
    length 2 * OW.
    """
    out_h, out_w = plane.shape
    for i in range(out_h):
        top, bottom, dst = image[2 * i], image[2 * i + 1], plane[i]
        for j in range(2 * out_w):
            pair_max[j] = nan_max(top[j], bottom[j])
        for j in range(out_w):
            dst[j] = nan_max(pair_max[2 * j], pair_max[2 * j + 1])


@njit(parallel=True, cache=True)
def max_pool2d_2x2_nchw(x, out):
    """2x2 max pooling with stride 2 of x (N, C, H, W) into out (N, C, H // 2, W // 2)."""
    images, planes = _planes(x), _planes(out)
    for p in prange(planes.shape[0]):
        # one per plane: threads must not share it
        pair_max = np.empty(2 * out.shape[3], x.dtype)
        _max_2x2_plane(images[p], planes[p], pair_max)


@njit(cache=True)
def max_pool2d_2x2_nchw_serial(x, out):
    """:func:`max_pool2d_2x2_nchw` in one thread."""
    images, planes = _planes(x), _planes(out)
    # one for all planes: an allocation costs more than a small plane
    pair_max = np.empty(2 * out.shape[3], x.dtype)
    for p in range(planes.shape[0]):
        _max_2x2_plane(images[p], planes[p], pair_max)


@njit(cache=True, inline="always")
def _nchw_plane(image, kh, kw, sh, sw, take_max, divisor, plane):
    """plane (OH, OW) <- max or mean over the windows of image (H, W)."""
    out_h, out_w = plane.shape
    for i in range(out_h):
        for j in range(out_w):
            # the window's first element: a sum in the data's dtype
            acc = image[i * sh, j * sw]
            for di in range(kh):
                for dj in range(kw):
                    if take_max:
                        acc = nan_max(acc, image[i * sh + di, j * sw + dj])
                    elif di > 0 or dj > 0:
                        acc += image[i * sh + di, j * sw + dj]
            plane[i, j] = acc if take_max else acc / divisor


@njit(parallel=True, cache=True)
def pool2d_nchw(x, kh, kw, sh, sw, take_max, divisor, out):
    """Max or mean pooling of x (N, C, H, W) into out (N, C, OH, OW), any window and
    stride.
    """
    images, planes = _planes(x), _planes(out)
    for p in prange(planes.shape[0]):
        _nchw_plane(images[p], kh, kw, sh, sw, take_max, divisor, planes[p])


@njit(cache=True)
def pool2d_nchw_serial(x, kh, kw, sh, sw, take_max, divisor, out):
    """:func:`pool2d_nchw` in one thread."""
    images, planes = _planes(x), _planes(out)
    for p in range(planes.shape[0]):
        _nchw_plane(images[p], kh, kw, sh, sw, take_max, divisor, planes[p])
