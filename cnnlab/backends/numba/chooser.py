"""Which Numba kernel runs for which input: the one place that decides.

The Numba backend has several kernels for one operator, the rungs of chapter 9.
They give the same values up to rounding and differ only in speed, and which one is
fastest depends on the shapes and on the machine. The choosers return a kernel's
*name*; :mod:`cnnlab.backends.numba.forward` and :mod:`cnnlab.backends.numba.backward`
look the name up and run that kernel. Forcing a kernel (as the tests do) is
replacing a chooser by one that returns a fixed name.

For a convolution big enough to matter, the choice is measured:
:mod:`cnnlab.backends.numba.tuner` races every kernel :func:`conv_candidates` lists,
on the reader's machine, and keeps the fastest. The rules below are the **static
table**: what runs for calls too small to race, and for every call when
``CNNLAB_AUTOTUNE=0``. Its thresholds were set where the faster kernel changed on
one development machine; on another CPU the crossovers move, which is why the tuner
measures instead.

Convolution (:func:`choose_conv_kernel`):

=============  ==========================================  ===========================
name           runs when                                   how
=============  ==========================================  ===========================
``filter``     stride 1, 3x3, one channel, one filter,     straight from x, no padded
               N*H*W >= ``filter_min_points``              copy: one output row per
                                                           work item
``winograd``   stride 1, 3x3, ``winograd_min_channels``    Winograd F(4x4, 3x3) (Lavin
               to ``winograd_max_channels`` channels, at   & Gray 2016): 4x fewer
               least ``winograd_min_filters`` filters,     multiplications; error
               N*H*W >= ``winograd_min_points``, values    <= 1e-4 of the largest
               finite and not too large                    output in float32
``blocked``    other stride 1, 3x3, at least               padded-width grid of the
               ``blocked_min_channels`` channels and       whole batch in chunks of a
               filters, N*H*W >= ``blocked_min_points``    fixed length, 2 filters per
                                                           pass, weights in registers
``direct``     other stride 1 (any kernel size, padding,   padded-width grid, 3x3 taps
               channel count)                              (or a 5-wide kernel's rows)
                                                           unrolled, 3 filters per pass
``pointwise``  1x1 kernel (any stride and padding),        one matrix product per
               at least ``pointwise_min_work``             image, w (F, C) @ x[n]
               multiply-adds                               (C, H*W), by BLAS's GEMM
``rows``       other stride > 1, at least                  channels-last rows of
               ``rows_min_channels`` channels and          windows, one per kernel
               ``rows_min_points`` output points per       row; KH GEMMs added up by
               image                                       BLAS, read in place
``im2col``     other stride > 1, at least                  x split into its stride
               ``im2col_min_work`` multiply-adds           phases, im2col of blocks of
                                                           rows from them, one GEMM
                                                           per block
``general``    other stride > 1, below                     plain loops over a padded
               ``im2col_min_work`` multiply-adds           copy of x
=============  ==========================================  ===========================

Pooling (:func:`choose_pool_kernel`): ``max_2x2_nhwc`` for a 2x2, stride-2 maximum
of channels_last x, ``nhwc`` for other pooling of channels_last x, ``max_2x2_nchw``
for a 2x2, stride-2 maximum of any other x, ``nchw`` for the rest. The backward
convolution (:func:`choose_conv_backward_kernel`) runs on a padded-width ``grid``
for stride 1 and on ``im2col`` rows, one kernel tap at a time, otherwise.

Threads (:func:`use_threads`): every kernel that has a serial twin runs in one
thread below ``parallel_min_work`` (``parallel_min_work_backward`` for the backward
operators) and on all threads above it. The blocked and Winograd kernels always use
threads: the shapes they are chosen for are far above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.backends.numba.kernels.conv_blocked import CHUNK
from cnnlab.backends.numba.kernels.winograd import TILES

CONV_KERNEL_NAMES = (
    "general",
    "direct",
    "filter",
    "blocked",
    "winograd",
    "pointwise",
    "im2col",
    "rows",
)
"""The names :func:`choose_conv_kernel` returns, from the plainest kernel up."""

POOL_KERNEL_NAMES = ("nchw", "max_2x2_nchw", "nhwc", "max_2x2_nhwc")
"""The names :func:`choose_pool_kernel` returns."""


@dataclass(frozen=True)
class Thresholds:
    """Every shape threshold of the static table, in one place.

    Each was set where the faster kernel changed when the candidates were timed in
    interleaved rounds on one development machine. Another machine may put these
    crossovers elsewhere: for convolutions big enough to race, the autotuner
    (:mod:`cnnlab.backends.numba.tuner`) measures on the reader's machine instead.
    The thread thresholds are not raced.
    """

    # Multiply-adds (conv2d, linear) or elements read (pooling, softmax) from which
    # a forward operator uses all threads. Starting and joining threads costs
    # microseconds on an idle machine and up to milliseconds on a busy one.
    parallel_min_work: int = 1 << 20
    # The same for the backward operators, counted in multiply-adds of dw plus dx
    # (conv2d) or window elements (pooling). Their compiled code pads and allocates
    # before its parallel loop, and a parallel loop waits for its slowest thread.
    parallel_min_work_backward: int = 1 << 22
    # Output grid points per work item of the direct kernel. Its inner loops run
    # over them, and LLVM's vectorized loops take 64 elements per iteration, so a
    # short loop spends most of its time in the scalar remainder.
    direct_points_per_item: int = 1600
    # The filter kernel (one channel, one filter) from this many output points:
    # with more channels or filters it reads the input once per filter, and on
    # small images its per-row work is too short.
    filter_min_points: int = 1 << 16
    # The blocked kernel from this many channels and filters, and from grids of a
    # few chunks: a small image fills only part of one chunk.
    blocked_min_channels: int = 8
    blocked_min_points: int = 2 * CHUNK
    # Winograd F(4x4, 3x3) for this range of channels (with more, its buffers
    # outgrow the L2 cache), this many filters, and from 16 blocks of TILES tiles
    # of 4x4 outputs (fewer leave threads without work items).
    winograd_min_channels: int = 48
    winograd_max_channels: int = 64
    winograd_min_filters: int = 32
    winograd_min_points: int = 16 * 16 * TILES
    # The GEMM kernels from this many multiply-adds. A BLAS call packs its
    # operands before it multiplies, which on the tiniest inputs costs more than
    # the direct kernel's whole loop; past that, one GEMM per image beat a direct
    # 1x1 loop on every shape measured, BLAS's register-blocked product more than
    # a register-blocked Numba loop (accumulators in L1, not in registers) did.
    pointwise_min_work: int = 1 << 10
    # im2col + GEMM beat the general loops on every stride > 1 shape measured,
    # down to a few dozen multiply-adds: the general kernel's padded copy of x
    # alone costs more. The threshold stays so that the rule is visible here.
    im2col_min_work: int = 0
    # The rows kernel (KH GEMMs of depth KW * C instead of one of depth KH * KW * C)
    # from this many channels and output points per image: with fewer channels
    # each product is too shallow, with fewer points too short, for BLAS to run
    # at speed, and im2col's single product wins.
    rows_min_channels: int = 8
    rows_min_points: int = 100


THRESHOLDS = Thresholds()


def use_threads(work: int, backward: bool = False) -> bool:
    """True when ``work`` is big enough for threads to pay off.

    ``work`` counts multiply-adds or elements (see :class:`Thresholds`);
    ``backward`` selects the threshold of the backward operators.
    """
    if backward:
        return work >= THRESHOLDS.parallel_min_work_backward
    return work >= THRESHOLDS.parallel_min_work


def choose_conv_kernel(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, int],
    values_fit_winograd: bool = True,
) -> str:
    """The name of the convolution kernel for x (N, C, H, W) and w (F, C, KH, KW).

    ``values_fit_winograd`` is :func:`winograd_stays_finite` of the data; the
    shapes alone (as in the benchmark) assume it. See the module docstring
    for the table of kernels.
    """
    (n, c, h, w), (f, _, kh, kw) = x_shape, w_shape
    t = THRESHOLDS
    # about the multiply-adds (padding ignored)
    work = n * f * c * kh * kw * -(-h // stride[0]) * -(-w // stride[1])
    if (kh, kw) == (1, 1) and work >= t.pointwise_min_work:
        return "pointwise"
    if stride != (1, 1):
        out_points = -(-h // stride[0]) * -(-w // stride[1])
        if c >= t.rows_min_channels and out_points >= t.rows_min_points:
            return "rows"
        return "im2col" if work >= t.im2col_min_work else "general"
    if (kh, kw) != (3, 3):
        return "direct"
    if c == 1 and f == 1 and n * h * w >= t.filter_min_points:
        return "filter"
    winograd_shape = (
        t.winograd_min_channels <= c <= t.winograd_max_channels
        and f >= t.winograd_min_filters
        and n * h * w >= t.winograd_min_points
    )
    if winograd_shape and values_fit_winograd:
        return "winograd"
    if min(c, f) >= t.blocked_min_channels and n * h * w >= t.blocked_min_points:
        return "blocked"
    return "direct"


def conv_candidates(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, int],
    values_fit_winograd: bool = True,
) -> list[str]:
    """Every kernel that computes this convolution: what the autotuner races.

    :mod:`cnnlab.backends.numba.tuner` times them on the reader's machine; the
    order here is only the order they race in. Kernels are left out only where
    they cannot run (Winograd on values that could overflow it) or cannot win:
    the filter kernel reads x once per filter, and the general loops copy x
    padded and run scalar where the direct kernel (stride 1) and im2col
    (any stride) do the same work in vectors; every candidate is compiled
    before a first race, so one that never wins costs seconds of compiling.
    """
    c, (kh, kw) = x_shape[1], w_shape[2:]
    if (kh, kw) == (1, 1):
        return ["pointwise", "direct"] if stride == (1, 1) else ["pointwise", "im2col"]
    if stride != (1, 1):
        return ["rows", "im2col"]
    if (kh, kw) != (3, 3):
        return ["direct", "im2col"]
    names = ["direct", "blocked"]
    if c == 1:
        names.append("filter")
    if values_fit_winograd:
        names.append("winograd")
    return names


def is_channels_last(x: np.ndarray) -> bool:
    """True when x (N, C, H, W) is stored as (N, H, W, C), PyTorch's channels_last."""
    return not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous


def choose_pool_kernel(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    take_max: bool,
) -> str:
    """The name of the pooling kernel for x (N, C, H, W); all give the same values.

    The channels_last kernels (``nhwc``) write a channels_last result, like x, as
    PyTorch does; the others a C-contiguous one (x copied to C order first).
    """
    max_2x2 = take_max and kernel_size == (2, 2) and stride == (2, 2)
    if is_channels_last(x):
        return "max_2x2_nhwc" if max_2x2 else "nhwc"
    return "max_2x2_nchw" if max_2x2 else "nchw"


def choose_conv_backward_kernel(stride: tuple[int, int]) -> str:
    """``"grid"`` (the padded-width grid) for stride 1, ``"im2col"`` otherwise."""
    return "grid" if stride == (1, 1) else "im2col"


# Winograd's transforms scale magnitudes by at most 36100 (B^T d B by 10 * 10, A^T M A
# by 19 * 19; G g G^T shrinks them) and sum C channels: below this bound no
# intermediate overflows.
_WINOGRAD_GROWTH = 36100


def winograd_stays_finite(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> bool:
    """True when x, w and b hold no NaN or inf and no step of F(4x4, 3x3) can overflow.

    Winograd mixes all 36 inputs of a 6x6 tile into each of its 16 outputs, so one
    NaN or inf, or one overflow, would spread to outputs whose 3x3 window never saw
    it. Where that could happen a direct kernel runs instead, which gives NaN and
    inf exactly where PyTorch does. Three reductions: cheap next to a convolution
    with enough channels and filters for Winograd.
    """
    # NaN if any is NaN
    largest = [max(float(a.max()), -float(a.min())) for a in (x, w, b)]
    bound = _WINOGRAD_GROWTH * x.shape[1] * largest[0] * largest[1] + largest[2]
    return bool(bound < np.finfo(x.dtype).max)  # False for NaN and inf
