"""One call of a student's function, run safely, and plain copies of what it returns.

:func:`call` runs the function under a time limit (:class:`time_limit`),
turns whatever it raises into feedback that points at the student's own line,
and undoes any change it made to NumPy, Python's builtins or cnnlab
(:class:`~cnnlab.teaching.guard.Guard`). :func:`plain_array` and
:func:`plain_number` read a result through base-class methods only, so a
subclass whose ``==`` always says True cannot fool the comparison.
"""

from __future__ import annotations

import inspect
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal, TypeVar

import numpy as np

from cnnlab.teaching.guard import Guard, changed_message

# Bound once, at import: a student who rebinds time.perf_counter or signal.setitimer,
# before a check or during one, does not change what these are.
_ndarray, _generic = np.ndarray, np.generic
_perf_counter = time.perf_counter
_current_thread, _main_thread = threading.current_thread, threading.main_thread
_isinstance = isinstance
_set_handler = signal.signal
# SIGALRM and its timer exist on POSIX only; elsewhere a call runs unbounded.
_ALARM = (
    (signal.setitimer, signal.ITIMER_REAL, signal.SIGALRM)
    if hasattr(signal, "setitimer")
    else None
)

T = TypeVar("T")

# Frames in these files are not the student's: the line shown for an error is the
# innermost one outside them.
_CNNLAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ExerciseTimeout(BaseException):
    """Raised inside the student's code when the time limit runs out.

    A BaseException, so a student's ``except Exception:`` cannot swallow it.
    """


# A student's ``except BaseException: pass`` swallows the first ExerciseTimeout;
# the alarm then fires again this often until the code gives up.
_REPEAT_ALARM_S = 0.1


class time_limit:  # noqa: N801 - used as a function: ``with time_limit(2.0): ...``
    """Interrupt pure-Python code after ``seconds`` with ExerciseTimeout.

    Uses SIGALRM, which only the main thread can receive; Jupyter runs cells
    in the main thread. Elsewhere (or on Windows) the call runs unbounded, and
    so does compiled code (Numba), which Python cannot interrupt. A class
    rather than a generator, so that leaving it needs no builtin a student
    could have replaced (contextlib's exit calls ``next``).
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._running = False
        self._previous: Any = None
        self._alarm = _ALARM

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._running and self._alarm is not None:
            setitimer, which, _ = self._alarm
            setitimer(which, _REPEAT_ALARM_S)
            raise ExerciseTimeout

    def __enter__(self) -> time_limit:
        self._alarm = _ALARM if _current_thread() is _main_thread() else None
        if self._alarm is not None:
            setitimer, which, signum = self._alarm
            self._running = True
            self._previous = _set_handler(signum, self._on_alarm)
            setitimer(which, self._seconds)
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        if self._alarm is not None:
            try:
                self._running = False
            finally:  # runs even if the alarm fired just before the line above
                setitimer, which, signum = self._alarm
                setitimer(which, 0)
                _set_handler(signum, self._previous)
        return False


# ----------------------------------------------------------------- plain copies
def plain_array(value: Any) -> np.ndarray | None:
    """``value`` seen as a base-class ndarray, without a copy; None if it is not one.

    ``np.ndarray.view`` is called on the base class, so a subclass's own
    ``view``, ``shape``, ``__eq__`` or ``__array__`` never runs.
    """
    if not issubclass(type(value), _ndarray):
        return None
    return _ndarray.view(value, _ndarray)


def plain_number(value: Any) -> int | float | None:
    """``value`` as an exact int or float, or None if it is not a number (bool is not).

    Only base-class methods read the value, so a subclass of int whose ``==``
    always says True becomes the int it holds.
    """
    array = plain_array(value)
    if array is not None:
        if array.ndim != 0 or array.dtype.kind not in "fiu":
            return None
        value = array.item()
    kind = type(value)
    if issubclass(kind, (bool, np.bool_)):
        return None
    if issubclass(kind, float):
        return float.__float__(value)
    if issubclass(kind, int):
        return int.__index__(value)
    if issubclass(kind, _generic) and issubclass(kind, (np.integer, np.floating)):
        return _generic.item(value)
    return None


def plain_copy(value: T) -> T:
    """A copy of ``value`` if it is an array, else ``value`` itself.

    A student's function gets copies of the inputs, so that a change it makes
    to one is seen (and reported) instead of spoiling the next case.
    """
    return value.copy() if isinstance(value, np.ndarray) else value


# ----------------------------------------------------------------- the call
def student_line(error: BaseException) -> str:
    """The innermost traceback line in the student's code (not in cnnlab or NumPy)."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not os.path.abspath(f.filename).startswith(_CNNLAB_DIR)
        and "site-packages" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f"\n  in your code, line {frame.lineno}: {frame.line}"


def argument_names(fn: Callable[..., object], count: int) -> list[str]:
    """The names of fn's first ``count`` parameters, as the student wrote them.

    ``argument 1``, ``argument 2``, ... when they cannot be read.
    """
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except Exception:  # noqa: BLE001 - compiled functions have none; a student's may be odd
        parameters = []
    positional = [
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) >= count and all(type(name) is str for name in positional):
        return positional[:count]
    return [f"argument {i + 1}" for i in range(count)]


def _shorten(text: str, limit: int = 600) -> str:
    """Long error messages (Numba's typing errors run to pages) cut to their start."""
    return text if len(text) <= limit else text[:limit] + " ..."


class Remote:
    """A student's function that runs in another process (the class grader's kernel).

    :func:`call` times it with :meth:`seconds_of`, which leaves out the cost
    of reaching that process, so a speed exercise races the function and not
    the transport.
    """

    def seconds_of(self, elapsed: float) -> float:
        return elapsed


@dataclass
class Outcome:
    """One guarded call of a student's function.

    ``error`` is the feedback when the call did not return normally (or changed
    what it must not); ``seconds`` is the time of the call alone.
    """

    result: object = None
    error: str | None = None
    not_implemented: bool = False
    seconds: float = 0.0


def error_text(error: BaseException, error_hints: Mapping[type, str]) -> str:
    """``it raised KindOfError: message``, the student's line and the hint for the kind.

    ``error_hints`` maps an exception type to its hint; the first that
    ``error`` is an instance of is shown.
    """
    try:
        with time_limit(1.0):
            text = _shorten(str(error))
    except ExerciseTimeout:
        text = "(its message took too long to compute)"
    except Exception:  # noqa: BLE001 - a student's exception may fail to print itself
        text = "(its message could not be read)"
    hint = next(
        (text for kind, text in error_hints.items() if isinstance(error, kind)), None
    )
    message = f"it raised {type(error).__name__}: {text}{student_line(error)}"
    return message + (f"\n\nHint: {hint}" if hint else "")


def guarded(
    fn: Callable[[], T], limit: float, guard: Guard
) -> tuple[T | None, BaseException | None, list[str]]:
    """``fn()`` under the time limit, then ``guard`` undoing any change it made.

    Returns fn's result (None if it raised), what it raised (None if nothing)
    and the names it changed in NumPy, Python's builtins or cnnlab, which are
    already put back. Every exception is returned but KeyboardInterrupt,
    which passes, so that the interrupt button still stops a run.
    """
    result, raised = None, None
    try:
        with time_limit(limit):
            result = fn()
    except BaseException as error:  # noqa: BLE001 - a student's code can raise anything
        raised = error
    changed = guard.undo()  # first, so that what follows runs on the real builtins
    if raised is not None and _isinstance(raised, KeyboardInterrupt):
        raise raised
    return result, raised, changed


def call(
    fn: Callable[..., object],
    args: tuple,
    kwargs: dict[str, object],
    limit: float,
    error_hints: Mapping[type, str],
    guard: Guard,
) -> Outcome:
    """``fn(*args, **kwargs)`` under the time limit, whatever it raises or changes.

    Runs :func:`guarded`: any exception becomes the outcome's ``error``
    (only KeyboardInterrupt passes), and so does a change to NumPy, Python's
    builtins or cnnlab, which is undone.
    """
    outcome = Outcome()

    def timed() -> object:
        start = _perf_counter()
        result = fn(*args, **kwargs)
        elapsed = _perf_counter() - start
        # type(), not isinstance: a student's object cannot pretend to be Remote
        remote = issubclass(type(fn), Remote)
        outcome.seconds = fn.seconds_of(elapsed) if remote else elapsed  # type: ignore[attr-defined]
        return result

    outcome.result, raised, changed = guarded(timed, limit, guard)
    if changed:
        outcome.error = changed_message(changed)
    elif isinstance(raised, NotImplementedError):
        outcome.not_implemented = True
    elif isinstance(raised, ExerciseTimeout):
        outcome.error = (
            f"it ran for more than {limit:g} s and was stopped. "
            "Is there a loop that never ends?"
        )
    elif raised is not None:
        outcome.error = error_text(raised, error_hints)
    return outcome
