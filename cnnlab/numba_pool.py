"""Numba pooling kernels for NCHW and channels-last (NHWC) memory.

:func:`cnnlab.backend_numba.max_pool2d` and ``avg_pool2d`` pick one by the
memory layout of x and the window: pooling reads every input once, so it is
limited by memory traffic, and the fast kernels are the ones whose innermost
loop walks memory contiguously.

* ``pool2d_nhwc``: x stored as (N, H, W, C), the layout PyTorch calls
  channels_last. For each output pixel the window's KH * KW input pixels are
  contiguous runs of C values, so the inner loop over channels vectorizes for
  any window and stride.
* ``max_pool2d_2x2_nchw``: the common 2x2, stride 2 window on (N, C, H, W).
  Each output row is the maximum of two input rows, then of neighbouring
  pairs in that row.
* ``pool2d_nchw``: any window and stride on (N, C, H, W); the fallback.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def pool2d_nhwc(x, kh, kw, sh, sw, take_max, out):
    """Max or mean pooling of x (N, H, W, C) into out (N, OH, OW, C)."""
    n_batch, out_h, out_w, channels = out.shape
    scale = 1.0 / (kh * kw)
    for ni in prange(n_batch * out_h):
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
                        acc[c] = max(acc[c], src[c]) if take_max else acc[c] + src[c]
            if not take_max:
                for c in range(channels):
                    acc[c] *= scale


@njit(parallel=True, cache=True)
def max_pool2d_2x2_nchw(x, out):
    """2x2 max pooling with stride 2 of x (N, C, H, W) into out (N, C, H // 2, W // 2)."""
    n_batch, channels, out_h, out_w = out.shape
    for nc in prange(n_batch * channels):
        image, plane = x[nc // channels, nc % channels], out[nc // channels, nc % channels]
        pair_max = np.empty(2 * out_w, x.dtype)
        for i in range(out_h):
            top, bottom, dst = image[2 * i], image[2 * i + 1], plane[i]
            for j in range(2 * out_w):
                pair_max[j] = max(top[j], bottom[j])
            for j in range(out_w):
                dst[j] = max(pair_max[2 * j], pair_max[2 * j + 1])


@njit(parallel=True, cache=True)
def pool2d_nchw(x, kh, kw, sh, sw, take_max, out):
    """Max or mean pooling of x (N, C, H, W) into out (N, C, OH, OW), any window and stride."""
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
