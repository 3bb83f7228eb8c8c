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
"""

from __future__ import annotations

import inspect
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

# Bound once, at import: a student who rebinds np.allclose, time.perf_counter or
# signal.setitimer, before a check or during one, does not change what these are.
_ndarray, _generic, _array, _float64 = np.ndarray, np.generic, np.array, np.float64
_errstate, _array_equal = np.errstate, np.array_equal
_absolute, _isnan, _isfinite, _less_equal = (
    np.absolute,
    np.isnan,
    np.isfinite,
    np.less_equal,
)
_logical_and = np.logical_and
_perf_counter = time.perf_counter
_current_thread, _main_thread = threading.current_thread, threading.main_thread
# The guard that undoes a student's changes to builtins must not use them itself.
_len, _id, _map, _vars, _isinstance, _list = len, id, map, vars, isinstance, list
_enumerate = enumerate
_type = type
_setitimer, _set_handler, _ITIMER_REAL, _SIGALRM = (
    getattr(signal, "setitimer", None),
    signal.signal,
    getattr(signal, "ITIMER_REAL", 0),
    getattr(signal, "SIGALRM", None),
)

# A result with more elements than this is described by its shape only: no copy, no
# hint, no first values (a broadcast view of 10**12 elements costs nothing to return).
_LARGEST_SHOWN = 10**6

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
        self._previous = None

    def _on_alarm(self, signum, frame):
        if self._running:
            _setitimer(_ITIMER_REAL, _REPEAT_ALARM_S)
            raise ExerciseTimeout

    def __enter__(self):
        self._usable = _setitimer is not None and _current_thread() is _main_thread()
        if self._usable:
            self._running = True
            self._previous = _set_handler(_SIGALRM, self._on_alarm)
            _setitimer(_ITIMER_REAL, self._seconds)
        return self

    def __exit__(self, *exc_info):
        if self._usable:
            try:
                self._running = False
            finally:  # runs even if the alarm fired just before the line above
                _setitimer(_ITIMER_REAL, 0)
                _set_handler(_SIGALRM, self._previous)
        return False


def show(a) -> str:
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


# ----------------------------------------------------------------- plain copies
def plain_array(value) -> np.ndarray | None:
    """``value`` seen as a base-class ndarray, without copying; None if it is no
    ndarray.

    ``np.ndarray.view`` is called on the base class, so a subclass's own
    ``view``, ``shape``, ``__eq__`` or ``__array__`` never runs.
    """
    if not issubclass(type(value), _ndarray):
        return None
    return _ndarray.view(value, _ndarray)


def plain_number(value):
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


def _describe(value) -> str:
    """``value``'s repr when that is safe to compute (a builtin scalar), else its type."""
    name = type(value).__name__
    if type(value) in (str, int, float, bool, complex, type(None)):
        text = repr(value)
        return f"{text[:80]}{' ...' if len(text) > 80 else ''} ({name})"
    return f"a {name}"


def _close(result: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """``np.allclose(result, expected, equal_nan=True)`` on float64 copies, with bound
    functions.
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


# ----------------------------------------------------------------- what a student may
# not change
def _watched_names() -> list[tuple[str, object]]:
    """The namespaces a checker relies on: NumPy's modules, some of Python's, cnnlab's."""
    own = ("builtins", "math", "operator", "time", "signal", "numpy", "cnnlab")
    spaces = [
        (name, module)
        for name, module in list(sys.modules.items())
        if isinstance(module, ModuleType)
        and (name in own or name.startswith(("numpy.", "cnnlab.")))
    ]
    return spaces + [
        (f"cnnlab.teaching.grading.{cls.__name__}", cls) for cls in (Case, Report)
    ]


class Guard:
    """A record of the namespaces a checker relies on, to spot and undo a change.

    ``Guard()`` notes every name of every watched namespace and the object it
    refers to; :meth:`undo` reports which of them now refer to something else
    (or are gone, or new) and puts the recorded objects back. New submodules
    (an ``import`` inside the student's code) and ``__warningregistry__`` are
    allowed. With ``added=False`` new names are allowed too: the record taken
    at import cannot know which attributes NumPy adds lazily later.
    """

    def __init__(self, spaces=None, added: bool = True) -> None:
        self._added = added
        self._records = []
        spaces = _watched_names() if spaces is None else spaces
        for name, space in sorted(spaces, key=lambda named: named[0] != "builtins"):
            # builtins first: undo() restores them before the rest
            entries = dict(vars(space))
            self._records.append((name, space, entries, [*map(id, entries.values())]))

    def undo(self, accept: frozenset[str] = frozenset()) -> list[str]:
        """Names that were changed, as ``numpy.allclose``; each is put back.

        Python's builtins are put back first, and until then only functions
        bound at import are used. Names in ``accept`` (as ``builtins.input``)
        may change: their new value is recorded instead.
        """
        changed = []
        for k, (name, space, entries, ids) in _enumerate(self._records):
            now = _vars(space)
            if _len(now) == _len(entries) and _list(_map(_id, now.values())) == ids:
                continue  # the common case, checked at C speed
            for key in _list({*entries, *now}):
                if key in entries:
                    if now.get(key, _MISSING) is entries[key]:
                        continue
                elif not self._added or _allowed_new(name, key, now[key]):
                    continue
                if f"{name}.{key}" in accept:
                    if key in now:
                        entries[key] = now[key]
                    else:
                        del entries[key]
                    continue
                changed.append(f"{name}.{key}")
                _put_back(space, key, entries)
            self._records[k] = (name, space, entries, [*_map(_id, entries.values())])
        return sorted(set(changed))


_MISSING = object()


def _allowed_new(space_name: str, key: str, value) -> bool:
    return key == "__warningregistry__" or (
        _isinstance(value, ModuleType) and value.__name__ == f"{space_name}.{key}"
    )


def _put_back(space, key: str, entries: dict) -> None:
    is_class = _isinstance(space, _type)
    setter = _type.__setattr__ if is_class else ModuleType.__setattr__
    deleter = _type.__delattr__ if is_class else ModuleType.__delattr__
    if key in entries:
        setter(space, key, entries[key])
    else:
        deleter(space, key)


def _changed_message(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (
        f" and {len(names) - 5} more" if len(names) > 5 else ""
    )
    return (
        f"your function changed {shown}. The checker put the original back: a function "
        "must not change NumPy, Python's builtins or cnnlab, only compute its answer."
    )


_PRISTINE: Guard  # set at the end of the module, once Case and Report exist
# Between a notebook's cells the Jupyter kernel rebinds ``input`` (to forward it to the
# front end), and the interactive prompt rebinds ``_`` to the last result: not a
# student.
_CHANGED_BY_THE_ENVIRONMENT = frozenset({"builtins.input", "builtins._"})


def _untouched_since_import(exercise: str) -> Report | None:
    """A failed report if NumPy or Python's builtins changed since cnnlab was imported."""
    changed = _PRISTINE.undo(accept=_CHANGED_BY_THE_ENVIRONMENT)
    if not changed:
        return None
    message = (
        f"✗ {exercise}: {', '.join(changed[:5])} changed after cnnlab.teaching.grading was "
        "imported, so this check could not trust its own answers. The original is back "
        "now: run the check again, and do not reassign NumPy's functions."
    )
    return Report(exercise, False, "failed", message)


def student_line(error: BaseException) -> str:
    """The innermost traceback line in the student's own code (not in cnnlab or NumPy)."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not os.path.abspath(f.filename).startswith(package_dir)
        and "site-packages" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f"\n  in your code, line {frame.lineno}: {frame.line}"


def argument_names(fn, count: int) -> list[str]:
    """The names of fn's first ``count`` parameters, as the student wrote them
    ("argument 1", ... if unknown).
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


def describe_inputs(case: Case, names: list[str]) -> str:
    parts = [
        f"  {name}:\n{_indent(show(a))}"
        if isinstance(a, np.ndarray)
        else f"  {name}: {a!r}"
        for name, a in zip(names, case.args)
    ]
    parts += [f"  {k}={v!r}" for k, v in case.kwargs.items()]
    return "\n".join(parts)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _shorten(text: str, limit: int = 600) -> str:
    """Long error messages (Numba's typing errors run to pages) cut to their start."""
    return text if len(text) <= limit else text[:limit] + " ..."


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


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


def _error_text(error: BaseException, error_hints: dict) -> str:
    """``it raised KindOfError: message``, the student's line and the hint for that
    kind.
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


def call(
    fn, args: tuple, kwargs: dict, limit: float, error_hints: dict, guard: Guard
) -> Outcome:
    """``fn(*args, **kwargs)`` under the time limit, whatever it raises or changes.

    Any exception becomes the outcome's ``error``; only KeyboardInterrupt
    passes, so that the interrupt button still stops a run. Afterwards
    ``guard`` undoes any change to NumPy, Python's builtins or cnnlab, and
    such a change is the outcome's error.
    """
    outcome, raised = Outcome(), None
    try:
        with time_limit(limit):
            start = _perf_counter()
            outcome.result = fn(*args, **kwargs)
            outcome.seconds = _perf_counter() - start
    except BaseException as error:  # noqa: BLE001 - a student's code can raise anything
        raised = error
    changed = guard.undo()  # first, so that what follows runs on the real builtins
    if _isinstance(raised, KeyboardInterrupt):
        raise raised
    if changed:
        outcome.error = _changed_message(changed)
    elif isinstance(raised, NotImplementedError):
        outcome.not_implemented = True
    elif isinstance(raised, ExerciseTimeout):
        outcome.error = f"it ran for more than {limit:g} s and was stopped. Is there a loop that never ends?"
    elif raised is not None:
        outcome.error = _error_text(raised, error_hints)
    return outcome


def _run_case(
    fn, case: Case, limit: float, error_hints: dict, names: list[str], guard: Guard
):
    """Call fn on copies of the case's inputs; return (result, error message or None,
    not_implemented).
    """
    args = tuple(_copy(a) for a in case.args)
    kwargs = {k: _copy(v) for k, v in case.kwargs.items()}
    outcome = call(fn, args, kwargs, limit, error_hints, guard)
    if outcome.error or outcome.not_implemented:
        return None, outcome.error, outcome.not_implemented
    given = [*zip(case.args, args), *((case.kwargs[k], kwargs[k]) for k in case.kwargs)]
    changed = [
        name
        for name, (a, b) in zip([*names, *case.kwargs], given)
        if isinstance(a, np.ndarray)
        and (a.shape != b.shape or not _array_equal(a, b, equal_nan=True))
    ]
    if changed:
        return (
            None,
            (
                f"it modified its input ({', '.join(changed)}). Functions must not change their inputs: "
                "write into a new array (np.zeros, .copy()) instead."
            ),
            False,
        )
    return outcome.result, None, False


def judge_result(
    result, case: Case, diagnoses, names: list[str], limit: float, guard: Guard
) -> str | None:
    """:func:`_compare` under the time limit, reporting a result that cannot even be
    read.

    Reading a result can run the student's code (a subclass's methods), so it
    gets the same protection as the call itself.
    """
    raised = None
    try:
        with time_limit(limit):
            problem = _compare(result, case, list(diagnoses), names)
    except BaseException as error:  # noqa: BLE001 - an odd result is reported, never a crash
        raised = error
    changed = guard.undo()
    if _isinstance(raised, KeyboardInterrupt):
        raise raised
    if changed:
        return _changed_message(changed)
    if isinstance(raised, ExerciseTimeout):
        return f"reading its result took more than {limit:g} s."
    if raised is not None:
        return f"its result could not be read: {_error_text(raised, {})[len('it raised ') :]}"
    return problem


def _compare(
    result, case: Case, diagnoses: list[Diagnosis], names: list[str]
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
            f"it returned {_describe(result)}, but a NumPy array was expected. "
            "Build the result with np.zeros(...) or convert it with np.array(...)."
        )
    if view.dtype.kind not in "fiub":
        return f"it returned an array of dtype {view.dtype}; expected real numbers ({expected.dtype})."
    hint = None
    if view.shape != expected.shape:
        problem = f"the result has shape {view.shape}, but shape {expected.shape} was expected."
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
            problem = f"the values are right, but the dtype is {result.dtype}; expected {expected.dtype}."
            hint = (
                "create the output with the input's dtype, e.g. np.zeros(shape, dtype=x.dtype): "
                "float32 in should give float32 out."
            )
        else:
            return None
    hint = hint or _first_hint(diagnoses, expected, result, case)
    text = (
        f"{problem}\n\nInput:\n{describe_inputs(case, names)}\n"
        f"Expected:\n{_indent(show(expected))}\nGot:\n{_indent(show(result))}"
    )
    return text + (f"\n\nHint: {hint}" if hint else "")


def _integer_hint(expected, result) -> str | None:
    """The most common dtype mistake: an integer output array silently truncates every
    value.
    """
    if result.dtype.kind in "iub" and expected.dtype.kind == "f":
        return (
            f"your result has dtype {result.dtype}, so every value was rounded to a whole number. Create the "
            "output as a float array with the input's dtype: np.zeros(shape, dtype=x.dtype)."
        )
    return None


def _first_hint(diagnoses, expected, result, case: Case) -> str | None:
    """The first hint whose diagnosis fits; a diagnosis that trips over odd output is
    skipped.
    """
    for diagnose in diagnoses:
        try:
            hint = diagnose(expected, result, case)
        except Exception:  # noqa: BLE001 - hints are best effort on arbitrary student output
            continue
        if hint:
            return hint
    return None


def _compare_scalar(
    result, case: Case, diagnoses: list[Diagnosis], names: list[str]
) -> str | None:
    """Compare a single number (a size, a FLOP count, a ratio) with the expected one."""
    expected = case.expected
    number = plain_number(result)
    if number is None:
        return f"it returned {_describe(result)}, but a number was expected."
    if isinstance(expected, (int, np.integer)):  # a count or a size: exact, and an int
        if number == expected and type(number) is not int:
            return (
                f"it returned {number!r}, a float; expected the whole number {expected!r}. Sizes and counts "
                "are ints: use floor division // instead of /."
            )
        if number == expected:
            return None
    elif _close_number(number, float(expected), case.rtol, case.atol):
        return None
    hint = _first_hint(diagnoses, expected, number, case)
    text = f"expected {expected!r}, got {number!r}.\n\nInput:\n{describe_inputs(case, names)}"
    return text + (f"\n\nHint: {hint}" if hint else "")


def grade(
    exercise: str,
    fn,
    cases: list[Case],
    diagnoses: list[Diagnosis] = (),
    error_hints: dict | None = None,
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
            message = f"… {exercise}: not implemented yet. Replace `raise NotImplementedError` with your code."
            return finish(Report(exercise, False, "not implemented", message))
        problem = error or judge_result(
            result, case, diagnoses, names, time_limit_s, guard
        )
        if problem:
            message = f"✗ {exercise}: case {number} of {len(cases)} ({case.name}) failed: {problem}"
            return finish(
                Report(exercise, False, "failed", message, _perf_counter() - start)
            )
    seconds = _perf_counter() - start
    message = f"✓ {exercise}: passed all {len(cases)} cases in {seconds * 1e3:.0f} ms."
    return finish(Report(exercise, True, "passed", message, seconds))


def strict() -> bool:
    """True when CNNLAB_STRICT_EXERCISES is set (and not 0): a check that does not pass
    raises.
    """
    return os.environ.get("CNNLAB_STRICT_EXERCISES", "") not in ("", "0")


def finish(report: Report) -> Report:
    """Return the report; in strict mode (the book's own runs) raise if it did not pass."""
    if strict() and not report.passed:
        raise AssertionError(report.message)
    return report


# What NumPy and Python's own modules hold when cnnlab.teaching.grading is imported.
# cnnlab's modules are left out: they are guarded during each call, but tests patch
# them.
_PRISTINE = Guard(
    [
        (name, space)
        for name, space in _watched_names()
        if name != "cnnlab" and not name.startswith("cnnlab.")
    ],
    added=False,
)
