"""Backward operators as Numba kernels: the loops of the gradients, compiled.

Same functions, signatures and checks as :mod:`cnnlab.grad_numpy`. Each
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

import numpy as np
from numba import njit, prange

from .grad_numpy import (
    check_conv2d_backward,
    check_linear_backward,
    check_pool2d_backward,
    check_relu_backward,
    check_softmax_cross_entropy,
)

PARALLEL_MIN_WORK = 1 << 22
"""Multiply-adds (conv2d) or window elements (pooling) from which an operator uses all threads."""

# A dot product is a sum, and plain IEEE semantics make LLVM add its terms in
# order, one at a time. Allowing reassociation lets it keep one partial sum
# per vector lane, which made conv2d_backward about 3.5x faster here. NaN and
# infinity handling stay exact (no "nnan"/"ninf"). Sums are kept in float64.
REASSOCIATE = {"reassoc", "contract", "nsz"}


def use_threads(work: int) -> bool:
    """True when ``work`` (multiply-adds or elements) is big enough for threads to pay off."""
    return work >= PARALLEL_MIN_WORK


# ---------------------------------------------------------------------------
# conv2d: im2col one kernel tap at a time.


@njit(cache=True)
def _conv2d_backward_setup(dy, x, ph, pw, db):
    """A zero-padded copy of x, dy as a (F, N*OH*OW) matrix with one row per filter, and db."""
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
            total = 0.0  # a local sum: adding into sums[f] directly would wait on memory each time
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


@njit(cache=True, fastmath=REASSOCIATE)
def _conv2d_backward_channel(c, xp, dy_rows, w, sh, sw, out_h, out_w, dw, dxp):
    """dw[:, c] and the padded dx[:, c] of one input channel, one kernel tap (di, dj) at a time.

    For each tap, ``col`` holds the input value that tap saw at every output
    position (one row of the im2col matrix); then ``dw[f, c, di, dj]`` is the
    dot product of dy's row f with ``col``, and ``dcol``, the gradient of
    those input values, is scattered back to where ``col`` came from.
    """
    n_batch = xp.shape[0]
    n_filters, positions = dy_rows.shape
    kh, kw = w.shape[2], w.shape[3]
    col = np.empty(positions, xp.dtype)
    dcol = np.empty(positions, dxp.dtype)
    # In both copies, a step LLVM knows is 1 lets it vectorize the row: up to 4x faster on wide rows.
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
            for f in range(n_filters):
                grad, tap = dy_rows[f], w[f, c, di, dj]
                total = 0.0
                for m in range(positions):
                    total += grad[m] * col[m]
                    dcol[m] += tap * grad[m]
                dw[f, c, di, dj] = total
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
        _conv2d_backward_channel(c, xp, dy_rows, w, sh, sw, dy.shape[2], dy.shape[3], dw, dxp)
    _crop(dxp, ph, pw, dx)


@njit(cache=True, parallel=True)
def _conv2d_backward_parallel(dy, x, w, sh, sw, ph, pw, dx, dw, db):
    xp, dy_rows = _conv2d_backward_setup(dy, x, ph, pw, db)
    dxp = np.zeros(xp.shape, dx.dtype)
    for c in prange(x.shape[1]):
        _conv2d_backward_channel(c, xp, dy_rows, w, sh, sw, dy.shape[2], dy.shape[3], dw, dxp)
    _crop(dxp, ph, pw, dx)


def conv2d_backward(dy, x, w, stride=1, padding=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``conv2d`` with respect to x (N, C, H, W), w (F, C, KH, KW) and b (F,); dy is (N, F, OH, OW)."""
    args = check_conv2d_backward(dy, x, w, stride, padding)
    dtype = args.dtype
    dy, x, w = (np.ascontiguousarray(a, dtype=dtype) for a in (args.dy, args.x, args.w))
    dx, dw, db = np.empty(x.shape, dtype), np.empty(w.shape, dtype), np.empty(w.shape[0], dtype)
    work = 2 * dy.size * w[0].size  # multiply-adds of dw plus those of dx
    threads = use_threads(work) and x.shape[1] > 1  # threads split the input channels
    kernel = _conv2d_backward_parallel if threads else _conv2d_backward_serial
    kernel(dy, x, w, *args.stride, *args.padding, dx, dw, db)
    return dx, dw, db


# ---------------------------------------------------------------------------
# Pooling: one (image, channel) plane at a time.


@njit(cache=True, inline="always")
def _pool2d_backward_plane(image, grad, width, out_w, kh, kw, sh, sw, take_max, plane):
    """dx of one flattened (H*W) plane: each window sends its dy to its first maximum, or shares it equally."""
    scale = 1.0 / (kh * kw)
    plane[:] = 0
    for i in range(grad.size // out_w):
        for j in range(out_w):
            corner = i * sh * width + j * sw  # the window's top-left element
            if take_max:
                # Selects, not branches, which random data would mispredict; strictly greater keeps
                # the first maximum in row-major order, the one the forward pass returns.
                best_at, best = corner, image[corner]
                for di in range(kh):
                    for dj in range(kw):
                        at = corner + di * width + dj
                        better = image[at] > best
                        best = image[at] if better else best
                        best_at = at if better else best_at
                plane[best_at] += grad[i * out_w + j]
            else:
                share = grad[i * out_w + j] * scale
                for di in range(kh):
                    for dj in range(kw):
                        plane[corner + di * width + dj] += share


@njit(cache=True, inline="always")
def _planes(a):
    """View (N, C, H, W) as (N*C, H*W): one flattened plane per row."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2] * a.shape[3])


@njit(cache=True)
def _pool2d_backward_serial(dy, x, kh, kw, sh, sw, take_max, dx):
    x_planes, dy_planes, dx_planes = _planes(x), _planes(dy), _planes(dx)
    width, out_w = x.shape[3], dy.shape[3]
    for p in range(x_planes.shape[0]):
        _pool2d_backward_plane(x_planes[p], dy_planes[p], width, out_w, kh, kw, sh, sw, take_max, dx_planes[p])


@njit(cache=True, parallel=True)
def _pool2d_backward_parallel(dy, x, kh, kw, sh, sw, take_max, dx):
    x_planes, dy_planes, dx_planes = _planes(x), _planes(dy), _planes(dx)
    width, out_w = x.shape[3], dy.shape[3]
    for p in prange(x_planes.shape[0]):
        _pool2d_backward_plane(x_planes[p], dy_planes[p], width, out_w, kh, kw, sh, sw, take_max, dx_planes[p])


def _pool_backward(dy, x, kernel_size, stride, take_max: bool) -> np.ndarray:
    args = check_pool2d_backward(dy, x, kernel_size, stride)
    dtype = args.dtype
    dy, x = (np.ascontiguousarray(a, dtype=dtype) for a in (args.dy, args.x))
    dx = np.empty(x.shape, dtype)
    work = dy.size * args.kernel_size[0] * args.kernel_size[1]
    kernel = _pool2d_backward_parallel if use_threads(work) else _pool2d_backward_serial
    kernel(dy, x, *args.kernel_size, *args.stride, take_max, dx)
    return dx


def max_pool2d_backward(dy, x, kernel_size, stride=None) -> np.ndarray:
    """Gradient of ``max_pool2d``: each window's dy goes to its first maximum; x (N, C, H, W)."""
    return _pool_backward(dy, x, kernel_size, stride, True)


def avg_pool2d_backward(dy, x, kernel_size, stride=None) -> np.ndarray:
    """Gradient of ``avg_pool2d``: each window's dy is shared equally by its KH*KW inputs; x (N, C, H, W)."""
    return _pool_backward(dy, x, kernel_size, stride, False)


# ---------------------------------------------------------------------------
# relu, linear and the loss: small, serial loops.


@njit(cache=True)
def _relu_backward(dy, x, dx):
    for k in range(dx.size):
        dx[k] = dy[k] if x[k] > 0 else 0


def relu_backward(dy, x) -> np.ndarray:
    """Gradient of ``relu``: dy where x > 0, zero elsewhere (also at x == 0). Any shape."""
    dy, x, dtype = check_relu_backward(dy, x)
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
    """Gradients of ``linear`` (``y = x @ w.T + b``); dy (N, out) -> dx (N, in), dw (out, in), db (out,)."""
    args = check_linear_backward(dy, x, w)
    dtype = args.dtype
    dy, x, w = (np.ascontiguousarray(a, dtype=dtype) for a in (args.dy, args.x, args.w))
    dx, dw, db = np.empty(x.shape, dtype), np.empty(w.shape, dtype), np.empty(w.shape[0], dtype)
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
            norm += np.exp(row[k] - top)
        log_norm = np.log(norm)  # log(sum(exp(row - top))): shifted, so exp never overflows
        total += log_norm - (row[labels[r]] - top)
        for k in range(n_classes):
            dlogits[r, k] = np.exp(row[k] - top - log_norm) / n_rows
        dlogits[r, labels[r]] -= 1.0 / n_rows
    return total / n_rows


def softmax_cross_entropy(logits, labels) -> tuple[np.floating, np.ndarray]:
    """Mean cross-entropy of softmax(logits) (N, K) against int labels (N,), and dlogits (N, K).

    ``dlogits = (softmax(logits) - onehot(labels)) / N``; stable for large logits.
    """
    logits, labels = check_softmax_cross_entropy(logits, labels)
    logits = np.ascontiguousarray(logits)
    dlogits = np.empty(logits.shape, logits.dtype)
    loss = _softmax_cross_entropy(logits, np.ascontiguousarray(labels), dlogits)
    return logits.dtype.type(loss), dlogits
