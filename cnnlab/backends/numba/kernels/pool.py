"""Numba pooling kernels, forward (NCHW and channels-last memory) and backward.

:mod:`cnnlab.backends.numba.chooser` picks a forward kernel by the memory layout of
x and the window: pooling reads every input once, so it is limited by memory
traffic, and the fast kernels are the ones whose innermost loop walks memory
contiguously.

* ``pool2d_nhwc``: x stored as (N, H, W, C), the layout PyTorch calls
  channels_last. For each output pixel the window's KH * KW input pixels are
  contiguous runs of C values, so the inner loop over channels vectorizes for
  any window and stride.
* ``max_pool2d_2x2_nhwc``: the common 2x2, stride 2 window on channels_last
  memory. Each output pixel is the elementwise maximum of four contiguous
  runs of C values, taken in one pass, where the general NHWC kernel's loop
  over the window keeps its running maximum in memory.
* ``max_pool2d_2x2_nchw``: the same window on (N, C, H, W).
  Each output row is the maximum of two input rows, then of neighbouring
  pairs in that row.
* ``pool2d_nchw``: any window and stride on (N, C, H, W); the fallback.

The backward kernels (``pool2d_backward``) send each window's dy to its maximum,
or share it equally, one (image, channel) plane at a time; the common 2x2, stride 2
maximum has its own unrolled loop.

Each kernel comes as a pair: the plain name spreads its rows or planes over
all threads with ``prange``; the ``_serial`` twin runs the same loop body in
one thread.

NaN and inf follow PyTorch: a window's maximum is NaN when the window holds a
NaN (:func:`nan_max`), and a mean is summed in the data's dtype, in window
order, then divided by ``divisor`` (KH * KW in that dtype), so float32 values
near 3e38 overflow to inf exactly as they do in PyTorch and the other backends.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def nan_max(best: float, value: float) -> float:
    """PyTorch's running maximum: value replaces best when greater or NaN.

    So a NaN sticks.

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
def pool2d_nhwc(
    x: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    take_max: bool,
    divisor: np.floating,
    out: np.ndarray,
) -> None:
    """Max or mean pooling of x (N, H, W, C) into out (N, OH, OW, C)."""
    for ni in prange(out.shape[0] * out.shape[1]):
        _nhwc_row(x, kh, kw, sh, sw, take_max, divisor, ni, out)


@njit(cache=True)
def pool2d_nhwc_serial(
    x: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    take_max: bool,
    divisor: np.floating,
    out: np.ndarray,
) -> None:
    """:func:`pool2d_nhwc` in one thread."""
    for ni in range(out.shape[0] * out.shape[1]):
        _nhwc_row(x, kh, kw, sh, sw, take_max, divisor, ni, out)


@njit(cache=True, inline="always")
def _max_2x2_nhwc_row(x, ni, out):
    """Output row ni = n * OH + i of the 2x2, stride-2 maxima of x (N, H, W, C).

    Into out (N, OH, OW, C).
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
def max_pool2d_2x2_nhwc(x: np.ndarray, out: np.ndarray) -> None:
    """2x2 max pooling, stride 2, of x (N, H, W, C) into out (N, H // 2, W // 2, C)."""
    for ni in prange(out.shape[0] * out.shape[1]):
        _max_2x2_nhwc_row(x, ni, out)


@njit(cache=True)
def max_pool2d_2x2_nhwc_serial(x: np.ndarray, out: np.ndarray) -> None:
    """:func:`max_pool2d_2x2_nhwc` in one thread."""
    for ni in range(out.shape[0] * out.shape[1]):
        _max_2x2_nhwc_row(x, ni, out)


@njit(cache=True, inline="always")
def _planes(a):
    """View (N, C, H, W) as (N*C, H, W): one index per plane.

    (n, c) would cost a division and two views per plane, much of the work when
    planes are small.
    """
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2], a.shape[3])


@njit(cache=True, inline="always")
def _max_2x2_plane(image, plane, pair_max):
    """plane (OH, OW) <- 2x2, stride-2 maxima of image (H, W).

    pair_max is scratch of length 2 * OW.
    """
    out_h, out_w = plane.shape
    for i in range(out_h):
        top, bottom, dst = image[2 * i], image[2 * i + 1], plane[i]
        for j in range(2 * out_w):
            pair_max[j] = nan_max(top[j], bottom[j])
        for j in range(out_w):
            dst[j] = nan_max(pair_max[2 * j], pair_max[2 * j + 1])


@njit(parallel=True, cache=True)
def max_pool2d_2x2_nchw(x: np.ndarray, out: np.ndarray) -> None:
    """2x2 max pooling, stride 2, of x (N, C, H, W) into out (N, C, H // 2, W // 2)."""
    images, planes = _planes(x), _planes(out)
    for p in prange(planes.shape[0]):
        # one per plane: threads must not share it
        pair_max = np.empty(2 * out.shape[3], x.dtype)
        _max_2x2_plane(images[p], planes[p], pair_max)


@njit(cache=True)
def max_pool2d_2x2_nchw_serial(x: np.ndarray, out: np.ndarray) -> None:
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
def pool2d_nchw(
    x: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    take_max: bool,
    divisor: np.floating,
    out: np.ndarray,
) -> None:
    """Max or mean pooling of x (N, C, H, W) into out (N, C, OH, OW), any window."""
    images, planes = _planes(x), _planes(out)
    for p in prange(planes.shape[0]):
        _nchw_plane(images[p], kh, kw, sh, sw, take_max, divisor, planes[p])


@njit(cache=True)
def pool2d_nchw_serial(
    x: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    take_max: bool,
    divisor: np.floating,
    out: np.ndarray,
) -> None:
    """:func:`pool2d_nchw` in one thread."""
    images, planes = _planes(x), _planes(out)
    for p in range(planes.shape[0]):
        _nchw_plane(images[p], kh, kw, sh, sw, take_max, divisor, planes[p])


# ---------------------------------------------------------------------------
# Backward: one (image, channel) plane at a time.


@njit(cache=True, inline="always")
def _pool2d_backward_plane(image, grad, width, out_w, kh, kw, sh, sw, take_max, plane):
    """dx of one flattened plane: each window sends dy to its maximum, or shares it.

    The maximum is PyTorch's: the first of equal maxima in row-major order,
    but the last NaN, because a NaN replaces the running maximum (any value
    does that is greater or NaN), and so does every later NaN.
    """
    scale = 1.0 / (kh * kw)
    plane[:] = 0
    for i in range(grad.size // out_w):
        for j in range(out_w):
            corner = i * sh * width + j * sw  # the window's top-left element
            if take_max:
                # Selects, not branches, which random data would mispredict.
                best_at, best = corner, image[corner]
                for di in range(kh):
                    for dj in range(kw):
                        at = corner + di * width + dj
                        # loaded before the selects: a load inside one would make it a
                        # branch
                        value = image[at]
                        better = (value > best) | (value != value)
                        best = value if better else best
                        best_at = at if better else best_at
                plane[best_at] += grad[i * out_w + j]
            else:
                share = grad[i * out_w + j] * scale
                for di in range(kh):
                    for dj in range(kw):
                        plane[corner + di * width + dj] += share


@njit(cache=True, inline="always")
def _max_2x2_backward_plane(image, grad, width, out_w, zero, plane):
    """:func:`_pool2d_backward_plane` for 2x2 windows, stride 2: unrolled, no branches.

    The four values of a window are loaded first and the same comparisons,
    in the same order, pick the same winner. Then all four elements are
    written, dy to the winner and ``zero`` to the others, through selects
    between values already loaded: a branch per comparison would be
    mispredicted on every new batch of random data. (The windows do not overlap, so
    nothing needs adding up; elements of odd rows and columns that no window
    covers stay zero.)
    """
    for k in range(plane.size):
        plane[k] = zero
    for i in range(grad.size // out_w):
        for j in range(out_w):
            # the window's top-left element; then right, below, below right
            at = 2 * i * width + 2 * j
            a, b, c, d = (
                image[at],
                image[at + 1],
                image[at + width],
                image[at + width + 1],
            )
            # a NaN wins, and a later NaN wins over it, as in PyTorch
            b_wins = (b > a) | (b != b)
            best = b if b_wins else a
            c_wins = (c > best) | (c != c)
            best = c if c_wins else best
            d_wins = (d > best) | (d != d)
            # The last to win keeps it; & and ~, not "and" and "not", which would
            # branch.
            c_wins = c_wins & ~d_wins
            b_wins = b_wins & ~c_wins & ~d_wins
            a_wins = ~(b_wins | c_wins | d_wins)
            g = grad[i * out_w + j]
            plane[at] = g if a_wins else zero
            plane[at + 1] = g if b_wins else zero
            plane[at + width] = g if c_wins else zero
            plane[at + width + 1] = g if d_wins else zero


@njit(cache=True, inline="always")
def _flat_planes(a):
    """View (N, C, H, W) as (N*C, H*W): one flattened plane per row."""
    p = _planes(a)
    return p.reshape(p.shape[0], p.shape[1] * p.shape[2])


@njit(cache=True, parallel=True)
def pool2d_backward(
    dy: np.ndarray,
    x: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    take_max: bool,
    dx: np.ndarray,
) -> None:
    """dx (N, C, H, W) <- gradient of max or mean pooling, given dy (N, C, OH, OW).

    Window (kh, kw), stride (sh, sw); ``take_max`` picks max pooling.
    """
    x_planes, dy_planes, dx_planes = _flat_planes(x), _flat_planes(dy), _flat_planes(dx)
    width, out_w = x.shape[3], dy.shape[3]
    if take_max and kh == 2 and kw == 2 and sh == 2 and sw == 2:
        zero = np.zeros(1, dx.dtype)[0]
        for p in prange(x_planes.shape[0]):
            _max_2x2_backward_plane(
                x_planes[p], dy_planes[p], width, out_w, zero, dx_planes[p]
            )
    else:
        for p in prange(x_planes.shape[0]):
            _pool2d_backward_plane(
                x_planes[p],
                dy_planes[p],
                width,
                out_w,
                kh,
                kw,
                sh,
                sw,
                take_max,
                dx_planes[p],
            )


@njit(cache=True)
def pool2d_backward_serial(
    dy: np.ndarray,
    x: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    take_max: bool,
    dx: np.ndarray,
) -> None:
    """:func:`pool2d_backward` in one thread."""
    x_planes, dy_planes, dx_planes = _flat_planes(x), _flat_planes(dy), _flat_planes(dx)
    width, out_w = x.shape[3], dy.shape[3]
    # one loop per path, each optimized alone
    if take_max and kh == 2 and kw == 2 and sh == 2 and sw == 2:
        zero = np.zeros(1, dx.dtype)[0]
        for p in range(x_planes.shape[0]):
            _max_2x2_backward_plane(
                x_planes[p], dy_planes[p], width, out_w, zero, dx_planes[p]
            )
    else:
        for p in range(x_planes.shape[0]):
            _pool2d_backward_plane(
                x_planes[p],
                dy_planes[p],
                width,
                out_w,
                kh,
                kw,
                sh,
                sw,
                take_max,
                dx_planes[p],
            )
