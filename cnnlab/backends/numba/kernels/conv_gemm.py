"""A 1x1 convolution as one matrix product per image.

A 1x1 convolution of one image is a matrix product, out[n] (F, OH*OW) =
w (F, C) @ x[n] (C, H*W) (Lin et al. 2014, "Network in network"). Other kernel
sizes become one after im2col, in :mod:`cnnlab.backends.numba.kernels.conv_phases`.

Each image's product is one call of ``np.dot``, which Numba hands to BLAS's GEMM
through SciPy. BLAS runs on the calling thread under cnnlab's thread policy
(:mod:`cnnlab.threads`), so the work items are images, spread over all threads
with ``prange``, and each thread runs its own GEMM. GEMM's packed, register- and
cache-blocked loops (Goto & van de Geijn 2008) reach rates that Numba's
auto-vectorized loops do not, and a product propagates NaN and inf as a direct
sum does.
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
        # unsigned, as prange's index is: one compiled _pointwise_image serves both
        _pointwise_image(x3, w2, b, np.uint64(n), out3)
