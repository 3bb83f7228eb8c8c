"""Winograd's minimal filtering F(4x4, 3x3), for 3x3 convolutions with many channels.

Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks",
compute each 4x4 block ("tile") of outputs from the 6x6 patch of input it
needs with 36 multiplications per (channel, filter) pair, where the direct
method needs 16 * 9 = 144: 4x fewer. For one tile d (6x6 input), one filter
g (3x3) and one channel,

    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,

with the constant matrices ``BT``, ``G`` and ``AT`` below. Summing over channels
commutes with the output transform, so for each of the 36 positions ``xi`` of the
transformed tile the sum over channels is a matrix product: M[xi] (F, tiles) =
U[xi] (F, C) @ V[xi] (C, tiles), with U = G g G^T (once per call) and V = B^T d B.
The products do most of the work. They run as BLAS's GEMM (``np.dot``, on the
calling thread): its register-blocked micro-kernel keeps a block of M in registers
across the whole sum, which a Numba loop, whose accumulators stay in memory, does not.

Work items are blocks of ``TILES`` to ``SPAN`` = 2 ``TILES`` consecutive tiles of the
whole batch, enough columns for GEMM to run near its best. Each gathers the 6x6
patches of its tiles (0 in the padding: x is not copied),
transforms them into V, multiplies, and transforms M back into outputs, in
scratch buffers allocated once per call, one per thread. Gathering a patch is a
scalar copy; every transform after it is a loop over the block's tiles, with the
tile index last in every buffer, so that it runs in SIMD lanes.

Accuracy: B^T and A^T hold constants up to 8, and G fractions down to
1/24, so rounding errors grow more than in the direct method; the tests
bound the float32 error at 1e-4 of the output's largest magnitude on random
data, and the notebook of chapter 9 measures it.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

TILES = 64  # work items hold TILES to 2 * TILES tiles (fewer if the batch is small)
SPAN = 2 * TILES  # the most tiles per work item: the columns of its 36 products

BT = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=np.float64,
)
G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=np.float64,
)
AT = np.array(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    dtype=np.float64,
)


# (G kron G)[6 i + j, 3 a + b] = G[i, a] G[j, b]: (G g G^T)[i, j] for all (i, j) at once
GG = np.kron(G, G)


def filter_transform(w: np.ndarray) -> np.ndarray:
    """U = G g G^T for every filter and channel: w (F, C, 3, 3) -> (36, F, C).

    Position xi = 6 * row + column; float64, one matrix product for all filters.
    """
    n_filters, channels = w.shape[0], w.shape[1]
    flat = w.reshape(n_filters * channels, 9).astype(np.float64)
    return (GG @ flat.T).reshape(36, n_filters, channels)


# The constants of the transforms as float32: in Numba, a float32 times a Python int or
# float is a float64.
TWO, FOUR, FIVE, EIGHT = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


@njit(cache=True)
def _bt(d0, d1, d2, d3, d4, d5):
    """B^T d for one column (or row) of 6 inputs."""
    return (
        FOUR * d0 - FIVE * d2 + d4,
        d3 + d4 - FOUR * (d1 + d2),
        FOUR * (d1 - d2) + d4 - d3,
        TWO * (d3 - d1) + d4 - d2,
        TWO * (d1 - d3) + d4 - d2,
        FOUR * d1 - FIVE * d3 + d5,
    )


@njit(cache=True)
def _bt_column(flat, j, p):
    """B^T d_p[:, j], where flat[(6 i + j) * SPAN + p] = d_p[i, j]."""
    return _bt(
        flat[j * SPAN + p],
        flat[(6 + j) * SPAN + p],
        flat[(12 + j) * SPAN + p],
        flat[(18 + j) * SPAN + p],
        flat[(24 + j) * SPAN + p],
        flat[(30 + j) * SPAN + p],
    )


@njit(cache=True)
def _at(m0, m1, m2, m3, m4, m5):
    """A^T m for one column (or row) of 6 products."""
    a, b, c, d = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return (m0 + a + c, b + TWO * d, a + FOUR * c, b + EIGHT * d + m5)


@njit(cache=True)
def _segment(t, t_end, tiles_h, tiles_w):
    """The run of tiles from t that share an image and a tile row.

    Returns (image, tile row, first tx, count).
    """
    image, rest = divmod(t, tiles_h * tiles_w)
    ty, tx0 = divmod(rest, tiles_w)
    return image, ty, tx0, min(tiles_w - tx0, t_end - t)


@njit(cache=True)
def _gather(x, c, ph, pw, t0, t_end, tiles_h, tiles_w, d):
    """d[6 i + j, t - t0] <- x[n, c, 4 ty + i - ph, 4 tx + j - pw] of tile t.

    Tiles t0 ... t_end - 1, numbered across the batch; 0 outside x (its padding).
    """
    height, width = x.shape[2], x.shape[3]
    t = t0
    while t < t_end:
        image, ty, tx0, count = _segment(t, t_end, tiles_h, tiles_w)
        for i in range(6):
            y = 4 * ty + i - ph
            if y < 0 or y >= height:
                for j in range(6):
                    d[6 * i + j, t - t0 : t - t0 + count] = 0
                continue
            row, di = x[image, c, y], d[6 * i : 6 * i + 6, t - t0 :]
            d0, d1, d2, d3, d4, d5 = di[0], di[1], di[2], di[3], di[4], di[5]
            for q in range(count):
                col = 4 * (tx0 + q) - pw
                if col >= 0 and col + 6 <= width:
                    d0[q], d1[q], d2[q] = row[col], row[col + 1], row[col + 2]
                    d3[q], d4[q], d5[q] = row[col + 3], row[col + 4], row[col + 5]
                else:
                    for j in range(6):
                        inside = 0 <= col + j < width
                        di[j, q] = row[col + j] if inside else 0
        t += count


@njit(cache=True)
def _scatter(y, f, bias, t0, t_end, tiles_h, tiles_w, out):
    """out[n, f, 4 ty + r, 4 tx + s] <- y[4 r + s, t - t0] + bias of tile t.

    Only the part of each tile inside out.
    """
    out_h, out_w = out.shape[2], out.shape[3]
    t = t0
    while t < t_end:
        image, ty, tx0, count = _segment(t, t_end, tiles_h, tiles_w)
        for r in range(min(4, out_h - 4 * ty)):
            row, yr = out[image, f, 4 * ty + r], y[4 * r : 4 * r + 4]
            y0, y1, y2, y3 = (
                yr[0, t - t0 :],
                yr[1, t - t0 :],
                yr[2, t - t0 :],
                yr[3, t - t0 :],
            )
            # whole tiles first, in a loop without branches, then a cut one at the edge
            whole = min(count, (out_w - 4 * tx0) // 4)
            dst = row[4 * tx0 :]
            for q in range(whole):
                dst[4 * q] = y0[q] + bias
                dst[4 * q + 1] = y1[q] + bias
                dst[4 * q + 2] = y2[q] + bias
                dst[4 * q + 3] = y3[q] + bias
            for q in range(whole, count):
                for s in range(out_w - 4 * (tx0 + q)):
                    dst[4 * q + s] = yr[s, t - t0 + q] + bias
        t += count


@njit(cache=True, fastmath={"contract"})
def _input_transform(d, vs, v, c, n):
    """v[xi, c, p] <- (B^T d_p B)[xi] for p < n, where d[6 i + j, p] = d_p[i, j].

    d and vs are (36, SPAN), vs scratch; xi = 6 * row + column. Both are read through
    flat views at offsets ``k * SPAN + p``, constants LLVM can see: then all loads
    count as one stream and all stores as another in its run-time overlap checks, and
    the loop over tiles vectorizes. The rows of v, at offsets it cannot see, get one
    copy loop each.
    """
    df, vf = d.reshape(-1), vs.reshape(-1)
    for p in range(n):
        # B^T d: the 6 rows combined, column by column ...
        k0, k1, k2 = _bt_column(df, 0, p), _bt_column(df, 1, p), _bt_column(df, 2, p)
        k3, k4, k5 = _bt_column(df, 3, p), _bt_column(df, 4, p), _bt_column(df, 5, p)
        # ... then (B^T d) B: the 6 columns combined, row by row.
        for a in range(6):
            out = _bt(k0[a], k1[a], k2[a], k3[a], k4[a], k5[a])
            for b in range(6):
                vf[(6 * a + b) * SPAN + p] = out[b]
    for xi in range(36):
        row, src = v[xi, c], vs[xi]
        for p in range(n):
            row[p] = src[p]


@njit(cache=True, fastmath={"contract"})
def _output_transform(m, f, k, y, n):
    """y[4 r + s, p] <- (A^T M_p A)[r, s] for p < n, with M_p = m[:, f, p].

    k and y are (36, SPAN) scratch, written through flat views as in
    :func:`_input_transform`; six loops read six rows of m each.
    """
    kf, yf = k.reshape(-1), y.reshape(-1)
    # A^T M: the 6 rows combined, column by column ...
    for j in range(6):
        m0, m1, m2 = m[j, f], m[6 + j, f], m[12 + j, f]
        m3, m4, m5 = m[18 + j, f], m[24 + j, f], m[30 + j, f]
        for p in range(n):
            column = _at(m0[p], m1[p], m2[p], m3[p], m4[p], m5[p])
            for r in range(4):
                kf[(6 * r + j) * SPAN + p] = column[r]
    # ... then (A^T M) A: the 6 columns combined, row by row.
    for p in range(n):
        for r in range(4):
            a = 6 * r * SPAN + p
            row = _at(
                kf[a],
                kf[a + SPAN],
                kf[a + 2 * SPAN],
                kf[a + 3 * SPAN],
                kf[a + 4 * SPAN],
                kf[a + 5 * SPAN],
            )
            for s in range(4):
                yf[(4 * r + s) * SPAN + p] = row[s]


@njit(parallel=True, cache=True)
def conv2d_winograd_blocks(
    x: np.ndarray,
    ph: int,
    pw: int,
    u: np.ndarray,
    b: np.ndarray,
    tiles: int,
    d: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    out: np.ndarray,
) -> None:
    """out (N, F, OH, OW) <- F(4x4, 3x3) of x (N, C, H, W) with U u (36, F, C).

    Padding (ph, pw); blocks of ``tiles`` <= SPAN tiles. d (threads, 3, 36, SPAN), v
    (threads, 36, C, tiles) and m (threads, 36, F, tiles) are scratch, one slice per
    thread: allocated once per call, because allocating them per block (a megabyte
    or so) costs page faults every time.
    """
    tiles_h, tiles_w = -(-out.shape[2] // 4), -(-out.shape[3] // 4)
    n_tiles = out.shape[0] * tiles_h * tiles_w
    for block in prange(-(-n_tiles // tiles)):
        t0, thread = block * tiles, get_thread_id()
        t_end = min(t0 + tiles, n_tiles)
        patches, k, y = d[thread, 0], d[thread, 1], d[thread, 2]
        vt, mt = v[thread], m[thread]
        for c in range(x.shape[1]):
            _gather(x, c, ph, pw, t0, t_end, tiles_h, tiles_w, patches)
            _input_transform(patches, k, vt, c, t_end - t0)
        # a shorter block multiplies whole buffers too: the unused columns, made 0
        vt[:, :, t_end - t0 :] = 0
        for xi in range(36):
            np.dot(u[xi], vt[xi], mt[xi])
        for f in range(out.shape[1]):
            _output_transform(mt, f, k, y, t_end - t0)
            _scatter(y, f, b[f], t0, t_end, tiles_h, tiles_w, out)


def conv2d_3x3(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    padding: tuple[int, int],
    out: np.ndarray | None = None,
    *,
    block_tiles: int = SPAN,
) -> np.ndarray:
    """Stride-1 3x3 convolution by F(4x4, 3x3): x (N, C, H, W) -> out (N, F, OH, OW).

    w is (F, C, 3, 3), b (F,); computes straight into ``out`` (or a new array).
    Work items hold at most ``block_tiles`` (<= SPAN) tiles; the tests make them
    small, to put every seam between blocks into small shapes.
    """
    n, channels, height, width = x.shape
    ph, pw = padding
    out_h, out_w = height + 2 * ph - 2, width + 2 * pw - 2
    if out is None:
        out = np.empty((n, w.shape[0], out_h, out_w), x.dtype)
    n_tiles = n * -(-out_h // 4) * -(-out_w // 4)
    if n_tiles == 0 or w.shape[0] == 0:
        return out
    threads = get_num_threads()
    # whole rounds of blocks, one per thread, of at most block_tiles tiles each: with
    # SPAN, more than TILES once the batch has threads * SPAN tiles
    most = max(1, min(block_tiles, SPAN))
    blocks = threads * -(-n_tiles // (threads * most))
    tiles = -(-n_tiles // blocks)
    u = filter_transform(w).astype(x.dtype)
    d = np.empty((threads, 3, 36, SPAN), x.dtype)
    v = np.empty((threads, 36, channels, tiles), x.dtype)
    m = np.empty((threads, 36, w.shape[0], tiles), x.dtype)
    conv2d_winograd_blocks(x, ph, pw, u, b.astype(x.dtype), tiles, d, v, m, out)
    return out
