"""Numba JIT: the loops of the Python reference, compiled to machine code.

Each public function checks its arguments with :mod:`cnnlab.checks`, prepares
contiguous arrays of the result dtype, and only then calls an ``@njit``
kernel, so a bad argument never reaches compiled code. The loops are ordered
so the innermost one walks a contiguous row, which lets LLVM vectorize it,
and an outer loop runs in parallel (Lam et al. 2015, "Numba: a LLVM-based
Python JIT compiler"). Convolution and pooling kernels live in
:mod:`cnnlab.numba_conv` and :mod:`cnnlab.numba_pool`; which one runs for
which shape is decided in :func:`_choose_conv_kernel` and
:func:`_choose_pool_kernel`.
"""
from __future__ import annotations

import os

import numba
import numpy as np
from numba import njit, prange

from . import numba_conv, numba_pool
from .backend_numpy import pad2d
from .checks import check_conv2d, check_elementwise, check_linear, check_pool2d, check_softmax

# Numba starts its threads on the first parallel call. Prefer OpenMP: for
# kernels that last tens of microseconds it starts and joins threads fastest
# (TBB and Numba's own workqueue are the fallbacks if it is missing). A user's
# own NUMBA_THREADING_LAYER or NUMBA_THREADING_LAYER_PRIORITY wins.
if not {"NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY"} & set(os.environ):
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]


# Output grid points per work item of the direct kernel. The inner loops run
# over them, and LLVM's vectorized loops take 64 elements per iteration, so a
# short loop spends most of its time in the scalar remainder.
_DIRECT_GRID_PER_ITEM = 1600


def _equal_blocks(n_rows: int, row_length: int, target: int) -> int:
    """Rows per block so that blocks hold about ``target`` elements and are equally long."""
    n_blocks = -(-n_rows * row_length // target)
    return -(-n_rows // n_blocks)


def _conv_general(x, w, b, stride, padding, out):
    numba_conv.conv2d_general(np.ascontiguousarray(pad2d(x, padding)), w, b, stride[0], stride[1], out)


def _conv_direct(x, w, b, stride, padding, out):
    block_rows = _equal_blocks(out.shape[2], x.shape[3] + 2 * padding[1], _DIRECT_GRID_PER_ITEM)
    numba_conv.conv2d_direct(x, w, b, padding[0], padding[1], block_rows, out)


def _choose_conv_kernel(x_shape, w_shape, stride):
    """Pick the convolution kernel for these shapes; both give the same values up to rounding.

    ==================  ======================================  ==========================================
    kernel              runs when                               how
    ==================  ======================================  ==========================================
    ``_conv_direct``    stride 1 (any kernel size, padding,     padded-width grid, 3x3 taps unrolled,
                        channel count)                          3 filters per pass, parallel row blocks
    ``_conv_general``   stride > 1                              plain loops over a padded copy of x
    ==================  ======================================  ==========================================
    """
    return _conv_direct if stride == (1, 1) else _conv_general


def conv2d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """2-D cross-correlation; x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH, OW).

    The kernel is chosen by shape in :func:`_choose_conv_kernel`.
    """
    args = check_conv2d(x, w, b, stride, padding)
    dtype = args.dtype
    xc = np.ascontiguousarray(args.x, dtype=dtype)
    wc = np.ascontiguousarray(args.w, dtype=dtype)
    bias = np.zeros(wc.shape[0], dtype) if args.b is None else np.ascontiguousarray(args.b, dtype=dtype)
    out = np.empty(args.out_shape, dtype)
    kernel = _choose_conv_kernel(xc.shape, wc.shape, args.stride)
    kernel(xc, wc, bias, args.stride, args.padding, out)
    return out


def _is_channels_last(x: np.ndarray) -> bool:
    """True when x (N, C, H, W) is stored as (N, H, W, C), PyTorch's channels_last."""
    return not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous


def _choose_pool_kernel(x: np.ndarray, kernel_size, stride, take_max: bool) -> str:
    """Pick the pooling kernel for this input; all give the same values.

    ==========================  ==========================================  ==========================
    kernel                      runs when                                   output memory
    ==========================  ==========================================  ==========================
    ``"nhwc"``                  x is channels_last (stored (N, H, W, C))     channels_last, like x
    ``"max_2x2_nchw"``          max pooling, 2x2 window, stride 2            C-contiguous
    ``"nchw"``                  anything else (x copied to C order first)    C-contiguous
    ==========================  ==========================================  ==========================
    """
    if _is_channels_last(x):
        return "nhwc"
    if take_max and kernel_size == (2, 2) and stride == (2, 2):
        return "max_2x2_nchw"
    return "nchw"


def _pool(x, kernel_size, stride, take_max) -> np.ndarray:
    args = check_pool2d(x, kernel_size, stride)
    x, (kh, kw), (sh, sw) = args.x, args.kernel_size, args.stride
    kernel = _choose_pool_kernel(x, args.kernel_size, args.stride, take_max)
    if kernel == "nhwc":
        n, c, oh, ow = args.out_shape
        out = np.empty((n, oh, ow, c), x.dtype)
        numba_pool.pool2d_nhwc(x.transpose(0, 2, 3, 1), kh, kw, sh, sw, take_max, out)
        return out.transpose(0, 3, 1, 2)
    out = np.empty(args.out_shape, x.dtype)
    if kernel == "max_2x2_nchw":
        numba_pool.max_pool2d_2x2_nchw(np.ascontiguousarray(x), out)
    else:
        numba_pool.pool2d_nchw(np.ascontiguousarray(x), kh, kw, sh, sw, take_max, out)
    return out


def max_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Maximum over each window; x (N, C, H, W), floor mode, no padding.

    The result has x's memory layout when x is channels_last (as in PyTorch),
    and is C-contiguous otherwise.
    """
    return _pool(x, kernel_size, stride, True)


def avg_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Mean over each window; x (N, C, H, W), floor mode, no padding; layout as in :func:`max_pool2d`."""
    return _pool(x, kernel_size, stride, False)


@njit(cache=True)
def _relu(flat, out):
    for i in range(flat.size):
        out[i] = 0 if flat[i] <= 0 else flat[i]  # NaN stays NaN, as in NumPy


def relu(x) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    x = check_elementwise(x)
    out = np.empty(x.shape, x.dtype)
    _relu(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out


@njit(parallel=True, cache=True)
def _linear(x, w, b, out):
    n_rows, n_out = out.shape
    for n in prange(n_rows):
        for o in range(n_out):
            acc = b[o]
            for i in range(x.shape[1]):
                acc += x[n, i] * w[o, i]
            out[n, o] = acc


def linear(x, w, b=None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in) -> (N, out)."""
    args = check_linear(x, w, b)
    dtype = args.dtype
    bias = np.zeros(args.w.shape[0], dtype) if args.b is None else np.ascontiguousarray(args.b, dtype=dtype)
    out = np.empty((args.x.shape[0], args.w.shape[0]), dtype)
    _linear(np.ascontiguousarray(args.x, dtype=dtype), np.ascontiguousarray(args.w, dtype=dtype), bias, out)
    return out


@njit(parallel=True, cache=True)
def _softmax_rows(rows, out):
    for r in prange(rows.shape[0]):
        top = rows[r, 0]
        for k in range(rows.shape[1]):
            top = max(top, rows[r, k])
        total = 0.0
        for k in range(rows.shape[1]):
            e = np.exp(rows[r, k] - top)
            out[r, k] = e
            total += e
        for k in range(rows.shape[1]):
            out[r, k] /= total


def softmax(x, axis=-1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    x, axis = check_softmax(x, axis)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.empty_like(rows)
    _softmax_rows(rows, out)
    return np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, axis))
from .grad_numba import conv2d_backward, max_pool2d_backward, avg_pool2d_backward, relu_backward, linear_backward, softmax_cross_entropy  # noqa: E402,F401
