"""The only grader code that runs in a student's kernel: one call, answered on disk.

The grader (:mod:`cnnlab.teaching.classroom.remote`) writes the arguments of a
call to ``request.pkl`` in the submission's working folder and runs
``serve(...)`` in the kernel. The student's function is called there, and
what it returned or raised is written to ``response.npz`` as plain data:
arrays saved without pickle, and a JSON tree for numbers, strings, tuples,
lists and dicts. The grader reads it back with ``allow_pickle=False``, so
nothing the student's code returns can run code in the grader; at worst it
is wrong, which the checker reports.

Everything here runs beside the student's code and could be changed by it.
That is fine: it can only spoil the student's own answers, and the grader
judges the answers, never what the kernel says about them.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import pickle
import time
import traceback
from typing import Any

import numpy as np

# Read when the grader starts the kernel, before any of the student's cells run.
_clock = time.perf_counter

MAX_TEXT = 2_000
"""Longest string or error message sent back, in characters."""


def _namespace() -> dict[str, Any]:
    from IPython import get_ipython  # the kernel's user namespace

    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def _number(value: float) -> Any:
    # JSON has no NaN or infinity: send those as their names
    return value if math.isfinite(value) else {"float": repr(value)}


def _encode(value: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    """``value`` as a JSON tree; arrays go into ``arrays`` and are named by index."""
    kind = type(value)
    if depth > 20:
        return {"other": "deeply_nested_structure"}
    if value is None or kind is bool or kind is str:
        return {"str": value[:MAX_TEXT]} if kind is str else value
    if kind is int:
        return {"int": str(value)}  # exact, however large
    if kind is float:
        return _number(value)
    if issubclass(kind, np.ndarray) or issubclass(kind, np.generic):
        array = np.asarray(
            np.ndarray.view(value, np.ndarray)
            if issubclass(kind, np.ndarray)
            else value
        )
        if array.dtype.hasobject:
            return {"other": "object_array"}
        arrays.append(array)
        return {"array": len(arrays) - 1, "scalar": issubclass(kind, np.generic)}
    if kind in (tuple, list):
        return {kind.__name__: [_encode(item, arrays, depth + 1) for item in value]}
    if kind is dict and all(type(key) is str for key in value):
        return {
            "dict": {
                key: _encode(item, arrays, depth + 1) for key, item in value.items()
            }
        }
    return {"other": kind.__name__}


def _error(error: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(error.__traceback__)[1:]  # [0] is serve's own call
    line = ""
    if frames:
        frame = frames[-1]
        line = f"\n  in your code, line {frame.lineno}: {frame.line}"
    try:
        message = str(error)[:MAX_TEXT]
    except Exception:  # noqa: BLE001 - a student's exception may fail to print itself
        message = "(its message could not be read)"
    return {
        "type": type(error).__name__,
        "message": message,
        "line": line,
        "not_implemented": isinstance(error, NotImplementedError),
    }


def _write(path: str, tree: dict[str, Any], arrays: list[np.ndarray]) -> None:
    buffer = io.BytesIO()
    named = {f"a{i}": array for i, array in enumerate(arrays)}
    named["meta"] = np.frombuffer(json.dumps(tree).encode(), np.uint8)
    np.savez(buffer, **named)  # type: ignore[arg-type]
    with open(path, "wb") as file:
        file.write(buffer.getvalue())


def serve(
    name: str, request: str, response: str, namespace: dict[str, Any] | None = None
) -> None:
    """Call the student's function ``name`` on the arguments in ``request``.

    With no request file, describe the function instead: whether it exists
    and the names of its parameters. ``namespace`` (by default the kernel's)
    is where ``name`` is looked up.
    """
    arrays: list[np.ndarray] = []
    function = (_namespace() if namespace is None else namespace).get(name)
    if request == "":
        if not callable(function):
            kind = "nothing" if function is None else f"a {type(function).__name__}"
            tree: dict[str, Any] = {"missing": kind}
        else:
            try:
                names = [
                    p.name for p in inspect.signature(function).parameters.values()
                ]
            except (TypeError, ValueError):
                names = []
            tree = {"parameters": [str(n) for n in names]}
        _write(response, tree, arrays)
        return
    with open(request, "rb") as file:
        args, kwargs = pickle.load(file)
    try:
        if function is None:
            raise NameError(f"name {name!r} is not defined")
        start = _clock()
        result = function(*args, **kwargs)
        seconds = _clock() - start
        tree = {"result": _encode(result, arrays), "seconds": seconds}
    except KeyboardInterrupt:
        raise  # the grader's interrupt: the call ran out of time
    except BaseException as error:  # noqa: BLE001 - a student's code can raise anything
        tree = {"error": _error(error)}
    # The inputs as they are after the call: the checker reports a function that
    # changed them, as it does in the notebook.
    tree["inputs"] = _encode([list(args), kwargs], arrays)
    _write(response, tree, arrays)
