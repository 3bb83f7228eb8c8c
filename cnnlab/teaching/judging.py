"""Judge a student's result: compare it with the expected one, and say what differs.

:func:`judge_result` returns None for a right answer, else the feedback: the
problem, the inputs, the expected and the actual output, and a hint for the
mistake it most looks like (the first :data:`Diagnosis` that fits). Results
are read as plain copies (:func:`~cnnlab.teaching.safe_call.plain_array`) and
compared with NumPy functions bound when this module is imported, so neither
a lying subclass nor a rebound ``np.allclose`` changes the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlab.teaching.guard import Guard, changed_message
from cnnlab.teaching.safe_call import (
    ExerciseTimeout,
    error_text,
    guarded,
    plain_array,
    plain_number,
)

if TYPE_CHECKING:
    from cnnlab.teaching.grading import Case

# Bound once, at import: a student who rebinds np.allclose, before a check or during
# one, does not change what these are.
_array, _float64, _errstate = np.array, np.float64, np.errstate
_absolute, _isnan, _isfinite, _less_equal = (
    np.absolute,
    np.isnan,
    np.isfinite,
    np.less_equal,
)
_logical_and = np.logical_and
_isinstance = isinstance

# A result with more elements than this is described by its shape only: no copy, no
# hint, no first values (a broadcast view of 10**12 elements costs nothing to return).
_LARGEST_SHOWN = 10**6

# (expected, actual, case) -> hint or None; the first hint that applies is shown. The
# answers are arrays, or numbers where the answer is one.
Diagnosis = Callable[[Any, Any, "Case"], "str | None"]


# ----------------------------------------------------------------- describing
def show(a: object) -> str:
    """An array in full when small, else its shape, dtype and first values.

    Never copies more than a few values, so a huge broadcast view is cheap to show.
    """
    a = plain_array(a)
    if a is None:
        return "(not an array)"
    if a.size <= 64:
        return np.array2string(a, precision=4, suppress_small=True, max_line_width=100)
    first = (
        np.round(_array(a.flat[:6]), 4).tolist() if a.dtype.kind in "fiub" else "..."
    )
    return f"array of shape {a.shape}, dtype {a.dtype}, first values {first} ..."


def describe(value: object) -> str:
    """``value``'s repr when that is safe to compute (a builtin scalar), else its type.

    A student's class could run any code in its ``__repr__``.
    """
    name = type(value).__name__
    if type(value) in (str, int, float, bool, complex, type(None)):
        text = repr(value)
        return f"{text[:80]}{' ...' if len(text) > 80 else ''} ({name})"
    return f"a {name}"


def describe_inputs(case: Case, names: list[str]) -> str:
    """The case's inputs, one per line, each under the name the student gave it."""
    parts = [
        f"  {name}:\n{_indent(show(a))}"
        if isinstance(a, np.ndarray)
        else f"  {name}: {a!r}"
        for name, a in zip(names, case.args, strict=False)
    ]
    parts += [f"  {k}={v!r}" for k, v in case.kwargs.items()]
    return "\n".join(parts)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# ----------------------------------------------------------------- comparing
def _close(result: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """``np.allclose(result, expected, equal_nan=True)`` on float64 copies.

    Written with functions bound at import, so a rebound ``np.allclose`` is
    not called.
    """
    x, y = _array(result, dtype=_float64), _array(expected, dtype=_float64)
    with _errstate(invalid="ignore", over="ignore"):
        near = _less_equal(_absolute(x - y), atol + rtol * _absolute(y)) & _isfinite(y)
        ok = near | (x == y) | (_isnan(x) & _isnan(y))
    return bool(_logical_and.reduce(ok, axis=None))


def _close_number(result: float, expected: float, rtol: float, atol: float) -> bool:
    if result == expected:
        return True
    return math.isfinite(expected) and abs(result - expected) <= atol + rtol * abs(
        expected
    )


def judge_result(
    result: object,
    case: Case,
    diagnoses: Iterable[Diagnosis],
    names: list[str],
    limit: float,
    guard: Guard,
) -> str | None:
    """None if ``result`` is right, else the feedback; also for an unreadable result.

    Reading a result can run the student's code (a subclass's methods), so
    :func:`_compare` gets the same protection as the call itself: the time
    limit, and ``guard`` undoing any change it made.
    """
    problem, raised, changed = guarded(
        lambda: _compare(result, case, list(diagnoses), names), limit, guard
    )
    if changed:
        return changed_message(changed)
    if isinstance(raised, ExerciseTimeout):
        return f"reading its result took more than {limit:g} s."
    if raised is not None:
        described = error_text(raised, {})[len("it raised ") :]
        return f"its result could not be read: {described}"
    return problem


def _compare(
    result: Any, case: Case, diagnoses: list[Diagnosis], names: list[str]
) -> str | None:
    """None when result matches case.expected, else an explanation with a hint."""
    expected = case.expected
    if result is None:
        return "it returned None. Did you forget the `return` statement?"
    if not isinstance(expected, np.ndarray):
        return _compare_scalar(result, case, diagnoses, names)
    view = plain_array(result)
    if view is None:
        return (
            f"it returned {describe(result)}, but a NumPy array was expected. "
            "Build the result with np.zeros(...) or convert it with np.array(...)."
        )
    if view.dtype.kind not in "fiub":
        return (
            f"it returned an array of dtype {view.dtype}; "
            f"expected real numbers ({expected.dtype})."
        )
    hint = None
    if view.shape != expected.shape:
        problem = (
            f"the result has shape {view.shape}, but shape {expected.shape} "
            "was expected."
        )
        if view.size > _LARGEST_SHOWN:
            return (
                f"the result has shape {view.shape} ({view.size} elements), but shape "
                f"{expected.shape} was expected."
            )
        result = _array(view)  # a plain copy: the hints cannot be fooled by it either
    else:
        result = _array(view)
        if not _close(result, expected, case.rtol, case.atol):
            problem = "the values are wrong."
            hint = _integer_hint(expected, result)
        elif result.dtype != expected.dtype:
            problem = (
                f"the values are right, but the dtype is {result.dtype}; "
                f"expected {expected.dtype}."
            )
            hint = (
                "create the output with the input's dtype, e.g. "
                "np.zeros(shape, dtype=x.dtype): float32 in should give float32 out."
            )
        else:
            return None
    hint = hint or _first_hint(diagnoses, expected, result, case)
    text = (
        f"{problem}\n\nInput:\n{describe_inputs(case, names)}\n"
        f"Expected:\n{_indent(show(expected))}\nGot:\n{_indent(show(result))}"
    )
    return text + (f"\n\nHint: {hint}" if hint else "")


def _integer_hint(expected: np.ndarray, result: np.ndarray) -> str | None:
    """The most common dtype mistake: an integer output array truncates every value."""
    if result.dtype.kind in "iub" and expected.dtype.kind == "f":
        return (
            f"your result has dtype {result.dtype}, so every value was rounded to a "
            "whole number. Create the output as a float array with the input's "
            "dtype: np.zeros(shape, dtype=x.dtype)."
        )
    return None


def _first_hint(
    diagnoses: list[Diagnosis], expected: Any, result: Any, case: Case
) -> str | None:
    """The first hint whose diagnosis fits; one that fails on odd output is skipped."""
    for diagnose in diagnoses:
        try:
            hint = diagnose(expected, result, case)
        except Exception:  # noqa: BLE001 - hints are best effort on arbitrary student output
            continue
        if hint:
            return hint
    return None


def _compare_scalar(
    result: object, case: Case, diagnoses: list[Diagnosis], names: list[str]
) -> str | None:
    """Compare a single number (a size, a FLOP count, a ratio) with the expected one."""
    expected: Any = case.expected
    number = plain_number(result)
    if number is None:
        return f"it returned {describe(result)}, but a number was expected."
    if isinstance(expected, (int, np.integer)):  # a count or a size: exact, and an int
        if number == expected and type(number) is not int:
            return (
                f"it returned {number!r}, a float; expected the whole number "
                f"{expected!r}. Sizes and counts are ints: use floor division // "
                "instead of /."
            )
        if number == expected:
            return None
    elif _close_number(number, float(expected), case.rtol, case.atol):
        return None
    hint = _first_hint(diagnoses, expected, number, case)
    inputs = describe_inputs(case, names)
    text = f"expected {expected!r}, got {number!r}.\n\nInput:\n{inputs}"
    return text + (f"\n\nHint: {hint}" if hint else "")
