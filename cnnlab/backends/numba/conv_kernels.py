"""Each convolution kernel of the Numba backend behind one signature, by name.

The kernels of :mod:`cnnlab.backends.numba.kernels` take different arguments:
some want a padded copy of x, some a reshaped view, some a thread count. Here
each is wrapped as ``kernel(x, w, b, stride, padding, out)``, with x (N, C, H, W)
and w (F, C, KH, KW) C-contiguous in the result dtype, b (F,), and out
(N, F, OH, OW) to write into, so that :mod:`cnnlab.backends.numba.forward` can run
whichever the chooser or the tuner names, and the tuner can race them.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from cnnlab.backends.numba import chooser
from cnnlab.backends.numba.kernels import (
    conv_blocked,
    conv_direct,
    conv_filter,
    conv_gemm,
    conv_general,
    conv_phases,
    conv_rows,
    winograd,
)
from cnnlab.backends.windows import pad2d
from cnnlab.validation import Pair

__all__ = ["CONV_KERNELS"]


def _conv_general(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    threads = chooser.use_threads(out.size * w[0].size)
    kernel = (
        conv_general.conv2d_general if threads else conv_general.conv2d_general_serial
    )
    kernel(np.ascontiguousarray(pad2d(x, padding)), w, b, stride[0], stride[1], out)


def _conv_direct(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    points = chooser.THRESHOLDS.direct_points_per_item
    block_rows, images = conv_direct.work_items(x.shape, out.shape, padding, points)
    threads = chooser.use_threads(out.size * w[0].size)
    kernel = conv_direct.conv2d_direct if threads else conv_direct.conv2d_direct_serial
    kernel(x, w, b, padding[0], padding[1], block_rows, images, out)


def _conv_filter(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    threads = chooser.use_threads(out.size * w[0].size)
    kernel = (
        conv_filter.conv2d_3x3_rows if threads else conv_filter.conv2d_3x3_rows_serial
    )
    kernel(x, w, b, padding[0], padding[1], out)


def _conv_blocked(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    conv_blocked.conv2d_3x3(x, w, b, padding, out)


def _conv_winograd(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    winograd.conv2d_3x3(x, w, b, padding, out)


def _conv_pointwise(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    # A 1x1 window sees one input pixel: pad, then keep every stride-th pixel.
    if padding != (0, 0):
        x = pad2d(x, padding)
    x = np.ascontiguousarray(x[:, :, :: stride[0], :: stride[1]])
    n, f = out.shape[0], out.shape[1]
    threads = chooser.use_threads(out.size * w[0].size)
    kernel = (
        conv_gemm.conv2d_pointwise if threads else conv_gemm.conv2d_pointwise_serial
    )
    kernel(x.reshape(n, x.shape[1], -1), w.reshape(f, -1), b, out.reshape(n, f, -1))


def _conv_im2col(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    threads = chooser.use_threads(out.size * w[0].size)
    workers = numba.get_num_threads() if threads else 1
    conv_phases.conv2d(x, w, b, stride, padding, out, workers)


def _conv_rows(x, w, b, stride: Pair, padding: Pair, out: np.ndarray) -> None:
    threads = chooser.use_threads(out.size * w[0].size)
    workers = numba.get_num_threads() if threads else 1
    conv_rows.conv2d(x, w, b, stride, padding, out, workers)


CONV_KERNELS: dict[str, Callable[..., None]] = {
    "general": _conv_general,
    "direct": _conv_direct,
    "filter": _conv_filter,
    "blocked": _conv_blocked,
    "winograd": _conv_winograd,
    "pointwise": _conv_pointwise,
    "im2col": _conv_im2col,
    "rows": _conv_rows,
}
"""Each convolution kernel, by the chooser's names."""
