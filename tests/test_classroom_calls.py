"""Every checker of the book grades the book's solutions through the class grader's
transport: arguments pickled, answers sent back as plain data, errors rebuilt.

The kernel is left out (``_serve`` calls ``in_kernel.serve`` in this process,
on a namespace holding the chapter's imports and solutions), so this runs in
seconds; tests/test_classroom.py grades real kernels.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

import cnnlab.exercises
from cnnlab.teaching.assignments import CHAPTERS
from cnnlab.teaching.classroom import calls, in_kernel
from cnnlab.teaching.without_solutions import tags
from helpers import exercises_only, lenient  # noqa: F401 - lenient is a fixture

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


class InProcess(calls.RemoteFunction):
    """The transport of RemoteFunction, served from a namespace in this process."""

    def __init__(self, namespace: dict, name: str, folder: Path) -> None:
        self.namespace = namespace
        self.folder = folder
        self.kernel = None  # type: ignore[assignment]
        self.__name__ = self.__qualname__ = name
        self.call_timeout, self.calls, self.kernel_seconds = 10.0, 0, None
        self._describe()

    def _serve(self, request, response, timeout):
        in_kernel.serve(
            self.__name__, str(request or ""), str(response), self.namespace
        )


def _literal(node: ast.stmt) -> bool:
    if not isinstance(node, ast.Assign):
        return False
    try:
        ast.literal_eval(node.value)
    except ValueError:
        return False
    return True


def _definitions(source: str) -> list[str]:
    """A cell's imports, functions and constants (some solutions use the chapter's)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:  # an IPython magic
        return []
    kinds = ast.FunctionDef | ast.Import | ast.ImportFrom
    return [ast.unparse(n) for n in body if isinstance(n, kinds) or _literal(n)]


def _namespace(number: int, folder: Path) -> dict:
    """The chapter's imports, functions and constants, then its exercise cells.

    Each runs from a file in ``folder``: Numba caches only functions it can
    find a file for. A definition whose defaults need the chapter's data is
    left out (the solutions do not call those).
    """
    book = nbformat.read(NOTEBOOKS / f"{CHAPTERS[number].notebook}.ipynb", as_version=4)
    trimmed = exercises_only(book)
    before = book.cells[: len(book.cells) - len(trimmed.cells) + 1]
    definitions = [
        d for c in before if c.cell_type == "code" for d in _definitions(c.source)
    ]
    exercises = [
        c.source
        for c in trimmed.cells[1:]
        if c.cell_type == "code" and "check" not in tags(c)
    ]
    namespace: dict = {}
    for index, source in enumerate(definitions + exercises):
        path = folder / f"chapter{number}_cell{index}.py"
        path.write_text(source)
        try:
            exec(compile(source, str(path), "exec"), namespace)
        except NameError:
            if index >= len(definitions):
                raise
    return namespace


# Chapter 12's experiments build Mojo variants: tests/test_mojo.py covers them.
NUMBERS = [n for n in sorted(CHAPTERS) if n != 12]


@pytest.mark.usefixtures("lenient")
@pytest.mark.parametrize("number", NUMBERS)
def test_every_checker_passes_the_books_solutions_through_the_transport(
    number, tmp_path
):
    namespace = _namespace(number, tmp_path)
    folder = tmp_path / "calls"
    folder.mkdir()
    for exercise in CHAPTERS[number].exercises:
        functions = [InProcess(namespace, n, folder) for n in exercise.functions]
        report = getattr(cnnlab.exercises, exercise.checker)(*functions)
        assert report.passed, f"{exercise.number}: {report.message}"
    assert not list(folder.iterdir())  # every request and answer file removed


@pytest.mark.usefixtures("lenient")
def test_a_wrong_or_missing_function_is_reported_through_the_transport(tmp_path):
    namespace = _namespace(2, tmp_path)
    namespace["pad2d"] = lambda image, padding: image[: 1 / 0]
    report = cnnlab.exercises.check_pad2d(InProcess(namespace, "pad2d", tmp_path))
    assert "it raised ZeroDivisionError: division by zero" in report.message
    assert "in your code, line" in report.message
    missing = cnnlab.exercises.check_pad2d(InProcess(namespace, "pad_2d", tmp_path))
    assert "NameError" in missing.message and "no function 'pad_2d'" in missing.message

    def modifies(image, padding):
        image[0, 0] = 99
        return namespace["conv2d_2d"](image, image[:1, :1], 1, padding)

    namespace["modifies"] = modifies
    changed = cnnlab.exercises.check_pad2d(InProcess(namespace, "modifies", tmp_path))
    assert "it modified its input (image)" in changed.message
