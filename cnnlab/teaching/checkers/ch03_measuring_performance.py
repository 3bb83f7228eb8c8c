"""Checkers for the exercises of chapter 3: timing spread, intensity, FLOPs.

Each checker computes the answers from their definitions and hands a graded
series of cases to :func:`cnnlab.teaching.grading.grade`. Each hint recomputes
the answer with one typical mistake, so a wrong result is explained by the
mistake it matches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import SEED, Shape4, layer_shape_cases
from cnnlab.teaching.checkers.ch01_what_is_a_cnn import TWO_FLOPS_HINT
from cnnlab.teaching.checkers.formulas import conv2d_flops, conv2d_intensity
from cnnlab.teaching.grading import Case, Report, grade
from cnnlab.validation import output_size

__all__ = [
    "check_relative_spread",
    "check_arithmetic_intensity",
    "check_flops_without_padding",
]


def check_relative_spread(student_fn: Any) -> Report:
    """``student_fn(samples) -> (q3 - q1) / median``: the spread of timings.

    The answer is a fraction (0.04), not a percentage.
    """
    rng = np.random.default_rng(SEED)
    inputs = [
        ("the samples [1, 2, 3, 4, 5]", [1.0, 2.0, 3.0, 4.0, 5.0]),
        ("the same samples, unsorted", [4.0, 1.0, 5.0, 2.0, 3.0]),
        ("an even number of samples", [0.5, 0.25, 1.0, 0.75]),
        ("one very slow outlier", [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 30.0]),
        ("15 timings in seconds", (1e-3 * rng.lognormal(0, 0.1, 15)).tolist()),
    ]

    def spread(samples):
        q1, median, q3 = np.percentile(samples, [25, 50, 75])
        return float((q3 - q1) / median)

    cases = [
        Case(name, (samples,), spread(samples), rtol=1e-9, atol=1e-12)
        for name, samples in inputs
    ]

    def hint(expected, result, case):
        s = np.asarray(case.args[0])
        q1, median, q3 = np.percentile(s, [25, 50, 75])
        if np.isclose(result, 100 * expected):
            return "return a fraction (0.04), not a percentage (4)."
        if np.isclose(result, q3 - q1):
            return (
                "divide the interquartile range by the median: the spread is relative "
                "to the typical time."
            )
        if np.isclose(result, (q3 - q1) / s.mean()):
            return (
                "divide by the median, not the mean: one slow sample pulls the mean up."
            )
        if np.isclose(result, s.std() / s.mean()) or np.isclose(
            result, s.std(ddof=1) / s.mean()
        ):
            return (
                "that is the standard deviation over the mean, which one outlier blows "
                "up. Use the quartiles: np.percentile(samples, [25, 50, 75])."
            )
        if np.isclose(result, (s.max() - s.min()) / median):
            return (
                "use the quartiles (25th and 75th percentiles), not the minimum and "
                "maximum."
            )
        return (
            "quartiles with np.percentile(samples, [25, 50, 75]), then "
            "(q3 - q1) / median."
        )

    return grade("relative_spread", student_fn, cases, [hint])


def check_arithmetic_intensity(student_fn: Any) -> Report:
    """``student_fn(x_shape, w_shape, stride, padding, itemsize) -> float``.

    The FLOPs of a convolution per byte of its input, weights and output.
    """
    specs = [
        ((1, 1, 6, 6), (1, 1, 3, 3), 1, 0, 4),
        ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 4),
        ((2, 3, 9, 9), (4, 3, 3, 3), 2, 0, 8),
        ((8, 16, 32, 32), (32, 16, 5, 5), 2, 2, 4),
    ]
    cases = [
        Case(
            f"x {xs}, w {ws}, stride {s}, padding {p}, itemsize {i}",
            (xs, ws, s, p, i),
            conv2d_intensity(xs, ws, s, p, i),
            rtol=1e-6,
        )
        for xs, ws, s, p, i in specs
    ]

    def hint(expected, result, case):
        itemsize = case.args[4]
        if np.isclose(result, conv2d_intensity(*case.args, bytes_per_number=1)):
            return (
                "you divided by a number of values, not bytes: each value takes "
                f"`itemsize` ({itemsize}) bytes."
            )
        if np.isclose(result, conv2d_intensity(*case.args, count_out=False)):
            return "count the output too: the layer must write N x F x OH x OW values."
        if np.isclose(result, conv2d_intensity(*case.args, count_w=False)):
            return "count the weights too: F x C x KH x KW values are read."
        if np.isclose(result * 2, expected):
            return "count FLOPs, not multiply-adds: each multiply-add is 2 FLOPs."
        if np.isclose(result, conv2d_intensity(*case.args, padded_x=True)):
            return (
                "count the input as stored, without the padding: the padding zeros are "
                "never read from memory."
            )
        return (
            "FLOPs (2 x N x F x OH x OW x C x KH x KW) divided by itemsize x "
            "(input + weights + output values)."
        )

    return grade("arithmetic_intensity", student_fn, cases, [hint])


def _flops_without_padding(
    x_shape: Shape4, w_shape: Shape4, stride: int, padding: int
) -> int:
    """The FLOPs of the multiply-adds that read a real pixel, not a padding zero."""
    n, _, h, width = x_shape
    f, c, kh, kw = w_shape

    # for each tap: how many output positions read a real pixel
    def inside(size, kernel):
        count = output_size(size, kernel, stride, padding)
        return [
            sum(0 <= i * stride + d - padding < size for i in range(count))
            for d in range(kernel)
        ]

    return 2 * n * f * c * sum(inside(h, kh)) * sum(inside(width, kw))


def check_flops_without_padding(student_fn: Any) -> Report:
    """``student_fn(x_shape, w_shape, stride, padding) -> FLOPs`` on real pixels.

    Only the multiply-adds that read a pixel of the image count, not those that
    read the zero padding.
    """
    specs = [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 1),
        ((1, 1, 4, 4), (1, 1, 3, 3), 1, 2),
        ((2, 3, 9, 7), (4, 3, 3, 3), 2, 1),
        ((1, 3, 224, 224), (64, 3, 7, 7), 2, 3),
        ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ]
    cases = layer_shape_cases(specs, _flops_without_padding)

    def hint(expected, result, case):
        if result == conv2d_flops(*case.args):
            return (
                "that counts every multiply-add, including those that read the zero "
                "padding. For each tap, count only the output positions whose input "
                "pixel i*stride + di - padding lies inside the image."
            )
        if result * 2 == expected:
            return TWO_FLOPS_HINT
        return (
            "work one axis at a time: for each tap d, count the outputs i with "
            "0 <= i*stride + d - padding < size. The 2-D count for a tap is the "
            "product of its two axis counts."
        )

    return grade("flops_without_padding", student_fn, cases, [hint])
