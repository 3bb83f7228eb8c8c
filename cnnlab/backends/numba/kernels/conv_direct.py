"""The stride-1 direct convolution kernel, on the padded-width grid; any kernel size.

It takes x (N, C, H, W), weights (F, C, KH, KW), a bias (F,) and writes into a
preallocated out (N, F, OH, OW); :mod:`cnnlab.backends.numba.chooser` picks it for
stride 1 when no faster 3x3 kernel fits, and it is correct for every stride-1 shape.

It splits the output into work items of a few output rows of one image (or, for
small images, of several whole images), copies the input rows an item needs into a
small zero-padded buffer (so padding never costs a full copy of x and the buffer
stays in cache), computes, and copies the valid outputs into ``out``. Two tricks
make LLVM vectorize the inner loops:

* **Outputs on the padded width.** On a grid whose rows are as wide as the
  padded input, tap (di, dj) of every output is the input at a constant
  offset ``di * width + dj`` of the flattened buffer, so the inner loop is one
  long contiguous loop. The grid points past the last output of each row
  are garbage and are dropped when copying to ``out``. (Neighbouring rows
  share their zero padding, so the rows are narrower still: see
  :func:`_direct_item`.)
* **Views indexed from 0.** ``xc[offset:][j]`` lets Numba prove the index is
  non-negative; ``xc[offset + j]`` does not, and the wraparound check it keeps
  stops vectorization.

Filters are processed in blocks of three, so each input value loaded feeds
three accumulators: with four, LLVM gives up ("too many memory checks").

``conv2d_direct`` spreads its work items over all threads, and
``conv2d_direct_serial`` runs the very same items in one thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

FILTER_BLOCK = 3
# grid lengths are rounded up to this many points: 16 float32 fill one 512-bit vector
GRID_ALIGN = 16


@njit(cache=True)
def _copy_rows(x_n, first_row, ph, pw, buf):
    """buf (C, R, Wb), already zero, <- rows first_row - ph ... of x_n (C, H, W).

    Shifted right by pw.

    Rows and columns outside x stay zero: that is the padding. Explicit
    loops, not slice copies: for the short rows of small images a slice
    assignment costs more than the copy.
    """
    channels, height, width = x_n.shape
    for c in range(channels):
        for r in range(buf.shape[1]):
            src_row = first_row + r - ph
            if 0 <= src_row < height:
                for s in range(width):
                    buf[c, r, pw + s] = x_n[c, src_row, s]


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


@njit(cache=True, inline="always", fastmath={"contract"})
def dot9(
    w: Sequence[float],
    v0: float,
    v1: float,
    v2: float,
    v3: float,
    v4: float,
    v5: float,
    v6: float,
    v7: float,
    v8: float,
) -> float:
    """The 3x3 dot product of the 9 weights w (an array or a tuple) with v0 ... v8.

    Three independent row sums: shorter dependency chains than one 9-term sum.
    """
    return (
        (w[0] * v0 + w[1] * v1 + w[2] * v2)
        + (w[3] * v3 + w[4] * v4 + w[5] * v5)
        + (w[6] * v6 + w[7] * v7 + w[8] * v8)
    )


@njit(cache=True, fastmath={"contract"})
def _accumulate_3x3(xb, w9, f0, n_filters, width, n, acc):
    """Like :func:`_accumulate_taps`, for 3x3 and filters f0 ... f0 + n_filters - 1.

    At most 3 filters.

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
                v0, v1, v2 = s0[j], s1[j], s2[j]
                v3, v4, v5 = s3[j], s4[j], s5[j]
                v6, v7, v8 = s6[j], s7[j], s8[j]
                a0[j] += dot9(w0, v0, v1, v2, v3, v4, v5, v6, v7, v8)
                a1[j] += dot9(w1, v0, v1, v2, v3, v4, v5, v6, v7, v8)
                a2[j] += dot9(w2, v0, v1, v2, v3, v4, v5, v6, v7, v8)
        else:
            for k in range(n_filters):
                a, wk = acc[k], w9[f0 + k, c]
                for j in range(n):
                    v0, v1, v2 = s0[j], s1[j], s2[j]
                    v3, v4, v5 = s3[j], s4[j], s5[j]
                    v6, v7, v8 = s6[j], s7[j], s8[j]
                    a[j] += dot9(wk, v0, v1, v2, v3, v4, v5, v6, v7, v8)


@njit(cache=True, fastmath={"contract"})
def _accumulate_5_wide(xb, w, f0, n_filters, width, n, acc):
    """Like :func:`_accumulate_taps` for kernels 5 wide (any height) and filters f0 ...
    f0 + n_filters - 1 (at most 3).

    One pass per kernel row instead of one per tap, with the row's 5 taps
    unrolled: each accumulator is loaded and stored once per 5 multiply-adds
    instead of once per multiply-add, and a full block of three filters
    shares the 5 loaded inputs among 15. The weights are read into scalars
    first, so the loop holds them in registers. Unrolling all 25 taps instead
    stops vectorization.
    """
    for c in range(xb.shape[0]):
        xc = xb[c]
        for di in range(w.shape[2]):
            o = di * width
            s0, s1, s2, s3, s4 = (
                xc[o:],
                xc[o + 1 :],
                xc[o + 2 :],
                xc[o + 3 :],
                xc[o + 4 :],
            )
            if n_filters == FILTER_BLOCK:
                a0, a1, a2 = acc[0], acc[1], acc[2]
                p0, p1, p2, p3, p4 = (
                    w[f0, c, di, 0],
                    w[f0, c, di, 1],
                    w[f0, c, di, 2],
                    w[f0, c, di, 3],
                    w[f0, c, di, 4],
                )
                q0, q1, q2, q3, q4 = (
                    w[f0 + 1, c, di, 0],
                    w[f0 + 1, c, di, 1],
                    w[f0 + 1, c, di, 2],
                    w[f0 + 1, c, di, 3],
                    w[f0 + 1, c, di, 4],
                )
                r0, r1, r2, r3, r4 = (
                    w[f0 + 2, c, di, 0],
                    w[f0 + 2, c, di, 1],
                    w[f0 + 2, c, di, 2],
                    w[f0 + 2, c, di, 3],
                    w[f0 + 2, c, di, 4],
                )
                for j in range(n):
                    v0, v1, v2, v3, v4 = s0[j], s1[j], s2[j], s3[j], s4[j]
                    a0[j] += (p0 * v0 + p1 * v1) + (p2 * v2 + p3 * v3) + p4 * v4
                    a1[j] += (q0 * v0 + q1 * v1) + (q2 * v2 + q3 * v3) + q4 * v4
                    a2[j] += (r0 * v0 + r1 * v1) + (r2 * v2 + r3 * v3) + r4 * v4
            else:
                for k in range(n_filters):
                    a, f = acc[k], f0 + k
                    p0, p1, p2, p3, p4 = (
                        w[f, c, di, 0],
                        w[f, c, di, 1],
                        w[f, c, di, 2],
                        w[f, c, di, 3],
                        w[f, c, di, 4],
                    )
                    for j in range(n):
                        a[j] += (
                            (p0 * s0[j] + p1 * s1[j])
                            + (p2 * s2[j] + p3 * s3[j])
                            + p4 * s4[j]
                        )


@njit(cache=True)
def _direct_item(x, w, b, ph, pw, block_rows, images_per_item, item, out):
    """Work item ``item`` of the direct kernel: a block of output rows of some images.

    Output rows r0 ... r0 + rows - 1 of up to ``images_per_item`` images.

    The rows each image needs are stacked in one buffer, image after image,
    so one grid covers them all. A small image alone would give an inner loop
    too short to vectorize (a 4x4 output is 24 grid points); 32 of them give
    over 700. Neighbours share their zero padding: the zeros after one row
    are the zeros before the next, and, for whole images, the zero rows after
    one image are those before the next. A 4x4 image with padding 1 then
    takes 5x5 grid points instead of 6x6, about a third fewer. The grid rows
    and columns that fall between images and rows are garbage, and are never
    copied out. 3x3 kernels run :func:`_accumulate_3x3` and kernels 5 wide
    :func:`_accumulate_5_wide`, in blocks of three filters; other sizes
    :func:`_accumulate_taps`, one filter at a time.
    """
    n_batch, channels, height, width = x.shape
    n_filters, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    # grid points per row: the data, then zeros shared with the next row
    row = width + max(pw, out_w - width)
    w9 = w.reshape(n_filters, channels, kh * kw)
    n_blocks = (out_h + block_rows - 1) // block_rows
    n0, r0 = (item // n_blocks) * images_per_item, (item % n_blocks) * block_rows
    images = min(images_per_item, n_batch - n0)
    rows = min(block_rows, out_h - r0)
    segment = rows + kh - 1  # buffer rows one image's block of output rows reads
    # buffer rows from image to image
    stride = height + max(ph, out_h - height) if rows == out_h else segment
    # grid points up to the last output
    n_grid = ((images - 1) * stride + rows - 1) * row + out_w
    # a whole number of vectors: no scalar remainder loop
    n_grid = -(-n_grid // GRID_ALIGN) * GRID_ALIGN
    # One zero fill for all the padding, with room for the taps of the last grid points.
    xb = np.zeros(
        (channels, -(-(n_grid + (kh - 1) * row + kw - 1) // row), row), x.dtype
    )
    for g in range(images):
        _copy_rows(x[n0 + g], r0, ph, pw, xb[:, g * stride : g * stride + segment])
    xb = xb.reshape(channels, -1)
    acc = np.empty((FILTER_BLOCK, n_grid), out.dtype)
    for f0 in range(0, n_filters, FILTER_BLOCK):
        block = min(FILTER_BLOCK, n_filters - f0)
        for k in range(block):
            acc[k, :] = b[f0 + k]
            if not (kh == 3 and kw == 3) and kw != 5:
                _accumulate_taps(xb, w, f0 + k, row, n_grid, acc[k])
        if kh == 3 and kw == 3:
            _accumulate_3x3(xb, w9, f0, block, row, n_grid, acc)
        elif kw == 5:
            _accumulate_5_wide(xb, w, f0, block, row, n_grid, acc)
        # Explicit loops over row views indexed from 0: a slice assignment costs more
        # than copying a short row, and an index like start + j keeps a wraparound check
        # that stops vectorization.
        for k in range(block):
            for g in range(images):
                plane = out[n0 + g, f0 + k]
                for r in range(rows):
                    # views indexed from 0
                    dst, src = plane[r0 + r], acc[k, (g * stride + r) * row :]
                    for j in range(out_w):
                        dst[j] = src[j]


@njit(parallel=True, cache=True)
def conv2d_direct(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    ph: int,
    pw: int,
    block_rows: int,
    images_per_item: int,
    out: np.ndarray,
) -> None:
    """Stride-1 convolution on the padded-width grid, any kernel size, on all threads.

    A work item is a block of ``block_rows`` output rows of ``images_per_item``
    consecutive images (see :func:`_direct_item`).
    """
    n_blocks = (out.shape[2] + block_rows - 1) // block_rows
    n_groups = (x.shape[0] + images_per_item - 1) // images_per_item
    for item in prange(n_groups * n_blocks):
        _direct_item(x, w, b, ph, pw, block_rows, images_per_item, item, out)


@njit(cache=True)
def conv2d_direct_serial(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    ph: int,
    pw: int,
    block_rows: int,
    images_per_item: int,
    out: np.ndarray,
) -> None:
    """:func:`conv2d_direct` in one thread."""
    n_blocks = (out.shape[2] + block_rows - 1) // block_rows
    n_groups = (x.shape[0] + images_per_item - 1) // images_per_item
    for item in range(n_groups * n_blocks):
        # unsigned, as prange's index is: one compiled _direct_item serves both
        # kernels, and an index known to be non-negative needs no wraparound check
        _direct_item(x, w, b, ph, pw, block_rows, images_per_item, np.uint64(item), out)


def work_items(
    x_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    padding: tuple[int, int],
    points_per_item: int,
) -> tuple[int, int]:
    """(block_rows, images_per_item) of the direct kernel for x and out.

    x is (N, C, H, W), out (N, F, OH, OW): work items of about
    ``points_per_item`` grid points, all equally long.

    An item takes a block of output rows of one image; when a whole image fits in
    one item, it takes several whole images instead, equally many per item.
    """
    (n, _, height, width), (out_h, out_w) = x_shape, out_shape[2:]
    # grid points per row, as in _direct_item
    row = width + max(padding[1], out_w - width)
    block_rows = _equal_blocks(out_h, row, points_per_item)
    if block_rows < out_h:
        return block_rows, 1
    per_image = (height + max(padding[0], out_h - height)) * row
    return block_rows, _equal_blocks(n, per_image, points_per_item)


def _equal_blocks(n_rows: int, row_length: int, target: int) -> int:
    """Rows per block: blocks of about ``target`` elements, all equally long."""
    n_blocks = -(-n_rows * row_length // target)
    return -(-n_rows // n_blocks)
