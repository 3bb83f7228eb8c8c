"""Vectorized NumPy: whole-array operations, no Python loop over elements.

Convolution is im2col + one matrix multiply (Chellapilla et al. 2006):
``sliding_window_view`` exposes every receptive field without copying, and
``tensordot`` gathers them into a matrix and hands the product to BLAS.
Pooling takes the maximum or mean of ``KH * KW`` strided slices, which reads
memory in order instead of reducing over tiny trailing axes.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .checks import check_conv2d, check_elementwise, check_linear, check_pool2d, check_softmax


def pad2d(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Zero-pad the last two axes of x (N, C, H, W) by (ph, pw) on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """2-D cross-correlation by im2col + GEMM; x (N, C, H, W), w (F, C, KH, KW) -> (N, F, OH, OW)."""
    args = check_conv2d(x, w, b, stride, padding)
    (sh, sw), (_, _, kh, kw) = args.stride, args.w.shape
    xp = pad2d(args.x.astype(args.dtype, copy=False), args.padding)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # (N, C, OH, OW, KH, KW)
    out = np.tensordot(windows, args.w.astype(args.dtype, copy=False), axes=([1, 4, 5], [1, 2, 3]))
    out = out.transpose(0, 3, 1, 2)  # (N, OH, OW, F) -> (N, F, OH, OW)
    if args.b is not None:
        out = out + args.b.astype(args.dtype, copy=False)[:, None, None]
    return np.ascontiguousarray(out, dtype=args.dtype)


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
