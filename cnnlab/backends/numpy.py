"""Vectorized NumPy: whole-array operations, no Python loop over elements.

Convolution is im2col + one matrix multiply (Chellapilla et al. 2006): the
receptive fields are gathered into a matrix, one kernel tap at a time, and
the product with the flattened kernels is handed to BLAS.
Pooling takes the maximum or mean of ``KH * KW`` strided slices, which reads
memory in order instead of reducing over tiny trailing axes.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from cnnlab.backends.windows import pad2d, window_taps
from cnnlab.validation import (
    PairLike,
    Pool2dArgs,
    validate_conv2d,
    validate_conv2d_backward,
    validate_elementwise,
    validate_linear,
    validate_linear_backward,
    validate_pool2d,
    validate_pool2d_backward,
    validate_relu_backward,
    validate_softmax,
    validate_softmax_cross_entropy,
)


def im2col(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Gather every receptive field of xp (N, C, Hp, Wp) into (C*KH*KW, N*OH*OW).

    One strided slice per kernel tap fills one block of rows, so the copy
    reads memory in order; this is the unrolling of Chellapilla et al. (2006).
    """
    (kh, kw), (oh, ow) = kernel, out_hw
    n, c = xp.shape[:2]
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=xp.dtype)
    taps = window_taps(xp, kernel, stride, out_hw)
    for (di, dj), tap in zip(np.ndindex(kh, kw), taps, strict=True):
        cols[:, di, dj] = tap.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def conv2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: PairLike = 1,
    padding: PairLike = 0,
) -> np.ndarray:
    """2-D cross-correlation by im2col + GEMM: x (N, C, H, W) -> (N, F, OH, OW)."""
    args = validate_conv2d(x, w, b, stride, padding, im2col=True)
    n, f, oh, ow = args.out_shape
    xp = pad2d(args.x.astype(args.dtype, copy=False), args.padding)
    cols = im2col(xp, args.w.shape[2:], args.stride, (oh, ow))
    # (F, N*OH*OW), one BLAS call
    out = args.w.astype(args.dtype, copy=False).reshape(f, -1) @ cols
    if args.b is not None:
        out += args.b.astype(args.dtype, copy=False)[:, None]
    return np.ascontiguousarray(out.reshape(f, n, oh, ow).transpose(1, 0, 2, 3))


def _combine_taps(args: Pool2dArgs, combine: np.ufunc) -> np.ndarray:
    """Combine the KH*KW strided slices of x elementwise, in window order."""
    taps = window_taps(args.x, args.kernel_size, args.stride, args.out_shape[2:])
    out = next(taps).copy()
    for tap in taps:
        combine(out, tap, out=out)
    return out


def max_pool2d(
    x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Maximum over each window; x (N, C, H, W), floor mode, no padding.

    ``np.maximum`` returns NaN where either value is NaN, so a window that holds a
    NaN has maximum NaN, as in PyTorch.
    """
    return _combine_taps(validate_pool2d(x, kernel_size, stride), np.maximum)


def avg_pool2d(
    x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Mean over each window; x (N, C, H, W), floor mode, no padding.

    The sum runs in x's dtype, in window order, then is divided, as in PyTorch.
    """
    args = validate_pool2d(x, kernel_size, stride)
    out = _combine_taps(args, np.add)
    out /= args.kernel_size[0] * args.kernel_size[1]
    return out


def relu(x: ArrayLike) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    x = validate_elementwise(x)
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def linear(x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in) -> (N, out)."""
    args = validate_linear(x, w, b)
    out = (
        args.x.astype(args.dtype, copy=False) @ args.w.astype(args.dtype, copy=False).T
    )
    if args.b is not None:
        out += args.b
    return out


def softmax(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum: no overflow."""
    x, axis = validate_softmax(x, axis)
    exps = np.exp(x - x.max(axis=axis, keepdims=True))
    return exps / exps.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------
# Backward operators: the gradients that training needs.
#
# Each ``*_backward`` function takes ``dy``, the gradient of the loss with
# respect to an operator's output, plus that operator's inputs, and returns the
# gradients with respect to those inputs (backpropagation, Rumelhart et al.
# 1986). Shapes, dtypes and bad-input rules are the forward operators' own:
# float32 in gives float32 out, inputs are never modified, and the
# backward checks of :mod:`cnnlab.validation` run before any arithmetic.


def conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    stride: PairLike = 1,
    padding: PairLike = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``conv2d``: dx (N, C, H, W), dw (F, C, KH, KW) and db (F,).

    dy is (N, F, OH, OW). The gradient of a convolution is two more
    convolutions (Dumoulin & Visin 2016, section 4):

    - ``dw[f, c] = sum_n x[n, c] ⋆ dy[n, f]``: a cross-correlation of the
      padded input with dy, dilated by the stride. We take it as im2col + GEMM,
      exactly like the forward pass: ``tensordot`` of dy with the sliding
      windows of the padded input.
    - ``dx`` is the *transposed* convolution: a full convolution of dy,
      dilated by the stride, with the flipped kernel ``w[:, :, ::-1, ::-1]``
      transposed to (C, F, KH, KW). Every output ``y[n, f, i, j]`` read one
      window of the padded input through ``w[f]``, so its gradient goes back
      onto that window through the same weights. We compute it in that
      scatter form (col2im): one matrix product gives every window's share
      ``dy[n, :, i, j] @ w``, then a loop over the KH*KW taps adds tap
      ``(di, dj)`` of all windows into a padded buffer with one strided slice.
      Overlapping windows accumulate; rows and columns that no window reads
      (stride larger than the kernel) keep a zero gradient, and the padded
      border is cut off at the end.

    ``db`` is dy summed over the batch and both spatial axes.
    """
    dy, args = validate_conv2d_backward(dy, x, w, stride, padding, im2col=True)
    dtype = args.dtype
    dy, x, w = (a.astype(dtype, copy=False) for a in (dy, args.x, args.w))
    (sh, sw), (ph, pw) = args.stride, args.padding
    height, width = x.shape[2:]
    kh, kw = w.shape[2:]

    xp = pad2d(x, args.padding)
    # (N, C, OH, OW, KH, KW)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    dw = np.tensordot(dy, windows, axes=([0, 2, 3], [0, 2, 3]))  # (F, C, KH, KW)
    db = dy.sum(axis=(0, 2, 3))

    shares = np.tensordot(dy, w, axes=([1], [0]))  # (N, OH, OW, C, KH, KW)
    shares = shares.transpose(0, 3, 4, 5, 1, 2)  # (N, C, KH, KW, OH, OW)
    dxp = np.zeros(xp.shape, dtype)
    taps = window_taps(dxp, (kh, kw), args.stride, dy.shape[2:])
    for (di, dj), tap in zip(np.ndindex(kh, kw), taps, strict=True):
        tap += shares[:, :, di, dj]
    dx = np.ascontiguousarray(dxp[:, :, ph : ph + height, pw : pw + width])
    return dx, np.ascontiguousarray(dw), db


def max_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Gradient of ``max_pool2d`` with respect to x (N, C, H, W); dy is (N, C, OH, OW).

    Each window passes its gradient to the element the forward pass picked,
    by PyTorch's rule: walking the window in row-major order, an element
    replaces the running maximum when it is greater or NaN. That is the
    first of equal maxima, or the last NaN. Overlapping windows add up.
    """
    dy, args = validate_pool2d_backward(dy, x, kernel_size, stride)
    dy = dy.astype(args.dtype, copy=False)
    x_taps = window_taps(args.x, args.kernel_size, args.stride, dy.shape[2:])
    best = next(x_taps).copy()
    best_tap = np.zeros(dy.shape, np.intp)  # which tap of each window holds its maximum
    for k, x_tap in enumerate(x_taps, start=1):
        wins = (x_tap > best) | np.isnan(x_tap)
        best[wins] = x_tap[wins]
        best_tap[wins] = k
    dx = np.zeros(args.x.shape, args.dtype)
    for k, dx_tap in enumerate(
        window_taps(dx, args.kernel_size, args.stride, dy.shape[2:])
    ):
        dx_tap += np.where(best_tap == k, dy, 0)
    return dx


def avg_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Gradient of ``avg_pool2d`` with respect to x (N, C, H, W); dy is (N, C, OH, OW).

    Every element of a window gets an equal share, ``dy / (KH * KW)``.
    """
    dy, args = validate_pool2d_backward(dy, x, kernel_size, stride)
    share = dy.astype(args.dtype, copy=False) / (
        args.kernel_size[0] * args.kernel_size[1]
    )
    dx = np.zeros(args.x.shape, args.dtype)
    for dx_tap in window_taps(dx, args.kernel_size, args.stride, share.shape[2:]):
        dx_tap += share
    return dx


def relu_backward(dy: ArrayLike, x: ArrayLike) -> np.ndarray:
    """Gradient of ``relu``, any shape: zero where x <= 0, dy elsewhere.

    x == 0 gets zero and NaN gets dy, as in PyTorch.
    """
    dy, x, dtype = validate_relu_backward(dy, x)
    return np.where(x <= 0, 0, dy).astype(dtype, copy=False)


def linear_backward(
    dy: ArrayLike, x: ArrayLike, w: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``linear``: dy (N, out) -> dx (N, in), dw (out, in), db (out,)."""
    dy, args = validate_linear_backward(dy, x, w)
    dy, x, w = (a.astype(args.dtype, copy=False) for a in (dy, args.x, args.w))
    return dy @ w, dy.T @ x, dy.sum(axis=0)


def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike
) -> tuple[np.floating, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    logits is (N, K), labels is (N,) with values in [0, K). Returns the mean
    loss ``-mean(log softmax(logits)[n, labels[n]])`` as a scalar of the
    logits' dtype and ``dlogits = (softmax(logits) - onehot(labels)) / N``.
    The log-sum-exp is shifted by each row's maximum so large logits never
    overflow (Goodfellow et al. 2016, section 4.1).
    """
    logits, labels = validate_softmax_cross_entropy(logits, labels)
    rows = np.arange(logits.shape[0])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, labels].mean()
    dlogits = np.exp(log_probs)
    dlogits[rows, labels] -= 1
    dlogits /= logits.shape[0]
    return loss, dlogits
