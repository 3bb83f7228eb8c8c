"""Checkers for the exercises of chapters 1-3: output sizes, ReLU, convolution loops, FLOPs.

Each checker builds a graded series of cases (the tiny worked example first,
then stride and padding, then odd shapes, then random) with answers from
cnnlab's reference operators, and hands them to :func:`cnnlab.grading.grade`.
The hints name the mistakes students make most often with that exercise.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..checks import output_size
from ..grading import Case, Report, grade

__all__ = ["check_output_size", "check_relu", "check_conv2d", "check_conv2d_flops", "conv2d_cases"]

_reference = backend("numpy")
_rng_seed = 2026


# ----------------------------------------------------------------- hints
def hint_off_by_one(expected, result, case):
    if isinstance(result, np.ndarray) and result.ndim == expected.ndim and result.shape != expected.shape:
        diff = np.subtract(result.shape, expected.shape)
        if np.all(np.abs(diff) <= 1):
            return ("the output size is off by one. The number of window positions along an axis is "
                    "(size + 2*padding - kernel) // stride + 1: check the `+ 1` and the end of your range().")
    return None


def hint_forgot_padding(expected, result, case):
    padding = case.kwargs.get("padding", 0)
    if padding and isinstance(result, np.ndarray):
        unpadded = _conv2d_2d(*case.args, stride=case.kwargs.get("stride", 1), padding=0)
        if result.shape == unpadded.shape:
            return (f"your output has the size of the unpadded result. With padding={padding}, first surround the "
                    "image with that many rows and columns of zeros (np.pad), then slide the kernel over it.")
    return None


def hint_forgot_stride(expected, result, case):
    stride = case.kwargs.get("stride", 1)
    if stride > 1 and isinstance(result, np.ndarray):
        dense = _conv2d_2d(*case.args, stride=1, padding=case.kwargs.get("padding", 0))
        if result.shape == dense.shape:
            return (f"your output has as many values as with stride 1. With stride={stride}, the window "
                    "jumps by `stride` pixels: output (i, j) reads the input from row i*stride, column j*stride.")
    return None


def hint_rows_columns(expected, result, case):
    if result.shape == expected.T.shape and np.allclose(result, expected.T):
        return "your result is transposed: rows and columns are swapped. Index arrays as [row, column] = [i, j]."
    image, kernel = case.args[:2]
    swapped = _conv2d_2d(image, kernel.T, **case.kwargs) if kernel.shape == kernel.T.shape else None
    if swapped is not None and swapped.shape == result.shape and np.allclose(result, swapped):
        return ("rows and columns of the kernel are mixed up: kernel[di, dj] multiplies image[i + di, j + dj], "
                "with di going down the rows and dj across the columns.")
    return None


def hint_flipped_kernel(expected, result, case):
    image, kernel = case.args[:2]
    flipped = _conv2d_2d(image, kernel[::-1, ::-1], **case.kwargs)
    if flipped.shape == result.shape and np.allclose(result, flipped):
        return ("you flipped the kernel, which is the mathematician's convolution. CNN libraries compute "
                "cross-correlation: kernel[0, 0] multiplies the top-left pixel of the window, unflipped.")
    return None


def _conv2d_2d(image, kernel, stride=1, padding=0):
    out = _reference.conv2d(image[None, None], kernel[None, None], stride=stride, padding=padding)
    return out[0, 0]


# ----------------------------------------------------------------- chapter 1 and 2
def check_output_size(student_fn) -> Report:
    """``student_fn(size, kernel, stride, padding) -> int`` output length along one axis."""
    combos = [(5, 3, 1, 0), (5, 3, 1, 1), (7, 3, 2, 0), (8, 3, 2, 1), (6, 6, 1, 0), (10, 4, 3, 2), (28, 5, 1, 0)]
    cases = [Case(f"size={n}, kernel={k}, stride={s}, padding={p}", (n, k, s, p), output_size(n, k, s, p))
             for n, k, s, p in combos]

    def hint(expected, result, case):
        n, k, s, p = case.args
        if result == expected - 1 or result == expected + 1:
            return "off by one: count the window positions, 0 through (size + 2*padding - kernel) // stride, inclusive."
        if result == output_size(n, k, s, 0):
            return "padding adds `padding` pixels on BOTH sides: size + 2*padding."
        if isinstance(result, float):
            return "use floor division `//`: a window that does not fit is not counted."
        return None

    return grade("output_size", student_fn, cases, [hint])


def check_relu(student_fn) -> Report:
    """``student_fn(x) -> max(x, 0)`` elementwise, same shape and dtype."""
    rng = np.random.default_rng(_rng_seed)
    inputs = [np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), np.array([[1.0, -1.0], [-3.0, 4.0]], np.float32),
              rng.standard_normal((2, 3, 4, 5)).astype(np.float32)]
    cases = [Case(f"shape {x.shape} {x.dtype}", (x,), _reference.relu(x)) for x in inputs]

    def hint(expected, result, case):
        if result.shape == expected.shape and np.allclose(result, np.abs(case.args[0])):
            return "you returned |x|; ReLU sets negative values to 0 instead of flipping their sign."
        return None

    return grade("relu", student_fn, cases, [hint])


def conv2d_cases() -> list[Case]:
    """2-D cases for ``conv2d(image, kernel, stride=1, padding=0)``: worked example first, then harder."""
    rng = np.random.default_rng(_rng_seed)
    seed = np.arange(1, 26, dtype=np.float64).reshape(5, 5)
    edge = np.array([[1.0, 0.0, -1.0]] * 3)
    specs = [
        ("the 5x5 worked example", seed, edge, 1, 0),
        ("an asymmetric kernel", seed, np.arange(9.0).reshape(3, 3), 1, 0),
        ("stride 2", seed, edge, 2, 0),
        ("padding 1", seed, edge, 1, 1),
        ("stride 2 and padding 1", rng.standard_normal((6, 6)), rng.standard_normal((3, 3)), 2, 1),
        ("a non-square image and 2x4 kernel", rng.standard_normal((5, 8)), rng.standard_normal((2, 4)), 1, 0),
        ("stride 3 and padding 2, windows that do not fit", rng.standard_normal((8, 9)), rng.standard_normal((3, 2)), 3, 2),
        ("random 12x10, 5x5 kernel", rng.standard_normal((12, 10)), rng.standard_normal((5, 5)), 1, 2),
    ]
    return [Case(name, (x, k), _conv2d_2d(x, k, s, p), dict(stride=s, padding=p)) for name, x, k, s, p in specs]


CONV2D_HINTS = [hint_forgot_padding, hint_forgot_stride, hint_off_by_one, hint_rows_columns, hint_flipped_kernel]


def check_conv2d(student_fn) -> Report:
    """``student_fn(image, kernel, stride=1, padding=0)`` on 2-D arrays, returning the 2-D output."""
    return grade("conv2d", student_fn, conv2d_cases(), CONV2D_HINTS)


def check_conv2d_flops(student_fn) -> Report:
    """``student_fn(x_shape, w_shape, stride, padding) -> FLOPs``, counting a multiply-add as 2."""
    specs = [((1, 1, 5, 5), (1, 1, 3, 3), 1, 0), ((1, 3, 8, 8), (4, 3, 3, 3), 1, 1),
             ((2, 3, 9, 9), (4, 3, 3, 3), 2, 0), ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1)]

    def flops(xs, ws, s, p):
        return 2 * xs[0] * ws[0] * output_size(xs[2], ws[2], s, p) * output_size(xs[3], ws[3], s, p) * ws[1] * ws[2] * ws[3]

    cases = [Case(f"x {xs}, w {ws}, stride {s}, padding {p}", (xs, ws, s, p), flops(xs, ws, s, p)) for xs, ws, s, p in specs]

    def hint(expected, result, case):
        if result * 2 == expected:
            return "a multiply-add is two floating-point operations: count 2 per multiply-add."
        if result == expected * 2:
            return "you counted each multiply-add as 4 operations; it is 2 (one multiply, one add)."
        return "FLOPs = 2 x N x F x OH x OW x C x KH x KW: every output sums C x KH x KW products."

    return grade("conv2d_flops", student_fn, cases, [hint])
