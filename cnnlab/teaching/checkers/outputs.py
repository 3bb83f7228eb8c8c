"""Grading a function that returns several arrays, such as ``(dx, dw, db)``.

:func:`grade_outputs` grades one output at a time, over all the cases, so the
feedback names the output that is wrong.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cnnlab.teaching.grading import Case, Diagnosis, Report, grade


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _output(fn: Callable, index: int, names: tuple[str, ...]) -> Callable:
    """A function that calls ``fn`` and returns output ``index`` of its tuple.

    It keeps ``fn``'s signature, so that feedback names the arguments as the
    student did.
    """

    @functools.wraps(fn)
    def output(*args, **kwargs):
        result = fn(*args, **kwargs)
        if result is None:
            return None  # graded as "it returned None"
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            raise TypeError(
                f"your function must return a tuple ({', '.join(names)}), but it "
                f"returned {_describe(result)}"
            )
        value = result[index]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]  # a 0-d array counts as a number
        return value

    return output


def grade_outputs(
    exercise: str,
    fn: Any,
    names: tuple[str, ...],
    inputs: Sequence[tuple[str, tuple]],
    references: Callable[..., tuple],
    hints: Sequence[Sequence[Diagnosis]],
    error_hints: dict | None = None,
) -> Report:
    """Grade each output of ``fn`` in turn over all cases; stop at the first failure.

    ``inputs`` are (name, args) pairs, ``references(*args)`` returns the expected
    tuple, ``hints[k]`` are the hints for output k, and ``error_hints`` those for
    an exception, as in :func:`cnnlab.teaching.grading.grade`.
    """
    start = time.perf_counter()
    expected = [references(*args) for _, args in inputs]
    n_cases = 0
    for k, name in enumerate(names):
        cases = [
            Case(f"{name}, {label}", args, answer[k])
            for (label, args), answer in zip(inputs, expected, strict=True)
        ]
        report = grade(
            exercise,
            _output(fn, k, names) if callable(fn) else fn,
            cases,
            list(hints[k]),
            error_hints,
        )
        if not report.passed:
            return report
        n_cases += len(cases)
    seconds = time.perf_counter() - start
    message = (
        f"✓ {exercise}: passed all {n_cases} cases ({', '.join(names)}) in "
        f"{seconds * 1e3:.0f} ms."
    )
    return Report(exercise, True, "passed", message, seconds)
