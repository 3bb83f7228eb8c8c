"""A 3x3 convolution for an image filter, read straight from x: no padded copy.

With one channel and one filter (an image filter: blur, sharpen, edge
detection), a convolution does only 9 multiply-adds per output and reads and
writes each pixel once, so every cost beyond those multiply-adds shows: a
padded copy of x, a scratch buffer, a second pass over ``out``, scalar columns.
This kernel has none of them:

* **Three output rows per pass.** A row group is three output rows ``i``,
  ``i + 1``, ``i + 2`` of one image and filter. They need input rows ``i`` to
  ``i + 4`` (less the padding); one pass over the columns loads each of those
  five rows once at three shifts and writes all three outputs, bias included,
  so ``out`` is written once and never read back. The 9 weights are scalars
  that stay in registers, and each sum starts from the bias, so an output is
  9 fused multiply-adds.
* **Bands of groups.** The row groups of all images and filters, counted one
  plane after the other, are cut into :data:`_ITEMS` runs whose lengths differ
  by one group at most, and Numba gives each thread one contiguous run of work
  items: each thread sweeps its rows in memory order, and with a thread count
  that divides :data:`_ITEMS` the threads get equal shares, so none waits for
  another at the end. With one channel and padding 1 wide, a plane's groups in
  a run are done by one function with no calls in it: its interior loop, then
  its two border columns, whose loads the three rows share.
* **Vectors.** Each input row is indexed at ``j``, ``j + 1`` and ``j + 2``
  with ``j`` from 0, so Numba proves every index non-negative and LLVM
  vectorizes the loop.
* **Borders apart.** Elsewhere (several channels, other paddings) the columns
  whose window reaches into the padding are summed by scalar code that reads
  zeros on the padding, and the rows whose window does (the first and last
  ``ph``) take one pass per input row that exists. A padding tap adds
  ``w * 0``: nothing for a finite weight, NaN for an inf or NaN one, as in
  cnnlab's other kernels and PyTorch's float64 kernels (its float32 oneDNN
  path skips the padding taps on some shapes).

It is correct for any number of channels and filters (channels after the first
add into ``out``), but with several filters it reads the input once per filter,
and the direct kernel of :mod:`cnnlab.backends.numba.kernels.conv_direct`, which
shares each load among three filters, wins.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# A float32 zero: multiplied by a float32 it stays float32, by a float64 float64.
# (A Python 0 or 0.0 would make the product float64 in both.)
_ZERO = np.float32(0)


@njit(cache=True)
def _taps(w_fc):
    """The 9 weights of one (filter, channel), as scalars that stay in registers."""
    return (
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


@njit(cache=True, fastmath={"contract"})
def _row_sum(start, t, r0, r1, r2, j):
    """start + the 9 taps of one output at column ``pw + j``, from its input rows.

    One chain from ``start`` on: 9 fused multiply-adds and one register. Split
    into partial sums, it needs more registers than the three-row loop has,
    and the spills cost more than the shorter chains gain.
    """
    return (
        start
        + t[0] * r0[j]
        + t[1] * r0[j + 1]
        + t[2] * r0[j + 2]
        + t[3] * r1[j]
        + t[4] * r1[j + 1]
        + t[5] * r1[j + 2]
        + t[6] * r2[j]
        + t[7] * r2[j + 1]
        + t[8] * r2[j + 2]
    )


@njit(cache=True, fastmath={"contract"})
def _three_rows(t, x_c, s, o0, o1, o2, bias, first):
    """o0, o1, o2 (interior columns) <- bias or themselves + taps of x_c rows s..s+4."""
    r0, r1, r2, r3, r4 = x_c[s], x_c[s + 1], x_c[s + 2], x_c[s + 3], x_c[s + 4]
    if first:
        n = o0.shape[0]
        # Whole vectors of 8, then the last 8 columns again (the same values
        # written twice), not a scalar remainder loop: at 9 multiply-adds an
        # output, a few scalar columns cost as much as many vector ones.
        # All three sums are taken before any store: a store to ``out`` might
        # (for all LLVM knows) change x, so a load after it is done again,
        # while loads before it are shared by the three outputs (15 loads,
        # not 27, for 27 multiply-adds).
        blocks = n // 8 * 8 if n >= 8 else n
        for j in range(blocks):
            v0 = _row_sum(bias, t, r0, r1, r2, j)
            v1 = _row_sum(bias, t, r1, r2, r3, j)
            v2 = _row_sum(bias, t, r2, r3, r4, j)
            o0[j], o1[j], o2[j] = v0, v1, v2
        if blocks < n:
            for k in range(8):
                j = n - 8 + k
                v0 = _row_sum(bias, t, r0, r1, r2, j)
                v1 = _row_sum(bias, t, r1, r2, r3, j)
                v2 = _row_sum(bias, t, r2, r3, r4, j)
                o0[j], o1[j], o2[j] = v0, v1, v2
    else:
        for j in range(o0.shape[0]):
            v0 = _row_sum(o0[j], t, r0, r1, r2, j)
            v1 = _row_sum(o1[j], t, r1, r2, r3, j)
            v2 = _row_sum(o2[j], t, r2, r3, r4, j)
            o0[j], o1[j], o2[j] = v0, v1, v2


@njit(cache=True, fastmath={"contract"})
def _one_row(t, x_c, s, o0, bias, first):
    """o0 (interior columns) <- bias or itself + taps of x_c rows s..s+2."""
    r0, r1, r2 = x_c[s], x_c[s + 1], x_c[s + 2]
    if first:
        for j in range(o0.shape[0]):
            o0[j] = _row_sum(bias, t, r0, r1, r2, j)
    else:
        for j in range(o0.shape[0]):
            o0[j] = _row_sum(o0[j], t, r0, r1, r2, j)


@njit(cache=True, fastmath={"contract"})
def _padded_row(t, x_c, i, ph, o0):
    """o0 (interior columns) += taps of output row i, some of whose rows are padding."""
    height = x_c.shape[0]
    for di in range(3):
        si = i + di - ph
        t0, t1, t2 = t[3 * di], t[3 * di + 1], t[3 * di + 2]
        if 0 <= si < height:
            src = x_c[si]
            for j in range(o0.shape[0]):
                o0[j] += t0 * src[j] + t1 * src[j + 1] + t2 * src[j + 2]
        else:
            # The row is padding: its taps add w * 0, NaN only for a weight that is
            # not finite, so a pass is spent on it only then.
            padding_taps = t0 * _ZERO + t1 * _ZERO + t2 * _ZERO
            if padding_taps != 0:
                for j in range(o0.shape[0]):
                    o0[j] += padding_taps


@njit(cache=True)
def _edge_column(t, x_c, i, j, ph, pw, row, bias, first):
    """row[j] <- bias (or row[j]) + the taps of output (i, j); its window leaves x."""
    height, width = x_c.shape
    acc = bias if first else row[j]
    for di in range(3):
        si = i + di - ph
        for dj in range(3):
            sj = j + dj - pw
            value = x_c[si, sj] if 0 <= si < height and 0 <= sj < width else _ZERO
            acc += t[3 * di + dj] * value
    row[j] = acc


@njit(cache=True, fastmath={"contract"})
def _side_columns(t, x_c, s, row, bias, first):
    """row[0] and row[-1] of an output row over x_c rows s..s+2, padding 1 wide.

    The common border, in straight-line code: the taps on the padding column add
    ``w * 0`` (NaN for a weight that is not finite), the others read x.
    """
    r0, r1, r2 = x_c[s], x_c[s + 1], x_c[s + 2]
    last = x_c.shape[1] - 1
    left = bias if first else row[0]
    left += t[0] * _ZERO + t[3] * _ZERO + t[6] * _ZERO
    left += t[1] * r0[0] + t[2] * r0[1] + t[4] * r1[0]
    left += t[5] * r1[1] + t[7] * r2[0] + t[8] * r2[1]
    right = bias if first else row[last]
    right += t[2] * _ZERO + t[5] * _ZERO + t[8] * _ZERO
    right += t[0] * r0[last - 1] + t[1] * r0[last] + t[3] * r1[last - 1]
    right += t[4] * r1[last] + t[6] * r2[last - 1] + t[7] * r2[last]
    row[0] = left
    row[last] = right


@njit(cache=True)
def _row_group(x, w, b, ph, pw, group, out):
    """Output rows 3g, 3g + 1, 3g + 2 (those that exist) of one (image, filter).

    ``group`` = (n * F + f) * G + g, with G = ceil(OH / 3) groups per plane.
    """
    n_filters, out_h = out.shape[1], out.shape[2]
    height, width = x.shape[2], x.shape[3]
    per_plane = (out_h + 2) // 3
    plane, i = group // per_plane, 3 * (group % per_plane)
    n, f = plane // n_filters, plane % n_filters
    k = min(3, out_h - i)
    bias = b[f]
    stop_col = max(pw, pw + width - 2)  # output columns pw..stop_col-1 stay inside x
    for c in range(x.shape[1]):
        x_c, t = x[n, c], _taps(w[f, c])
        first = c == 0
        s = i - ph  # the first input row output row i reads
        if k == 3 and s >= 0 and s + 4 < height:
            _three_rows(
                t,
                x_c,
                s,
                out[n, f, i, pw:stop_col],
                out[n, f, i + 1, pw:stop_col],
                out[n, f, i + 2, pw:stop_col],
                bias,
                first,
            )
        else:
            for r in range(i, i + k):
                interior = out[n, f, r, pw:stop_col]
                if 0 <= r - ph and r - ph + 2 < height:
                    _one_row(t, x_c, r - ph, interior, bias, first)
                else:
                    if first:
                        for j in range(interior.shape[0]):
                            interior[j] = bias
                    _padded_row(t, x_c, r, ph, interior)
        for r in range(i, i + k):
            row = out[n, f, r]
            if pw == 1 and width >= 2 and 0 <= r - ph and r - ph + 2 < height:
                _side_columns(t, x_c, r - ph, row, bias, first)
                continue
            for j in range(min(pw, row.shape[0])):
                _edge_column(t, x_c, r, j, ph, pw, row, bias, first)
            for j in range(stop_col, row.shape[0]):
                _edge_column(t, x_c, r, j, ph, pw, row, bias, first)


@njit(cache=True, fastmath={"contract"})
def _fast_band(x_c, t, bias, o_plane, g0, g1, ph):
    """Output rows 3g..3g+2, g in g0..g1-1, of one channel; padding 1 column wide.

    Every row's window lies inside x_c (the caller checks). One function for
    the whole band, with no calls in it: a call per group (its arguments, the
    vectorizer's overlap checks on entry) costs as much as many vector columns.
    The last ``n % 8`` columns are LLVM's scalar remainder: a second vector
    loop over the last 8 would start with those checks and, with fewer than 16
    iterations, LLVM runs it scalar anyway.
    """
    width = x_c.shape[1]
    n, last = width - 2, width - 1
    for g in range(g0, g1):
        i = 3 * g
        s = i - ph
        r0, r1, r2, r3, r4 = x_c[s], x_c[s + 1], x_c[s + 2], x_c[s + 3], x_c[s + 4]
        q0, q1, q2 = o_plane[i], o_plane[i + 1], o_plane[i + 2]
        o0, o1, o2 = q0[1:], q1[1:], q2[1:]
        for j in range(n):
            v0 = _row_sum(bias, t, r0, r1, r2, j)
            v1 = _row_sum(bias, t, r1, r2, r3, j)
            v2 = _row_sum(bias, t, r2, r3, r4, j)
            o0[j], o1[j], o2[j] = v0, v1, v2
        # The border columns, their loads shared by the three rows. Taken after
        # the loop: values live across it would push the weights out of registers.
        left = bias + (t[0] * _ZERO + t[3] * _ZERO + t[6] * _ZERO)
        right = bias + (t[2] * _ZERO + t[5] * _ZERO + t[8] * _ZERO)
        a0, a1, a2, a3, a4 = r0[0], r1[0], r2[0], r3[0], r4[0]
        b0, b1, b2, b3, b4 = r0[1], r1[1], r2[1], r3[1], r4[1]
        q0[0] = (
            left + t[1] * a0 + t[2] * b0 + t[4] * a1 + t[5] * b1 + t[7] * a2 + t[8] * b2
        )
        q1[0] = (
            left + t[1] * a1 + t[2] * b1 + t[4] * a2 + t[5] * b2 + t[7] * a3 + t[8] * b3
        )
        q2[0] = (
            left + t[1] * a2 + t[2] * b2 + t[4] * a3 + t[5] * b3 + t[7] * a4 + t[8] * b4
        )
        a0, a1, a2, a3, a4 = (
            r0[last - 1],
            r1[last - 1],
            r2[last - 1],
            r3[last - 1],
            r4[last - 1],
        )
        b0, b1, b2, b3, b4 = r0[last], r1[last], r2[last], r3[last], r4[last]
        q0[last] = (
            right
            + t[0] * a0
            + t[1] * b0
            + t[3] * a1
            + t[4] * b1
            + t[6] * a2
            + t[7] * b2
        )
        q1[last] = (
            right
            + t[0] * a1
            + t[1] * b1
            + t[3] * a2
            + t[4] * b2
            + t[6] * a3
            + t[7] * b3
        )
        q2[last] = (
            right
            + t[0] * a2
            + t[1] * b2
            + t[3] * a3
            + t[4] * b3
            + t[6] * a4
            + t[7] * b4
        )


@njit(cache=True)
def _plane_groups(x, w, b, ph, pw, plane, g0, g1, out):
    """Row groups g0..g1-1 of one (image, filter): ``plane`` = n * F + f."""
    n_filters, out_h = out.shape[1], out.shape[2]
    height, width = x.shape[2], x.shape[3]
    per_plane = (out_h + 2) // 3
    n, f = plane // n_filters, plane % n_filters
    lo = hi = g0
    if x.shape[1] == 1 and pw == 1 and width >= 3:
        # The groups whose three rows all exist and read only rows of x:
        # 3g - ph >= 0, 3g - ph + 4 < height, 3g + 2 < out_h.
        lo = min(max(g0, (ph + 2) // 3), g1)
        hi = max(min(g1, (height - 5 + ph) // 3 + 1, out_h // 3), lo)
        _fast_band(x[n, 0], _taps(w[f, 0]), b[f], out[n, f], lo, hi, ph)
    for g in range(g0, g1):
        if not lo <= g < hi:
            _row_group(x, w, b, ph, pw, plane * per_plane + g, out)


@njit(cache=True)
def _groups(x, w, b, ph, pw, start, stop, out):
    """Row groups start..stop-1, counted over the planes (n, f) one after another."""
    per_plane = (out.shape[2] + 2) // 3
    g = start
    while g < stop:
        plane = g // per_plane
        first = plane * per_plane
        end = min(stop, first + per_plane)
        _plane_groups(x, w, b, ph, pw, plane, g - first, end - first, out)
        g = end


@njit(cache=True)
def _total_groups(out: np.ndarray) -> int:
    """Row groups of three output rows, over all images and filters."""
    return out.shape[0] * out.shape[1] * ((out.shape[2] + 2) // 3)


# Work items of the threaded kernel: a multiple of the usual thread counts (so
# the threads' shares are equal), few enough that an item's setup is small
# beside its rows.
_ITEMS = 24


@njit(parallel=True, cache=True)
def conv2d_3x3_rows(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, ph: int, pw: int, out: np.ndarray
) -> None:
    """out (N, F, OH, OW) <- 3x3 correlation, stride 1, of x (N, C, H, W).

    Zero padding (ph, pw). Work items are equal runs of row groups; Numba gives
    each thread one contiguous run of them. Correct for any shape; fast for
    one channel and one filter on a large image.
    """
    total = _total_groups(out)
    items = min(_ITEMS, total)
    for item in prange(items):
        start, stop = total * item // items, total * (item + 1) // items
        _groups(x, w, b, ph, pw, start, stop, out)


@njit(cache=True)
def conv2d_3x3_rows_serial(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, ph: int, pw: int, out: np.ndarray
) -> None:
    """:func:`conv2d_3x3_rows` in one thread."""
    _groups(x, w, b, ph, pw, 0, _total_groups(out), out)
