"""Checkers for the exercises of chapters 8-9 (limits and the fastest path).

Chapter 9 (the fastest path) asks for the tap offsets of the padded-width
grid, a convolution computed on that grid, and Winograd's F(2, 3) (Lavin &
Gray 2016).

Chapter 8 (how close to the limit) asks for three numbers of the roofline
model (Williams, Waterman & Patterson 2009): the arithmetic intensity of a
convolution, the least time a kernel can take, and the largest speed-up over
pure Python that any implementation can reach. Each checker computes the
answers itself, from the definitions, and each hint recomputes the answer
with one typical mistake, so a wrong result is explained by the mistake it
matches.
"""

from __future__ import annotations

import math

import numpy as np

from cnnlab.teaching.grading import Case, Report, grade
from cnnlab.validation import output_size

__all__ = [
    "check_conv2d_intensity",
    "check_roofline_time",
    "check_speedup_ceiling",
    "check_tap_offsets",
    "check_conv2d_padded_width",
    "check_winograd_f23",
]

GB = 10**9  # GB/s and GFLOP/s are powers of ten
GIB = 2**30  # the binary unit that is easy to confuse with a GB


def _matches(result, value) -> bool:
    return math.isclose(float(result), float(value), rel_tol=1e-6)


# ----------------------------------------------------------------- chapter 8:
# arithmetic intensity
def _conv2d_intensity(
    x_shape,
    w_shape,
    stride=1,
    padding=0,
    itemsize=4,
    *,
    flops_per_multiply_add=2,
    count_x=True,
    count_w=True,
    count_out=True,
    padded_x=False,
    out_padding=None,
    out_stride=None,
    bytes_per_number=None,
) -> float:
    """The intensity of a convolution, optionally computed with one mistake (the
    keyword-only options).
    """
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    out_stride = stride if out_stride is None else out_stride
    out_padding = padding if out_padding is None else out_padding
    oh, ow = (
        output_size(h, kh, out_stride, out_padding),
        output_size(w, kw, out_stride, out_padding),
    )
    multiply_adds = n * f * oh * ow * c * kh * kw
    x_numbers = (
        n * c * (h + 2 * padding) * (w + 2 * padding) if padded_x else n * c * h * w
    )
    numbers = (
        count_x * x_numbers + count_w * f * c * kh * kw + count_out * n * f * oh * ow
    )
    size = itemsize if bytes_per_number is None else bytes_per_number
    return flops_per_multiply_add * multiply_adds / (size * numbers)


def _intensity_hints() -> list:
    """Hints for ``conv2d_intensity``: each recomputes the answer with one mistake."""

    def variant(case, **mistake):
        return _conv2d_intensity(*case.args, **case.kwargs, **mistake)

    def hint(message, **mistake):
        return lambda expected, result, case: (
            message if _matches(result, variant(case, **mistake)) else None
        )

    def hint_stride_or_padding(expected, result, case):
        stride, padding = case.kwargs["stride"], case.kwargs["padding"]
        if (stride > 1 and _matches(result, variant(case, out_stride=1))) or (
            padding > 0 and _matches(result, variant(case, out_padding=0))
        ):
            return (
                "the output size is wrong: OH = (H + 2*padding - KH) // stride + 1, and the same for OW. "
                "Both the FLOPs and the bytes of the output depend on it."
            )
        return None

    return [
        hint(
            "a multiply-add is two floating-point operations, one multiply and one add: "
            "FLOPs = 2 x N x F x OH x OW x C x KH x KW.",
            flops_per_multiply_add=1,
        ),
        hint(
            "you left out the output. The kernel must also write its result, N x F x OH x OW numbers, "
            "to memory: bytes = itemsize x (elements of x + elements of w + elements of the output).",
            count_out=False,
        ),
        hint(
            "you left out the weights: they are read from memory too (F x C x KH x KW numbers).",
            count_w=False,
        ),
        hint(
            "you divided by the number of elements, not the number of bytes: intensity is FLOPs per BYTE, so "
            "multiply the element count by itemsize (4 bytes for float32, 8 for float64).",
            bytes_per_number=1,
        ),
        hint(
            "you used 4 bytes per number; use the itemsize argument (this case is float64, 8 bytes per number).",
            bytes_per_number=4,
        ),
        hint(
            "you counted the padded input. The padding zeros are not stored in memory (a kernel can make them up "
            "on the fly), so count x as it is stored: N x C x H x W numbers. This gives the least traffic, "
            "which is what the roofline uses.",
            padded_x=True,
        ),
        hint_stride_or_padding,
        lambda expected, result, case: (
            "intensity = FLOPs / bytes moved, with FLOPs = 2 x N x F x OH x OW x C x KH x KW and "
            "bytes = itemsize x (N*C*H*W + F*C*KH*KW + N*F*OH*OW)."
        ),
    ]


def check_conv2d_intensity(student_fn) -> Report:
    """``student_fn(x_shape, w_shape, stride=1, padding=0, itemsize=4) -> float``, FLOPs
    per byte.

    FLOPs count a multiply-add as 2; bytes are the least traffic: read x and
    w once, write the output once, ``itemsize`` bytes per number.
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
            _conv2d_intensity(xs, ws, s, p, size),
            dict(stride=s, padding=p, itemsize=size),
            rtol=1e-6,
            atol=0,
        )
        for name, xs, ws, s, p, size in specs
    ]
    return grade("conv2d_intensity", student_fn, cases, _intensity_hints())


# ----------------------------------------------------------------- chapter 8: the
# roofline's time and speed-up
def _roofline_seconds(
    flops,
    bytes_moved,
    peak_gflops,
    bandwidth_gbs,
    *,
    combine=max,
    flop_unit=GB,
    byte_unit=GB,
) -> float:
    """The least time: the slower of doing the FLOPs at the peak and moving the bytes at
    the bandwidth.
    """
    return combine(
        flops / (peak_gflops * flop_unit), bytes_moved / (bandwidth_gbs * byte_unit)
    )


def _both(a, b):
    return a + b


_UNIT_MISTAKES = [
    dict(flop_unit=GIB, byte_unit=GIB),
    dict(byte_unit=GIB),
    dict(flop_unit=GIB),
]
_SLOWER_DECIDES = (
    "A kernel is done only when both its arithmetic and its memory traffic are done, so the SLOWER "
    "of the two limits decides: max(flops / peak, bytes / bandwidth)."
)
_OVERLAP = (
    "the roofline assumes the core computes while data streams in, so the two times overlap: the least time "
    "is the larger of the two, max(...), not their sum."
)
_GIB = (
    "GB/s and GFLOP/s are powers of ten: 1 GB = 10**9 bytes and 1 GFLOP = 10**9 FLOPs. 2**30 bytes is a GiB "
    "(gibibyte), about 7% more."
)


def _roofline_time_hints() -> list:
    def hint_min(expected, result, case):
        return (
            _SLOWER_DECIDES
            if _matches(result, _roofline_seconds(*case.args, combine=min))
            else None
        )

    def hint_sum(expected, result, case):
        return (
            _OVERLAP
            if _matches(result, _roofline_seconds(*case.args, combine=_both))
            else None
        )

    def hint_gib(expected, result, case):
        return (
            _GIB
            if any(
                _matches(result, _roofline_seconds(*case.args, **m))
                for m in _UNIT_MISTAKES
            )
            else None
        )

    def hint_units(expected, result, case):
        if _matches(result, expected * GB):
            return (
                "peak_gflops and bandwidth_gbs count billions: divide flops by peak_gflops * 1e9 and bytes by "
                "bandwidth_gbs * 1e9, so the answer is in seconds."
            )
        if _matches(result, expected * 1e3):
            return "return seconds, not milliseconds."
        return None

    def hint_rate(expected, result, case):
        flops, bytes_moved, peak, bandwidth = case.args
        if _matches(result, min(peak, bandwidth * flops / bytes_moved)):
            return (
                "you returned the attainable rate in GFLOP/s. The exercise asks for the time in seconds: "
                "the FLOPs divided by that rate (times 1e9)."
            )
        return None

    def hint_general(expected, result, case):
        return (
            "time >= flops / (peak_gflops * 1e9), because the arithmetic takes that long, and "
            "time >= bytes_moved / (bandwidth_gbs * 1e9), because the data takes that long to move. "
            "Return the larger of the two."
        )

    return [hint_min, hint_sum, hint_gib, hint_units, hint_rate, hint_general]


# (name, flops, bytes moved, peak GFLOP/s, bandwidth GB/s): compute-bound first, then
# memory-bound, then a tie.
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


def check_roofline_time(student_fn) -> Report:
    """``student_fn(flops, bytes_moved, peak_gflops, bandwidth_gbs) -> seconds``, the
    least time of a kernel.
    """
    cases = [
        Case(
            name,
            (flops, nbytes, peak, bandwidth),
            _roofline_seconds(flops, nbytes, peak, bandwidth),
            rtol=1e-6,
            atol=0,
        )
        for name, flops, nbytes, peak, bandwidth in _KERNELS
    ]
    return grade("roofline_time", student_fn, cases, _roofline_time_hints())


def _speedup_ceiling(
    flops,
    bytes_moved,
    python_ns,
    peak_gflops,
    bandwidth_gbs,
    *,
    flops_per_multiply_add=2,
    ns=1e-9,
    **roofline_mistake,
) -> float:
    """Python's time (flops / 2 multiply-adds at ``python_ns`` each) over the roofline's
    least time.
    """
    python_seconds = flops / flops_per_multiply_add * python_ns * ns
    return python_seconds / _roofline_seconds(
        flops, bytes_moved, peak_gflops, bandwidth_gbs, **roofline_mistake
    )


def _speedup_hints() -> list:
    def variant(case, **mistake):
        return _speedup_ceiling(*case.args, **mistake)

    def hint_multiply_add(expected, result, case):
        if _matches(result, variant(case, flops_per_multiply_add=1)):
            return (
                "Python's cost is given per multiply-add, and a multiply-add is 2 FLOPs: the Python run does "
                "flops / 2 multiply-adds, so it takes flops / 2 * python_ns_per_multiply_add nanoseconds."
            )
        return None

    def hint_slower_limit(expected, result, case):
        if _matches(result, variant(case, combine=min)):
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
                f"this kernel is {bound} here: its intensity, {intensity:.3g} FLOP/byte, is {side} the ridge "
                f"point peak / bandwidth = {ridge:.3g}, so the fastest possible run takes {slower}, longer "
                f"than {faster}. " + _SLOWER_DECIDES
            )
        return None

    def hint_sum(expected, result, case):
        return _OVERLAP if _matches(result, variant(case, combine=_both)) else None

    def hint_gib(expected, result, case):
        return (
            _GIB
            if any(_matches(result, variant(case, **m)) for m in _UNIT_MISTAKES)
            else None
        )

    def hint_inverted(expected, result, case):
        if _matches(result, 1 / expected):
            return (
                "upside down: the speed-up is Python's time divided by the fastest possible time, "
                "a number much larger than 1."
            )
        return None

    def hint_units(expected, result, case):
        if any(
            _matches(result, expected * factor)
            for factor in (1e9, 1e-9, 1e18, 1e-18, 1e3, 1e-3, 1e6, 1e-6)
        ):
            return (
                "the units don't cancel: 1 ns = 1e-9 s, and peak_gflops and bandwidth_gbs count billions "
                "(1e9) per second. Convert both times to seconds before dividing."
            )
        return None

    def hint_general(expected, result, case):
        return (
            "speed-up ceiling = Python's time / least time, with Python's time = flops / 2 * "
            "python_ns_per_multiply_add * 1e-9 s and least time = max(flops / (peak_gflops * 1e9), "
            "bytes_moved / (bandwidth_gbs * 1e9))."
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


def check_speedup_ceiling(student_fn) -> Report:
    """``student_fn(flops, bytes_moved, python_ns_per_multiply_add, peak_gflops,
    bandwidth_gbs) -> float``.

    The largest speed-up over pure Python that any implementation of the
    kernel can reach on a machine with this peak and bandwidth.
    """
    # (name, flops, bytes moved, Python's ns per multiply-add, peak GFLOP/s, bandwidth
    # GB/s)
    specs = [
        (
            "a ResNet layer (compute-bound)",
            1_849_688_064,
            12_994_560,
            70.0,
            333.0,
            50.0,
        ),
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
        (
            "a ResNet layer on a big server",
            1_849_688_064,
            12_994_560,
            50.0,
            3000.0,
            200.0,
        ),
    ]
    cases = [
        Case(
            name,
            (flops, nbytes, ns, peak, bandwidth),
            _speedup_ceiling(flops, nbytes, ns, peak, bandwidth),
            rtol=1e-6,
            atol=0,
        )
        for name, flops, nbytes, ns, peak, bandwidth in specs
    ]
    return grade("speedup_ceiling", student_fn, cases, _speedup_hints())


# ----------------------------------------------------------------- chapter 9: the
# padded-width grid
def _tap_offsets(kh: int, kw: int, padded_width: int) -> np.ndarray:
    """offsets[di, dj] = di * padded_width + dj: where tap (di, dj) reads in the
    flattened padded input.
    """
    return np.arange(kh)[:, None] * padded_width + np.arange(kw)[None, :]


def _tap_offsets_hints() -> list:
    def hint_swapped(expected, result, case):
        kh, kw, width = case.args
        swapped = np.arange(kh)[:, None] + np.arange(kw)[None, :] * width
        if np.shape(result) == swapped.shape and np.array_equal(result, swapped):
            return (
                "rows and columns are swapped: moving down one row (di + 1) skips a whole padded row, "
                "padded_width numbers, and moving right one column (dj + 1) moves by 1."
            )
        return None

    def hint_general(expected, result, case):
        return "offsets[di, dj] = di * padded_width + dj, as integers."

    return [hint_swapped, hint_general]


def check_tap_offsets(student_fn) -> Report:
    """``student_fn(kh, kw, padded_width) -> int array (kh, kw)``, the offset of each
    tap in the flattened input.
    """
    specs = [
        ("3x3 kernel, padded width 7", 3, 3, 7),
        ("3x3 kernel, padded width 58 (the 56x56 layer)", 3, 3, 58),
        ("5x5 kernel, padded width 28", 5, 5, 28),
        ("2x4 kernel, padded width 10", 2, 4, 10),
        ("1x1 kernel", 1, 1, 9),
    ]
    cases = [
        Case(name, (kh, kw, width), _tap_offsets(kh, kw, width), rtol=0, atol=0)
        for name, kh, kw, width in specs
    ]
    return grade("tap_offsets", student_fn, cases, _tap_offsets_hints())


def _correlate_2d(image: np.ndarray, kernel: np.ndarray, padding: int) -> np.ndarray:
    """2-D cross-correlation with zero padding, window by window (a reference that
    shares nothing with the grid).
    """
    padded = np.pad(image, padding)
    kh, kw = kernel.shape
    oh, ow = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((oh, ow), dtype=np.result_type(image, kernel))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(padded[i : i + kh, j : j + kw] * kernel)
    return out


def _padded_width_hints() -> list:
    def hint_grid(expected, result, case):
        image, kernel, padding = case.args
        if np.shape(result) == (expected.shape[0], image.shape[1] + 2 * padding):
            return (
                f"you returned the whole grid, {np.shape(result)}: its rows are as wide as the padded input. "
                f"The last KW - 1 = {kernel.shape[1] - 1} columns of each row are not outputs; drop them with "
                "grid[:, :OW]."
            )
        return None

    def hint_flipped(expected, result, case):
        image, kernel, padding = case.args
        flipped = _correlate_2d(image, kernel[::-1, ::-1], padding)
        if np.shape(result) == flipped.shape and np.allclose(
            result, flipped, rtol=1e-4, atol=1e-5
        ):
            return (
                "you flipped the kernel (a convolution in the mathematical sense). Deep learning's conv2d is "
                "a cross-correlation: tap (di, dj) multiplies the input at (i + di, j + dj) by kernel[di, dj]."
            )
        return None

    def hint_no_padding(expected, result, case):
        image, kernel, padding = case.args
        unpadded = _correlate_2d(image, kernel, 0)
        if padding > 0 and np.shape(result) == unpadded.shape:
            return "the output is too small: pad the image with `padding` zeros on every side first (np.pad)."
        return None

    def hint_general(expected, result, case):
        return (
            "flatten the padded image; the grid has OH * padded_width points; add kernel[di, dj] times the "
            "slice starting at di * padded_width + dj to it; reshape to (OH, padded_width) and keep [:, :OW]."
        )

    return [hint_grid, hint_flipped, hint_no_padding, hint_general]


def check_conv2d_padded_width(student_fn) -> Report:
    """``student_fn(image, kernel, padding) -> (OH, OW)``: 2-D cross-correlation, stride
    1, on the padded-width grid.
    """
    rng = np.random.default_rng(9)
    specs = [
        (
            "a 4x5 image of counts, 3x3 kernel, padding 1",
            np.arange(20.0).reshape(4, 5),
            np.arange(9.0).reshape(3, 3) - 4,
            1,
        ),
        (
            "3x3 kernel, no padding",
            rng.standard_normal((6, 7)),
            rng.standard_normal((3, 3)),
            0,
        ),
        (
            "a 2x3 kernel on a non-square image, padding 2",
            rng.standard_normal((5, 9)),
            rng.standard_normal((2, 3)),
            2,
        ),
        (
            "a 5x5 kernel on 12x10, padding 2",
            rng.standard_normal((12, 10)),
            rng.standard_normal((5, 5)),
            2,
        ),
        (
            "float32 image and kernel",
            rng.standard_normal((16, 16)).astype(np.float32),
            rng.standard_normal((3, 3)).astype(np.float32),
            1,
        ),
    ]
    cases = [
        Case(
            name,
            (image, kernel, padding),
            _correlate_2d(image, kernel, padding),
            **(dict(rtol=1e-4, atol=1e-5) if image.dtype == np.float32 else {}),
        )
        for name, image, kernel, padding in specs
    ]
    return grade("conv2d_padded_width", student_fn, cases, _padded_width_hints())


# ----------------------------------------------------------------- chapter 9:
# Winograd's F(2, 3)
def _winograd_hints() -> list:
    def hint_swapped(expected, result, case):
        if np.shape(result) == (2,) and np.allclose(np.asarray(result)[::-1], expected):
            return "the two outputs are swapped: y[0] starts at d[0], y[1] at d[1]."
        return None

    def hint_flipped(expected, result, case):
        d, g = case.args
        flipped = np.array(
            [
                d[0] * g[2] + d[1] * g[1] + d[2] * g[0],
                d[1] * g[2] + d[2] * g[1] + d[3] * g[0],
            ]
        )
        if np.shape(result) == (2,) and np.allclose(result, flipped):
            return "you flipped g: a cross-correlation multiplies d[k + i] by g[i], not by g[2 - i]."
        return None

    def hint_general(expected, result, case):
        return (
            "with m1 = (d0 - d2) g0, m2 = (d1 + d2) (g0 + g1 + g2) / 2, m3 = (d2 - d1) (g0 - g1 + g2) / 2 "
            "and m4 = (d1 - d3) g2: y0 = m1 + m2 + m3 and y1 = m2 - m3 - m4 (Lavin & Gray 2016)."
        )

    return [hint_swapped, hint_flipped, hint_general]


def check_winograd_f23(student_fn) -> Report:
    """``student_fn(d, g) -> y (2,)``: Winograd's F(2, 3), two outputs of a 3-tap
    correlation from 4 inputs.

    y[k] = d[k] g[0] + d[k + 1] g[1] + d[k + 2] g[2]; the checker compares
    values only (it cannot count the student's multiplications).
    """
    rng = np.random.default_rng(23)
    specs = [
        (
            "d = [1, 2, 3, 4], g = [1, 0, -1]",
            np.array([1.0, 2, 3, 4]),
            np.array([1.0, 0, -1]),
        ),
        (
            "d = [0, 1, 0, 0], g = [2, 3, 5]: picks out g[1] and g[0]",
            np.array([0.0, 1, 0, 0]),
            np.array([2.0, 3, 5]),
        ),
        ("random d and g", rng.standard_normal(4), rng.standard_normal(3)),
        (
            "float32 d and g",
            rng.standard_normal(4).astype(np.float32),
            rng.standard_normal(3).astype(np.float32),
        ),
    ]
    cases = [
        Case(
            name,
            (d, g),
            np.array(
                [
                    d[0] * g[0] + d[1] * g[1] + d[2] * g[2],
                    d[1] * g[0] + d[2] * g[1] + d[3] * g[2],
                ]
            ),
            **(dict(rtol=1e-5, atol=1e-6) if d.dtype == np.float32 else {}),
        )
        for name, d, g in specs
    ]
    return grade("winograd_f23", student_fn, cases, _winograd_hints())
