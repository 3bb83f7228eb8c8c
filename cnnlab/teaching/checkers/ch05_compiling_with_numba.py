"""Checkers for the exercises of chapter 5: kernels compiled with Numba.

A compiled ReLU, bias and ReLU fused into the convolution, and a 1x1
convolution at speed. Correctness comes first, on a graded series of cases
with hints; the speed exercise then races the student's kernel against the
exercise's slow one with
:func:`cnnlab.teaching.checkers.speed.check_faster_than`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnlab.teaching.checkers.cases import (
    FLOAT32,
    REFERENCE,
    SEED,
    float32_normals,
    matches,
)
from cnnlab.teaching.checkers.speed import check_faster_than
from cnnlab.teaching.grading import Case, Report, grade

__all__ = [
    "check_relu",
    "check_conv2d_bias_relu",
    "check_conv1x1_fast",
]


def check_relu(student_fn: Any) -> Report:
    """``student_fn(x) -> max(x, 0)`` elementwise, same shape and dtype."""
    rng = np.random.default_rng(SEED)
    inputs = [
        np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
        np.array([[1.0, -1.0], [-3.0, 4.0]], np.float32),
        rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
    ]
    cases = [
        Case(f"shape {x.shape} {x.dtype}", (x,), REFERENCE.relu(x)) for x in inputs
    ]

    def hint(expected, result, case):
        if matches(result, np.abs(case.args[0]), **FLOAT32):
            return (
                "you returned |x|; ReLU sets negative values to 0 instead of flipping "
                "their sign."
            )
        return None

    return grade("relu", student_fn, cases, [hint])


def _conv2d_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cross-correlation without padding, stride 1.

    x (N, C, H, W) and w (F, C, KH, KW) give (N, F, OH, OW), in x's dtype.
    """
    windows = sliding_window_view(x, w.shape[2:], axis=(2, 3))  # (N, C, OH, OW, KH, KW)
    return np.einsum("nchwij,fcij->nfhw", windows, w).astype(x.dtype)


def _bias_relu_hints() -> list:
    """The hints for ``relu(conv2d(x, w) + b)``: each recomputes one mistake."""

    def sums(case):
        x, w, b = case.args
        return _conv2d_valid(x, w), b[:, None, None]

    def hint_padded(expected, result, case):
        x, w, _ = case.args
        if result.shape == (x.shape[0], w.shape[0], *x.shape[2:]):
            return (
                "there is no padding in this exercise: the output has (H - KH + 1) "
                "rows of (W - KW + 1) columns."
            )
        return None

    def hint_no_relu(expected, result, case):
        conv, b = sums(case)
        if np.allclose(result, conv + b, **FLOAT32):
            return (
                "negative outputs remain: clamp each output to max(0, value) once its "
                "sum is complete, after the last tap."
            )
        return None

    def hint_no_bias(expected, result, case):
        conv, _ = sums(case)
        if np.allclose(result, np.maximum(conv, 0), **FLOAT32):
            return "the bias is missing: start each output row from b[f] instead of 0."
        return None

    def hint_relu_before_bias(expected, result, case):
        conv, b = sums(case)
        if np.allclose(result, np.maximum(conv, 0) + b, **FLOAT32):
            return (
                "you applied ReLU before adding the bias; the layer computes "
                "relu(conv + b): the bias is part of the sum, ReLU comes last."
            )
        return None

    def hint_bias_per_tap(expected, result, case):
        conv, b = sums(case)
        taps = np.prod(case.args[1].shape[1:])
        if np.allclose(result, np.maximum(conv + taps * b, 0), **FLOAT32):
            return (
                f"you added the bias once per tap ({taps} times per output): add it "
                "once, outside the loops over channels and taps, e.g. by starting the "
                "row from b[f]."
            )
        return None

    def hint_relu_on_partial_sums(expected, result, case):
        if result.shape == expected.shape and np.all(result >= expected - 1e-4):
            return (
                "some outputs are too large, none too small: did you clamp to 0 inside "
                "the tap loops? A partial sum can be negative and still end positive; "
                "ReLU must wait until the last tap has been added."
            )
        return None

    return [
        hint_padded,
        hint_no_relu,
        hint_no_bias,
        hint_relu_before_bias,
        hint_bias_per_tap,
        hint_relu_on_partial_sums,
    ]


def check_conv2d_bias_relu(student_fn: Any) -> Report:
    """``student_fn(x, w, b)``: relu(conv2d(x, w) + b), no padding, stride 1.

    x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, H - KH + 1, W - KW + 1),
    in x's dtype.
    """
    normal = float32_normals()
    example_w = np.stack([np.ones((1, 3, 3)), -np.ones((1, 3, 3)) / 9]).astype(
        np.float32
    )
    specs = [
        (
            "the 4x4 example: filter 0 sums each 3x3 window, filter 1 is minus its "
            "mean; biases -60 and 8",
            np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4),
            example_w,
            np.array([-60, 8], np.float32),
        ),
        (
            "2 images, 3 channels, 4 filters of 3x3",
            normal(2, 3, 6, 7),
            normal(4, 3, 3, 3),
            normal(4),
        ),
        (
            "a 2x3 kernel on 7x9 images",
            normal(1, 2, 7, 9),
            normal(3, 2, 2, 3),
            normal(3),
        ),
        (
            "a batch of 2, 8 channels, 5 filters",
            normal(2, 8, 12, 10),
            normal(5, 8, 3, 3),
            normal(5),
        ),
    ]
    cases = [
        Case(
            name,
            (x, w, b),
            np.maximum(_conv2d_valid(x, w) + b[:, None, None], 0),
            **FLOAT32,
        )
        for name, x, w, b in specs
    ]
    return grade("conv2d_bias_relu", student_fn, cases, _bias_relu_hints())


def check_conv1x1_fast(
    student_fn: Any, given_fn: Callable, min_speedup: float = 3
) -> Report:
    """``student_fn(x, w)``: a 1x1 convolution, faster than ``given_fn``.

    x (N, C, H, W) and w (F, C) give (N, F, H, W). ``given_fn`` is the exercise's
    slow kernel, compiled by Numba like the student's; both are timed in one run.
    """
    normal = float32_normals()
    specs = [
        (
            "2 channels of 2x2 pixels; filter 0 adds the channels, filter 1 is "
            "2 x channel 0 - channel 1",
            np.arange(1, 9, dtype=np.float32).reshape(1, 2, 2, 2),
            np.array([[1, 1], [2, -1]], np.float32),
        ),
        ("3 channels, 4 filters", normal(1, 3, 4, 5), normal(4, 3)),
        (
            "a batch of 2, 8 channels, 5 filters, 6x7 pixels",
            normal(2, 8, 6, 7),
            normal(5, 8),
        ),
    ]
    cases = [
        Case(name, (x, w), np.einsum("fc,nchw->nfhw", w, x), **FLOAT32)
        for name, x, w in specs
    ]

    def hint_weights_transposed(expected, result, case):
        x, w = case.args
        if w.shape[0] == w.shape[1] and np.allclose(
            result, np.einsum("cf,nchw->nfhw", w, x), **FLOAT32
        ):
            return (
                "w has shape (F, C): the weight of channel c in filter f is w[f, c], "
                "not w[c, f]."
            )
        return None

    args = (normal(2, 64, 32, 32), normal(64, 64))
    return check_faster_than(
        student_fn,
        given_fn,
        args,
        min_speedup,
        "conv1x1_fast",
        cases=cases,
        diagnoses=[hint_weights_transposed],
        advice="Correct, but not fast enough yet: make the innermost loop run along a "
        "row of the image (j), with the weight read once before it, so that each step "
        "reads the next float in memory and does not depend on the previous step.",
    )
