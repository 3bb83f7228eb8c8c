"""Strided convolution as KH matrix products on rows of windows, channels last.

:mod:`cnnlab.backends.numba.kernels.conv_phases` copies the C * KH * KW inputs under
each output's window into an im2col matrix (Chellapilla et al. 2006) for one GEMM:
each input is copied about KH * KW / (sh * sw) times. Here each output point gets
only its window's *kernel-row* pieces, KW pixels of C channels, and the KH kernel
rows are KH products accumulated by BLAS (beta = 1), each reading its rows in
place, at a fixed offset: an im2col cut by kernel row, part way to an implicit
GEMM (Chetlur et al. 2014, "cuDNN: efficient primitives for deep learning").

The window rows are stored in min(sh, KH) row-phase *planes* (Dumoulin & Visin
2016, "A guide to convolution arithmetic"): plane a holds, for padded input rows
a, a + sh, a + 2 sh, ... and every output column j, the KW * C values of pixels
j * sw .. j * sw + KW - 1, channels last. Kernel row di of output row i then is
row i + di // sh of plane di % sh, so with points p = i * OW + j

    acc (points, F) += plane[di % sh] shifted by (di // sh) * OW  (points, KW * C)
                       @ w[:, :, di, :] as (KW * C, F)

(three products of depth 3 C for a 3x3 kernel). The filters are GEMM's leading
dimension, so BLAS's register-blocked kernel (Goto & van de Geijn 2008) reuses
each packed weight panel over all the points of the item. Each plane row is
built from one channels-last copy of the padded input row (C rows of x read
once, in L1), then one contiguous KW * C copy per output column; the grid is
the output's, so no point is computed and dropped. The last pass adds the bias
and turns acc (points, F) back into out's (F, rows, OW), one output row (OW * F
values, in L1) at a time.

BLAS's GEMM propagates NaN and inf as a direct sum does, zeros of the padding
included. Numba's own BLAS entry ``numba_xxgemm`` (SciPy's BLAS, the one behind
``np.dot`` in Numba, on the calling thread under :mod:`cnnlab.threads`) is
called directly, because ``np.dot`` cannot add into its result. Work items are
blocks of output rows of one image, spread over all threads; each thread
reuses its own buffers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types

__all__ = ["conv2d", "conv2d_rows", "conv2d_rows_serial", "block_rows"]

MAX_ITEM_BYTES = 4 << 20
"""Most bytes of one work item's planes and result: a bound on each thread's
buffers. Within it items are as large as the thread split allows, because BLAS
runs longer products faster, even when its operands no longer fit in L2."""

_ptr = types.voidptr
# int numba_xxgemm(kind, transa, transb, m, n, k, *alpha, *a, lda, *b, ldb,
#                  *beta, *c, ldc), column-major, from numba/_lapack.c
_xxgemm = types.ExternalFunction(
    "numba_xxgemm",
    types.intc(
        *(types.char, types.char, types.char, types.intp, types.intp, types.intp),
        *(_ptr, _ptr, types.intp, _ptr, types.intp, _ptr, _ptr, types.intp),
    ),
)


@njit(cache=True)
def _gemm(m, n, k, a, lda, b, ldb, c, ldc, beta, scalars):
    """Column-major c (m, n) <- a (m, k) @ b (k, n) + beta * c, by BLAS.

    a, b and c are flat views from the first element; lda, ldb and ldc are the
    strides between columns. scalars (2,) is scratch for alpha and beta, which
    BLAS takes by address.
    """
    scalars[0] = 1
    scalars[1] = beta
    kind = ord("s") if a.itemsize == 4 else ord("d")
    alpha, beta_at = scalars[:1].ctypes, scalars[1:].ctypes
    no = ord("n")
    _xxgemm(
        kind,
        no,
        no,
        m,
        n,
        k,
        alpha,
        a.ctypes,
        lda,
        b.ctypes,
        ldb,
        beta_at,
        c.ctypes,
        ldc,
    )


@njit(cache=True)
def _window_rows(x, n, i0, rows, sh, sw, ph, pw, padded_row, planes):
    """planes (A, rows * OW, KW * C) <- for each plane row r and output column j,
    the channels of padded pixels j * sw .. j * sw + KW - 1 of the padded row
    (i0 + r) * sh + a of image n of x (N, C, H, W).

    ``padded_row`` (W + 2 pw, C) is scratch: one padded input row, channels last.
    """
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    out_w = planes.shape[1] // rows
    span = planes.shape[2]
    padded_row[:pw] = 0
    padded_row[pw + width :] = 0
    flat_row = padded_row.reshape(-1)
    image = x[n]
    for a in range(planes.shape[0]):
        for r in range(rows):
            block = planes[a, r * out_w : (r + 1) * out_w]
            xr = (i0 + r) * sh + a - ph
            if xr < 0 or xr >= height:
                block[:] = 0
                continue
            src = image[:, xr, :]
            for s in range(width):
                pixel = padded_row[pw + s]
                for c in range(channels):
                    pixel[c] = src[c, s]
            for j in range(out_w):
                # views from 0: provably non-negative indices, no wraparound
                window = flat_row[j * sw * channels :]
                dst = block[j]
                for k in range(span):
                    dst[k] = window[k]


@njit(cache=True)
def _rows_block(x, wt, b, sh, sw, ph, pw, n, i0, i1, bufs, out):
    """out[n, :, i0:i1, :] <- rows i0..i1-1 of the convolution of image n, plus b."""
    planes_flat, acc, padded_row, scalars = bufs
    kh, kw, channels, filters = wt.shape
    out_w = out.shape[3]
    rows = i1 - i0
    points = rows * out_w
    plane_rows = rows + (kh - 1) // sh
    span = kw * channels
    plane_len = plane_rows * out_w * span
    na = min(sh, kh)
    planes = planes_flat[: na * plane_len].reshape((na, plane_rows * out_w, span))
    _window_rows(x, n, i0, plane_rows, sh, sw, ph, pw, padded_row, planes)
    w_flat = wt.reshape(-1)
    for di in range(kh):
        start = (di % sh) * plane_len + (di // sh) * out_w * span
        _gemm(
            filters,
            points,
            span,
            w_flat[di * span * filters :],
            filters,
            planes_flat[start:],
            span,
            acc,
            filters,
            0.0 if di == 0 else 1.0,
            scalars,
        )
    for i in range(rows):
        # one output row of acc, (OW, F), is read F times, from L1
        acc_row = acc[i * out_w * filters :]
        for f in range(filters):
            bias = b[f]
            src = acc_row[f:]
            dst = out[n, f, i0 + i]
            for j in range(out_w):
                dst[j] = src[j * filters] + bias


@njit(cache=True)
def _worker(x, wt, b, sh, sw, ph, pw, block_rows, t, workers, bufs, out):
    """Items t, t + workers, ... (blocks of output rows of one image), in order."""
    out_h = out.shape[2]
    blocks = -(-out_h // block_rows)
    for item in range(t, x.shape[0] * blocks, workers):
        n, block = item // blocks, item % blocks
        i0 = block * block_rows
        i1 = min(out_h, i0 + block_rows)
        _rows_block(x, wt, b, sh, sw, ph, pw, n, i0, i1, bufs, out)


@njit(cache=True)
def _buffers(x, wt, sh, pw, out_w, block_rows, workers):
    """Each worker's plane, result, padded-row and BLAS-scalar buffers, for the
    largest item; and a first, empty product in this thread, which makes Numba
    look up BLAS's GEMM here (the lookup takes the GIL) rather than in a worker."""
    kh, kw, channels, filters = wt.shape
    plane_rows = block_rows + (kh - 1) // sh
    plane_size = min(sh, kh) * plane_rows * out_w * kw * channels
    planes = np.empty((workers, plane_size), x.dtype)
    acc = np.empty((workers, block_rows * out_w * filters), x.dtype)
    padded_rows = np.empty((workers, x.shape[3] + 2 * pw, channels), x.dtype)
    scalars = np.empty((workers, 2), x.dtype)
    # int64 sizes, not the literals 0 and 1, for which Numba would compile _gemm again
    zero, one = np.int64(0), np.int64(1)
    _gemm(
        zero, zero, zero, planes[0], one, planes[0], one, acc[0], one, 0.0, scalars[0]
    )
    return planes, acc, padded_rows, scalars


@njit(parallel=True, cache=True)
def conv2d_rows(
    x: np.ndarray,
    wt: np.ndarray,
    b: np.ndarray,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    block_rows: int,
    workers: int,
    out: np.ndarray,
) -> None:
    """out (N, F, OH, OW) <- convolution of x (N, C, H, W) with wt (KH, KW, C, F), + b.

    wt is the weights w (F, C, KH, KW) transposed. Stride (sh, sw), padding
    (ph, pw). Work items are blocks of ``block_rows`` output rows of one image;
    worker t of ``workers`` takes items t, t + workers, ... into its own buffers.
    """
    planes, acc, padded_rows, scalars = _buffers(
        x, wt, sh, pw, out.shape[3], block_rows, workers
    )
    for t in prange(workers):
        bufs = (planes[t], acc[t], padded_rows[t], scalars[t])
        _worker(x, wt, b, sh, sw, ph, pw, block_rows, t, workers, bufs, out)


@njit(cache=True)
def conv2d_rows_serial(
    x: np.ndarray,
    wt: np.ndarray,
    b: np.ndarray,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    block_rows: int,
    out: np.ndarray,
) -> None:
    """:func:`conv2d_rows` in one thread."""
    # typed as conv2d_rows passes them (prange's index is unsigned), not as
    # the literals 0 and 1: then one compiled _worker and _buffers serve both
    first, one = np.uint64(0), np.int64(1)
    planes, acc, padded_rows, scalars = _buffers(
        x, wt, sh, pw, out.shape[3], block_rows, one
    )
    bufs = (planes[0], acc[0], padded_rows[0], scalars[0])
    _worker(x, wt, b, sh, sw, ph, pw, block_rows, first, one, bufs, out)


def block_rows(
    w_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    stride: tuple[int, int],
    workers: int,
    itemsize: int,
) -> int:
    """Output rows per work item, so the items split evenly over ``workers``.

    An image is one item when the images alone split evenly; otherwise each
    image is cut into ``workers / gcd(N, workers)`` blocks. Items are also cut
    so an item's planes and result stay below :data:`MAX_ITEM_BYTES`, into
    blocks of nearly equal size.
    """
    f, c, kh, kw = w_shape
    n_images, out_h, out_w = out_shape[0], out_shape[2], out_shape[3]
    # one output row: min(sh, KH) plane rows (about) and one result row
    row_bytes = (min(stride[0], kh) * kw * c + f) * out_w * itemsize
    rows_fit = MAX_ITEM_BYTES // row_bytes
    blocks = workers // math.gcd(n_images, workers)
    rows = max(1, min(-(-out_h // blocks), rows_fit))
    return -(-out_h // -(-out_h // rows))


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    out: np.ndarray,
    workers: int = 1,
) -> None:
    """out (N, F, OH, OW) <- x (N, C, H, W) convolved with w (F, C, KH, KW), plus b.

    x C-contiguous of out's dtype; any kernel size, stride and padding. With
    ``workers`` > 1 the items are spread over that many threads.
    """
    rows = block_rows(w.shape, out.shape, stride, workers, x.itemsize)
    wt = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    if workers > 1:
        conv2d_rows(x, wt, b, *stride, *padding, rows, workers, out)
    else:
        conv2d_rows_serial(x, wt, b, *stride, *padding, rows, out)
