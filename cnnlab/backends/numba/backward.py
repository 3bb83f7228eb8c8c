"""Backward operators as Numba kernels: the loops of the gradients, compiled.

Same functions, signatures and checks as :mod:`cnnlab.backends.numpy`. Each
public function validates its arguments with the shared ``check_*``
functions, makes contiguous arrays of the result dtype, and calls ``@njit``
code that pads, allocates and loops by itself: training calls these on small
batches of small images, where a few NumPy calls around a kernel would cost
more than the kernel (Lam et al. 2015, "Numba: a LLVM-based Python JIT
compiler").

Threads only pay off on big inputs. Starting them costs microseconds, and on
a busy machine a parallel loop waits for its slowest thread, so every
operator runs serially below ``PARALLEL_MIN_WORK`` and spreads over
``prange`` above it. :func:`use_threads` is the one place that decides.
Parallel loops never let two threads write the same element: each thread
owns whole input channels of ``dx`` and ``dw``, or whole (image, channel)
planes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from cnnlab.validation import (
    validate_conv2d_backward,
    validate_linear_backward,
    validate_pool2d_backward,
    validate_relu_backward,
    validate_softmax_cross_entropy,
)

PARALLEL_MIN_WORK = 1 << 22
"""Multiply-adds (conv2d) or window elements (pooling) from which an operator uses all
threads.
"""

# A dot product is a sum, and plain IEEE semantics make LLVM add its terms in
# order, one at a time. Allowing reassociation lets it keep one partial sum
# per vector lane, which made conv2d_backward about 3.5x faster here. NaN and
# infinity handling stay exact (no "nnan"/"ninf"). Sums have the data's
# dtype: split into one partial sum per vector lane, a float32 sum of a few
# thousand terms stays within ~1e-6 relative, and converting every float32
# product to float64 made the blocked loop of _dw_and_dcol 1.6x slower.
REASSOCIATE = {"reassoc", "contract", "nsz"}


def use_threads(work: int) -> bool:
    """True when ``work`` (multiply-adds or elements) is big enough for threads to pay
    off.
    """
    return work >= PARALLEL_MIN_WORK


# ---------------------------------------------------------------------------
# conv2d. Both paths compute, for every input channel c and kernel tap (di, dj):
#   dw[f, c, di, dj] = sum over output positions m of dy[f, m] * col[m]
#   dcol[m]         += sum over filters f of w[f, c, di, dj] * dy[f, m]
# where col[m] is the input that tap read for output m, and dcol[m] is where
# its gradient goes. They differ in how col and dcol are laid out in memory.


@njit(cache=True, fastmath=REASSOCIATE)
def _dw_and_dcol(dy_rows, col, w, c, di, dj, zero, dw, dcol):
    """One kernel tap (di, dj) of channel c: ``dw[f, c, di, dj] = dy_rows[f] . col`` for
    every filter f, and ``dcol += sum over f of w[f, c, di, dj] * dy_rows[f]``, over the
    first ``len(col)`` positions. ``zero`` is 0 in the data's dtype, which the sums
    start from.

    Four filters per pass over the positions: each col[m] and dcol[m] is
    loaded once for four dot products and four multiply-adds, instead of
    once per filter. That made this loop 1.7x faster on LeNet's layers.
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


# --- stride 1: the padded-width grid, as in the forward kernels of numba_conv.


GRID_ALIGN = 16
"""The grid's length is a multiple of this: LLVM's vectorized loops then have no scalar
remainder to run, which
made conv2d_backward 12% faster on LeNet's second layer (16 float32 fill one 512-bit vector)."""


class Grid(NamedTuple):
    """Where things sit in the flat grid of the stride-1 backward pass (see
    :func:`grid_layout`).
    """

    row: int  # grid positions from one image row to the next
    image: int  # grid positions from one image to the next
    top: int  # position of pixel (0, 0) of the first image
    # positions that cover every output, rounded up to a multiple of GRID_ALIGN
    n_grid: int
    # positions in all, so every tap's view of the n_grid outputs stays inside
    length: int


def grid_layout(x_shape, w_shape, padding: tuple[int, int]) -> Grid:
    """Lay the padded images of x (N, C, H, W) out one after the other in one flat grid
    per channel.

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
    """x (C, length) and dy (F, n_grid) on the grid of :func:`grid_layout`, zero
    elsewhere; also db.

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


@njit(cache=True)
def _conv2d_backward_grid_serial(dy, x, w, row, image, top, n_grid, length, dx, dw, db):
    xs, dys = _grid_setup(dy, x, row, image, top, n_grid, length, db)
    dxs = np.zeros(xs.shape, dx.dtype)
    zero = np.zeros(1, dx.dtype)[0]  # sums start from 0 in the data's dtype
    for c in range(x.shape[1]):
        _grid_channel(c, xs, dys, w, row, zero, dw, dxs)
    _grid_crop(dxs, row, image, top, dx)


@njit(cache=True, parallel=True)
def _conv2d_backward_grid_parallel(
    dy, x, w, row, image, top, n_grid, length, dx, dw, db
):
    xs, dys = _grid_setup(dy, x, row, image, top, n_grid, length, db)
    dxs = np.zeros(xs.shape, dx.dtype)
    zero = np.zeros(1, dx.dtype)[0]  # sums start from 0 in the data's dtype
    for c in prange(x.shape[1]):
        _grid_channel(c, xs, dys, w, row, zero, dw, dxs)
    _grid_crop(dxs, row, image, top, dx)


# --- any stride: im2col one kernel tap at a time.


@njit(cache=True)
def _conv2d_backward_setup(dy, x, ph, pw, db):
    """A zero-padded copy of x, dy as a (F, N*OH*OW) matrix with one row per filter, and
    db.
    """
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
    """dw[:, c] and the padded dx[:, c] of one input channel, one kernel tap (di, dj) at
    a time.

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
    # In both copies, a step LLVM knows is 1 lets it vectorize the row: up to 4x faster
    # on wide rows.
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


@njit(cache=True)
def _conv2d_backward_serial(dy, x, w, sh, sw, ph, pw, dx, dw, db):
    xp, dy_rows = _conv2d_backward_setup(dy, x, ph, pw, db)
    dxp = np.zeros(xp.shape, dx.dtype)
    for c in range(x.shape[1]):
        _conv2d_backward_channel(
            c, xp, dy_rows, w, sh, sw, dy.shape[2], dy.shape[3], dw, dxp
        )
    _crop(dxp, ph, pw, dx)


@njit(cache=True, parallel=True)
def _conv2d_backward_parallel(dy, x, w, sh, sw, ph, pw, dx, dw, db):
    xp, dy_rows = _conv2d_backward_setup(dy, x, ph, pw, db)
    dxp = np.zeros(xp.shape, dx.dtype)
    for c in prange(x.shape[1]):
        _conv2d_backward_channel(
            c, xp, dy_rows, w, sh, sw, dy.shape[2], dy.shape[3], dw, dxp
        )
    _crop(dxp, ph, pw, dx)


def conv2d_backward(
    dy, x, w, stride=1, padding=0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``conv2d`` with respect to x (N, C, H, W), w (F, C, KH, KW) and b
    (F,); dy is (N, F, OH, OW).

    Stride 1 runs on the grid of :func:`grid_layout`, any other
    stride on im2col rows built one kernel tap at a time; both in one thread
    or, from ``PARALLEL_MIN_WORK`` multiply-adds, one input channel per thread.
    """
    args = validate_conv2d_backward(dy, x, w, stride, padding)
    dtype = args.dtype
    dy, x, w = (np.ascontiguousarray(a, dtype=dtype) for a in (args.dy, args.x, args.w))
    dx, dw, db = (
        np.empty(x.shape, dtype),
        np.empty(w.shape, dtype),
        np.empty(w.shape[0], dtype),
    )
    work = 2 * dy.size * w[0].size  # multiply-adds of dw plus those of dx
    threads = use_threads(work) and x.shape[1] > 1  # threads split the input channels
    if args.stride == (1, 1):
        kernel = (
            _conv2d_backward_grid_parallel if threads else _conv2d_backward_grid_serial
        )
        kernel(dy, x, w, *grid_layout(x.shape, w.shape, args.padding), dx, dw, db)
    else:
        kernel = _conv2d_backward_parallel if threads else _conv2d_backward_serial
        kernel(dy, x, w, *args.stride, *args.padding, dx, dw, db)
    return dx, dw, db


# ---------------------------------------------------------------------------
# Pooling: one (image, channel) plane at a time.


@njit(cache=True, inline="always")
def _pool2d_backward_plane(image, grad, width, out_w, kh, kw, sh, sw, take_max, plane):
    """dx of one flattened (H*W) plane: each window sends its dy to its maximum, or
    shares it equally.

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
    """:func:`_pool2d_backward_plane` for the common 2x2 window of stride 2, unrolled
    and without branches.

    The four values of a window are loaded first and the same comparisons,
    in the same order, pick the same winner. Then all four elements are
    written, dy to the winner and ``zero`` to the others, through selects
    between values already loaded: a branch per comparison would be
    mispredicted on every new batch, which made the general kernel 5x slower
    on fresh data than on data it had seen. (The windows do not overlap, so
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
def _planes(a):
    """View (N, C, H, W) as (N*C, H*W): one flattened plane per row."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2] * a.shape[3])


@njit(cache=True)
def _pool2d_backward_serial(dy, x, kh, kw, sh, sw, take_max, dx):
    x_planes, dy_planes, dx_planes = _planes(x), _planes(dy), _planes(dx)
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


@njit(cache=True, parallel=True)
def _pool2d_backward_parallel(dy, x, kh, kw, sh, sw, take_max, dx):
    x_planes, dy_planes, dx_planes = _planes(x), _planes(dy), _planes(dx)
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


def _pool_backward(dy, x, kernel_size, stride, take_max: bool) -> np.ndarray:
    args = validate_pool2d_backward(dy, x, kernel_size, stride)
    dtype = args.dtype
    dy, x = (np.ascontiguousarray(a, dtype=dtype) for a in (args.dy, args.x))
    dx = np.empty(x.shape, dtype)
    work = dy.size * args.kernel_size[0] * args.kernel_size[1]
    kernel = _pool2d_backward_parallel if use_threads(work) else _pool2d_backward_serial
    kernel(dy, x, *args.kernel_size, *args.stride, take_max, dx)
    return dx


def max_pool2d_backward(dy, x, kernel_size, stride=None) -> np.ndarray:
    """Gradient of ``max_pool2d``: each window's dy goes to its first maximum (its last
    NaN); x (N, C, H, W).
    """
    return _pool_backward(dy, x, kernel_size, stride, True)


def avg_pool2d_backward(dy, x, kernel_size, stride=None) -> np.ndarray:
    """Gradient of ``avg_pool2d``: each window's dy is shared equally by its KH*KW
    inputs; x (N, C, H, W).
    """
    return _pool_backward(dy, x, kernel_size, stride, False)


# ---------------------------------------------------------------------------
# relu, linear and the loss: small, serial loops.


@njit(cache=True)
def _relu_backward(dy, x, dx):
    for k in range(dx.size):
        dx[k] = 0 if x[k] <= 0 else dy[k]  # NaN passes dy, as in PyTorch


def relu_backward(dy, x) -> np.ndarray:
    """Gradient of ``relu``: zero where x <= 0 (also at x == 0), dy elsewhere (also at
    NaN). Any shape.
    """
    dy, x, dtype = validate_relu_backward(dy, x)
    dx = np.empty(x.shape, dtype)
    dy, x = (np.ascontiguousarray(a, dtype=dtype).reshape(-1) for a in (dy, x))
    _relu_backward(dy, x, dx.reshape(-1))
    return dx


@njit(cache=True)
def _linear_backward(dy, x, w, dx, dw, db):
    n_rows, n_out = dy.shape
    dx[:, :] = 0
    dw[:, :] = 0
    db[:] = 0
    # Each dy[n, o] adds a multiple of a contiguous row: w[o] to dx[n], x[n] to dw[o].
    for n in range(n_rows):
        for o in range(n_out):
            grad = dy[n, o]
            db[o] += grad
            for k in range(x.shape[1]):
                dx[n, k] += grad * w[o, k]
                dw[o, k] += grad * x[n, k]


def linear_backward(dy, x, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``linear`` (``y = x @ w.T + b``); dy (N, out) -> dx (N, in), dw
    (out, in), db (out,).
    """
    args = validate_linear_backward(dy, x, w)
    dtype = args.dtype
    dy, x, w = (np.ascontiguousarray(a, dtype=dtype) for a in (args.dy, args.x, args.w))
    dx, dw, db = (
        np.empty(x.shape, dtype),
        np.empty(w.shape, dtype),
        np.empty(w.shape[0], dtype),
    )
    _linear_backward(dy, x, w, dx, dw, db)
    return dx, dw, db


@njit(cache=True)
def _softmax_cross_entropy(logits, labels, dlogits):
    n_rows, n_classes = logits.shape
    total = 0.0
    for r in range(n_rows):
        row = logits[r]
        top = row.max()
        norm = 0.0
        for k in range(n_classes):
            e = np.exp(row[k] - top)  # shifted, so exp never overflows
            dlogits[r, k] = e
            norm += e
        total += np.log(norm) - (row[labels[r]] - top)
        scale = 1.0 / (norm * n_rows)
        for k in range(n_classes):
            dlogits[r, k] *= scale  # softmax / N
        dlogits[r, labels[r]] -= 1.0 / n_rows
    return total / n_rows


def softmax_cross_entropy(logits, labels) -> tuple[np.floating, np.ndarray]:
    """Mean cross-entropy of softmax(logits) (N, K) against int labels (N,), and dlogits
    (N, K).

    ``dlogits = (softmax(logits) - onehot(labels)) / N``; stable for large logits.
    """
    logits, labels = validate_softmax_cross_entropy(logits, labels)
    logits = np.ascontiguousarray(logits)
    dlogits = np.empty(logits.shape, logits.dtype)
    loss = _softmax_cross_entropy(logits, np.ascontiguousarray(labels), dlogits)
    return logits.dtype.type(loss), dlogits
