"""Numba convolution kernels: the general loop nest and a stride-1 direct kernel.

Every kernel takes x (N, C, H, W), weights, a bias (F,) and writes into a
preallocated out (N, F, OH, OW). :func:`cnnlab.backend_numba.conv2d` picks one
by shape; each kernel is correct for every shape it is given.

The fast kernels split the output into work items of a few output rows of one
image, copy the input rows an item needs into a small zero-padded buffer (so
padding never costs a full copy of x and the buffer stays in cache), compute,
and copy the valid outputs into ``out``. Two tricks make LLVM vectorize the
inner loops:

* **Outputs on the padded width.** On a grid whose rows are as wide as the
  padded input, tap (di, dj) of every output is the input at a constant
  offset ``di * width + dj`` of the flattened buffer, so the inner loop is one
  long contiguous loop. The last ``KW - 1`` columns of each grid row are
  garbage and are dropped when copying to ``out``.
* **Views indexed from 0.** ``xc[offset:][j]`` lets Numba prove the index is
  non-negative; ``xc[offset + j]`` does not, and the wraparound check it keeps
  stops vectorization.

Filters are processed in blocks of three, so each input value loaded feeds
three accumulators: with four, LLVM gives up ("too many memory checks").
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

FILTER_BLOCK = 3


@njit(cache=True)
def _padded_rows(x_n, first_row, ph, pw, buf):
    """buf (C, R, Wb) <- rows first_row - ph ... of x_n (C, H, W), zero outside x."""
    channels, height, width = x_n.shape
    for c in range(channels):
        for r in range(buf.shape[1]):
            src_row = first_row + r - ph
            dst = buf[c, r]
            dst[:] = 0
            if 0 <= src_row < height:
                dst[pw : pw + width] = x_n[c, src_row]


# ---------------------------------------------------------------------------
# General kernel: any kernel size, stride and padding.


@njit(parallel=True, cache=True)
def conv2d_general(xp, w, b, sh, sw, out):
    """Direct loops on an already padded xp; the fallback for every shape.

    out[n, f] = b[f] + sum over c, di, dj of w[f, c, di, dj] * xp[n, c, shifted window].
    The innermost loop walks one output row.
    """
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


# ---------------------------------------------------------------------------
# Direct kernels for stride 1, on the padded-width grid.


@njit(cache=True, fastmath={"contract"})
def _accumulate_taps(xb, w, f, width, n, acc):
    """acc[:n] += sum over c, di, dj of w[f, c, di, dj] * xb[c, di * width + dj:][:n].

    Any kernel size, one pass over the grid per tap. The accumulator lives in
    memory (L1), so each multiply-add also loads and stores it.
    """
    for c in range(xb.shape[0]):
        xc = xb[c]
        for di in range(w.shape[2]):
            for dj in range(w.shape[3]):
                src = xc[di * width + dj :]
                tap = w[f, c, di, dj]
                for j in range(n):
                    acc[j] += tap * src[j]


@njit(cache=True, fastmath={"contract"})
def _dot9(w, v0, v1, v2, v3, v4, v5, v6, v7, v8):
    # Three independent row sums: shorter dependency chains than one 9-term sum.
    return (w[0] * v0 + w[1] * v1 + w[2] * v2) + (w[3] * v3 + w[4] * v4 + w[5] * v5) + (
        w[6] * v6 + w[7] * v7 + w[8] * v8
    )


@njit(cache=True, fastmath={"contract"})
def _accumulate_3x3(xb, w9, f0, n_filters, width, n, acc):
    """Like :func:`_accumulate_taps` for 3x3 and filters f0 ... f0 + n_filters - 1 (at most 3).

    The 9 taps are unrolled: one pass per channel instead of one per tap, so
    each accumulator is loaded and stored once per channel. A full block of
    three filters shares the 9 loaded inputs among 27 multiply-adds.
    """
    for c in range(xb.shape[0]):
        xc = xb[c]
        s0, s1, s2 = xc[0:], xc[1:], xc[2:]
        s3, s4, s5 = xc[width:], xc[width + 1 :], xc[width + 2 :]
        s6, s7, s8 = xc[2 * width :], xc[2 * width + 1 :], xc[2 * width + 2 :]
        if n_filters == FILTER_BLOCK:
            a0, a1, a2 = acc[0], acc[1], acc[2]
            w0, w1, w2 = w9[f0, c], w9[f0 + 1, c], w9[f0 + 2, c]
            for j in range(n):
                v0, v1, v2, v3, v4, v5, v6, v7, v8 = s0[j], s1[j], s2[j], s3[j], s4[j], s5[j], s6[j], s7[j], s8[j]
                a0[j] += _dot9(w0, v0, v1, v2, v3, v4, v5, v6, v7, v8)
                a1[j] += _dot9(w1, v0, v1, v2, v3, v4, v5, v6, v7, v8)
                a2[j] += _dot9(w2, v0, v1, v2, v3, v4, v5, v6, v7, v8)
        else:
            for k in range(n_filters):
                a, wk = acc[k], w9[f0 + k, c]
                for j in range(n):
                    a[j] += _dot9(wk, s0[j], s1[j], s2[j], s3[j], s4[j], s5[j], s6[j], s7[j], s8[j])


@njit(parallel=True, cache=True)
def conv2d_direct(x, w, b, ph, pw, block_rows, out):
    """Stride-1 convolution on the padded-width grid, any kernel size.

    3x3 kernels run :func:`_accumulate_3x3` in blocks of three filters, other
    sizes :func:`_accumulate_taps` one filter at a time. Work items are
    (image, block of ``block_rows`` output rows).
    """
    n_batch, channels, height, width = x.shape
    n_filters, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    padded_w = width + 2 * pw
    w9 = w.reshape(n_filters, channels, kh * kw)
    n_blocks = (out_h + block_rows - 1) // block_rows
    for item in prange(n_batch * n_blocks):
        n, r0 = item // n_blocks, (item % n_blocks) * block_rows
        rows = min(block_rows, out_h - r0)
        xb = np.empty((channels, rows + kh - 1, padded_w), x.dtype)
        _padded_rows(x[n], r0, ph, pw, xb)
        xb = xb.reshape(channels, -1)
        acc = np.empty((FILTER_BLOCK, rows * padded_w), out.dtype)
        n_grid = (rows - 1) * padded_w + out_w  # grid points whose taps stay inside xb
        for f0 in range(0, n_filters, FILTER_BLOCK):
            block = min(FILTER_BLOCK, n_filters - f0)
            for k in range(block):
                acc[k, :] = b[f0 + k]
                if not (kh == 3 and kw == 3):
                    _accumulate_taps(xb, w, f0 + k, padded_w, n_grid, acc[k])
            if kh == 3 and kw == 3:
                _accumulate_3x3(xb, w9, f0, block, padded_w, n_grid, acc)
            for k in range(block):
                for r in range(rows):
                    out[n, f0 + k, r0 + r, :] = acc[k, r * padded_w : r * padded_w + out_w]
