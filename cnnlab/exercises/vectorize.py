"""Checkers for the exercises of chapters 4-5 (NumPy and Numba)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..grading import Case, Report, grade, strict
from .basics import hint_off_by_one

__all__ = ["check_max_pool2d", "check_faster_than"]

_reference = backend("numpy")
_rng_seed = 2026


def pool_cases(reference_fn) -> list[Case]:
    rng = np.random.default_rng(_rng_seed)
    tiny = np.arange(16.0).reshape(1, 1, 4, 4)
    specs = [("the 4x4 example, 2x2 windows", tiny, 2), ("odd size 5x7 (floor mode drops the rest)",
             rng.standard_normal((1, 2, 5, 7)), 2),
             ("3x3 windows on a batch", rng.standard_normal((3, 4, 9, 9)).astype(np.float32), 3),
             ("random (4, 3, 12, 10)", rng.standard_normal((4, 3, 12, 10)), 2)]
    return [Case(name, (x, k), reference_fn(x, k)) for name, x, k in specs]


def check_max_pool2d(student_fn) -> Report:
    """``student_fn(x, k)``: k x k max pooling with stride k on x (N, C, H, W), floor mode."""

    def hint_mean(expected, result, case):
        if result.shape == expected.shape and np.allclose(result, _reference.avg_pool2d(*case.args)):
            return "you computed the average of each window; max pooling takes the maximum."
        return None

    def hint_overlap(expected, result, case):
        x, k = case.args
        dense = _reference.max_pool2d(x, k, 1)
        if result.shape == dense.shape:
            return (f"your windows overlap (stride 1). Pooling windows step by the window size: take every "
                    f"{k}-th window, e.g. sliding_window_view(x, ({k}, {k}), axis=(2, 3))[:, :, ::{k}, ::{k}].")
        return None

    return grade("max_pool2d", student_fn, pool_cases(_reference.max_pool2d), [hint_overlap, hint_off_by_one, hint_mean])


def check_faster_than(student_fn, reference_fn, args: tuple, min_speedup: float, exercise: str = "speed",
                      repeat: int = 7) -> Report:
    """Check ``student_fn(*args)`` matches ``reference_fn(*args)`` and beats it by ``min_speedup``.

    Both are timed in the same run, in interleaved rounds, so the verdict is
    a ratio and does not depend on how fast or busy the machine is.
    """
    from ..bench import compare

    expected = reference_fn(*args)
    correctness = grade(exercise, student_fn, [Case("correctness", args, expected, rtol=1e-4, atol=1e-5)])
    if not correctness.passed:
        return correctness
    timings = compare({"yours": student_fn, "reference": reference_fn}, *args, repeat=repeat)
    speedup = timings["reference"].median / timings["yours"].median
    verdict = (f"{exercise}: your version took {timings['yours']}, the reference {timings['reference']}: "
               f"{speedup:.1f}x faster (the goal is {min_speedup:g}x).")
    if speedup >= min_speedup:
        return Report(exercise, True, "passed", "✓ " + verdict, timings["yours"].median)
    message = "✗ " + verdict + " Correct, but not fast enough yet: look at the innermost loop."
    report = Report(exercise, False, "failed", message, timings["yours"].median)
    if strict():
        raise AssertionError(message)
    return report
