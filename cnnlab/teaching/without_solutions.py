"""One notebook's student edition: the exercise protocol checked, solutions taken out.

Which cells are removed is decided by their tags, never by their text. Each
exercise is a markdown task, a ``starter`` cell (the function with ``raise
NotImplementedError``), a ``solution`` cell (the same function, worked out)
and a ``check`` cell. Dropping every ``solution`` cell therefore leaves the
starter stub in force when the check runs, and the checker reports "not
implemented yet" until the student fills it in. :func:`validate_protocol`
refuses, naming the cell, a notebook that would leak a solution or crash, and
one with a cell whose tags are not a list of strings (it might hide a solution).

The prose must read true without the solutions: a sentence of a kept
markdown cell that mentions a solution describes one that is gone, so it is
dropped (after a list item such as "a hidden solution," is taken out of its
sentence), and the paragraph gets :data:`CHECK_SENTENCE` instead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from typing import NoReturn

import nbformat
from nbformat import NotebookNode

NOTE = (
    "**Student edition:** the solutions of the exercises have been removed. In each "
    "exercise, replace `raise NotImplementedError` in the starter cell with your code, "
    "run it, then run the check cell below it: the checker tests your function and "
    "explains what went wrong. The complete book, solutions included, is in the "
    "`notebooks/` folder."
)
CHECK_SENTENCE = (
    "In this edition, the check cell is your guide: run it after each change, and it "
    "tells you what to fix until your function passes."
)
"""Ends a paragraph whose sentences about the (removed) solutions were dropped."""

SOLUTION_WORD = re.compile(r"\bsolutions?\b", re.IGNORECASE)
# "a starter cell to fill in, a hidden solution, and a check cell": keep the rest.
SOLUTION_LIST_ITEM = re.compile(
    r",\s+(?:a|an|the|our)\s+(?:(?:hidden|collapsed|folded|worked)\s+)?solutions?"
    r"(?:\s+cells?)?,\s+and\s+",
    re.IGNORECASE,
)
# A sentence ends at . ! or ? before white space, but not in "e.g." or "i.e.".
SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])(\s+)")


class ProtocolError(ValueError):
    """A notebook's exercise cells break the starter / solution / check protocol."""


def tags(cell: object) -> set[str]:
    """The tags of a cell; TypeError unless they are a list of strings."""
    metadata = cell.get("metadata", {}) if isinstance(cell, dict) else None
    value = metadata.get("tags", []) if isinstance(metadata, dict) else None
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise TypeError(f"tags must be a list of strings, got {value!r}")
    return set(value)


def validate_tags(cells: Sequence[object], name: str = "notebook") -> None:
    """Raise ProtocolError naming the first cell whose tags are not a list of strings.

    A string "solution" would be read as its letters and the solution copied:
    a cell whose tags cannot be read is never guessed at.
    """
    for i, cell in enumerate(cells):
        try:
            tags(cell)
        except TypeError as error:
            raise ProtocolError(
                f"{name}, cell {i}: {error}; the cell is not copied"
            ) from None


def defined_functions(source: str) -> list[str]:
    """Names of the functions a cell defines at top level."""
    return re.findall(r"^def\s+(\w+)\s*\(", source, flags=re.MULTILINE)


def validate_protocol(nb: NotebookNode, name: str = "notebook") -> None:
    """Raise ProtocolError unless tags can be read and exercises follow the protocol."""
    cells = nb.cells

    def fail(index: int, problem: str) -> NoReturn:
        raise ProtocolError(f"{name}, cell {index}: {problem}")

    validate_tags(cells, name)
    for i, cell in enumerate(cells):
        kinds = tags(cell) & {"starter", "solution", "check"}
        if len(kinds) > 1:
            fail(
                i,
                "a cell can be only one of starter, solution and check; "
                f"it is tagged {sorted(kinds)}",
            )
        if kinds & {"starter", "check"} and cell.cell_type != "code":
            fail(i, f"a {kinds.pop()} cell must be a code cell")
        if "starter" in kinds and "raise NotImplementedError" not in cell.source:
            fail(
                i,
                "the starter cell must end its function with "
                "`raise NotImplementedError`",
            )
        if "solution" not in kinds or cell.cell_type != "code":
            continue
        functions = defined_functions(cell.source)
        if not functions:
            fail(i, "the solution cell defines no function")
        starters = [
            defined_functions(c.source) for c in cells[:i] if "starter" in tags(c)
        ]
        if not any(set(functions) & set(names) for names in starters):
            fail(
                i,
                f"the solution of {', '.join(functions)} has no starter cell above it "
                "defining the same function",
            )
        after = next(
            (j for j in range(i + 1, len(cells)) if "solution" not in tags(cells[j])),
            None,
        )
        if after is None or "check" not in tags(cells[after]):
            fail(
                i,
                "the solution must be followed by a check cell "
                "(only other solution cells may come between)",
            )
        if "hide-input" not in tags(cell) or not cell.metadata.get("jupyter", {}).get(
            "source_hidden"
        ):
            fail(
                i,
                "the solution must be collapsed: tag `hide-input` and cell metadata "
                '{"jupyter": {"source_hidden": true}}',
            )


def without_solution_prose(markdown: str) -> str:
    """``markdown`` with every sentence that mentions a solution dropped.

    A paragraph that loses such a sentence ends with :data:`CHECK_SENTENCE`
    instead (once per cell), so it still tells the student how to proceed.
    """
    paragraphs, replaced = [], False
    for paragraph in re.split(r"\n\s*\n", markdown):
        paragraph = SOLUTION_LIST_ITEM.sub(" and ", paragraph)
        if not SOLUTION_WORD.search(paragraph):
            paragraphs.append(paragraph)
            continue
        pieces = SENTENCE_END.split(paragraph)  # sentence, space, sentence, space, ...
        kept = "".join(
            (pieces[k - 1] if k and kept_any else "") + pieces[k]
            for k, kept_any in _kept_sentences(pieces)
        ).strip()
        if not replaced:
            kept = f"{kept} {CHECK_SENTENCE}".strip()
            replaced = True
        if kept:
            paragraphs.append(kept)
    return "\n\n".join(paragraphs)


def _kept_sentences(pieces: list[str]) -> Iterator[tuple[int, bool]]:
    """Indices of the sentences in ``pieces`` that mention no solution.

    ``pieces`` alternates sentences and the white space between them; each
    index comes with whether a sentence was kept before it.
    """
    kept_any = False
    for k in range(0, len(pieces), 2):
        if not SOLUTION_WORD.search(pieces[k]):
            yield k, kept_any
            kept_any = True


def student_notebook(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """A copy of ``nb`` without solutions or outputs, a note on top; ``nb`` stays.

    Kept markdown cells lose their prose about the solutions
    (:func:`without_solution_prose`).
    """
    validate_protocol(nb, name)
    student = copy.deepcopy(nb)
    student.cells = [cell for cell in student.cells if "solution" not in tags(cell)]
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown" and SOLUTION_WORD.search(cell.source):
            cell.source = without_solution_prose(cell.source)
    note = nbformat.v4.new_markdown_cell(NOTE)
    note.metadata["tags"] = ["student-edition-note"]
    if student.get("nbformat_minor", 0) >= 5:
        note["id"] = "student-edition-note"  # fixed: same sources, same bytes
    else:  # cell ids came with nbformat 4.5
        note.pop("id", None)
    student.cells.insert(0, note)
    return student
