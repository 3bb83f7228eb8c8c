"""Helpers shared by several test modules: gradient checks, exercise feedback, and a
chapter cut down to its exercises."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell

if TYPE_CHECKING:
    from cnnlab.teaching.grading import Report


def numerical_gradient(
    loss: Callable[[], float], a: np.ndarray, eps: float = 1e-4
) -> np.ndarray:
    """Central differences of ``loss()`` with respect to every element of ``a``.

    ``a`` is perturbed in place, one element at a time, and put back.
    """
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        saved = a[idx]
        a[idx] = saved + eps
        up = loss()
        a[idx] = saved - eps
        down = loss()
        a[idx] = saved
        grad[idx] = (up - down) / (2 * eps)
    return grad


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkers report instead of raising, as for a student (the book runs strict)."""
    monkeypatch.delenv("CNNLAB_STRICT_EXERCISES", raising=False)


def hint(report: Report) -> str:
    """The hint of a failed report (what a student reads after 'Hint:')."""
    assert not report.passed, report.message
    assert "Hint: " in report.message, report.message
    return report.message.split("Hint: ", 1)[1]


def stub(*args: object, **kwargs: object) -> NoReturn:
    """A starter cell."""
    raise NotImplementedError


def failed_with(report: Report, *phrases: str) -> Report:
    """The report failed, and its message contains every phrase."""
    assert not report.passed and report.status == "failed", report.message
    for phrase in phrases:
        assert phrase in report.message, f"{phrase!r} not in:\n{report.message}"
    return report


def hinted(report: Report, phrase: str) -> None:
    """The report failed, and its hint (the text after "Hint: ") says ``phrase``."""
    failed_with(report, "Hint: ")
    hint_text = hint(report)
    assert phrase in hint_text, f"{phrase!r} not in the hint:\n{hint_text}"


def _imports(source: str) -> list[str]:
    try:
        body = ast.parse(source).body
    except SyntaxError:  # an IPython magic: no Python imports to take
        return []
    return [ast.unparse(n) for n in body if isinstance(n, ast.Import | ast.ImportFrom)]


def exercises_only(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook from its "## Exercises" heading on, after the chapter's imports.

    What a student who deleted the chapter's other cells hands in, keeping one
    cell with every import the chapter made: it runs in a few seconds instead
    of the chapter's run time.
    """
    start = next(
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and c.source.startswith("## Exercises")
    )
    imports = [
        line
        for cell in nb.cells[:start]
        if cell.cell_type == "code"
        for line in _imports(cell.source)
    ]
    trimmed = copy.deepcopy(nb)
    trimmed.cells = [
        new_code_cell("\n".join(imports)),
        *copy.deepcopy(nb.cells[start:]),
    ]
    return trimmed


