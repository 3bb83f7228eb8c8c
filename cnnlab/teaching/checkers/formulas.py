"""The formulas that the checkers of chapters 1, 3 and 8 grade against.

The FLOPs and the arithmetic intensity of a convolution, and the roofline
model's least time and speed-up ceiling (Williams, Waterman & Patterson 2009),
computed from their definitions. Their keyword-only options each make one
typical mistake, so that a hint can recompute the answer with it and say which
one a wrong result matches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnnlab.teaching.checkers.cases import Shape4
from cnnlab.validation import output_size

GB = 10**9  # GB/s and GFLOP/s are powers of ten
GIB = 2**30  # the binary unit that is easy to confuse with a GB


def conv2d_flops(x_shape: Shape4, w_shape: Shape4, stride: int, padding: int) -> int:
    """The FLOPs of a convolution, a multiply-add counted as 2.

    x has the shape (N, C, H, W) and w (F, C, KH, KW).
    """
    n, _, h, width = x_shape
    f, c, kh, kw = w_shape
    oh, ow = (
        output_size(h, kh, stride, padding),
        output_size(width, kw, stride, padding),
    )
    return 2 * n * f * oh * ow * c * kh * kw


def conv2d_intensity(
    x_shape: Shape4,
    w_shape: Shape4,
    stride: int = 1,
    padding: int = 0,
    itemsize: int = 4,
    *,
    flops_per_multiply_add: int = 2,
    count_w: bool = True,
    count_out: bool = True,
    padded_x: bool = False,
    out_padding: int | None = None,
    out_stride: int | None = None,
    bytes_per_number: int | None = None,
) -> float:
    """FLOPs per byte of a convolution that reads x and w, and writes its output, once.

    Bytes count ``itemsize`` per number of x (as stored, without the padding), of
    w and of the output. The keyword-only options compute the typical mistakes:
    a multiply-add counted once, the weights or the output left out, the padded
    input counted, the output size computed with another stride or padding, and
    a number counted as ``bytes_per_number`` bytes instead of ``itemsize``.
    """
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    out_stride = stride if out_stride is None else out_stride
    out_padding = padding if out_padding is None else out_padding
    oh = output_size(h, kh, out_stride, out_padding)
    ow = output_size(w, kw, out_stride, out_padding)
    multiply_adds = n * f * oh * ow * c * kh * kw
    x_numbers = (
        n * c * (h + 2 * padding) * (w + 2 * padding) if padded_x else n * c * h * w
    )
    numbers = x_numbers + count_w * f * c * kh * kw + count_out * n * f * oh * ow
    size = itemsize if bytes_per_number is None else bytes_per_number
    return flops_per_multiply_add * multiply_adds / (size * numbers)


def roofline_seconds(
    flops: float,
    bytes_moved: float,
    peak_gflops: float,
    bandwidth_gbs: float,
    *,
    combine: Callable[[float, float], float] = max,
    flop_unit: int = GB,
    byte_unit: int = GB,
) -> float:
    """The least time of a kernel, in seconds, on the roofline.

    The slower of doing the FLOPs at the peak and moving the bytes at the
    bandwidth. The mistakes: another ``combine`` (``min``, or the sum) and
    gigabytes of ``GIB`` bytes.
    """
    return combine(
        flops / (peak_gflops * flop_unit), bytes_moved / (bandwidth_gbs * byte_unit)
    )


def speedup_ceiling(
    flops: float,
    bytes_moved: float,
    python_ns: float,
    peak_gflops: float,
    bandwidth_gbs: float,
    *,
    flops_per_multiply_add: int = 2,
    **roofline_mistake: Any,
) -> float:
    """Python's time over the roofline's least time: the largest possible speed-up.

    Python does flops / 2 multiply-adds at ``python_ns`` nanoseconds each. The
    mistakes: a multiply-add counted as one FLOP, and those of
    :func:`roofline_seconds`.
    """
    python_seconds = flops / flops_per_multiply_add * python_ns * 1e-9
    return python_seconds / roofline_seconds(
        flops, bytes_moved, peak_gflops, bandwidth_gbs, **roofline_mistake
    )
