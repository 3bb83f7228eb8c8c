"""The engine behind the exercise checkers: run a student's function safely.

A checker hands :func:`grade` a list of :class:`Case` objects, easiest first.
Each case is run on copies of its inputs, under a time limit, and the answer
is compared with the reference. The first failing case stops the run and is
explained: the input, the expected and the actual output, and a hint for the
mistake it most looks like. Nothing a student writes can crash the checker:
exceptions, ``None``, lists, wrong shapes and infinite loops are all reported.

Nor can a result fool it. Answers are compared as plain copies (a base-class
ndarray, an exact ``int`` or ``float``), so a subclass whose ``==`` always
says True changes nothing, and with functions bound when this module is
imported, so rebinding ``np.allclose`` changes nothing either. A student's
function that changes NumPy, Python's builtins or cnnlab while it runs is
caught: the checker puts the originals back and fails the case.

This is feedback, not an exam. Code running in the same process can read
the expected answer from the checker's frame; grading a class needs each
submission run in its own process.

Set the environment variable ``CNNLAB_STRICT_EXERCISES=1`` to make any check
that does not pass raise ``AssertionError``: the book's own test run does, so
a broken or missing solution fails the build. By default a check only reports,
which is what a student working through the exercises wants.

The engine's parts, each in its own module:

- :mod:`cnnlab.teaching.safe_call`: one call of the student's function, under a
  time limit, with its errors turned into feedback; plain copies of results.
- :mod:`cnnlab.teaching.judging`: a result compared with the expected one, and
  the feedback that says what differs.
- :mod:`cnnlab.teaching.guard`: the record of NumPy, Python's builtins and
  cnnlab that spots and undoes a student's patch.

This module holds the cases, the report and :func:`grade`, and still offers the
names the checkers use from the other three.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnlab.teaching.guard import Guard, watched_namespaces
from cnnlab.teaching.judging import Diagnosis, judge_result
from cnnlab.teaching.safe_call import (
    ExerciseTimeout,
    Outcome,
    argument_names,
    call,
    plain_array,
    plain_copy,
    plain_number,
    time_limit,
)

__all__ = [
    "Case",
    "Diagnosis",
    "ExerciseTimeout",
    "Guard",
    "Outcome",
    "Report",
    "argument_names",
    "call",
    "finish",
    "grade",
    "judge_result",
    "plain_array",
    "plain_copy",
    "plain_number",
    "strict",
    "time_limit",
]

# Bound once, at import: a student who rebinds these, before a check or during one,
# does not change what they are.
_array_equal = np.array_equal
_perf_counter = time.perf_counter

# The old private name of plain_copy, which the checkers import.
_copy = plain_copy


@dataclass
class Case:
    """One graded call: ``fn(*args, **kwargs)`` should return ``expected``.

    ``expected`` is an array, or a number where the answer is one (a size, a
    FLOP count, a ratio); an int must be matched exactly, by an int.
    """

    name: str
    args: tuple
    expected: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    rtol: float = 1e-5
    atol: float = 1e-6


@dataclass
class Report:
    """What a check found. ``passed`` is True when every case passed."""

    exercise: str
    passed: bool
    status: str  # "passed", "not implemented", "failed"
    message: str
    seconds: float = 0.0

    def __repr__(self) -> str:
        # A notebook displays the value of a cell's last line: the feedback itself.
        return self.message

    def __bool__(self) -> bool:
        return self.passed


# Between a notebook's cells the Jupyter kernel rebinds ``input`` (to forward it to the
# front end), and the interactive prompt rebinds ``_`` to the last result: not a
# student.
_CHANGED_BY_THE_ENVIRONMENT = frozenset({"builtins.input", "builtins._"})

# What NumPy and Python's own modules hold when this module is imported. cnnlab's
# modules are left out: they are guarded during each call, but tests patch them.
_PRISTINE = Guard(watched_namespaces(cnnlab=False), added=False)


def _untouched_since_import(exercise: str) -> Report | None:
    """A failed report if NumPy or Python's builtins changed since cnnlab was imported.

    The changed names are put back, so the next check can be trusted again.
    """
    changed = _PRISTINE.undo(accept=_CHANGED_BY_THE_ENVIRONMENT)
    if not changed:
        return None
    message = (
        f"✗ {exercise}: {', '.join(changed[:5])} changed after "
        "cnnlab.teaching.grading was imported, so this check could not trust its own "
        "answers. The original is back now: run the check again, and do not reassign "
        "NumPy's functions."
    )
    return Report(exercise, False, "failed", message)


def _run_case(
    fn: Callable[..., object],
    case: Case,
    limit: float,
    error_hints: Mapping[type, str],
    names: list[str],
    guard: Guard,
) -> tuple[object, str | None, bool]:
    """Call fn on copies of the case's inputs.

    Returns the result, the error message (None if the call went well) and
    whether the function is not implemented yet.
    """
    args = tuple(plain_copy(a) for a in case.args)
    kwargs = {k: plain_copy(v) for k, v in case.kwargs.items()}
    outcome: Outcome = call(fn, args, kwargs, limit, error_hints, guard)
    if outcome.error or outcome.not_implemented:
        return None, outcome.error, outcome.not_implemented
    given = [
        *zip(case.args, args, strict=True),
        *((case.kwargs[k], kwargs[k]) for k in case.kwargs),
    ]
    changed = [
        name
        for name, (a, b) in zip([*names, *case.kwargs], given, strict=False)
        if isinstance(a, np.ndarray)
        and (a.shape != b.shape or not _array_equal(a, b, equal_nan=True))
    ]
    if changed:
        return (
            None,
            (
                f"it modified its input ({', '.join(changed)}). Functions must not "
                "change their inputs: write into a new array (np.zeros, .copy()) "
                "instead."
            ),
            False,
        )
    return outcome.result, None, False


def grade(
    exercise: str,
    fn: object,
    cases: Sequence[Case],
    diagnoses: Sequence[Diagnosis] = (),
    error_hints: Mapping[type, str] | None = None,
    time_limit_s: float = 10.0,
) -> Report:
    """Run ``fn`` on each case in order and return a Report whose text is the feedback.

    ``diagnoses`` explain a wrong answer; ``error_hints`` maps an exception
    type (e.g. IndexError) to the hint shown when the student's code raises it.
    """
    tampered = _untouched_since_import(exercise)
    if tampered is not None:
        return finish(tampered)
    if not callable(fn):
        report = Report(
            exercise,
            False,
            "failed",
            f"✗ {exercise}: expected a function, got {type(fn).__name__}.",
        )
        return finish(report)
    guard = Guard()
    start = _perf_counter()
    for number, case in enumerate(cases, 1):
        names = argument_names(fn, len(case.args))
        result, error, not_implemented = _run_case(
            fn, case, time_limit_s, error_hints or {}, names, guard
        )
        if not_implemented:
            message = (
                f"… {exercise}: not implemented yet. "
                "Replace `raise NotImplementedError` with your code."
            )
            return finish(Report(exercise, False, "not implemented", message))
        problem = error or judge_result(
            result, case, diagnoses, names, time_limit_s, guard
        )
        if problem:
            message = (
                f"✗ {exercise}: case {number} of {len(cases)} ({case.name}) "
                f"failed: {problem}"
            )
            return finish(
                Report(exercise, False, "failed", message, _perf_counter() - start)
            )
    seconds = _perf_counter() - start
    message = f"✓ {exercise}: passed all {len(cases)} cases in {seconds * 1e3:.0f} ms."
    return finish(Report(exercise, True, "passed", message, seconds))


def strict() -> bool:
    """True when CNNLAB_STRICT_EXERCISES is set (and not 0).

    In strict mode a check that does not pass raises (:func:`finish`).
    """
    return os.environ.get("CNNLAB_STRICT_EXERCISES", "") not in ("", "0")


def finish(report: Report) -> Report:
    """Return the report; in strict mode (the book's runs) raise if it did not pass."""
    if strict() and not report.passed:
        raise AssertionError(report.message)
    return report
