"""Checkers for the exercises 6.3 and 6.4: average pooling, and ReLU fused into it.

Average pooling is graded on cases from cnnlab's NumPy backend, with hints for
a window sum that is never divided and a stride that is ignored. The fused
kernel must then also beat the two passes it replaces, timed with
:func:`cnnlab.teaching.checkers.speed.check_faster_than`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import FLOAT32, REFERENCE, SEED, matches
from cnnlab.teaching.checkers.ch02_convolution_in_python import hint_off_by_one
from cnnlab.teaching.checkers.speed import check_faster_than
from cnnlab.teaching.grading import Case, Report, grade

__all__ = ["check_avg_pool2d", "check_avg_pool_relu"]


# ----------------------------------------------------------------- average pooling
def _avg_pool2d_cases() -> list[Case]:
    """Cases for ``avg_pool2d(x, k, stride)``: overlapping windows, gaps, floor mode."""
    rng = np.random.default_rng(SEED)
    specs = [
        (
            "the 4x4 example, 2x2 windows, stride 2",
            np.arange(16.0).reshape(1, 1, 4, 4),
            2,
            2,
        ),
        (
            "3x3 windows with stride 1: they overlap",
            rng.standard_normal((1, 1, 5, 5)),
            3,
            1,
        ),
        ("2x2 windows with stride 1", rng.standard_normal((1, 2, 4, 5)), 2, 1),
        (
            "3x3 windows with stride 2 on 7x9 (floor mode drops the rest)",
            rng.standard_normal((2, 3, 7, 9)),
            3,
            2,
        ),
        (
            "2x2 windows with stride 3: gaps between windows",
            rng.standard_normal((1, 2, 8, 8)),
            2,
            3,
        ),
        (
            "a float32 batch, 3x3 windows, stride 3",
            rng.standard_normal((4, 3, 12, 10)).astype(np.float32),
            3,
            3,
        ),
    ]
    return [
        Case(name, (x, k, s), REFERENCE.avg_pool2d(x, k, s)) for name, x, k, s in specs
    ]


def _hint_took_max(expected: Any, result: Any, case: Case) -> str | None:
    x, k, stride = case.args[:3]
    if matches(result, REFERENCE.max_pool2d(x, k, stride), atol=1e-8, equal_nan=True):
        return "you took the maximum of each window; average pooling takes the mean."
    return None


def _hint_not_divided(expected: Any, result: Any, case: Case) -> str | None:
    k = case.args[1]
    if matches(result, expected * k * k, atol=1e-8, equal_nan=True):
        return (
            "you summed each window; divide the sum by the number of values in a "
            f"window, k*k = {k * k}."
        )
    if k > 1 and matches(result, expected * k, atol=1e-8, equal_nan=True):
        return f"you divided by k = {k}; a k x k window holds k*k = {k * k} values."
    return None


def _hint_ignored_stride(expected: Any, result: Any, case: Case) -> str | None:
    x, k, stride = case.args[:3]
    for assumed in (k, 1):
        if (
            assumed != stride
            and result.shape == REFERENCE.avg_pool2d(x, k, assumed).shape
        ):
            return (
                f"your output has the size of pooling with stride {assumed}, but the "
                f"stride is {stride}. Window (i, j) starts at row i*stride, column "
                "j*stride, and there are (size - k) // stride + 1 windows along each "
                "axis."
            )
    return None


def check_avg_pool2d(student_fn: Any) -> Report:
    """``student_fn(x, k, stride)``: the mean of each k x k window of x (N, C, H, W).

    The windows start ``stride`` apart, in floor mode.
    """
    return grade(
        "avg_pool2d",
        student_fn,
        _avg_pool2d_cases(),
        [_hint_took_max, _hint_not_divided, _hint_ignored_stride, hint_off_by_one],
    )


# ----------------------------------------------------------------- ReLU fused into it
def _avg_pool_relu(x: np.ndarray) -> np.ndarray:
    """The unfused pair, each one pass over memory: ReLU, then 2x2 average pooling."""
    return REFERENCE.avg_pool2d(REFERENCE.relu(x), 2)


# What a fused kernel computes with one mistake, and the hint for it.
_FUSION_MISTAKES: list[tuple[Callable[[np.ndarray], np.ndarray], str]] = [
    (
        lambda x: REFERENCE.relu(REFERENCE.avg_pool2d(x, 2)),
        "you applied ReLU after averaging. Unlike the maximum, the mean does not "
        "commute with ReLU: mean(relu(a), relu(b)) is not relu(mean(a, b)). Apply "
        "ReLU to every value as you add it up.",
    ),
    (
        lambda x: REFERENCE.avg_pool2d(x, 2),
        "you averaged the raw values: apply ReLU, max(v, 0), to every value before "
        "adding it to the sum.",
    ),
    (
        lambda x: REFERENCE.relu(REFERENCE.max_pool2d(x, 2)),
        "this is max pooling with ReLU, the kernel of the chapter; here the window "
        "is averaged.",
    ),
]


def _hint_fusion_mistake(expected: Any, result: Any, case: Case) -> str | None:
    for mistake, hint in _FUSION_MISTAKES:
        if matches(result, mistake(case.args[0]), **FLOAT32, equal_nan=True):
            return hint
    return None


def check_avg_pool_relu(student_fn: Any, min_speedup: float = 2.0) -> Report:
    """``student_fn(x)`` = ``avg_pool2d(relu(x), 2)`` for x (N, C, H, W) float32, fast.

    Correct first, on small cases with hints; then ``min_speedup`` times as
    fast as cnnlab's NumPy backend running ReLU and average pooling one after
    the other, on an activation of shape (8, 16, 32, 32).
    """
    rng = np.random.default_rng(SEED)
    example = np.array(
        [
            [
                [
                    [-1.0, 2.0, 3.0, -4.0],
                    [5.0, -6.0, -7.0, 8.0],
                    [0.5, 0.5, -1.0, -2.0],
                    [-0.5, 1.5, -3.0, -4.0],
                ]
            ]
        ],
        dtype=np.float32,
    )
    inputs = [
        ("the 4x4 example", example),
        (
            "odd size 5x7 (floor mode drops the last row and column)",
            rng.standard_normal((1, 2, 5, 7)).astype(np.float32),
        ),
        (
            "a batch of (3, 4, 8, 6)",
            rng.standard_normal((3, 4, 8, 6)).astype(np.float32),
        ),
    ]
    cases = [Case(name, (x,), _avg_pool_relu(x), **FLOAT32) for name, x in inputs]
    timed = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    return check_faster_than(
        student_fn,
        _avg_pool_relu,
        (timed,),
        min_speedup,
        "avg_pool_relu",
        cases=cases,
        diagnoses=[_hint_fusion_mistake, hint_off_by_one],
        advice="Correct, but not fast enough yet: compute each output in one pass over "
        "its window, in a Numba kernel, with no temporary array for the ReLU.",
    )
