"""Convolution as matrix products: 1x1 kernels directly, other kernels through im2col.

A 1x1 convolution of one image is a matrix product, out[n] (F, OH*OW) =
w (F, C) @ x[n] (C, H*W) (Lin et al. 2014, "Network in network"). Any other
convolution becomes one after im2col (Chellapilla et al. 2006): the C * KH * KW
inputs under each output's window are copied into one column, and
out[n] = w (F, C*KH*KW) @ cols (C*KH*KW, OH*OW).

Each image's product is one call of ``np.dot``, which Numba hands to BLAS's GEMM
through SciPy. BLAS runs on the calling thread under cnnlab's thread policy
(:mod:`cnnlab.threads`), so the work items are images, spread over all threads
with ``prange``, and each thread runs its own GEMM. GEMM's packed, register- and
cache-blocked loops (Goto & van de Geijn 2008) reach rates that Numba's
auto-vectorized loops do not, and a product propagates NaN and inf as a direct
sum does (0 * inf is NaN, also on the zeros of the padding that im2col writes).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _add_bias(b, out_image):
    """out_image[f, :] += b[f] for out_image (F, P)."""
    for f in range(out_image.shape[0]):
        bias = b[f]
        row = out_image[f]
        for j in range(row.shape[0]):
            row[j] += bias


@njit(cache=True)
def _pointwise_image(x3, w2, b, n, out3):
    """out3[n] (F, P) <- w2 (F, C) @ x3[n] (C, P) + b."""
    np.dot(w2, x3[n], out3[n])
    _add_bias(b, out3[n])


@njit(parallel=True, cache=True)
def conv2d_pointwise(
    x3: np.ndarray, w2: np.ndarray, b: np.ndarray, out3: np.ndarray
) -> None:
    """out3 (N, F, P) <- w2 (F, C) @ x3[n] (C, P) + b (F,) for every image n.

    A 1x1 convolution with P = H * W pixels per image; one image per work item.
    """
    for n in prange(x3.shape[0]):
        _pointwise_image(x3, w2, b, n, out3)


@njit(cache=True)
def conv2d_pointwise_serial(
    x3: np.ndarray, w2: np.ndarray, b: np.ndarray, out3: np.ndarray
) -> None:
    """:func:`conv2d_pointwise` in one thread."""
    for n in range(x3.shape[0]):
        _pointwise_image(x3, w2, b, n, out3)


@njit(cache=True)
def im2col_image(
    x: np.ndarray,
    n: int,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    out_w: int,
    cols: np.ndarray,
) -> None:
    """cols (C*KH*KW, OH*OW) <- the windows of image n of x (N, C, H, W).

    Row (c * KH + di) * KW + dj holds input (c, i * sh + di - ph, j * sw + dj - pw)
    at column i * OW + j, and zero where that falls on the padding, so x needs no
    padded copy.
    """
    height, width = x.shape[2], x.shape[3]
    out_h = cols.shape[1] // out_w
    for c in range(x.shape[1]):
        for di in range(kh):
            for dj in range(kw):
                row = cols[(c * kh + di) * kw + dj]
                # the output columns j whose input column j * sw + dj - pw is in x
                j_lo = min(out_w, max(0, -(-(pw - dj) // sw)))
                j_hi = max(j_lo, min(out_w, (width - 1 + pw - dj) // sw + 1))
                for i in range(out_h):
                    dst = row[i * out_w : (i + 1) * out_w]
                    r = i * sh + di - ph
                    if r < 0 or r >= height:
                        dst[:] = 0
                        continue
                    dst[:j_lo] = 0
                    dst[j_hi:] = 0
                    # views from 0: provably non-negative indices, no wraparound
                    src = x[n, c, r][j_lo * sw + dj - pw :]
                    inside = dst[j_lo:j_hi]
                    for j in range(j_hi - j_lo):
                        inside[j] = src[j * sw]


@njit(cache=True)
def _im2col_gemm_image(x, w2, b, kh, kw, sh, sw, ph, pw, out_w, n, cols, out3):
    """out3[n] (F, OH*OW) <- w2 (F, C*KH*KW) @ im2col of image n (into cols), plus b."""
    im2col_image(x, n, kh, kw, sh, sw, ph, pw, out_w, cols)
    np.dot(w2, cols, out3[n])
    _add_bias(b, out3[n])


@njit(parallel=True, cache=True)
def conv2d_im2col(
    x: np.ndarray,
    w2: np.ndarray,
    b: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    out_w: int,
    out3: np.ndarray,
    workers: int,
) -> None:
    """out3 (N, F, OH*OW) <- convolution of x (N, C, H, W) with w2 (F, C*KH*KW).

    Stride (sh, sw), padding (ph, pw), plus b (F,). Worker t of ``workers``
    (the thread count, at most N) takes images t, t + workers, ... into its own
    im2col buffer: one buffer per thread, not per image, because a fresh buffer
    of that size costs a page fault per page.
    """
    n_images = x.shape[0]
    cols = np.empty((workers, w2.shape[1], out3.shape[2]), x.dtype)
    for t in prange(workers):
        for n in range(t, n_images, workers):
            _im2col_gemm_image(
                x, w2, b, kh, kw, sh, sw, ph, pw, out_w, n, cols[t], out3
            )


@njit(cache=True)
def conv2d_im2col_serial(
    x: np.ndarray,
    w2: np.ndarray,
    b: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    out_w: int,
    out3: np.ndarray,
) -> None:
    """:func:`conv2d_im2col` in one thread, with one im2col buffer."""
    cols = np.empty((w2.shape[1], out3.shape[2]), x.dtype)
    for n in range(x.shape[0]):
        _im2col_gemm_image(x, w2, b, kh, kw, sh, sw, ph, pw, out_w, n, cols, out3)
