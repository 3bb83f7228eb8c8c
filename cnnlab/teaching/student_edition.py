"""Write the student edition of the book: every notebook, without exercise solutions.

    python -m cnnlab.teaching.student_edition notebooks student [--force]

Which cells are removed is decided by their tags, never by their text: each
exercise is a markdown task, a ``starter`` cell, a ``solution`` cell and a
``check`` cell, and every ``solution`` cell is dropped, so the check reports
"not implemented yet" until the student fills in the starter. The prose that
mentions a solution is rewritten to read true without it. A notebook that
breaks this protocol, or cannot be read, is refused with its name and the
cell's index. :mod:`cnnlab.teaching.without_solutions` does this to one
notebook.

Students edit the notebooks in the output folder, so the command never
destroys their work: it replaces a notebook only if it is still exactly what
it wrote there last time, and keeps (and reports) any other, unless
``--force``, which first renames it to ``NAME.backup-TIME.ipynb``.
:mod:`cnnlab.teaching.edition_files` reads and writes the folders.

This module is the command line, and offers the names of both.
"""

from __future__ import annotations

import argparse
import sys

from cnnlab.teaching.edition_files import (
    MANIFEST,
    Edition,
    NotebookError,
    read_notebook,
    write_student_edition,
)
from cnnlab.teaching.without_solutions import (
    CHECK_SENTENCE,
    NOTE,
    ProtocolError,
    defined_functions,
    student_notebook,
    tags,
    validate_protocol,
    validate_tags,
    without_solution_prose,
)

__all__ = [
    "CHECK_SENTENCE",
    "MANIFEST",
    "NOTE",
    "Edition",
    "NotebookError",
    "ProtocolError",
    "defined_functions",
    "main",
    "read_notebook",
    "student_notebook",
    "tags",
    "validate_protocol",
    "validate_tags",
    "without_solution_prose",
    "write_student_edition",
]


def _notebooks(count: int) -> str:
    return f"{count} student notebook" + ("" if count == 1 else "s")


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (1 after an error, printed)."""
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.teaching.student_edition",
        description="Write the student edition: notebooks without exercise solutions. "
        "A notebook in OUT_DIR that differs from what this command last wrote there "
        "(a student's work) is kept, unless --force.",
    )
    parser.add_argument(
        "src_dir", help="folder of the complete notebooks, e.g. notebooks"
    )
    parser.add_argument(
        "out_dir", help="folder to write the student notebooks to, e.g. student"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace edited notebooks too "
        "(each is first renamed to NAME.backup-TIME.ipynb)",
    )
    args = parser.parse_args(argv)
    try:
        edition = write_student_edition(args.src_dir, args.out_dir, force=args.force)
    except (ProtocolError, NotebookError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {args.out_dir}: {error}", file=sys.stderr)
        return 1
    out = args.out_dir.rstrip("/")
    print(
        f"Wrote {_notebooks(len(edition.written))} to {out}/ (solutions removed); "
        f"{_notebooks(len(edition.unchanged))} already up to date."
    )
    for backup in edition.backups:
        print(f"Replaced an edited notebook; the old one is kept as {backup}")
    for path in edition.kept:
        print(
            f"Kept {path}: it differs from the student edition this command last "
            "wrote there (your edits?). Rename it to get a fresh copy, or pass --force "
            "to replace it (the old one is then renamed to NAME.backup-TIME.ipynb)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
