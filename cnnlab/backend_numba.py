"""Numba JIT: the loops of the Python reference, compiled to machine code.

Each public function checks its arguments with :mod:`cnnlab.checks`, prepares
contiguous arrays of the result dtype, and only then calls an ``@njit``
kernel, so a bad argument never reaches compiled code. The loops are ordered
so the innermost one walks a contiguous row, which lets LLVM vectorize it,
and the outer loop over (image, channel) pairs runs in parallel (Lam et al.
2015, "Numba: a LLVM-based Python JIT compiler").
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .backend_numpy import pad2d
from .checks import check_conv2d, check_elementwise, check_linear, check_pool2d, check_softmax


@njit(parallel=True, cache=True)
def _conv2d_direct(xp, w, b, sh, sw, out):
    """out[n, f] = b[f] + sum over c, di, dj of w[f, c, di, dj] * xp[n, c, shifted window]."""
    n_batch, n_filters, out_h, out_w = out.shape
    channels, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    for nf in prange(n_batch * n_filters):
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


def conv2d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """2-D cross-correlation; x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH, OW)."""
    args = check_conv2d(x, w, b, stride, padding)
    dtype = args.dtype
    xp = np.ascontiguousarray(pad2d(args.x.astype(dtype, copy=False), args.padding))
    wc = np.ascontiguousarray(args.w, dtype=dtype)
    bias = np.zeros(wc.shape[0], dtype) if args.b is None else np.ascontiguousarray(args.b, dtype=dtype)
    out = np.empty(args.out_shape, dtype)
    _conv2d_direct(xp, wc, bias, args.stride[0], args.stride[1], out)
    return out


@njit(parallel=True, cache=True)
def _pool2d(x, kh, kw, sh, sw, take_max, out):
    n_batch, channels, out_h, out_w = out.shape
    scale = 1.0 / (kh * kw)
    for nc in prange(n_batch * channels):
        image = x[nc // channels, nc % channels]
        plane = out[nc // channels, nc % channels]
        for i in range(out_h):
            for j in range(out_w):
                acc = image[i * sh, j * sw]
                if take_max:
                    for di in range(kh):
                        for dj in range(kw):
                            acc = max(acc, image[i * sh + di, j * sw + dj])
                else:
                    acc = 0.0
                    for di in range(kh):
                        for dj in range(kw):
                            acc += image[i * sh + di, j * sw + dj]
                    acc *= scale
                plane[i, j] = acc


def _pool(x, kernel_size, stride, take_max) -> np.ndarray:
    args = check_pool2d(x, kernel_size, stride)
    out = np.empty(args.out_shape, args.x.dtype)
    _pool2d(np.ascontiguousarray(args.x), *args.kernel_size, *args.stride, take_max, out)
    return out


def max_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Maximum over each window; x (N, C, H, W), floor mode, no padding."""
    return _pool(x, kernel_size, stride, True)


def avg_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Mean over each window; x (N, C, H, W), floor mode, no padding."""
    return _pool(x, kernel_size, stride, False)


@njit(cache=True)
def _relu(flat, out):
    for i in range(flat.size):
        out[i] = flat[i] if flat[i] > 0 else 0


def relu(x) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    x = check_elementwise(x)
    out = np.empty(x.shape, x.dtype)
    _relu(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out


@njit(parallel=True, cache=True)
def _linear(x, w, b, out):
    n_rows, n_out = out.shape
    for n in prange(n_rows):
        for o in range(n_out):
            acc = b[o]
            for i in range(x.shape[1]):
                acc += x[n, i] * w[o, i]
            out[n, o] = acc


def linear(x, w, b=None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in) -> (N, out)."""
    args = check_linear(x, w, b)
    dtype = args.dtype
    bias = np.zeros(args.w.shape[0], dtype) if args.b is None else np.ascontiguousarray(args.b, dtype=dtype)
    out = np.empty((args.x.shape[0], args.w.shape[0]), dtype)
    _linear(np.ascontiguousarray(args.x, dtype=dtype), np.ascontiguousarray(args.w, dtype=dtype), bias, out)
    return out


@njit(parallel=True, cache=True)
def _softmax_rows(rows, out):
    for r in prange(rows.shape[0]):
        top = rows[r, 0]
        for k in range(rows.shape[1]):
            top = max(top, rows[r, k])
        total = 0.0
        for k in range(rows.shape[1]):
            e = np.exp(rows[r, k] - top)
            out[r, k] = e
            total += e
        for k in range(rows.shape[1]):
            out[r, k] /= total


def softmax(x, axis=-1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    x, axis = check_softmax(x, axis)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.empty_like(rows)
    _softmax_rows(rows, out)
    return np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, axis))
