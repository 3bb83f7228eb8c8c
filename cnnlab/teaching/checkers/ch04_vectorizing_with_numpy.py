"""Checkers for the exercises of chapter 4: pooling, the conv layer, fast dilation.

Correctness comes first, on a graded series of cases with the hints of
chapter 2's convolution (:mod:`cnnlab.teaching.checkers.ch02_convolution_in_python`).
The speed exercise then races the student's function against chapter 2's loops
with :func:`cnnlab.teaching.checkers.speed.check_faster_than`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnlab.teaching.checkers.cases import (
    EDGE_KERNEL,
    FLOAT32,
    REFERENCE,
    SEED,
    SEED_IMAGE,
    float32_normals,
)
from cnnlab.teaching.checkers.ch02_convolution_in_python import (
    CONV2D_HINTS,
    DILATED_INDEX_HINT,
    INDEX_ERROR_HINT,
    dilated_cases,
    dilated_hints,
    hint_off_by_one,
)
from cnnlab.teaching.checkers.speed import check_faster_than
from cnnlab.teaching.grading import Case, Report, grade

__all__ = [
    "check_max_pool2d",
    "check_conv2d_layer",
    "check_conv2d_dilated_fast",
    "conv2d_layer_cases",
]

SHAPE_ERROR_HINT = (
    "if the message is about shapes that do not match, print the shapes of your "
    "slices: with stride S, the slice for tap (di, dj) is "
    "xp[:, :, di : di + S*(OH - 1) + 1 : S, ...] and has shape (N, C, OH, OW)."
)


# ----------------------------------------------------------------- max pooling
def _max_pool2d_cases() -> list[Case]:
    rng = np.random.default_rng(SEED)
    tiny = np.arange(16.0).reshape(1, 1, 4, 4)
    specs = [
        ("the 4x4 example, 2x2 windows", tiny, 2),
        (
            "odd size 5x7 (floor mode drops the rest)",
            rng.standard_normal((1, 2, 5, 7)),
            2,
        ),
        (
            "3x3 windows on a float32 batch",
            rng.standard_normal((3, 4, 9, 9)).astype(np.float32),
            3,
        ),
        ("random (4, 3, 12, 10)", rng.standard_normal((4, 3, 12, 10)), 2),
    ]
    return [Case(name, (x, k), REFERENCE.max_pool2d(x, k)) for name, x, k in specs]


def check_max_pool2d(student_fn: Any) -> Report:
    """``student_fn(x, k)``: k x k max pooling with stride k of x (N, C, H, W).

    Floor mode: rows and columns left over after the last window are dropped.
    """

    def hint_mean(expected, result, case):
        if result.shape == expected.shape and np.allclose(
            result, REFERENCE.avg_pool2d(*case.args)
        ):
            return (
                "you computed the average of each window; max pooling takes the "
                "maximum."
            )
        return None

    def hint_overlap(expected, result, case):
        x, k = case.args
        if result.shape == REFERENCE.max_pool2d(x, k, 1).shape:
            return (
                "your windows overlap (stride 1). Pooling windows step by the window "
                f"size: take every {k}-th window, e.g. "
                f"sliding_window_view(x, ({k}, {k}), axis=(2, 3))[:, :, ::{k}, ::{k}]."
            )
        return None

    def hint_wrong_axes(expected, result, case):
        x, k = case.args
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::k, ::k]
        if np.array_equal(result, windows.max(axis=(2, 3))):
            return (
                "you took the maximum over the window positions (axes 2 and 3 of the "
                "window view). The window contents are the last two axes: "
                ".max(axis=(-2, -1))."
            )
        return None

    def hint_started_at_zero(expected, result, case):
        if result.shape == expected.shape and np.allclose(
            result, np.maximum(expected, 0)
        ):
            return (
                "a window of negative numbers has a negative maximum, but you got 0: "
                "start each window's maximum from its first value (or -np.inf), not "
                "from 0."
            )
        return None

    return grade(
        "max_pool2d",
        student_fn,
        _max_pool2d_cases(),
        [
            hint_wrong_axes,
            hint_overlap,
            hint_off_by_one,
            hint_mean,
            hint_started_at_zero,
        ],
    )


# ----------------------------------------------------------------- the full layer
def conv2d_layer_cases() -> list[Case]:
    """Cases for ``conv2d(x, w, b=None, stride=1, padding=0)`` on float32 arrays.

    x is (N, C, H, W) and w (F, C, KH, KW); the worked example comes first.
    """
    normal = float32_normals()
    seed = SEED_IMAGE.astype(np.float32).reshape(1, 1, 5, 5)
    edge = EDGE_KERNEL.astype(np.float32).reshape(1, 1, 3, 3)
    specs = [
        ("the 5x5 worked example as (1, 1, 5, 5)", seed, edge, None, 1, 0),
        ("3 input channels", normal(1, 3, 6, 7), normal(1, 3, 3, 3), None, 1, 0),
        (
            "4 filters with a bias",
            normal(1, 3, 6, 7),
            normal(4, 3, 3, 3),
            normal(4),
            1,
            0,
        ),
        ("a batch of 2", normal(2, 3, 6, 7), normal(4, 3, 3, 3), normal(4), 1, 0),
        ("stride 2", normal(2, 3, 9, 10), normal(4, 3, 3, 3), normal(4), 2, 0),
        ("padding 1", normal(2, 3, 9, 10), normal(4, 3, 3, 3), normal(4), 1, 1),
        (
            "stride 3, padding 2 and a 3x2 kernel",
            normal(2, 3, 8, 9),
            normal(5, 3, 3, 2),
            normal(5),
            3,
            2,
        ),
        (
            "random (3, 8, 12, 10), 6 filters of 5x3, stride 2, padding 2",
            normal(3, 8, 12, 10),
            normal(6, 8, 5, 3),
            normal(6),
            2,
            2,
        ),
    ]
    return [
        Case(
            name,
            (x, w, b),
            REFERENCE.conv2d(x, w, b, stride=s, padding=p),
            dict(stride=s, padding=p),
            **FLOAT32,
        )
        for name, x, w, b, s, p in specs
    ]


def _hint_forgot_bias(expected: Any, result: Any, case: Case) -> str | None:
    x, w, b = case.args
    if b is not None and np.allclose(result, expected - b[:, None, None], **FLOAT32):
        return (
            "you forgot the bias: add b[f] to every value of filter f's map, e.g. "
            "out += b[:, None, None]."
        )
    return None


def _hint_batch_filter_axes(expected: Any, result: Any, case: Case) -> str | None:
    if result.ndim == 4 and np.allclose(
        result.transpose(1, 0, 2, 3), expected, **FLOAT32
    ):
        return (
            "the first two axes are swapped: the output is (N, F, OH, OW). "
            "np.tensordot(w_tap, tap, axes=([1], [1])) gives (F, N, OH, OW); "
            "transpose(1, 0, 2, 3) puts the batch first."
        )
    return None


def check_conv2d_layer(student_fn: Any) -> Report:
    """``student_fn(x, w, b=None, stride=1, padding=0)``: the full convolution layer.

    x (N, C, H, W) and w (F, C, KH, KW) give (N, F, OH, OW).
    """
    hints = [_hint_forgot_bias, _hint_batch_filter_axes, *CONV2D_HINTS]
    return grade(
        "conv2d_layer",
        student_fn,
        conv2d_layer_cases(),
        hints,
        {IndexError: INDEX_ERROR_HINT, ValueError: SHAPE_ERROR_HINT},
    )


# ----------------------------------------------------------------- dilation at speed
def _conv2d_dilated_loops(
    image: np.ndarray, kernel: np.ndarray, dilation: int
) -> np.ndarray:
    """Chapter 2's plain Python loops: the reference the vectorized version races."""
    rows, taps = image.tolist(), kernel.tolist()
    kh, kw = len(taps), len(taps[0])
    out_h, out_w = len(rows) - (kh - 1) * dilation, len(rows[0]) - (kw - 1) * dilation
    return np.array(
        [
            [
                sum(
                    rows[i + di * dilation][j + dj * dilation] * taps[di][dj]
                    for di in range(kh)
                    for dj in range(kw)
                )
                for j in range(out_w)
            ]
            for i in range(out_h)
        ]
    )


def check_conv2d_dilated_fast(student_fn: Any, min_speedup: float = 10) -> Report:
    """``student_fn(image, kernel, dilation)``, vectorized: correct, and fast.

    It must be ``min_speedup`` times as fast as chapter 2's loops.
    """
    rng = np.random.default_rng(SEED)
    args = (rng.standard_normal((64, 64)), rng.standard_normal((3, 3)), 2)
    return check_faster_than(
        student_fn,
        _conv2d_dilated_loops,
        args,
        min_speedup,
        "conv2d_dilated_fast",
        cases=dilated_cases(),
        diagnoses=dilated_hints(),
        error_hints={IndexError: DILATED_INDEX_HINT},
        advice="Correct, but not fast enough yet: is there still a Python loop over "
        "pixels? Loop over the kernel taps only, each one a whole-array slice.",
    )
