"""The engine behind the exercise checkers: run a student's function safely.

A checker hands :func:`grade` a list of :class:`Case` objects, easiest first.
Each case is run on copies of its inputs, under a time limit, and the answer
is compared with the reference. The first failing case stops the run and is
explained: the input, the expected and the actual output, and a hint for the
mistake it most looks like. Nothing a student writes can crash the checker:
exceptions, ``None``, lists, wrong shapes and infinite loops are all reported.

Set the environment variable ``CNNLAB_STRICT_EXERCISES=1`` to make any check
that does not pass raise ``AssertionError``: the book's own test run does, so
a broken or missing solution fails the build. By default a check only reports,
which is what a student working through the exercises wants.
"""
from __future__ import annotations

import inspect
import os
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# (expected, actual, case) -> hint or None; the first hint that applies is shown.
Diagnosis = Callable[[np.ndarray, np.ndarray, "Case"], "str | None"]


@dataclass
class Case:
    """One graded call: ``fn(*args, **kwargs)`` should return ``expected``."""

    name: str
    args: tuple
    expected: np.ndarray
    kwargs: dict = field(default_factory=dict)
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


class ExerciseTimeout(BaseException):
    """Raised inside the student's code when the time limit runs out.

    A BaseException, so a student's ``except Exception:`` cannot swallow it.
    """


@contextmanager
def time_limit(seconds: float):
    """Interrupt pure-Python code after ``seconds`` with ExerciseTimeout.

    Uses SIGALRM, which only the main thread can receive; Jupyter runs cells
    in the main thread. Elsewhere (or on Windows) the call runs unbounded, and
    so does compiled code (Numba), which Python cannot interrupt.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise ExerciseTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def show(a) -> str:
    """An array in full when small, else its shape, dtype and corners."""
    a = np.asarray(a)
    if a.size <= 64:
        return np.array2string(a, precision=4, suppress_small=True, max_line_width=100)
    return f"array of shape {a.shape}, dtype {a.dtype}, first values {np.round(a.ravel()[:6], 4).tolist()} ..."


def student_line(error: BaseException) -> str:
    """The innermost traceback line in the student's own code (not in cnnlab or NumPy)."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    frames = [
        f for f in traceback.extract_tb(error.__traceback__)
        if not os.path.abspath(f.filename).startswith(package_dir) and "site-packages" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f"\n  in your code, line {frame.lineno}: {frame.line}"


def argument_names(fn, count: int) -> list[str]:
    """The names of fn's first ``count`` parameters, as the student wrote them ("argument 1", ... if unknown)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # some compiled functions have no signature
        parameters = []
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[:count] if len(positional) >= count else [f"argument {i + 1}" for i in range(count)]


def describe_inputs(case: Case, names: list[str]) -> str:
    parts = [f"  {name}:\n{_indent(show(a))}" if isinstance(a, np.ndarray) else f"  {name}: {a!r}"
             for name, a in zip(names, case.args)]
    parts += [f"  {k}={v!r}" for k, v in case.kwargs.items()]
    return "\n".join(parts)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _shorten(text: str, limit: int = 600) -> str:
    """Long error messages (Numba's typing errors run to pages) cut to their start."""
    return text if len(text) <= limit else text[:limit] + " ..."


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _run_case(fn, case: Case, limit: float, error_hints: dict, names: list[str]):
    """Call fn on copies of the case's inputs; return (result, error message or None, not_implemented)."""
    args = tuple(_copy(a) for a in case.args)
    kwargs = {k: _copy(v) for k, v in case.kwargs.items()}
    try:
        with time_limit(limit):
            result = fn(*args, **kwargs)
    except NotImplementedError:
        return None, None, True
    except ExerciseTimeout:
        return None, f"it ran for more than {limit:g} s and was stopped. Is there a loop that never ends?", False
    except (Exception, SystemExit) as error:  # a student's code can raise anything; report it, don't crash
        hint = next((text for kind, text in error_hints.items() if isinstance(error, kind)), None)
        message = f"it raised {type(error).__name__}: {_shorten(str(error))}{student_line(error)}"
        return None, message + (f"\n\nHint: {hint}" if hint else ""), False
    given = [*zip(case.args, args), *((case.kwargs[k], kwargs[k]) for k in case.kwargs)]
    changed = [name for name, (a, b) in zip([*names, *case.kwargs], given)
               if isinstance(a, np.ndarray) and (a.shape != b.shape or not np.array_equal(a, b, equal_nan=True))]
    if changed:
        return None, (f"it modified its input ({', '.join(changed)}). Functions must not change their inputs: "
                      "write into a new array (np.zeros, .copy()) instead."), False
    return result, None, False


def _compare(result, case: Case, diagnoses: list[Diagnosis], names: list[str]) -> str | None:
    """None when result matches case.expected, else an explanation with a hint."""
    expected = case.expected
    if result is None:
        return "it returned None. Did you forget the `return` statement?"
    if not isinstance(expected, np.ndarray):
        return _compare_scalar(result, case, diagnoses, names)
    if not isinstance(result, np.ndarray):
        return (f"it returned a {type(result).__name__}, but a NumPy array was expected. "
                "Build the result with np.zeros(...) or convert it with np.array(...).")
    if result.dtype.kind not in "fiub":
        return f"it returned an array of dtype {result.dtype}; expected real numbers ({expected.dtype})."
    hint = None
    if result.shape != expected.shape:
        problem = f"the result has shape {result.shape}, but shape {expected.shape} was expected."
    elif not np.allclose(result, expected, rtol=case.rtol, atol=case.atol, equal_nan=True):
        problem = "the values are wrong."
        hint = _integer_hint(expected, result)
    elif result.dtype != expected.dtype:
        problem = f"the values are right, but the dtype is {result.dtype}; expected {expected.dtype}."
        hint = ("create the output with the input's dtype, e.g. np.zeros(shape, dtype=x.dtype): "
                "float32 in should give float32 out.")
    else:
        return None
    hint = hint or _first_hint(diagnoses, expected, result, case)
    text = (f"{problem}\n\nInput:\n{describe_inputs(case, names)}\n"
            f"Expected:\n{_indent(show(expected))}\nGot:\n{_indent(show(result))}")
    return text + (f"\n\nHint: {hint}" if hint else "")


def _integer_hint(expected, result) -> str | None:
    """The most common dtype mistake: an integer output array silently truncates every value."""
    if result.dtype.kind in "iub" and expected.dtype.kind == "f":
        return (f"your result has dtype {result.dtype}, so every value was rounded to a whole number. Create the "
                "output as a float array with the input's dtype: np.zeros(shape, dtype=x.dtype).")
    return None


def _first_hint(diagnoses, expected, result, case: Case) -> str | None:
    """The first hint whose diagnosis fits; a diagnosis that trips over odd output is skipped."""
    for diagnose in diagnoses:
        try:
            hint = diagnose(expected, result, case)
        except Exception:  # noqa: BLE001 - hints are best effort on arbitrary student output
            continue
        if hint:
            return hint
    return None


def _compare_scalar(result, case: Case, diagnoses: list[Diagnosis], names: list[str]) -> str | None:
    """Compare a single number (a size, a FLOP count, a ratio) with the expected one."""
    expected = case.expected
    if isinstance(result, np.ndarray) and result.ndim == 0:
        result = result[()]
    if isinstance(result, (bool, np.bool_)) or not isinstance(result, (int, float, np.integer, np.floating)):
        return f"it returned {result!r} ({type(result).__name__}), but a number was expected."
    if isinstance(expected, (int, np.integer)):  # a count or a size: exact, and an int
        if result == expected and not isinstance(result, (int, np.integer)):
            return (f"it returned {result!r}, a float; expected the whole number {expected!r}. Sizes and counts "
                    "are ints: use floor division // instead of /.")
        if result == expected:
            return None
    elif np.isclose(result, expected, rtol=case.rtol, atol=case.atol):
        return None
    hint = _first_hint(diagnoses, expected, result, case)
    text = f"expected {expected!r}, got {result!r}.\n\nInput:\n{describe_inputs(case, names)}"
    return text + (f"\n\nHint: {hint}" if hint else "")


def grade(exercise: str, fn, cases: list[Case], diagnoses: list[Diagnosis] = (), error_hints: dict | None = None,
          time_limit_s: float = 10.0) -> Report:
    """Run ``fn`` on each case in order and return a Report whose text is the feedback.

    ``diagnoses`` explain a wrong answer; ``error_hints`` maps an exception
    type (e.g. IndexError) to the hint shown when the student's code raises it.
    """
    if not callable(fn):
        report = Report(exercise, False, "failed", f"✗ {exercise}: expected a function, got {type(fn).__name__}.")
        return finish(report)
    start = time.perf_counter()
    for number, case in enumerate(cases, 1):
        names = argument_names(fn, len(case.args))
        result, error, not_implemented = _run_case(fn, case, time_limit_s, error_hints or {}, names)
        if not_implemented:
            message = f"… {exercise}: not implemented yet. Replace `raise NotImplementedError` with your code."
            return finish(Report(exercise, False, "not implemented", message))
        problem = error or _compare(result, case, list(diagnoses), names)
        if problem:
            message = f"✗ {exercise}: case {number} of {len(cases)} ({case.name}) failed: {problem}"
            return finish(Report(exercise, False, "failed", message, time.perf_counter() - start))
    seconds = time.perf_counter() - start
    message = f"✓ {exercise}: passed all {len(cases)} cases in {seconds * 1e3:.0f} ms."
    return finish(Report(exercise, True, "passed", message, seconds))


def strict() -> bool:
    """True when CNNLAB_STRICT_EXERCISES is set (and not 0): a check that does not pass raises."""
    return os.environ.get("CNNLAB_STRICT_EXERCISES", "") not in ("", "0")


def finish(report: Report) -> Report:
    """Return the report; in strict mode (the book's own runs) raise if it did not pass."""
    if strict() and not report.passed:
        raise AssertionError(report.message)
    return report
