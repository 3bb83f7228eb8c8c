"""A student's function in the kernel, called from the grader's process.

:class:`RemoteFunction` is what the checkers are given instead of the
student's function. Each call writes its arguments to the submission's
folder (pickled: they are the checker's own), runs
:func:`~cnnlab.teaching.classroom.in_kernel.serve` in the kernel, and reads
the answer back as plain data, with ``allow_pickle=False``: arrays, numbers,
strings, tuples, lists and dicts. Anything else comes back as a stand-in
named after its type, so the checker says "it returned a generator" as it
does in a notebook, and no object of the student's is ever built here.
"""

from __future__ import annotations

import inspect
import json
import pickle
import signal
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from nbformat.v4 import new_code_cell

from cnnlab.teaching.classroom.remote import KERNEL_SIDE, KernelGone, LimitedKernel
from cnnlab.teaching.safe_call import ExerciseTimeout, Remote

MAX_RESPONSE_BYTES = 256 << 20
"""A student's answer bigger than this is not read (the checkers' are far smaller)."""


class _Pickler(pickle.Pickler):
    """Pickles a module (a backend handed to a student's function) by its name."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.ModuleType):
            return __import__("importlib").import_module, (obj.__name__,)
        return NotImplemented


class RemoteFunction(Remote):
    """A function of the student's kernel, called from the grader's process.

    Arguments go to the kernel pickled (they are the checker's), answers come
    back as plain arrays and numbers. A call that raised in the kernel raises
    the same kind of exception here (a built-in one, or an Exception of the
    same name) with the student's line in its message. Arrays the function
    changed in place are changed here too, so the checker sees that it
    modified its inputs.

    A call runs at most the time left on the checker's alarm (the
    :func:`~cnnlab.teaching.safe_call.time_limit` around it), else
    ``call_timeout``; past it the kernel is interrupted and the checker's
    alarm reports the loop, as it does in a notebook.
    """

    def __init__(self, kernel: LimitedKernel, name: str, call_timeout: float) -> None:
        self.kernel = kernel
        self.folder = kernel.workdir
        self.__name__ = self.__qualname__ = name
        self.call_timeout = call_timeout
        self.calls = 0
        self.kernel_seconds: float | None = None
        self._describe()

    def _describe(self) -> None:
        """Whether the function exists, and its parameters' names for the feedback."""
        described = self._request(None, self.call_timeout)
        self.missing = described.get("missing")
        parameters = [
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for p in described.get("parameters", [])
            if isinstance(p, str) and p.isidentifier()
        ]
        try:
            self.__signature__ = inspect.Signature(parameters)
        except ValueError:  # e.g. a parameter after *args: keep no signature
            pass

    def seconds_of(self, elapsed: float) -> float:
        """The time of the last call itself, as the kernel measured it.

        Without the transport, whose cost grows with the arrays sent, a speed
        exercise would race the pickling instead of the student's function.
        The kernel's clock is the one it had before the student's cells ran;
        a student who rewrites the grader's module in the kernel can still
        fake it (the book's page on teaching says so).
        """
        seconds = self.kernel_seconds
        if type(seconds) is not float or not 0 <= seconds <= elapsed:
            return elapsed
        return max(seconds, 1e-9)

    def _request(
        self, arguments: tuple[tuple, dict] | None, timeout: float
    ) -> dict[str, Any]:
        """Send one call (or, without arguments, ask for a description); the answer."""
        self.calls += 1
        request = self.folder / f".cnnlab-request-{self.calls}.pkl"
        response = self.folder / f".cnnlab-response-{self.calls}.npz"
        if arguments is not None:
            with open(request, "wb") as file:
                _Pickler(file, protocol=pickle.HIGHEST_PROTOCOL).dump(arguments)
        try:
            self._serve(request if arguments is not None else None, response, timeout)
        finally:
            request.unlink(missing_ok=True)
        try:
            return _read_response(response)
        finally:
            response.unlink(missing_ok=True)

    def _serve(self, request: Path | None, response: Path, timeout: float) -> None:
        """Run :func:`~cnnlab.teaching.classroom.in_kernel.serve` in the kernel."""
        kernel = self.kernel
        source = (
            f"__import__({KERNEL_SIDE!r}, fromlist=['serve']).serve("
            f"{self.__name__!r}, {str(request or '')!r}, {str(response)!r})"
        )
        previous_timeout = kernel.timeout_func
        kernel.timeout_func = lambda cell: max(1, int(timeout + 0.999))
        try:
            error = kernel.run(new_code_cell(source), kernel.scratch_index)
        finally:
            kernel.timeout_func = previous_timeout
        if error is not None and not response.exists():
            if kernel.timed_out:
                raise TimeoutError(f"the call ran for more than {timeout:g} s")
            raise KernelGone(f"the grader's call failed in the kernel: it {error}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.missing is not None:
            raise NameError(
                f"the notebook defines no function {self.__name__!r} (found "
                f"{self.missing})"
            )
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        timeout = left + 0.5 if left > 0 else self.call_timeout
        # The checker's alarm waits until the kernel has been interrupted and has
        # answered; then it fires, and the checker reports the time limit.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            answer = self._request((args, kwargs), timeout)
        except TimeoutError:
            answer = None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if answer is None:
            # No alarm of the checker's was left to fire: report the time here.
            raise ExerciseTimeout
        self.kernel_seconds = answer.get("seconds")
        _copy_back(answer.get("inputs"), [list(args), kwargs])
        if "error" in answer:
            raise _exception(answer["error"])
        return answer.get("result")


def _read_response(path: Path) -> dict[str, Any]:
    """The kernel's answer: its fields, with the result and inputs as plain data."""
    if path.stat().st_size > MAX_RESPONSE_BYTES:
        return {"result": _unreadable("answer_over_256_MB")}
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
        tree = json.loads(arrays.pop("meta").tobytes())
        answer = {
            key: tree[key]
            for key in ("missing", "parameters", "error", "seconds")
            if key in tree
        }
        for key in ("result", "inputs"):
            if key in tree:
                answer[key] = _decode(tree[key], arrays)
    except Exception:  # noqa: BLE001 - the kernel may have written anything
        return {"result": _unreadable("unreadable_answer")}
    return answer


class _Unreadable:
    """Stands for what cannot come back as plain data; named after the value's type."""


def _unreadable(type_name: str) -> _Unreadable:
    # The checker's feedback names the type ("it returned a generator"), as in a
    # notebook, so the stand-in's class carries the student's type's name.
    name = type_name if type_name.isidentifier() else "object"
    return type(name, (_Unreadable,), {})()


def _decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value :func:`~cnnlab.teaching.classroom.in_kernel.serve` encoded."""
    if tree is None or type(tree) in (bool, int, float):
        return tree
    if not isinstance(tree, dict) or not tree:
        raise ValueError("not an encoded value")
    kind, value = next(iter(tree.items()))
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "str":
        return str(value)
    if kind == "array":
        array = arrays[f"a{int(value)}"]
        return array[()] if tree.get("scalar") else array
    if kind in ("tuple", "list"):
        items = [_decode(item, arrays) for item in value]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {str(key): _decode(item, arrays) for key, item in value.items()}
    if kind == "other":
        return _unreadable(str(value))
    raise ValueError(f"unknown kind {kind!r}")


def _copy_back(after: Any, before: list) -> None:
    """Write the kernel's view of array arguments after the call into ours."""
    if not isinstance(after, list) or len(after) != 2:
        return
    pairs = list(zip(after[0], before[0], strict=False))
    pairs += (
        [(after[1].get(k), v) for k, v in before[1].items()]
        if isinstance(after[1], dict)
        else []
    )
    for new, old in pairs:
        if (
            isinstance(old, np.ndarray)
            and isinstance(new, np.ndarray)
            and new.shape == old.shape
            and old.flags.writeable
        ):
            np.copyto(old, new, casting="unsafe")


def _exception(error: dict[str, Any]) -> BaseException:
    """The student's exception, rebuilt here: a built-in kind, or one of its name."""
    name = str(error.get("type", "Exception"))
    message = f"{error.get('message', '')}{error.get('line', '')}"
    if error.get("not_implemented"):
        return NotImplementedError(message)
    builtin = getattr(__import__("builtins"), name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except Exception:  # noqa: BLE001 - some built-ins take other arguments
            pass
    kind: Callable[[str], BaseException] = type(name, (Exception,), {})
    return kind(message)
