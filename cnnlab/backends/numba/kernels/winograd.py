"""Winograd's minimal filtering F(4x4, 3x3), for 3x3 convolutions with many channels.

Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks",
compute each 4x4 block ("tile") of outputs from the 6x6 patch of input it
needs with 36 multiplications per (channel, filter) pair, where the direct
method needs 16 * 9 = 144: 4x fewer. For one tile d (6x6 input), one filter
g (3x3) and one channel,

    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,

with the constant matrices ``BT``, ``G`` and ``AT`` below. Summing over channels
commutes with the output transform, so for each of the 36 positions ``xi`` of the
transformed tile the sum over channels is a matrix product: M[xi] (F, tiles) = U[xi] (F,
C) @ V[xi] (C, tiles), with U = G g G^T (once per call) and V = B^T d B. The products do
most of the work, in the register-blocked loop of
:mod:`cnnlab.backends.numba.kernels.conv_blocked`: the inner loop runs over ``TILES``
tiles (a compile-time constant), with 4 filters x 4 channels of U in a tuple, in
registers.

Work items are blocks of ``TILES`` consecutive tiles of the whole batch. Each
transforms its input tiles into V, multiplies, and transforms M back into
outputs, in scratch buffers allocated once per call, one per thread. The
products run with ``xi`` outermost, so the V[:, xi] that every filter reads
(C x TILES floats, 16 KiB for 64 channels) stays in the L1 cache; with the
filters outermost, V would be read again from L2 and L3 for every block of
filters.

Accuracy: B^T and A^T hold constants up to 8, and G fractions down to
1/24, so rounding errors grow more than in the direct method; the tests
bound the float32 error at 1e-4 of the output's largest magnitude on random
data, and the notebook of chapter 9 measures it.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

TILES = 64  # tiles per work item, and the trip count of every inner loop
BLOCK = 4  # filters per pass, and channels per pass, of the matrix products

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


def filter_transform(w: np.ndarray) -> np.ndarray:
    """U = G g G^T for every filter and channel: w (F, C, 3, 3) -> (36, F, C).

    Position xi = 6 * row + column.
    """
    # (F, C, 3, 6): g G^T, row by row
    gw = np.tensordot(w.astype(np.float64), G, axes=([3], [1]))
    # (F, C, 6, 6), indexed [f, c, column, row]
    ggw = np.tensordot(gw, G, axes=([2], [1]))
    return ggw.transpose(3, 2, 0, 1).reshape(36, w.shape[0], w.shape[1])


# The constants of the transforms as float32: in Numba, a float32 times a Python int or
# float is a float64.
TWO, FOUR, FIVE, EIGHT = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def _at(m0, m1, m2, m3, m4, m5):
    """A^T m for one column (or row) of 6 products."""
    a, b, c, d = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return (m0 + a + c, b + TWO * d, a + FOUR * c, b + EIGHT * d + m5)


@njit(cache=True, inline="always")
def _segment(t, t_end, tiles_h, tiles_w):
    """The run of tiles from t that share an image and a tile row.

    Returns (image, tile row, first tx, count).
    """
    image, rest = divmod(t, tiles_h * tiles_w)
    ty, tx0 = divmod(rest, tiles_w)
    return image, ty, tx0, min(tiles_w - tx0, t_end - t)


@njit(cache=True, fastmath={"contract"})
def _input_transform(xp, t0, n_tiles, tiles_h, tiles_w, v):
    """v[c, xi, p] <- (B^T d B)[xi] of tile t0 + p on channel c.

    xp is (N, C, 4 tiles_h + 2, 4 tiles_w + 2).

    The 36 outputs of a tile go to one flat view of v at offsets ``xi * TILES``,
    constants LLVM can see: then all stores count as one stream in its run-time overlap
    checks, few enough to vectorize the loop over tiles.
    """
    t_end = min(t0 + TILES, n_tiles)
    flat = v.reshape(-1)
    t = t0
    while t < t_end:
        image, ty, tx0, count = _segment(t, t_end, tiles_h, tiles_w)
        for c in range(xp.shape[1]):
            rows = xp[image, c, 4 * ty : 4 * ty + 6, 4 * tx0 :]
            r0, r1, r2, r3, r4, r5 = (
                rows[0],
                rows[1],
                rows[2],
                rows[3],
                rows[4],
                rows[5],
            )
            vc = flat[c * 36 * TILES + t - t0 :]
            for q in range(count):
                x = 4 * q
                # B^T d: the 6 rows combined, column by column ...
                k0 = _bt(r0[x], r1[x], r2[x], r3[x], r4[x], r5[x])
                k1 = _bt(
                    r0[x + 1], r1[x + 1], r2[x + 1], r3[x + 1], r4[x + 1], r5[x + 1]
                )
                k2 = _bt(
                    r0[x + 2], r1[x + 2], r2[x + 2], r3[x + 2], r4[x + 2], r5[x + 2]
                )
                k3 = _bt(
                    r0[x + 3], r1[x + 3], r2[x + 3], r3[x + 3], r4[x + 3], r5[x + 3]
                )
                k4 = _bt(
                    r0[x + 4], r1[x + 4], r2[x + 4], r3[x + 4], r4[x + 4], r5[x + 4]
                )
                k5 = _bt(
                    r0[x + 5], r1[x + 5], r2[x + 5], r3[x + 5], r4[x + 5], r5[x + 5]
                )
                # ... then (B^T d) B: the 6 columns combined, row by row.
                for a in range(6):
                    out = _bt(k0[a], k1[a], k2[a], k3[a], k4[a], k5[a])
                    for b in range(6):
                        vc[(6 * a + b) * TILES + q] = out[b]
        t += count


@njit(cache=True, inline="always")
def _weights(u, xi, f0, c0):
    """U[xi] of filters f0 ... f0 + 3 and channels c0 ... c0 + 3, in registers."""
    a, b, c, d = (
        u[xi, f0, c0:],
        u[xi, f0 + 1, c0:],
        u[xi, f0 + 2, c0:],
        u[xi, f0 + 3, c0:],
    )
    return (
        a[0],
        a[1],
        a[2],
        a[3],
        b[0],
        b[1],
        b[2],
        b[3],
        c[0],
        c[1],
        c[2],
        c[3],
        d[0],
        d[1],
        d[2],
        d[3],
    )


@njit(cache=True, fastmath={"contract"})
def _multiply(u, v, m):
    """m[f, xi, p] = sum over c of u[xi, f, c] * v[c, xi, p], blocked 4 x 4.

    36 products (F, C) @ (C, TILES).
    """
    # xi outermost: V[:, xi] (C x TILES floats) stays in L1 while every filter uses it
    for xi in range(36):
        for f0 in range(0, m.shape[0], BLOCK):
            a0, a1, a2, a3 = m[f0, xi], m[f0 + 1, xi], m[f0 + 2, xi], m[f0 + 3, xi]
            for p in range(TILES):
                a0[p] = a1[p] = a2[p] = a3[p] = 0
            for c0 in range(0, v.shape[0], BLOCK):
                w = _weights(u, xi, f0, c0)
                v0, v1, v2, v3 = v[c0, xi], v[c0 + 1, xi], v[c0 + 2, xi], v[c0 + 3, xi]
                for p in range(TILES):
                    x0, x1, x2, x3 = v0[p], v1[p], v2[p], v3[p]
                    # One chain per output: each step is one fused multiply-add.
                    a0[p] = a0[p] + w[0] * x0 + w[1] * x1 + w[2] * x2 + w[3] * x3
                    a1[p] = a1[p] + w[4] * x0 + w[5] * x1 + w[6] * x2 + w[7] * x3
                    a2[p] = a2[p] + w[8] * x0 + w[9] * x1 + w[10] * x2 + w[11] * x3
                    a3[p] = a3[p] + w[12] * x0 + w[13] * x1 + w[14] * x2 + w[15] * x3


@njit(cache=True)
def _output_transform(m, b, t0, n_tiles, tiles_h, tiles_w, out):
    """out[n, f, 4 ty + r, 4 tx + s] <- (A^T M A)[r, s] + b[f] for the block's tiles.

    out's sides are multiples of 4.
    """
    t_end = min(t0 + TILES, n_tiles)
    t = t0
    while t < t_end:
        image, ty, tx0, count = _segment(t, t_end, tiles_h, tiles_w)
        for f in range(out.shape[1]):
            mf, bias = m[f], b[f]
            rows = out[image, f, 4 * ty : 4 * ty + 4]
            for q in range(count):
                x, p = 4 * (tx0 + q), t - t0 + q
                # A^T M: the 6 rows of M combined, column by column ...
                k0 = _at(mf[0, p], mf[6, p], mf[12, p], mf[18, p], mf[24, p], mf[30, p])
                k1 = _at(mf[1, p], mf[7, p], mf[13, p], mf[19, p], mf[25, p], mf[31, p])
                k2 = _at(mf[2, p], mf[8, p], mf[14, p], mf[20, p], mf[26, p], mf[32, p])
                k3 = _at(mf[3, p], mf[9, p], mf[15, p], mf[21, p], mf[27, p], mf[33, p])
                k4 = _at(
                    mf[4, p], mf[10, p], mf[16, p], mf[22, p], mf[28, p], mf[34, p]
                )
                k5 = _at(
                    mf[5, p], mf[11, p], mf[17, p], mf[23, p], mf[29, p], mf[35, p]
                )
                # ... then (A^T M) A: the 6 columns combined, row by row.
                for r in range(4):
                    y = _at(k0[r], k1[r], k2[r], k3[r], k4[r], k5[r])
                    for s in range(4):
                        rows[r, x + s] = bias + y[s]
        t += count


@njit(parallel=True, cache=True)
def conv2d_winograd_blocks(
    xp: np.ndarray,
    u: np.ndarray,
    b: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    out: np.ndarray,
) -> None:
    """out (N, F4, 4 tiles_h, 4 tiles_w) <- F(4x4, 3x3) of xp with U u (36, F4, C4).

    xp is (N, C4, 4 tiles_h + 2, 4 tiles_w + 2).

    C4 and F4 are multiples of BLOCK (zero channels and filters added). v (threads, C4,
    36, TILES) and m (threads, F4, 36, TILES) are scratch, one slice per thread:
    allocated once per call, because allocating them per block (a megabyte or so) costs
    page faults every time.
    """
    tiles_h, tiles_w = out.shape[2] // 4, out.shape[3] // 4
    n_tiles = out.shape[0] * tiles_h * tiles_w
    for block in prange(-(-n_tiles // TILES)):
        t0, thread = block * TILES, get_thread_id()
        _input_transform(xp, t0, n_tiles, tiles_h, tiles_w, v[thread])
        _multiply(u, v[thread], m[thread])
        _output_transform(m[thread], b, t0, n_tiles, tiles_h, tiles_w, out)


def conv2d_3x3(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    padding: tuple[int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Stride-1 3x3 convolution by F(4x4, 3x3): x (N, C, H, W) -> out (N, F, OH, OW).

    w is (F, C, 3, 3), b (F,).

    Pads x to whole tiles and to a multiple of BLOCK channels (one copy), and
    the filters to a multiple of BLOCK. Computes straight into ``out`` (or a
    new array) when OH and OW are multiples of 4 and F of BLOCK, else into a
    larger array whose (N, F, OH, OW) part is copied out.
    """
    n, channels, height, width = x.shape
    n_filters = w.shape[0]
    ph, pw = padding
    out_h, out_w = height + 2 * ph - 2, width + 2 * pw - 2
    tiles_h, tiles_w = -(-out_h // 4), -(-out_w // 4)
    c4, f4 = -(-channels // BLOCK) * BLOCK, -(-n_filters // BLOCK) * BLOCK
    xp = np.zeros((n, c4, 4 * tiles_h + 2, 4 * tiles_w + 2), x.dtype)
    xp[:, :channels, ph : ph + height, pw : pw + width] = x
    u = np.zeros((36, f4, c4), x.dtype)
    u[:, :n_filters, :channels] = filter_transform(w)
    b4 = np.zeros(f4, x.dtype)
    b4[:n_filters] = b
    if out is None:
        out = np.empty((n, n_filters, out_h, out_w), x.dtype)
    threads = get_num_threads()
    v = np.empty((threads, c4, 36, TILES), x.dtype)
    m = np.empty((threads, f4, 36, TILES), x.dtype)
    if (f4, 4 * tiles_h, 4 * tiles_w) == (n_filters, out_h, out_w):
        conv2d_winograd_blocks(xp, u, b4, v, m, out)
    else:
        whole = np.empty((n, f4, 4 * tiles_h, 4 * tiles_w), x.dtype)
        conv2d_winograd_blocks(xp, u, b4, v, m, whole)
        out[...] = whole[:, :n_filters, :out_h, :out_w]
    return out
