"""Strided convolution as one matrix product per block of rows, on phase images.

im2col (Chellapilla et al. 2006) copies the C * KH * KW inputs under each output's
window into one column, so that out (F, OH*OW) = w (F, C*KH*KW) @ cols. Done
straight from x, it gathers every input KH * KW times, with stride-sw reads of a few
dozen elements at a time. Here the input is first split into its sh * sw *phase
images* (Dumoulin & Visin 2016, "A guide to convolution arithmetic"): phase (a, b)
holds the padded input's pixels (r * sh + a, q * sw + b). Tap (di, dj) of a window
then reads phase (di % sh, dj % sw) at the fixed offset (di // sh, dj // sw), so a
stride-s convolution is a sum of stride-1 correlations of the phases, and each input
pixel is gathered once.

Outputs are computed on the phases' grid of pitch PW (the phase width), not
on the OW-wide output: then each im2col row is one contiguous copy of a phase
image shifted by ``(di // sh) * PW + dj // sw``, as in a stride-1 direct kernel
on the padded width. The grid's columns OW..PW-1 are garbage and are dropped
in the pass that adds the bias and writes the output.

Each block of output rows is one product of BLAS's GEMM (through ``np.dot``,
on the calling thread under :mod:`cnnlab.threads`), which propagates NaN and
inf as a direct sum does, zeros of the padding included. Work items are blocks
of output rows of one image, spread over all threads; each thread reuses its
own phase, im2col and result buffers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

MAX_COLUMNS = 1 << 20
"""Most elements in one work item's im2col buffer (C*KH*KW, rows * PW)."""


@njit(cache=True)
def _used(kh, kw, sh, sw):
    """How many phase rows and columns the taps read: a stride larger than the
    kernel skips inputs, and the phases of the skipped rows and columns are never
    read (strides up to 2**63 - 1 are valid), so they are not made."""
    return min(sh, kh), min(sw, kw)


@njit(cache=True)
def _split_phases(x, n, i0, rows, sh, sw, ph, pw, pitch, phases, used):
    """phases[c, a * nb + b, :] <- rows ``rows`` of phase (a, b) of image n from row i0,
    for the ``used`` = (na, nb) phases a < na, b < nb that the taps read.

    Phase row r, column q holds the padded x (N, C, H, W) at (r * sh + a,
    q * sw + b): zero on the padding, and on the tail a shifted tap reads past
    the last row.
    """
    height, width = x.shape[2], x.shape[3]
    na, nb = used
    for c in range(x.shape[1]):
        for a in range(na):
            for bc in range(nb):
                plane = phases[c, a * nb + bc]
                plane[rows * pitch :] = 0
                # the columns q whose input column q * sw + bc - pw is in x
                q_lo = min(pitch, max(0, -(-(pw - bc) // sw)))
                q_hi = max(q_lo, min(pitch, (width - 1 + pw - bc) // sw + 1))
                for r in range(rows):
                    dst = plane[r * pitch : (r + 1) * pitch]
                    xr = (i0 + r) * sh + a - ph
                    if xr < 0 or xr >= height:
                        dst[:] = 0
                        continue
                    dst[:q_lo] = 0
                    dst[q_hi:] = 0
                    # views from 0: provably non-negative indices, no wraparound
                    src = x[n, c, xr][q_lo * sw + bc - pw :]
                    inside = dst[q_lo:q_hi]
                    for q in range(q_hi - q_lo):
                        inside[q] = src[q * sw]


@njit(cache=True)
def _columns(phases, kh, kw, sh, sw, pitch, points, cols):
    """cols (C*KH*KW, points) <- each tap's phase, shifted; rows in w.reshape order."""
    channels, nb = phases.shape[0], _used(kh, kw, sh, sw)[1]
    for c in range(channels):
        for di in range(kh):
            for dj in range(kw):
                plane = phases[c, (di % sh) * nb + dj % sw]
                src = plane[(di // sh) * pitch + dj // sw :]
                dst = cols[(c * kh + di) * kw + dj]
                # an explicit loop: LLVM vectorizes it, unlike a slice assignment,
                # which checks for overlap and copies element by element
                for j in range(points):
                    dst[j] = src[j]


@njit(cache=True)
def _rows_block(x, w2, b, kh, kw, sh, sw, ph, pw, n, i0, i1, pitch, bufs, out):
    """out[n, :, i0:i1, :] <- rows i0..i1-1 of the convolution of image n, plus b."""
    phases_flat, cols_flat, acc_flat = bufs
    channels, filters, out_w = x.shape[1], w2.shape[0], out.shape[3]
    rows = i1 - i0
    points = rows * pitch
    plane_rows = rows + (kh - 1) // sh
    plane_len = plane_rows * pitch + (kw - 1) // sw
    used = _used(kh, kw, sh, sw)
    phases = phases_flat[: channels * used[0] * used[1] * plane_len].reshape(
        (channels, used[0] * used[1], plane_len)
    )
    _split_phases(x, n, i0, plane_rows, sh, sw, ph, pw, pitch, phases, used)
    cols = cols_flat[: w2.shape[1] * points].reshape((w2.shape[1], points))
    _columns(phases, kh, kw, sh, sw, pitch, points, cols)
    acc = acc_flat[: filters * points].reshape((filters, points))
    np.dot(w2, cols, acc)
    for f in range(filters):
        bias = b[f]
        for i in range(rows):
            src = acc[f, i * pitch : i * pitch + out_w]
            dst = out[n, f, i0 + i]
            for j in range(out_w):
                dst[j] = src[j] + bias


@njit(cache=True)
def _worker(x, w2, b, kh, kw, sh, sw, ph, pw, block_rows, t, workers, bufs, out):
    """Items t, t + workers, ... (blocks of output rows of one image), in order."""
    out_h = out.shape[2]
    pitch = -(-(x.shape[3] + 2 * pw) // sw)
    blocks = -(-out_h // block_rows)
    for item in range(t, x.shape[0] * blocks, workers):
        n, block = item // blocks, item % blocks
        i0 = block * block_rows
        i1 = min(out_h, i0 + block_rows)
        _rows_block(x, w2, b, kh, kw, sh, sw, ph, pw, n, i0, i1, pitch, bufs, out)


@njit(cache=True)
def _buffers(x, w2, kh, kw, sh, sw, pw, block_rows, workers):
    """Each worker's phase, im2col and result buffers, flat, for the largest item."""
    pitch = -(-(x.shape[3] + 2 * pw) // sw)
    plane_len = (block_rows + (kh - 1) // sh) * pitch + (kw - 1) // sw
    points = block_rows * pitch
    na, nb = _used(kh, kw, sh, sw)
    phases = np.empty((workers, x.shape[1] * na * nb * plane_len), x.dtype)
    cols = np.empty((workers, w2.shape[1] * points), x.dtype)
    acc = np.empty((workers, w2.shape[0] * points), x.dtype)
    return phases, cols, acc


@njit(parallel=True, cache=True)
def conv2d_phases(
    x: np.ndarray,
    w2: np.ndarray,
    b: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    block_rows: int,
    workers: int,
    out: np.ndarray,
) -> None:
    """out (N, F, OH, OW) <- convolution of x (N, C, H, W) with w2 (F, C*KH*KW), + b.

    Stride (sh, sw), padding (ph, pw). Work items are blocks of ``block_rows``
    output rows of one image; worker t of ``workers`` takes items t,
    t + workers, ... into its own buffers (one set per thread, not per item:
    a fresh buffer costs a page fault per page).
    """
    phases, cols, acc = _buffers(x, w2, kh, kw, sh, sw, pw, block_rows, workers)
    for t in prange(workers):
        bufs = (phases[t], cols[t], acc[t])
        _worker(x, w2, b, kh, kw, sh, sw, ph, pw, block_rows, t, workers, bufs, out)


@njit(cache=True)
def conv2d_phases_serial(
    x: np.ndarray,
    w2: np.ndarray,
    b: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    block_rows: int,
    out: np.ndarray,
) -> None:
    """:func:`conv2d_phases` in one thread."""
    # typed as conv2d_phases passes them (prange's index is unsigned), not as
    # the literals 0 and 1: then one compiled _worker and _buffers serve both
    first, one = np.uint64(0), np.int64(1)
    phases, cols, acc = _buffers(x, w2, kh, kw, sh, sw, pw, block_rows, one)
    bufs = (phases[0], cols[0], acc[0])
    _worker(x, w2, b, kh, kw, sh, sw, ph, pw, block_rows, first, one, bufs, out)


def block_rows(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    stride: tuple[int, int],
    padding: tuple[int, int],
    workers: int,
) -> int:
    """Output rows per work item, so the items split evenly over ``workers``.

    An image is one item when the images alone split evenly; otherwise each
    image is cut into ``workers / gcd(N, workers)`` blocks. Items are also cut
    so an item's im2col buffer stays below :data:`MAX_COLUMNS` elements.
    """
    n_images, out_h = out_shape[0], out_shape[2]
    pitch = -(-(x_shape[3] + 2 * padding[1]) // stride[1])
    rows_fit = MAX_COLUMNS // (w_shape[1] * w_shape[2] * w_shape[3] * pitch)
    blocks = workers // math.gcd(n_images, workers)
    return max(1, min(-(-out_h // blocks), rows_fit))


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
    f, _, kh, kw = w.shape
    rows = block_rows(x.shape, w.shape, out.shape, stride, padding, workers)
    args = (x, np.ascontiguousarray(w).reshape(f, -1), b, kh, kw, *stride, *padding)
    if workers > 1:
        conv2d_phases(*args, rows, workers, out)
    else:
        conv2d_phases_serial(*args, rows, out)
