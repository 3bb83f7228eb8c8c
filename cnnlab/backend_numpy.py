"""Vectorized NumPy: whole-array operations, no Python loop over elements.

Convolution is im2col + one matrix multiply (Chellapilla et al. 2006): the
receptive fields are gathered into a matrix, one kernel tap at a time, and
the product with the flattened kernels is handed to BLAS.
Pooling takes the maximum or mean of ``KH * KW`` strided slices, which reads
memory in order instead of reducing over tiny trailing axes.
"""
from __future__ import annotations

import numpy as np

from .checks import check_conv2d, check_elementwise, check_linear, check_pool2d, check_softmax


def pad2d(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Zero-pad the last two axes of x (N, C, H, W) by (ph, pw) on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def im2col(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Gather every receptive field of xp (N, C, Hp, Wp) into a (C*KH*KW, N*OH*OW) matrix.

    One strided slice per kernel tap fills one block of rows, so the copy
    reads memory in order; this is the unrolling of Chellapilla et al. (2006).
    """
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    n, c = xp.shape[:2]
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=xp.dtype)
    for di in range(kh):
        for dj in range(kw):
            tap = xp[:, :, di : di + sh * (oh - 1) + 1 : sh, dj : dj + sw * (ow - 1) + 1 : sw]
            cols[:, di, dj] = tap.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def conv2d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """2-D cross-correlation by im2col + GEMM; x (N, C, H, W), w (F, C, KH, KW) -> (N, F, OH, OW)."""
    args = check_conv2d(x, w, b, stride, padding, im2col=True)
    n, f, oh, ow = args.out_shape
    xp = pad2d(args.x.astype(args.dtype, copy=False), args.padding)
    cols = im2col(xp, args.w.shape[2:], args.stride, (oh, ow))
    out = args.w.astype(args.dtype, copy=False).reshape(f, -1) @ cols  # (F, N*OH*OW), one BLAS call
    if args.b is not None:
        out += args.b.astype(args.dtype, copy=False)[:, None]
    return np.ascontiguousarray(out.reshape(f, n, oh, ow).transpose(1, 0, 2, 3))


def _window_slices(x: np.ndarray, kernel_size, stride, out_shape):
    """Yield, for each tap (di, dj) of the window, the strided slice it reads."""
    (kh, kw), (sh, sw) = kernel_size, stride
    oh, ow = out_shape[2:]
    for di in range(kh):
        for dj in range(kw):
            yield x[:, :, di : di + sh * (oh - 1) + 1 : sh, dj : dj + sw * (ow - 1) + 1 : sw]


def max_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Maximum over each window; x (N, C, H, W), floor mode, no padding."""
    args = check_pool2d(x, kernel_size, stride)
    slices = _window_slices(args.x, args.kernel_size, args.stride, args.out_shape)
    out = next(slices).copy()
    for window_tap in slices:
        np.maximum(out, window_tap, out=out)
    return out


def avg_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Mean over each window; x (N, C, H, W), floor mode, no padding."""
    args = check_pool2d(x, kernel_size, stride)
    slices = _window_slices(args.x, args.kernel_size, args.stride, args.out_shape)
    out = next(slices).copy()
    for window_tap in slices:
        out += window_tap
    out /= args.kernel_size[0] * args.kernel_size[1]
    return out


def relu(x) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    x = check_elementwise(x)
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def linear(x, w, b=None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in) -> (N, out)."""
    args = check_linear(x, w, b)
    out = args.x.astype(args.dtype, copy=False) @ args.w.astype(args.dtype, copy=False).T
    if args.b is not None:
        out += args.b
    return out


def softmax(x, axis=-1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    x, axis = check_softmax(x, axis)
    exps = np.exp(x - x.max(axis=axis, keepdims=True))
    return exps / exps.sum(axis=axis, keepdims=True)
from .grad_numpy import conv2d_backward, max_pool2d_backward, avg_pool2d_backward, relu_backward, linear_backward, softmax_cross_entropy  # noqa: E402,F401
