"""A register- and cache-blocked direct convolution for 3x3 kernels with many channels.

:mod:`cnnlab.backends.numba.kernels.conv_direct`'s direct kernel keeps two tricks that
this module reuses: outputs on the padded width, so tap (di, dj) is the constant offset
``di * width + dj`` into the flattened input, and slice views indexed from 0, so Numba
can prove every index non-negative and adds no wraparound check that would stop LLVM
from vectorizing. To those it adds the blocking of high-performance matrix kernels (Goto
& van de Geijn 2008), which oneDNN's direct convolutions also use:

* **All images on one grid.** The padded input is stored channel by channel
  with the images stacked on top of each other, (C, N * (H + 2p) + extra rows,
  W + 2p), so one flattened grid covers the whole batch. The grid rows that
  straddle two images are garbage, like the extra columns, and are dropped.
* **Chunks of a fixed length.** The grid is cut into chunks of ``CHUNK``
  points, a constant known when Numba compiles. LLVM then knows the trip count
  of the inner loop: no remainder loop, no checks of its length, which chunks
  of one image, with a length known only at run time, would need. The last
  chunk is padded with zeros; its extra points are dropped.
* **Weights in registers.** The 9 weights of each (filter, channel) pair are
  read into a tuple before the inner loop. A tuple is a value, not memory, so
  LLVM keeps it in registers and needs no run-time check that the stores to
  the accumulators might overwrite the weights.
* **Register blocking over filters.** Each input value loaded feeds
  ``FILTER_BLOCK`` = 2 filters: 18 multiply-adds per 9 loads, with the 18
  weights, the 9 inputs and the accumulators all in the 32 vector registers
  of AVX-512. Three or four filters would need more registers than there are.
* **Cache blocking.** The accumulators of a chunk (2 x 1024 floats, 8 KiB)
  stay in the L1 cache while all channels are added into them; the input rows
  of a chunk (C x ~1,100 floats) stay in L2 while every block of filters
  reuses them.

Work items are chunks, spread over all threads with ``prange``. The kernel is
correct for any 3x3, stride-1 convolution; it pays off when there are many
channels and filters (see :mod:`cnnlab.backends.numba.chooser`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnnlab.backends.numba.kernels.conv_direct import dot9

FILTER_BLOCK = 2
CHUNK = 1024


@njit(cache=True)
def _taps(w9, f, c):
    """The 9 weights of filter f on channel c as a tuple, so they live in registers."""
    t = w9[f, c]
    return (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8])


@njit(cache=True, fastmath={"contract"})
def _accumulate_chunk(xf, w9, f0, start, width, acc):
    """acc[k, :CHUNK] += 3x3 correlation of filter f0 + k (k = 0, 1) with xf (C, L).

    From grid point ``start`` on.
    """
    a0, a1 = acc[0], acc[1]
    for c in range(xf.shape[0]):
        xc = xf[c][start:]
        s0, s1, s2 = xc[0:], xc[1:], xc[2:]
        s3, s4, s5 = xc[width:], xc[width + 1 :], xc[width + 2 :]
        s6, s7, s8 = xc[2 * width :], xc[2 * width + 1 :], xc[2 * width + 2 :]
        t0, t1 = _taps(w9, f0, c), _taps(w9, f0 + 1, c)
        for j in range(CHUNK):  # a compile-time constant trip count
            v0, v1, v2 = s0[j], s1[j], s2[j]
            v3, v4, v5 = s3[j], s4[j], s5[j]
            v6, v7, v8 = s6[j], s7[j], s8[j]
            a0[j] += dot9(t0, v0, v1, v2, v3, v4, v5, v6, v7, v8)
            a1[j] += dot9(t1, v0, v1, v2, v3, v4, v5, v6, v7, v8)


@njit(cache=True)
def _copy_valid(grid, start, image_rows, width, out, f):
    """out[n, f, i, j] <- the grid points of the chunk that are outputs.

    Grid point start + p for each such point p.

    Grid point g lies in image ``g // (image_rows * width)``, at row ``i`` and
    column ``j`` of that image's padded rows; it is an output when i < OH and
    j < OW, and garbage (a straddling row or an extra column) otherwise.
    """
    n_images, out_h, out_w = out.shape[0], out.shape[2], out.shape[3]
    p = 0
    while p < CHUNK:
        g = start + p
        image, rest = divmod(g, image_rows * width)
        i, j = divmod(rest, width)
        run = min(width - j, CHUNK - p)  # grid points left in this grid row
        if image < n_images and i < out_h:
            row = out[image, f, i]
            for q in range(max(0, min(run, out_w - j))):
                row[j + q] = grid[p + q]
        p += run


@njit(parallel=True, cache=True)
def conv2d_3x3_blocked(
    xf: np.ndarray,
    w9: np.ndarray,
    b: np.ndarray,
    width: int,
    image_rows: int,
    out: np.ndarray,
) -> None:
    """out (N, F, OH, OW) <- 3x3 correlation of the stacked, padded images xf (C, L).

    Image n's padded rows start at grid row ``n * image_rows``; rows are
    ``width`` long; L covers every chunk plus two rows and two columns of
    taps. w9 (F2, C, 9) holds the filters, zero-filled to a multiple of
    FILTER_BLOCK, b (F2,) the biases.
    """
    n_filters = out.shape[1]
    n_chunks = -(-out.shape[0] * image_rows * width // CHUNK)
    for chunk in prange(n_chunks):
        start = chunk * CHUNK
        acc = np.empty((FILTER_BLOCK, CHUNK), out.dtype)
        for f0 in range(0, n_filters, FILTER_BLOCK):
            for k in range(FILTER_BLOCK):
                acc[k, :] = b[f0 + k]
            _accumulate_chunk(xf, w9, f0, start, width, acc)
            for k in range(min(FILTER_BLOCK, n_filters - f0)):
                _copy_valid(acc[k], start, image_rows, width, out, f0 + k)


def conv2d_3x3(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    padding: tuple[int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Stride-1 3x3 convolution: x (N, C, H, W), w (F, C, 3, 3) -> out (N, F, OH, OW).

    b is (F,); out has x's dtype.

    Pads and stacks x into the layout of :func:`conv2d_3x3_blocked` (one copy
    of x) and repacks w; both are cheap next to the convolution when there
    are many channels. Writes into ``out`` when given (C-contiguous).
    """
    n, channels, height, width = x.shape
    n_filters = w.shape[0]
    ph, pw = padding
    image_rows, padded_w = height + 2 * ph, width + 2 * pw
    n_grid = -(-n * image_rows * padded_w // CHUNK) * CHUNK
    total_rows = -(-(n_grid + 2 * padded_w + 2) // padded_w)
    xf = np.zeros((channels, total_rows, padded_w), x.dtype)
    stacked = xf[:, : n * image_rows].reshape(channels, n, image_rows, padded_w)
    stacked[:, :, ph : ph + height, pw : pw + width] = x.transpose(1, 0, 2, 3)
    f2 = -(-n_filters // FILTER_BLOCK) * FILTER_BLOCK
    w9 = np.zeros((f2, channels, 9), x.dtype)
    w9[:n_filters] = w.reshape(n_filters, channels, 9)
    b2 = np.zeros(f2, x.dtype)
    b2[:n_filters] = b
    if out is None:
        out = np.empty((n, n_filters, image_rows - 2, padded_w - 2), x.dtype)
    conv2d_3x3_blocked(xf.reshape(channels, -1), w9, b2, padded_w, image_rows, out)
    return out
