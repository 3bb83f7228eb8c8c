"""Numba JIT backward operators: the loops of the gradients, compiled.

Same functions, signatures and checks as the other backends. Each public function
validates its arguments with :mod:`cnnlab.validation`, makes contiguous arrays of
the result dtype, and calls a compiled kernel of :mod:`cnnlab.backends.numba.kernels`
(:mod:`.conv_backward`, :mod:`.pool`, :mod:`.dense`), which pads, allocates and
loops by itself. Whether a kernel runs on all threads is decided in
:func:`cnnlab.backends.numba.chooser.use_threads`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cnnlab.backends.numba import chooser
from cnnlab.backends.numba.kernels import conv_backward, dense, pool
from cnnlab.validation import (
    PairLike,
    validate_conv2d_backward,
    validate_linear_backward,
    validate_pool2d_backward,
    validate_relu_backward,
    validate_softmax_cross_entropy,
)


def _gradients_like(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Empty dx, dw and db for the input x and the weights w (F, ...) of a layer."""
    return np.empty_like(x), np.empty_like(w), np.empty(w.shape[0], w.dtype)


def conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    stride: PairLike = 1,
    padding: PairLike = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``conv2d`` for dy (N, F, OH, OW): dx (N, C, H, W), dw and db.

    Stride 1 runs on the grid of :func:`.conv_backward.grid_layout`, any other
    stride on im2col rows built one kernel tap at a time; both in one thread or,
    for enough work, one input channel per thread.
    """
    dy, args = validate_conv2d_backward(dy, x, w, stride, padding)
    dtype = args.dtype
    dyc, xc, wc = (np.ascontiguousarray(a, dtype=dtype) for a in (dy, args.x, args.w))
    dx, dw, db = _gradients_like(xc, wc)
    work = 2 * dyc.size * wc[0].size  # multiply-adds of dw plus those of dx
    # threads split the input channels
    threads = chooser.use_threads(work, backward=True) and xc.shape[1] > 1
    if chooser.choose_conv_backward_kernel(args.stride) == "grid":
        grid = conv_backward.grid_layout(xc.shape, wc.shape, args.padding)
        kernel = (
            conv_backward.conv2d_backward_grid
            if threads
            else conv_backward.conv2d_backward_grid_serial
        )
        kernel(dyc, xc, wc, *grid, dx, dw, db)
    else:
        im2col = (
            conv_backward.conv2d_backward_im2col
            if threads
            else conv_backward.conv2d_backward_im2col_serial
        )
        im2col(dyc, xc, wc, *args.stride, *args.padding, dx, dw, db)
    return dx, dw, db


def _pool_backward(
    dy: ArrayLike, x: ArrayLike, kernel_size: PairLike, stride, take_max: bool
) -> np.ndarray:
    dy, args = validate_pool2d_backward(dy, x, kernel_size, stride)
    dtype = args.dtype
    dyc, xc = (np.ascontiguousarray(a, dtype=dtype) for a in (dy, args.x))
    dx = np.empty(xc.shape, dtype)
    work = dyc.size * args.kernel_size[0] * args.kernel_size[1]
    threads = chooser.use_threads(work, backward=True)
    kernel = pool.pool2d_backward if threads else pool.pool2d_backward_serial
    kernel(dyc, xc, *args.kernel_size, *args.stride, take_max, dx)
    return dx


def max_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Gradient of ``max_pool2d``: each window's dy goes to its first maximum.

    Or to its last NaN, as in PyTorch; x is (N, C, H, W).
    """
    return _pool_backward(dy, x, kernel_size, stride, True)


def avg_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Gradient of ``avg_pool2d``: each window's dy is shared by its KH*KW inputs.

    x is (N, C, H, W).
    """
    return _pool_backward(dy, x, kernel_size, stride, False)


def relu_backward(dy: ArrayLike, x: ArrayLike) -> np.ndarray:
    """Gradient of ``relu``, any shape: zero where x <= 0, dy elsewhere.

    x == 0 gets zero and NaN gets dy, as in PyTorch.
    """
    dya, xa, dtype = validate_relu_backward(dy, x)
    dx = np.empty(xa.shape, dtype)
    dyc, xc = (np.ascontiguousarray(a, dtype=dtype).reshape(-1) for a in (dya, xa))
    dense.relu_backward_flat(dyc, xc, dx.reshape(-1))
    return dx


def linear_backward(
    dy: ArrayLike, x: ArrayLike, w: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``linear``: dy (N, out) -> dx (N, in), dw (out, in), db (out,)."""
    dy, args = validate_linear_backward(dy, x, w)
    dtype = args.dtype
    dyc, xc, wc = (np.ascontiguousarray(a, dtype=dtype) for a in (dy, args.x, args.w))
    dx, dw, db = _gradients_like(xc, wc)
    dense.linear_backward_rows(dyc, xc, wc, dx, dw, db)
    return dx, dw, db


def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike
) -> tuple[np.floating, np.ndarray]:
    """Mean cross-entropy of softmax(logits) (N, K) against labels (N,), and dlogits.

    ``dlogits = (softmax(logits) - onehot(labels)) / N``; stable for large logits.
    """
    logits_a, labels_a = validate_softmax_cross_entropy(logits, labels)
    logits_c = np.ascontiguousarray(logits_a)
    dlogits = np.empty(logits_c.shape, logits_c.dtype)
    loss = dense.softmax_cross_entropy_rows(
        logits_c, np.ascontiguousarray(labels_a), dlogits
    )
    return logits_c.dtype.type(loss), dlogits
