"""Write the student edition of the book: every notebook, without the exercise solutions.

    python -m cnnlab.student_edition notebooks student

Cells are recognised by their tags, never by their text. Each exercise is a
markdown task, a ``starter`` cell (the function with ``raise
NotImplementedError``), a ``solution`` cell (the same function, worked out)
and a ``check`` cell. Dropping every ``solution`` cell therefore leaves the
starter stub in force when the check runs, and the checker reports "not
implemented yet" until the student fills it in. The protocol is validated
first, so a notebook that would leak a solution or crash is refused with the
notebook's name and the cell's index.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

NOTE = (
    "**Student edition:** the solutions of the exercises have been removed. In each exercise, replace "
    "`raise NotImplementedError` in the starter cell with your code, run it, then run the check cell below it: "
    "the checker tests your function and explains what went wrong. The complete book, solutions included, is in "
    "the `notebooks/` folder."
)


class ProtocolError(ValueError):
    """A notebook's exercise cells do not follow the starter / solution / check protocol."""


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def defined_functions(source: str) -> list[str]:
    """Names of the functions a cell defines at top level."""
    return re.findall(r"^def\s+(\w+)\s*\(", source, flags=re.MULTILINE)


def validate(nb, name: str = "notebook") -> None:
    """Raise ProtocolError unless every exercise cell follows the protocol."""
    cells = nb.cells

    def fail(index: int, problem: str):
        raise ProtocolError(f"{name}, cell {index}: {problem}")

    for i, cell in enumerate(cells):
        kinds = tags(cell) & {"starter", "solution", "check"}
        if len(kinds) > 1:
            fail(i, f"a cell can be only one of starter, solution and check; it is tagged {sorted(kinds)}")
        if kinds & {"starter", "check"} and cell.cell_type != "code":
            fail(i, f"a {kinds.pop()} cell must be a code cell")
        if "starter" in kinds and "raise NotImplementedError" not in cell.source:
            fail(i, "the starter cell must end its function with `raise NotImplementedError`")
        if "solution" not in kinds or cell.cell_type != "code":
            continue
        functions = defined_functions(cell.source)
        if not functions:
            fail(i, "the solution cell defines no function")
        starters = [defined_functions(c.source) for c in cells[:i] if "starter" in tags(c)]
        if not any(set(functions) & set(names) for names in starters):
            fail(i, f"the solution of {', '.join(functions)} has no starter cell above it defining the same function")
        after = next((j for j in range(i + 1, len(cells)) if "solution" not in tags(cells[j])), None)
        if after is None or "check" not in tags(cells[after]):
            fail(i, "the solution must be followed by a check cell (only other solution cells may come between)")
        if "hide-input" not in tags(cell) or not cell.metadata.get("jupyter", {}).get("source_hidden"):
            fail(i, "the solution must be collapsed: tag `hide-input` and cell metadata "
                    '{"jupyter": {"source_hidden": true}}')


def student_notebook(nb, name: str = "notebook"):
    """A copy of ``nb`` without solution cells or outputs, with a note at the top. ``nb`` is not changed."""
    validate(nb, name)
    student = copy.deepcopy(nb)
    student.cells = [cell for cell in student.cells if "solution" not in tags(cell)]
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    student.cells.insert(0, nbformat.v4.new_markdown_cell(NOTE))
    return student


def write_student_edition(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the student edition of every notebook in ``src_dir`` into ``out_dir``; return the paths written."""
    sources = sorted(Path(src_dir).glob("*.ipynb"))
    students = [(path.name, student_notebook(nbformat.read(path, as_version=4), path.name)) for path in sources]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, nb in students:  # all validated before anything is written
        nbformat.write(nb, out / name)
    return [out / name for name, _ in students]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the student edition: notebooks without exercise solutions.")
    parser.add_argument("src_dir", help="folder of the complete notebooks, e.g. notebooks")
    parser.add_argument("out_dir", help="folder to write the student notebooks to, e.g. student")
    args = parser.parse_args(argv)
    try:
        written = write_student_edition(args.src_dir, args.out_dir)
    except ProtocolError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {len(written)} student notebooks to {args.out_dir}/ (solutions removed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
