"""Numba kernels of the convolution's gradient: dx, dw and db of ``conv2d``.

For every input channel c and kernel tap (di, dj), both kernels compute::

    dw[f, c, di, dj] = sum over output positions m of dy[f, m] * col[m]
    dcol[m]         += sum over filters f of w[f, c, di, dj] * dy[f, m]

where col[m] is the input that tap read for output m (one row of the im2col matrix
of Chellapilla et al. 2006), and dcol[m] is where its gradient goes. They differ in
how col and dcol are laid out in memory: for stride 1, ``conv2d_backward_grid``
keeps the images on one padded-width grid where col and dcol are *views*; for any
stride, ``conv2d_backward_im2col`` copies col out and dcol back, tap by tap.

The compiled code pads, allocates and loops by itself: training calls these on small
batches of small images, where a few NumPy calls around a kernel would cost more
than the kernel. Parallel loops never let two threads write the same element: each
thread owns whole input channels of dx and dw.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from cnnlab.backends.numba.kernels import REASSOCIATE
from cnnlab.backends.numba.kernels.conv_direct import GRID_ALIGN


@njit(cache=True, fastmath=REASSOCIATE)
def _dw_and_dcol(dy_rows, col, w, c, di, dj, zero, dw, dcol):
    """One kernel tap (di, dj) of channel c, over the first ``len(col)`` positions.

    ``dw[f, c, di, dj] = dy_rows[f] . col`` for every filter f, and
    ``dcol += sum over f of w[f, c, di, dj] * dy_rows[f]``. ``zero`` is 0 in the
    data's dtype, which the sums start from.

    Four filters per pass over the positions: each col[m] and dcol[m] is
    loaded once for four dot products and four multiply-adds, instead of
    once per filter.
    """
    n_filters, positions = dy_rows.shape[0], col.shape[0]
    blocked = n_filters - n_filters % 4
    for f in range(0, blocked, 4):
        g0, g1, g2, g3 = dy_rows[f], dy_rows[f + 1], dy_rows[f + 2], dy_rows[f + 3]
        t0, t1, t2, t3 = (
            w[f, c, di, dj],
            w[f + 1, c, di, dj],
            w[f + 2, c, di, dj],
            w[f + 3, c, di, dj],
        )
        s0 = s1 = s2 = s3 = zero
        for m in range(positions):
            v, a0, a1, a2, a3 = col[m], g0[m], g1[m], g2[m], g3[m]
            s0 += a0 * v
            s1 += a1 * v
            s2 += a2 * v
            s3 += a3 * v
            dcol[m] += (t0 * a0 + t1 * a1) + (t2 * a2 + t3 * a3)
        (
            dw[f, c, di, dj],
            dw[f + 1, c, di, dj],
            dw[f + 2, c, di, dj],
            dw[f + 3, c, di, dj],
        ) = s0, s1, s2, s3
    for f in range(blocked, n_filters):
        grad, tap = dy_rows[f], w[f, c, di, dj]
        total = zero
        for m in range(positions):
            total += grad[m] * col[m]
            dcol[m] += tap * grad[m]
        dw[f, c, di, dj] = total


# ---------------------------------------------------------------------------
# Stride 1: the padded-width grid, as in the direct forward kernel. Its length is a
# multiple of GRID_ALIGN, so LLVM's vectorized loops have no scalar remainder to run.


class Grid(NamedTuple):
    """Where things sit in the flat grid of :func:`grid_layout`."""

    row: int  # grid positions from one image row to the next
    image: int  # grid positions from one image to the next
    top: int  # position of pixel (0, 0) of the first image
    # positions that cover every output, rounded up to a multiple of GRID_ALIGN
    n_grid: int
    # positions in all, so every tap's view of the n_grid outputs stays inside
    length: int


def grid_layout(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], padding: tuple[int, int]
) -> Grid:
    """Lay out the padded images of x (N, C, H, W) in one flat grid per channel.

    Output (n, i, j) sits at position ``n*image + i*row + j``, and with
    stride 1 the input that kernel tap (di, dj) reads for it sits
    ``di*row + dj`` positions further on, in every image at once. Neighbours
    share their zero padding: the zeros after one row are also the zeros
    before the next, and the zero rows after one image are also those before
    the next, so a 4x4 image with padding 1 takes 5x5 positions, not 6x6.
    """
    n, _, height, width = x_shape
    kh, kw = w_shape[2:]
    ph, pw = padding
    out_h, out_w = height + 2 * ph - kh + 1, width + 2 * pw - kw + 1
    # Zeros between neighbours: enough for the taps that read the padding, and for the
    # outputs, which are wider than the input when the padding is wider than kernel - 1.
    gap_h, gap_w = max(ph, out_h - height), max(pw, out_w - width)
    row = width + gap_w
    image = (height + gap_h) * row
    n_grid = (n - 1) * image + (out_h - 1) * row + out_w
    n_grid = -(-n_grid // GRID_ALIGN) * GRID_ALIGN  # the extra positions hold dy = 0
    return Grid(row, image, ph * row + pw, n_grid, n_grid + (kh - 1) * row + kw - 1)


@njit(cache=True)
def _grid_setup(dy, x, row, image, top, n_grid, length, db):
    """x (C, length) and dy (F, n_grid) on the grid, zero elsewhere; also db.

    A kernel tap's im2col row is then a *view* of x's grid, shifted by the
    tap's offset, and its gradient adds into a view of the same shape:
    nothing is gathered or scattered. Grid positions that are not an output
    (padding, and the edges of each image) hold dy = 0 and add nothing.
    """
    n_batch, channels, height, width = x.shape
    n_filters, out_h, out_w = dy.shape[1], dy.shape[2], dy.shape[3]
    # Rows are copied through views indexed from 0: an index like at + s keeps a
    # wraparound check per element.
    xs = np.zeros((channels, length), x.dtype)
    for c in range(channels):
        for n in range(n_batch):
            for r in range(height):
                dst, src = xs[c, top + n * image + r * row :], x[n, c, r]
                for s in range(width):
                    dst[s] = src[s]
    dys = np.zeros((n_filters, n_grid), dy.dtype)
    for f in range(n_filters):
        # a local sum: adding into db[f] directly would wait on memory each time
        total = 0.0
        for n in range(n_batch):
            for i in range(out_h):
                dst, src = dys[f, n * image + i * row :], dy[n, f, i]
                for j in range(out_w):
                    dst[j] = src[j]
                    total += src[j]
        db[f] = total
    return xs, dys


@njit(cache=True)
def _grid_channel(c, xs, dys, w, row, zero, dw, dxs):
    """dw[:, c] and channel c of the gradient grid dxs, one kernel tap at a time."""
    n_grid = dys.shape[1]
    for di in range(w.shape[2]):
        for dj in range(w.shape[3]):
            shift = di * row + dj
            _dw_and_dcol(
                dys,
                xs[c, shift : shift + n_grid],
                w,
                c,
                di,
                dj,
                zero,
                dw,
                dxs[c, shift : shift + n_grid],
            )


@njit(cache=True)
def _grid_crop(dxs, row, image, top, dx):
    """dx (N, C, H, W) <- the images of the gradient grid, without the padding."""
    n_batch, channels, height, width = dx.shape
    for n in range(n_batch):
        for c in range(channels):
            for r in range(height):
                dst, src = dx[n, c, r], dxs[c, top + n * image + r * row :]
                for s in range(width):
                    dst[s] = src[s]


@njit(cache=True, parallel=True)
def conv2d_backward_grid(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    row: int,
    image: int,
    top: int,
    n_grid: int,
    length: int,
    dx: np.ndarray,
    dw: np.ndarray,
    db: np.ndarray,
) -> None:
    """dx, dw, db <- gradients of a stride-1 conv2d, on the grid of :func:`grid_layout`.

    dy (N, F, OH, OW), x (N, C, H, W), w (F, C, KH, KW). One input channel per
    thread.
    """
    xs, dys = _grid_setup(dy, x, row, image, top, n_grid, length, db)
    dxs = np.zeros(xs.shape, dx.dtype)
    zero = np.zeros(1, dx.dtype)[0]  # sums start from 0 in the data's dtype
    for c in prange(x.shape[1]):
        _grid_channel(c, xs, dys, w, row, zero, dw, dxs)
    _grid_crop(dxs, row, image, top, dx)


@njit(cache=True)
def conv2d_backward_grid_serial(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    row: int,
    image: int,
    top: int,
    n_grid: int,
    length: int,
    dx: np.ndarray,
    dw: np.ndarray,
    db: np.ndarray,
) -> None:
    """:func:`conv2d_backward_grid` in one thread."""
    xs, dys = _grid_setup(dy, x, row, image, top, n_grid, length, db)
    dxs = np.zeros(xs.shape, dx.dtype)
    zero = np.zeros(1, dx.dtype)[0]  # sums start from 0 in the data's dtype
    for c in range(x.shape[1]):
        _grid_channel(c, xs, dys, w, row, zero, dw, dxs)
    _grid_crop(dxs, row, image, top, dx)


# ---------------------------------------------------------------------------
# Any stride: im2col, one kernel tap at a time.


@njit(cache=True)
def _conv2d_backward_setup(dy, x, ph, pw, db):
    """A zero-padded copy of x, dy as a matrix (F, N*OH*OW), and db."""
    n_batch, channels, height, width = x.shape
    n_filters, out_h, out_w = dy.shape[1], dy.shape[2], dy.shape[3]
    xp = np.zeros((n_batch, channels, height + 2 * ph, width + 2 * pw), x.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for r in range(height):
                for s in range(width):
                    xp[n, c, r + ph, s + pw] = x[n, c, r, s]
    dy_rows = np.empty((n_filters, n_batch * out_h * out_w), dy.dtype)
    sums = np.zeros(n_filters)
    for n in range(n_batch):
        for f in range(n_filters):
            # a local sum: adding into sums[f] directly would wait on memory each time
            total = 0.0
            for i in range(out_h):
                for j in range(out_w):
                    dy_rows[f, (n * out_h + i) * out_w + j] = dy[n, f, i, j]
                    total += dy[n, f, i, j]
            sums[f] += total
    db[:] = sums
    return xp, dy_rows


@njit(cache=True)
def _crop(dxp, ph, pw, dx):
    """dx = dxp without its padded border, whose gradient belongs to no input."""
    for n in range(dx.shape[0]):
        for c in range(dx.shape[1]):
            for r in range(dx.shape[2]):
                for s in range(dx.shape[3]):
                    dx[n, c, r, s] = dxp[n, c, r + ph, s + pw]


@njit(cache=True)
def _conv2d_backward_channel(c, xp, dy_rows, w, sh, sw, out_h, out_w, dw, dxp):
    """dw[:, c] and the padded dx[:, c] of one input channel, one tap at a time.

    For each tap, ``col`` holds the input value that tap saw at every output
    position (one row of the im2col matrix); then ``dw[f, c, di, dj]`` is the
    dot product of dy's row f with ``col``, and ``dcol``, the gradient of
    those input values, is scattered back to where ``col`` came from.
    """
    n_batch = xp.shape[0]
    positions = dy_rows.shape[1]
    kh, kw = w.shape[2], w.shape[3]
    col = np.empty(positions, xp.dtype)
    dcol = np.empty(positions, dxp.dtype)
    zero = np.zeros(1, dxp.dtype)[0]  # sums start from 0 in the data's dtype
    # In both copies, a step LLVM knows is 1 lets it vectorize the row.
    for di in range(kh):
        for dj in range(kw):
            for n in range(n_batch):
                for i in range(out_h):
                    src = xp[n, c, i * sh + di]
                    dst = col[(n * out_h + i) * out_w :]
                    if sw == 1:
                        for j in range(out_w):
                            dst[j] = src[j + dj]
                    else:
                        for j in range(out_w):
                            dst[j] = src[j * sw + dj]
            dcol[:] = 0
            _dw_and_dcol(dy_rows, col, w, c, di, dj, zero, dw, dcol)
            for n in range(n_batch):
                for i in range(out_h):
                    src = dcol[(n * out_h + i) * out_w :]
                    dst = dxp[n, c, i * sh + di]
                    if sw == 1:
                        for j in range(out_w):
                            dst[j + dj] += src[j]
                    else:
                        for j in range(out_w):
                            dst[j * sw + dj] += src[j]


@njit(cache=True, parallel=True)
def conv2d_backward_im2col(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    dx: np.ndarray,
    dw: np.ndarray,
    db: np.ndarray,
) -> None:
    """dx, dw, db <- gradients of conv2d by im2col rows, one kernel tap at a time.

    Stride (sh, sw), padding (ph, pw); one input channel per thread.
    """
    xp, dy_rows = _conv2d_backward_setup(dy, x, ph, pw, db)
    dxp = np.zeros(xp.shape, dx.dtype)
    for c in prange(x.shape[1]):
        _conv2d_backward_channel(
            c, xp, dy_rows, w, sh, sw, dy.shape[2], dy.shape[3], dw, dxp
        )
    _crop(dxp, ph, pw, dx)


@njit(cache=True)
def conv2d_backward_im2col_serial(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    dx: np.ndarray,
    dw: np.ndarray,
    db: np.ndarray,
) -> None:
    """:func:`conv2d_backward_im2col` in one thread."""
    xp, dy_rows = _conv2d_backward_setup(dy, x, ph, pw, db)
    dxp = np.zeros(xp.shape, dx.dtype)
    for c in range(x.shape[1]):
        _conv2d_backward_channel(
            c, xp, dy_rows, w, sh, sw, dy.shape[2], dy.shape[3], dw, dxp
        )
    _crop(dxp, ph, pw, dx)
