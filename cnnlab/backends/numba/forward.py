"""Numba JIT: the loops of the Python reference, compiled to machine code.

Each public function checks its arguments with :mod:`cnnlab.validation`, prepares
contiguous arrays of the result dtype, and only then calls an ``@njit`` kernel, so a bad
argument never reaches compiled code. The loops are ordered so the innermost one walks a
contiguous row, which lets LLVM vectorize it, and an outer loop runs in parallel (Lam et
al. 2015, "Numba: a LLVM-based Python JIT compiler"). Convolution and pooling kernels
live in :mod:`cnnlab.backends.numba.kernels.conv_direct` and
:mod:`cnnlab.backends.numba.kernels.pool`; which one runs for which shape is decided in
:func:`_choose_conv_kernel` and :func:`_choose_pool_kernel`.
"""

from __future__ import annotations

import os

import numba
import numpy as np
from numba import njit, prange

from cnnlab.backends.numba.kernels import (
    conv_blocked,
    conv_direct,
    conv_filter,
    winograd,
)
from cnnlab.backends.numba.kernels import pool as pool_kernels
from cnnlab.backends.numpy import pad2d
from cnnlab.validation import (
    validate_conv2d,
    validate_elementwise,
    validate_linear,
    validate_pool2d,
    validate_softmax,
)

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

PARALLEL_MIN_WORK = 1 << 20
"""Multiply-adds (conv2d, linear) or elements read (pooling, softmax) from which an
operator uses all threads.

Starting and joining threads costs microseconds on an idle machine and up to
milliseconds on a busy one, while a million multiply-adds take tens of
microseconds in one thread. Below this, every operator runs serially.
"""


def use_threads(work: int) -> bool:
    """True when ``work`` is big enough for threads to pay off; the one place that
    decides.
    """
    return work >= PARALLEL_MIN_WORK


def _equal_blocks(n_rows: int, row_length: int, target: int) -> int:
    """Rows per block so that blocks hold about ``target`` elements and are equally
    long.
    """
    n_blocks = -(-n_rows * row_length // target)
    return -(-n_rows // n_blocks)


def _conv_general(x, w, b, stride, padding, out):
    kernel = (
        conv_direct.conv2d_general
        if use_threads(out.size * w[0].size)
        else conv_direct.conv2d_general_serial
    )
    kernel(np.ascontiguousarray(pad2d(x, padding)), w, b, stride[0], stride[1], out)


def _conv_direct(x, w, b, stride, padding, out):
    (height, width), (out_h, out_w) = x.shape[2:], out.shape[2:]
    # grid points per row, as in conv_direct._direct_item
    row = width + max(padding[1], out_w - width)
    block_rows = _equal_blocks(out_h, row, _DIRECT_GRID_PER_ITEM)
    images_per_item = 1
    # a whole image fits in one item: stack several, equally many per item
    if block_rows == out_h:
        per_image = (height + max(padding[0], out_h - height)) * row
        images_per_item = _equal_blocks(x.shape[0], per_image, _DIRECT_GRID_PER_ITEM)
    kernel = (
        conv_direct.conv2d_direct
        if use_threads(out.size * w[0].size)
        else conv_direct.conv2d_direct_serial
    )
    kernel(x, w, b, padding[0], padding[1], block_rows, images_per_item, out)


def _conv_blocked(x, w, b, stride, padding, out):
    conv_blocked.conv2d_3x3(x, w, b, padding, out)


def _conv_winograd(x, w, b, stride, padding, out):
    winograd.conv2d_3x3(x, w, b, padding, out)


def _conv_filter(x, w, b, stride, padding, out):
    rows = conv_filter.conv2d_3x3_rows
    kernel = (
        rows
        if use_threads(out.size * w[0].size)
        else conv_filter.conv2d_3x3_rows_serial
    )
    kernel(x, w, b, padding[0], padding[1], out)


# Where each fast 3x3 kernel measured faster than the next one down (2 cores,
# interleaved rounds). Filter: 2.6x over _conv_direct on one 512x512 image, one channel,
# one filter; slower with more channels or filters (each filter reads the input again)
# and on small images.
_FILTER_MIN_POINTS = 1 << 16
# Blocked: 1.1-1.5x over _conv_direct from 8 channels and 8 filters on grids of a few
# chunks of conv_blocked.CHUNK points; slower on small images (a 14x14 image fills a
# quarter of a chunk) and few channels.
_BLOCKED_MIN_CHANNELS = 8
_BLOCKED_MIN_POINTS = 2 * conv_blocked.CHUNK
# Winograd F(4x4, 3x3): 1.2-1.3x over blocked on (8, 64, 56, 56) with 64 or 128 filters;
# slower with 32 or 128 channels (with 128, its buffers outgrow the L2 cache) and below
# ~16 blocks of winograd.TILES tiles (too few work items).
_WINOGRAD_CHANNELS = range(48, 65)
_WINOGRAD_MIN_FILTERS = 32
_WINOGRAD_MIN_POINTS = 16 * 16 * winograd.TILES  # 16 blocks of tiles of 4x4 outputs


# Winograd's transforms scale magnitudes by at most 36100 (B^T d B by 10 * 10, A^T M A
# by 19 * 19; G g G^T shrinks them) and sum C channels: below this bound no intermediate
# overflows.
_WINOGRAD_GROWTH = 36100


def winograd_stays_finite(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> bool:
    """True when x, w and b hold no NaN or inf and no step of F(4x4, 3x3) can overflow.

    Winograd mixes all 36 inputs of a 6x6 tile into each of its 16 outputs,
    so one NaN or inf, or one overflow, would spread to outputs whose 3x3
    window never saw it. Where that could happen the direct kernels run
    instead, which give NaN and inf exactly where PyTorch does. Three
    reductions: cheap next to a convolution with at least 48 channels and
    32 filters.
    """
    # NaN if any is NaN
    largest = [max(float(a.max()), -float(a.min())) for a in (x, w, b)]
    bound = _WINOGRAD_GROWTH * x.shape[1] * largest[0] * largest[1] + largest[2]
    return bool(bound < np.finfo(x.dtype).max)  # False for NaN and inf


def _choose_conv_kernel(x_shape, w_shape, stride, values_fit_winograd: bool = True):
    """Pick the convolution kernel for these shapes; all give the same values up to
    rounding (Winograd's is larger).

    ``values_fit_winograd`` is :func:`winograd_stays_finite` of the data; the
    shapes alone (as in the bench) assume it.

    ==================  ======================================
    ========================================== kernel              runs when
    how ==================  ======================================
    ========================================== ``_conv_filter``    stride 1, 3x3, one
    channel, one         straight from x, no padded copy: one
                        filter, N*H*W >= 65536                  output row per work
                        item, the interior
                                                                vectorized, the edge
                                                                columns apart
    ``_conv_winograd``  stride 1, 3x3, 48-64 channels, at      Winograd F(4x4, 3x3)
    (Lavin & Gray 2016):
                        least 32 filters, N*H*W >= 16384,       4x fewer
                        multiplications, error <= 1e-4 values finite and not too large
                        of the largest output in float32
    ``_conv_blocked``   other stride 1, 3x3, 8 or more          padded-width grid of the
    whole batch in
                        channels and filters, N*H*W >= 2048     chunks of a fixed
                        length, 2 filters per
                                                                pass with weights in
                                                                registers
    ``_conv_direct``    other stride 1 (any kernel size,        padded-width grid, 3x3
    taps (or a 5-wide
                        padding, channel count)                 kernel's rows) unrolled,
                        3 filters per
                                                                pass; work items of a
                                                                few rows, or of several
                                                                whole small images
    ``_conv_general``   stride > 1                              plain loops over a
    padded copy of x ==================  ======================================
    ==========================================

    The filter, direct and general kernels run on all threads from
    ``PARALLEL_MIN_WORK`` multiply-adds (:func:`use_threads`), and in one
    thread below; the shapes of the blocked and Winograd kernels are always
    above it.
    """
    if stride != (1, 1):
        return _conv_general
    (n, c, h, w), (f, _, kh, kw) = x_shape, w_shape
    if (kh, kw) != (3, 3):
        return _conv_direct
    if c == 1 and f == 1 and n * h * w >= _FILTER_MIN_POINTS:
        return _conv_filter
    winograd_shape = (
        c in _WINOGRAD_CHANNELS
        and f >= _WINOGRAD_MIN_FILTERS
        and n * h * w >= _WINOGRAD_MIN_POINTS
    )
    if winograd_shape and values_fit_winograd:
        return _conv_winograd
    if min(c, f) >= _BLOCKED_MIN_CHANNELS and n * h * w >= _BLOCKED_MIN_POINTS:
        return _conv_blocked
    return _conv_direct


def conv2d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """2-D cross-correlation; x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH,
    OW).

    The kernel is chosen by shape in :func:`_choose_conv_kernel`, and by value
    only where Winograd would be: NaN, inf and huge values take a direct kernel.
    """
    args = validate_conv2d(x, w, b, stride, padding)
    dtype = args.dtype
    xc = np.ascontiguousarray(args.x, dtype=dtype)
    wc = np.ascontiguousarray(args.w, dtype=dtype)
    bias = (
        np.zeros(wc.shape[0], dtype)
        if args.b is None
        else np.ascontiguousarray(args.b, dtype=dtype)
    )
    out = np.empty(args.out_shape, dtype)
    kernel = _choose_conv_kernel(xc.shape, wc.shape, args.stride)
    if kernel is _conv_winograd and not winograd_stays_finite(xc, wc, bias):
        kernel = _choose_conv_kernel(
            xc.shape, wc.shape, args.stride, values_fit_winograd=False
        )
    kernel(xc, wc, bias, args.stride, args.padding, out)
    return out


def _is_channels_last(x: np.ndarray) -> bool:
    """True when x (N, C, H, W) is stored as (N, H, W, C), PyTorch's channels_last."""
    return not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous


def _choose_pool_kernel(x: np.ndarray, kernel_size, stride, take_max: bool) -> str:
    """Pick the pooling kernel for this input; all give the same values.

    ==========================  ==========================================
    ========================== kernel                      runs when
    output memory ==========================  ==========================================
    ========================== ``"max_2x2_nhwc"``          x is channels_last (stored
    (N, H, W, C)),   channels_last, like x
                                max pooling, 2x2 window, stride 2
    ``"nhwc"``                  x is channels_last, any other pooling
    channels_last, like x ``"max_2x2_nchw"``          max pooling, 2x2 window, stride 2
    C-contiguous ``"nchw"``                  anything else (x copied to C order first)
    C-contiguous ==========================  ==========================================
    ==========================

    Each kernel runs on all threads when x has at least ``PARALLEL_MIN_WORK``
    elements (:func:`use_threads`), and in one thread below.
    """
    max_2x2 = take_max and kernel_size == (2, 2) and stride == (2, 2)
    if _is_channels_last(x):
        return "max_2x2_nhwc" if max_2x2 else "nhwc"
    return "max_2x2_nchw" if max_2x2 else "nchw"


def _pool(x, kernel_size, stride, take_max) -> np.ndarray:
    args = validate_pool2d(x, kernel_size, stride)
    x, (kh, kw), (sh, sw) = args.x, args.kernel_size, args.stride
    kernel = _choose_pool_kernel(x, args.kernel_size, args.stride, take_max)
    threads = use_threads(x.size)
    # a mean divides in the data's dtype, as PyTorch does
    divisor = x.dtype.type(kh * kw)
    if kernel in ("nhwc", "max_2x2_nhwc"):
        n, c, oh, ow = args.out_shape
        out = np.empty((n, oh, ow, c), x.dtype)
        if kernel == "max_2x2_nhwc":
            max_2x2 = (
                pool_kernels.max_pool2d_2x2_nhwc
                if threads
                else pool_kernels.max_pool2d_2x2_nhwc_serial
            )
            max_2x2(x.transpose(0, 2, 3, 1), out)
        else:
            nhwc = (
                pool_kernels.pool2d_nhwc if threads else pool_kernels.pool2d_nhwc_serial
            )
            nhwc(x.transpose(0, 2, 3, 1), kh, kw, sh, sw, take_max, divisor, out)
        return out.transpose(0, 3, 1, 2)
    out = np.empty(args.out_shape, x.dtype)
    if kernel == "max_2x2_nchw":
        max_2x2 = (
            pool_kernels.max_pool2d_2x2_nchw
            if threads
            else pool_kernels.max_pool2d_2x2_nchw_serial
        )
        max_2x2(np.ascontiguousarray(x), out)
    else:
        nchw = pool_kernels.pool2d_nchw if threads else pool_kernels.pool2d_nchw_serial
        nchw(np.ascontiguousarray(x), kh, kw, sh, sw, take_max, divisor, out)
    return out


def max_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Maximum over each window; x (N, C, H, W), floor mode, no padding.

    The result has x's memory layout when x is channels_last (as in PyTorch),
    and is C-contiguous otherwise.
    """
    return _pool(x, kernel_size, stride, True)


def avg_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Mean over each window; x (N, C, H, W), floor mode, no padding; layout as in
    :func:`max_pool2d`.
    """
    return _pool(x, kernel_size, stride, False)


@njit(cache=True)
def _relu(flat, out):
    for i in range(flat.size):
        out[i] = 0 if flat[i] <= 0 else flat[i]  # NaN stays NaN, as in NumPy


def relu(x) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    x = validate_elementwise(x)
    out = np.empty(x.shape, x.dtype)
    _relu(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _linear_row(x, w, b, n, out):
    # Reassociation lets LLVM split each dot product into one partial sum per vector
    # lane.
    for o in range(out.shape[1]):
        acc = b[o]
        for i in range(x.shape[1]):
            acc += x[n, i] * w[o, i]
        out[n, o] = acc


@njit(parallel=True, cache=True)
def _linear(x, w, b, out):
    for n in prange(out.shape[0]):
        _linear_row(x, w, b, n, out)


@njit(cache=True)
def _linear_serial(x, w, b, out):
    for n in range(out.shape[0]):
        _linear_row(x, w, b, n, out)


def linear(x, w, b=None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in) -> (N, out)."""
    args = validate_linear(x, w, b)
    dtype = args.dtype
    bias = (
        np.zeros(args.w.shape[0], dtype)
        if args.b is None
        else np.ascontiguousarray(args.b, dtype=dtype)
    )
    out = np.empty((args.x.shape[0], args.w.shape[0]), dtype)
    kernel = _linear if use_threads(out.size * args.w.shape[1]) else _linear_serial
    kernel(
        np.ascontiguousarray(args.x, dtype=dtype),
        np.ascontiguousarray(args.w, dtype=dtype),
        bias,
        out,
    )
    return out


@njit(cache=True)
def _softmax_row(rows, r, out):
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


@njit(parallel=True, cache=True)
def _softmax_rows(rows, out):
    for r in prange(rows.shape[0]):
        _softmax_row(rows, r, out)


@njit(cache=True)
def _softmax_rows_serial(rows, out):
    for r in range(rows.shape[0]):
        _softmax_row(rows, r, out)


def softmax(x, axis=-1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never
    overflows.
    """
    x, axis = validate_softmax(x, axis)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.empty_like(rows)
    (_softmax_rows if use_threads(rows.size) else _softmax_rows_serial)(rows, out)
    return np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, axis))
