"""Checkers for the exercises of chapter 8: three numbers of the roofline model.

The roofline model (Williams, Waterman & Patterson 2009) gives the arithmetic
intensity of a convolution, the least time a kernel can take, and the largest
speed-up over pure Python that any implementation can reach. Each checker
computes the answers itself, from the definitions, and each hint recomputes
the answer with one typical mistake, so a wrong result is explained by the
mistake it matches.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from cnnlab.teaching.checkers.formulas import (
    GB,
    GIB,
    conv2d_intensity,
    roofline_seconds,
    speedup_ceiling,
)
from cnnlab.teaching.grading import Case, Diagnosis, Report, grade

__all__ = [
    "check_conv2d_intensity",
    "check_roofline_time",
    "check_speedup_ceiling",
]


def _same_number(result: Any, value: float) -> bool:
    """``result`` read as a float equals ``value`` to a relative 1e-6."""
    return math.isclose(float(result), float(value), rel_tol=1e-6)


# ----------------------------------------------------------------- intensity
def _intensity_hints() -> list[Diagnosis]:
    """Hints for ``conv2d_intensity``: each recomputes the answer with one mistake."""

    def variant(case, **mistake):
        return conv2d_intensity(*case.args, **case.kwargs, **mistake)

    def hint(message, **mistake):
        return lambda expected, result, case: (
            message if _same_number(result, variant(case, **mistake)) else None
        )

    def hint_stride_or_padding(expected, result, case):
        stride, padding = case.kwargs["stride"], case.kwargs["padding"]
        if (stride > 1 and _same_number(result, variant(case, out_stride=1))) or (
            padding > 0 and _same_number(result, variant(case, out_padding=0))
        ):
            return (
                "the output size is wrong: OH = (H + 2*padding - KH) // stride + 1, "
                "and the same for OW. Both the FLOPs and the bytes of the output "
                "depend on it."
            )
        return None

    return [
        hint(
            "a multiply-add is two floating-point operations, one multiply and one "
            "add: FLOPs = 2 x N x F x OH x OW x C x KH x KW.",
            flops_per_multiply_add=1,
        ),
        hint(
            "you left out the output. The kernel must also write its result, "
            "N x F x OH x OW numbers, to memory: bytes = itemsize x (elements of x + "
            "elements of w + elements of the output).",
            count_out=False,
        ),
        hint(
            "you left out the weights: they are read from memory too "
            "(F x C x KH x KW numbers).",
            count_w=False,
        ),
        hint(
            "you divided by the number of elements, not the number of bytes: "
            "intensity is FLOPs per BYTE, so multiply the element count by itemsize "
            "(4 bytes for float32, 8 for float64).",
            bytes_per_number=1,
        ),
        hint(
            "you used 4 bytes per number; use the itemsize argument (this case is "
            "float64, 8 bytes per number).",
            bytes_per_number=4,
        ),
        hint(
            "you counted the padded input. The padding zeros are not stored in memory "
            "(a kernel can make them up on the fly), so count x as it is stored: "
            "N x C x H x W numbers. This gives the least traffic, which is what the "
            "roofline uses.",
            padded_x=True,
        ),
        hint_stride_or_padding,
        lambda expected, result, case: (
            "intensity = FLOPs / bytes moved, with "
            "FLOPs = 2 x N x F x OH x OW x C x KH x KW and "
            "bytes = itemsize x (N*C*H*W + F*C*KH*KW + N*F*OH*OW)."
        ),
    ]


def check_conv2d_intensity(student_fn: Any) -> Report:
    """``student_fn(x_shape, w_shape, stride=1, padding=0, itemsize=4) -> float``.

    The FLOPs per byte of a convolution. FLOPs count a multiply-add as 2; bytes
    are the least traffic: read x and w once, write the output once, ``itemsize``
    bytes per number.
    """
    specs = [
        ("one 3x3 filter on a 6x6 image", (1, 1, 6, 6), (1, 1, 3, 3), 1, 0, 4),
        ("LeNet's first layer, batch 64", (64, 1, 28, 28), (6, 1, 5, 5), 1, 0, 4),
        ("a ResNet layer with padding 1", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 4),
        ("stride 2 and padding 1", (2, 3, 9, 9), (4, 3, 3, 3), 2, 1, 4),
        ("float64, 8 bytes per number", (1, 3, 32, 32), (16, 3, 3, 3), 1, 1, 8),
    ]
    cases = [
        Case(
            f"{name}: x {xs}, w {ws}, stride {s}, padding {p}, itemsize {size}",
            (xs, ws),
            conv2d_intensity(xs, ws, s, p, size),
            dict(stride=s, padding=p, itemsize=size),
            rtol=1e-6,
            atol=0,
        )
        for name, xs, ws, s, p, size in specs
    ]
    return grade("conv2d_intensity", student_fn, cases, _intensity_hints())


# ----------------------------------------------------------------- the least time
_UNIT_MISTAKES: list[dict[str, Any]] = [
    dict(flop_unit=GIB, byte_unit=GIB),
    dict(byte_unit=GIB),
    dict(flop_unit=GIB),
]
_SLOWER_DECIDES = (
    "A kernel is done only when both its arithmetic and its memory traffic are done, "
    "so the SLOWER of the two limits decides: max(flops / peak, bytes / bandwidth)."
)
_OVERLAP = (
    "the roofline assumes the core computes while data streams in, so the two times "
    "overlap: the least time is the larger of the two, max(...), not their sum."
)
_GIB = (
    "GB/s and GFLOP/s are powers of ten: 1 GB = 10**9 bytes and 1 GFLOP = 10**9 "
    "FLOPs. 2**30 bytes is a GiB (gibibyte), about 7% more."
)


def _roofline_time_hints() -> list[Diagnosis]:
    def seconds(case, **mistake):
        return roofline_seconds(*case.args, **mistake)

    def hint_min(expected, result, case):
        slower = _same_number(result, seconds(case, combine=min))
        return _SLOWER_DECIDES if slower else None

    def hint_sum(expected, result, case):
        return (
            _OVERLAP
            if _same_number(result, seconds(case, combine=operator.add))
            else None
        )

    def hint_gib(expected, result, case):
        gib = any(_same_number(result, seconds(case, **m)) for m in _UNIT_MISTAKES)
        return _GIB if gib else None

    def hint_units(expected, result, case):
        if _same_number(result, expected * GB):
            return (
                "peak_gflops and bandwidth_gbs count billions: divide flops by "
                "peak_gflops * 1e9 and bytes by bandwidth_gbs * 1e9, so the answer is "
                "in seconds."
            )
        if _same_number(result, expected * 1e3):
            return "return seconds, not milliseconds."
        return None

    def hint_rate(expected, result, case):
        flops, bytes_moved, peak, bandwidth = case.args
        if _same_number(result, min(peak, bandwidth * flops / bytes_moved)):
            return (
                "you returned the attainable rate in GFLOP/s. The exercise asks for "
                "the time in seconds: the FLOPs divided by that rate (times 1e9)."
            )
        return None

    def hint_general(expected, result, case):
        return (
            "time >= flops / (peak_gflops * 1e9), because the arithmetic takes that "
            "long, and time >= bytes_moved / (bandwidth_gbs * 1e9), because the data "
            "takes that long to move. Return the larger of the two."
        )

    return [hint_min, hint_sum, hint_gib, hint_units, hint_rate, hint_general]


# (name, flops, bytes moved, peak GFLOP/s, bandwidth GB/s): compute-bound first,
# then memory-bound, then a tie.
_KERNELS = [
    (
        "compute-bound: a 1024 x 1024 float32 matmul",
        2 * 1024**3,
        3 * 4 * 1024**2,
        200.0,
        50.0,
    ),
    (
        "memory-bound: adding two float32 vectors of 10**7 numbers",
        10**7,
        3 * 4 * 10**7,
        200.0,
        50.0,
    ),
    ("exactly at the ridge point", 4 * 10**9, 10**9, 200.0, 50.0),
    ("a ResNet layer on a laptop", 1_849_688_064, 12_994_560, 500.0, 20.0),
]


def check_roofline_time(student_fn: Any) -> Report:
    """``student_fn(flops, bytes_moved, peak_gflops, bandwidth_gbs) -> seconds``.

    The least time a kernel can take on a machine with this peak and bandwidth.
    """
    cases = [
        Case(
            name,
            (flops, nbytes, peak, bandwidth),
            roofline_seconds(flops, nbytes, peak, bandwidth),
            rtol=1e-6,
            atol=0,
        )
        for name, flops, nbytes, peak, bandwidth in _KERNELS
    ]
    return grade("roofline_time", student_fn, cases, _roofline_time_hints())


# ----------------------------------------------------------------- the speed-up ceiling
def _speedup_hints() -> list[Diagnosis]:
    def variant(case, **mistake):
        return speedup_ceiling(*case.args, **mistake)

    def hint_multiply_add(expected, result, case):
        if _same_number(result, variant(case, flops_per_multiply_add=1)):
            return (
                "Python's cost is given per multiply-add, and a multiply-add is 2 "
                "FLOPs: the Python run does flops / 2 multiply-adds, so it takes "
                "flops / 2 * python_ns_per_multiply_add nanoseconds."
            )
        return None

    def hint_slower_limit(expected, result, case):
        if not _same_number(result, variant(case, combine=min)):
            return None
        flops, bytes_moved, _, peak, bandwidth = case.args
        intensity, ridge = flops / bytes_moved, peak / bandwidth
        if intensity < ridge:
            bound, slower, faster, side = (
                "memory-bound",
                "bytes / bandwidth",
                "flops / peak",
                "below",
            )
        else:
            bound, slower, faster, side = (
                "compute-bound",
                "flops / peak",
                "bytes / bandwidth",
                "above",
            )
        return (
            f"this kernel is {bound} here: its intensity, {intensity:.3g} FLOP/byte, "
            f"is {side} the ridge point peak / bandwidth = {ridge:.3g}, so the fastest "
            f"possible run takes {slower}, longer than {faster}. " + _SLOWER_DECIDES
        )

    def hint_sum(expected, result, case):
        added = _same_number(result, variant(case, combine=operator.add))
        return _OVERLAP if added else None

    def hint_gib(expected, result, case):
        gib = any(_same_number(result, variant(case, **m)) for m in _UNIT_MISTAKES)
        return _GIB if gib else None

    def hint_inverted(expected, result, case):
        if _same_number(result, 1 / expected):
            return (
                "upside down: the speed-up is Python's time divided by the fastest "
                "possible time, a number much larger than 1."
            )
        return None

    def hint_units(expected, result, case):
        if any(
            _same_number(result, expected * factor)
            for factor in (1e9, 1e-9, 1e18, 1e-18, 1e3, 1e-3, 1e6, 1e-6)
        ):
            return (
                "the units don't cancel: 1 ns = 1e-9 s, and peak_gflops and "
                "bandwidth_gbs count billions (1e9) per second. Convert both times to "
                "seconds before dividing."
            )
        return None

    def hint_general(expected, result, case):
        return (
            "speed-up ceiling = Python's time / least time, with Python's time = "
            "flops / 2 * python_ns_per_multiply_add * 1e-9 s and least time = "
            "max(flops / (peak_gflops * 1e9), bytes_moved / (bandwidth_gbs * 1e9))."
        )

    return [
        hint_multiply_add,
        hint_slower_limit,
        hint_sum,
        hint_gib,
        hint_inverted,
        hint_units,
        hint_general,
    ]


# (name, flops, bytes, Python's ns per multiply-add, peak GFLOP/s, bandwidth GB/s)
_SPEEDUP_KERNELS = [
    ("a ResNet layer (compute-bound)", 1_849_688_064, 12_994_560, 70.0, 333.0, 50.0),
    (
        "one 3x3 filter on a 512x512 image (memory-bound)",
        4_718_592,
        2_097_188,
        70.0,
        333.0,
        50.0,
    ),
    (
        "LeNet's first layer on a laptop (memory-bound)",
        11_059_200,
        1_086_040,
        100.0,
        200.0,
        15.0,
    ),
    ("a ResNet layer on a big server", 1_849_688_064, 12_994_560, 50.0, 3000.0, 200.0),
]


def check_speedup_ceiling(student_fn: Any) -> Report:
    """``student_fn(flops, bytes_moved, python_ns, peak_gflops, bandwidth_gbs)``.

    The largest speed-up over pure Python that any implementation of the
    kernel can reach on a machine with this peak and bandwidth; the third
    argument is Python's nanoseconds per multiply-add.
    """
    cases = [
        Case(
            name,
            (flops, nbytes, ns, peak, bandwidth),
            speedup_ceiling(flops, nbytes, ns, peak, bandwidth),
            rtol=1e-6,
            atol=0,
        )
        for name, flops, nbytes, ns, peak, bandwidth in _SPEEDUP_KERNELS
    ]
    return grade("speedup_ceiling", student_fn, cases, _speedup_hints())
