"""A 3x3 convolution for an image filter, read straight from x: no padded copy.

With one channel and one filter (an image filter: blur, sharpen, edge
detection), a convolution does only 9 multiply-adds per output, so the fixed
costs of the many-channel kernels dominate: a padded copy of x, a per-item
scratch buffer, the copy back. This kernel has none of them. Each work item
is one output row; it sums the three input rows that row needs, each at
three shifts, straight into ``out``:

* **Interior and edges apart.** For output columns whose whole window lies
  inside x, each input row is read at ``j``, ``j + 1`` and ``j + 2`` with
  ``j`` from 0, so Numba proves every index non-negative and LLVM vectorizes
  the loop (indexing the rows rather than 9 shifted views also keeps LLVM's
  run-time overlap checks few). The columns that reach into the padding are
  summed by a scalar loop that reads zeros there. (Padding taps add
  ``w * 0``, so an inf or NaN weight makes NaN there, as in PyTorch.)
* **One pass per row when it can.** Rows whose three input rows all exist
  add the 9 taps in a single pass over the row; the first and last rows,
  where the padding removes an input row, take one pass per input row.

It is correct for any number of channels and filters, but with several filters it reads
the input once per filter, and the direct kernel of
:mod:`cnnlab.backends.numba.kernels.conv_direct`, which shares each load among three
filters, wins.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _edge_column(x_c, w_fc, i, j, ph, pw, row):
    """row[j] += the 9 taps of output (i, j), for the columns whose window leaves x.

    A tap on the padding adds ``w * 0``: nothing for a finite weight, NaN for
    an inf or NaN one, as in PyTorch, which multiplies the zeros it pads with.
    """
    height, width = x_c.shape
    acc = row[j]
    for di in range(3):
        si = i + di - ph
        for dj in range(3):
            sj = j + dj - pw
            value = x_c[si, sj] if 0 <= si < height and 0 <= sj < width else 0
            acc += w_fc[di, dj] * value
    row[j] = acc


@njit(cache=True, fastmath={"contract"})
def _output_row(x, w, b, ph, pw, item, out):
    """Output row ``item`` = (n * F + f) * OH + i of the 3x3 correlation, stride 1."""
    n_filters, out_h = out.shape[1], out.shape[2]
    height, width = x.shape[2], x.shape[3]
    nf, i = item // out_h, item % out_h
    n, f = nf // n_filters, nf % n_filters
    row = out[n, f, i]
    row[:] = b[f]
    interior = row[pw:]  # output column pw + j reads input columns j, j + 1, j + 2
    n_interior = width - 2
    for c in range(x.shape[1]):
        x_c, w_fc = x[n, c], w[f, c]
        if ph <= i <= height - 3 + ph:  # all three input rows exist: one pass
            r0, r1, r2 = x_c[i - ph], x_c[i - ph + 1], x_c[i - ph + 2]
            t = (
                w_fc[0, 0],
                w_fc[0, 1],
                w_fc[0, 2],
                w_fc[1, 0],
                w_fc[1, 1],
                w_fc[1, 2],
                w_fc[2, 0],
                w_fc[2, 1],
                w_fc[2, 2],
            )
            # Index each row at j, j + 1, j + 2 (not 9 separate views): 3 pointers for
            # LLVM's overlap checks.
            for j in range(n_interior):
                interior[j] += (
                    t[0] * r0[j]
                    + t[1] * r0[j + 1]
                    + t[2] * r0[j + 2]
                    + t[3] * r1[j]
                    + t[4] * r1[j + 1]
                    + t[5] * r1[j + 2]
                    + t[6] * r2[j]
                    + t[7] * r2[j + 1]
                    + t[8] * r2[j + 2]
                )
        else:  # an input row is missing (padding): one pass per existing row
            for di in range(3):
                si = i + di - ph
                t0, t1, t2 = w_fc[di, 0], w_fc[di, 1], w_fc[di, 2]
                if 0 <= si < height:
                    src = x_c[si]
                    for j in range(n_interior):
                        interior[j] += t0 * src[j] + t1 * src[j + 1] + t2 * src[j + 2]
                else:
                    # The row is padding: its taps add w * 0, which is NaN only for a
                    # weight that is not finite. Adding it then keeps PyTorch's result
                    # at the cost of a pass only in that case.
                    padding_taps = t0 * 0 + t1 * 0 + t2 * 0
                    if padding_taps != 0:
                        for j in range(n_interior):
                            interior[j] += padding_taps
        # Columns 0 ... pw - 1 and width - 2 + pw ... OW - 1 reach into the padding.
        for j in range(min(pw, row.shape[0])):
            _edge_column(x_c, w_fc, i, j, ph, pw, row)
        for j in range(max(pw, width - 2 + pw), row.shape[0]):
            _edge_column(x_c, w_fc, i, j, ph, pw, row)


@njit(parallel=True, cache=True)
def conv2d_3x3_rows(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, ph: int, pw: int, out: np.ndarray
) -> None:
    """out (N, F, OH, OW) <- 3x3 correlation, stride 1, of x (N, C, H, W).

    Zero padding (ph, pw).

    One output row per work item, spread over all threads. Correct for any
    shape; fast for one channel and one filter on a large image.
    """
    for item in prange(out.shape[0] * out.shape[1] * out.shape[2]):
        _output_row(x, w, b, ph, pw, item, out)


@njit(cache=True)
def conv2d_3x3_rows_serial(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, ph: int, pw: int, out: np.ndarray
) -> None:
    """:func:`conv2d_3x3_rows` in one thread."""
    for item in range(out.shape[0] * out.shape[1] * out.shape[2]):
        _output_row(x, w, b, ph, pw, item, out)
