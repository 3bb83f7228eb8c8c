"""One chapter notebook as an nbgrader source notebook: answer and test cells.

Each exercise of the book is a ``starter`` cell (the function ending in
``raise NotImplementedError``), a ``solution`` cell (the same function, worked
out) and a ``check`` cell, ``check_pad2d(pad2d)``. :func:`course_notebook`
turns them into nbgrader's cells (cell metadata schema version 3):

- The starter and its solution become one *autograded answer* cell
  (``ex2_1-answer``): the starter's text, with its ``raise
  NotImplementedError`` line replaced by the solution's body between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``. nbgrader's release version
  replaces that region by ``# YOUR CODE HERE`` and ``raise
  NotImplementedError()``, so the student sees the starter as the book shows
  it. Two separate cells would not work: nbgrader turns a solution cell into
  its stub, so the student would get a bare ``raise`` at the top level in
  place of the function's name and docstring. The solution's other lines (a
  helper function, as in exercise 6.4), and the whole solution if it changes
  the starter's ``def`` line or docstring, go into a second region at the end
  of the same cell: the release version then shows one more ``# YOUR CODE
  HERE`` for them. In the source version the cell runs the starter's code and
  then the solution's, as the book does.
- The check cell becomes an *autograded test* cell (``ex2_1-check``, locked)
  worth the exercise's points in :mod:`cnnlab.teaching.assignments`, the one
  place they are set. It prints the check's feedback and then asserts that
  the check passed: nbgrader gives full points to a test cell that runs
  without an error and none to one that raises.
- Every other cell is *read-only* (locked, ``cell-`` and the cell's id). The
  test cells need the chapter's imports and definitions, and nbgrader's
  autograde restores locked cells from its database, so a student's change to
  them cannot break the grading. Students may add their own cells.
- Outputs are cleared; prose that mentions the solutions is rewritten as in
  the student edition (:mod:`~cnnlab.teaching.without_solutions`), and a
  read-only note on top says how the exercises are graded.

Nothing here imports nbgrader: the notebooks only carry its metadata.
"""

from __future__ import annotations

import ast
import copy
import re

import nbformat
from nbformat import NotebookNode

from cnnlab.teaching.assignments import Chapter, Exercise, parse_check_call
from cnnlab.teaching.without_solutions import (
    SOLUTION_WORD,
    ProtocolError,
    defined_functions,
    tags,
    validate_protocol,
    without_solution_prose,
)

__all__ = [
    "BEGIN",
    "END",
    "NOTE",
    "answer_source",
    "course_notebook",
    "graded_check_source",
]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# Any line holding one of nbgrader's delimiters starts or ends a region of its own.
DELIMITER = re.compile(r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS|MARK SCHEME")
NOTE = (
    "**Graded with nbgrader:** in each exercise, write your code in the answer "
    "cell where it says `# YOUR CODE HERE` (and delete the `raise "
    "NotImplementedError()` below it), run the cell, then run the check cell "
    "below it. The check cell prints what to fix until your function passes, "
    "and it is the cell that gives the exercise's points."
)


def _grade_id(exercise: Exercise, part: str) -> str:
    """``ex2_1-answer``: nbgrader's ids allow letters, digits, ``_`` and ``-``."""
    return f"ex{exercise.number.replace('.', '_')}-{part}"


def _nbgrader(
    grade_id: str,
    *,
    solution: bool = False,
    grade: bool = False,
    locked: bool = False,
    points: int | None = None,
) -> dict[str, object]:
    """Cell metadata as nbgrader's schema version 3 has it; points on grade cells."""
    meta: dict[str, object] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Index of the first line of a function, its decorators included."""
    return min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1


def _is_stub(statement: ast.stmt) -> bool:
    exception = statement.exc if isinstance(statement, ast.Raise) else None
    if isinstance(exception, ast.Call):
        exception = exception.func
    return isinstance(exception, ast.Name) and exception.id == "NotImplementedError"


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def answer_source(starter: str, solution: str) -> str:
    """The autograded answer cell: ``starter`` with ``solution`` in nbgrader's regions.

    Each top-level function of the starter that ends in ``raise
    NotImplementedError`` and that the solution defines with the same lines
    up to its body (decorators, ``def`` line, docstring) gets the solution's
    body in place of that line, between :data:`BEGIN` and :data:`END`. The
    rest of the solution follows in one region at the end of the cell.
    """
    lines, solved = starter.split("\n"), solution.split("\n")
    solved_functions = {f.name: f for f in _functions(ast.parse(solution))}
    merged: list[str] = []
    copied = 0  # lines of the starter already in ``merged``
    placed: set[int] = set()  # lines of the solution already in ``merged``
    for function in _functions(ast.parse(starter)):
        stub, match = function.body[-1], solved_functions.get(function.name)
        if match is None or not _is_stub(stub):
            continue
        head = lines[_first_line(function) : stub.lineno - 1]
        start = _first_line(match)
        body_start, end = start + len(head), match.end_lineno or match.lineno
        if solved[start:body_start] != head or body_start >= end:
            continue  # the solution changed the signature: it goes to the end
        indent = lines[stub.lineno - 1][: stub.col_offset]
        merged += lines[copied : stub.lineno - 1]
        merged += [indent + BEGIN, *solved[body_start:end], indent + END]
        copied = stub.end_lineno or stub.lineno
        placed.update(range(start, end))
    merged += lines[copied:]
    rest = "\n".join(line for i, line in enumerate(solved) if i not in placed)
    if rest.strip():
        merged += ["", "", BEGIN, rest.strip("\n"), END]
    return "\n".join(merged)


def graded_check_source(exercise: Exercise) -> str:
    """The autograded test cell: the check's feedback, then an error unless passed."""
    return (
        "# nbgrader grades this cell: the exercise's points if the check passes.\n"
        f"report = {exercise.check_call}\n"
        "print(report.message)\n"
        'assert report.passed, "the check did not pass: see its feedback above"'
    )


def _exercises(
    nb: NotebookNode, chapter: Chapter, name: str
) -> list[tuple[Exercise, int, list[int], int]]:
    """(exercise, starter index, solution indices, check index), in order."""
    found: list[tuple[int, list[int], int]] = []
    calls: list[tuple[str, tuple[str, ...]]] = []
    for i, cell in enumerate(nb.cells):
        if "check" not in tags(cell):
            continue
        solutions: list[int] = []
        j = i - 1
        while j >= 0 and "solution" in tags(nb.cells[j]):
            solutions.insert(0, j)
            j -= 1
        code = [k for k in solutions if nb.cells[k].cell_type == "code"]
        if not code:
            raise ProtocolError(
                f"{name}, cell {i}: no solution code cell before this check cell; "
                "nbgrader needs the solution to grade the exercise"
            )
        defined = {f for k in code for f in defined_functions(nb.cells[k].source)}
        starter = next(
            (
                k
                for k in range(j, -1, -1)
                if "starter" in tags(nb.cells[k])
                and defined & set(defined_functions(nb.cells[k].source))
            ),
            None,
        )
        if starter is None or (found and starter <= found[-1][2]):
            raise ProtocolError(
                f"{name}, cell {i}: no starter cell of this exercise's functions "
                "after the previous exercise's check cell"
            )
        found.append((starter, solutions, i))
        try:
            calls.append(parse_check_call(cell.source))
        except ValueError as error:
            raise ProtocolError(f"{name}, cell {i}: {error}") from None
    table = [(e.checker, e.functions) for e in chapter.exercises]
    if calls != table:
        raise ProtocolError(
            f"{name}: its check cells call {_calls(calls)}, but chapter "
            f"{chapter.number} in cnnlab/teaching/assignments.py has {_calls(table)}"
        )
    return [
        (exercise, starter, solutions, check)
        for exercise, (starter, solutions, check) in zip(
            chapter.exercises, found, strict=True
        )
    ]


def _calls(calls: list[tuple[str, tuple[str, ...]]]) -> str:
    return ", ".join(f"{checker}({', '.join(args)})" for checker, args in calls)


def course_notebook(nb: NotebookNode, chapter: Chapter, name: str) -> NotebookNode:
    """``nb`` as an nbgrader source notebook (see the module docstring); ``nb`` stays.

    ProtocolError, naming the cell, if the exercises break the protocol, do
    not match ``chapter`` in :mod:`cnnlab.teaching.assignments`, or a cell
    already holds one of nbgrader's delimiters.
    """
    validate_protocol(nb, name)
    for i, cell in enumerate(nb.cells):
        if delimiter := DELIMITER.search(cell.source):
            raise ProtocolError(
                f"{name}, cell {i}: holds {delimiter[0]!r}, which nbgrader would "
                "read as one of its delimiters"
            )
    course = copy.deepcopy(nb)
    cells = course.cells
    for cell in cells:  # only this function's metadata: it marks what is graded
        cell.metadata.pop("nbgrader", None)
    dropped: set[int] = set()
    for exercise, starter, solutions, check in _exercises(course, chapter, name):
        solution = "\n\n".join(
            cells[k].source for k in solutions if cells[k].cell_type == "code"
        )
        try:
            cells[starter].source = answer_source(cells[starter].source, solution)
        except SyntaxError as error:
            raise ProtocolError(
                f"{name}, exercise {exercise.number}: its starter or solution is "
                f"not plain Python ({error.msg}, line {error.lineno})"
            ) from None
        cells[starter].metadata["nbgrader"] = _nbgrader(
            _grade_id(exercise, "answer"), solution=True
        )
        cells[check].source = graded_check_source(exercise)
        for k in (starter, check):
            kept = sorted(tags(cells[k]) - {"starter", "check"})
            if kept:
                cells[k].metadata["tags"] = kept
            else:
                cells[k].metadata.pop("tags", None)
        cells[check].metadata["nbgrader"] = _nbgrader(
            _grade_id(exercise, "check"),
            grade=True,
            locked=True,
            points=exercise.points,
        )
        dropped.update(solutions)
    note = nbformat.v4.new_markdown_cell(NOTE)
    if course.get("nbformat_minor", 0) >= 5:
        note["id"] = "nbgrader-note"
    else:  # cell ids came with nbformat 4.5
        note.pop("id", None)
    course.cells = [note] + [c for k, c in enumerate(cells) if k not in dropped]
    for k, cell in enumerate(course.cells):
        _clean(cell, k)
    return course


def _clean(cell: NotebookNode, index: int) -> None:
    """Outputs off, prose true without solutions, read-only unless an exercise's.

    A read-only cell's grade id is ``cell-`` and its cell id, which stays the
    same when the book changes elsewhere (or its index, before nbformat 4.5).
    """
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    elif cell.cell_type == "markdown" and SOLUTION_WORD.search(cell.source):
        cell.source = without_solution_prose(cell.source)
    if "nbgrader" not in cell.metadata:
        cell_id = cell.get("id", f"{index}")
        cell.metadata["nbgrader"] = _nbgrader(f"cell-{cell_id}", locked=True)
