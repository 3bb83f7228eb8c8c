"""The book's exercises as an nbgrader course, for teachers who already use nbgrader.

    python -m cnnlab.teaching.nbgrader notebooks [--out nbgrader-course] [--force]

writes ``nbgrader-course/source/ch02/02-convolution-in-python.ipynb`` and so
on: one assignment per chapter that has exercises in
:data:`cnnlab.teaching.assignments.CHAPTERS`. In that course folder the
teacher runs ``nbgrader generate_assignment ch02``, releases, collects and
runs ``nbgrader autograde ch02`` as usual. Each starter and its solution
become one autograded answer cell whose solution region nbgrader's release
replaces (so students see the book's starter), each check cell an autograded
test cell worth the exercise's points in :mod:`cnnlab.teaching.assignments`;
:mod:`cnnlab.teaching.nbgrader_notebook` converts one notebook and says why.

Two things about nbgrader itself: it creates its database by running
``alembic`` from ``PATH``, so run it with the environment's ``bin`` folder on
``PATH`` (activate the environment); and autograde stops a cell after 30 s
unless the course's ``nbgrader_config.py`` sets ``c.Execute.timeout``.

Nothing is lost: like the student edition, the command records what it
writes (:data:`MANIFEST`, in the course folder) and never replaces a
notebook it did not write or that has changed since, unless ``--force``,
which first moves it to ``backups/NAME.backup-TIME.ipynb`` in the course
folder (nbgrader would take a backup inside ``source/ch02`` for a notebook
of the assignment). :mod:`cnnlab.teaching.edition_files` does the writing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from cnnlab.teaching.assignments import CHAPTERS, Chapter
from cnnlab.teaching.edition_files import (
    Edition,
    NotebookError,
    read_notebook,
    source_notebooks,
    write_files,
)
from cnnlab.teaching.nbgrader_notebook import course_notebook
from cnnlab.teaching.without_solutions import ProtocolError

__all__ = ["MANIFEST", "assignment_name", "main", "write_course"]

MANIFEST = ".cnnlab-nbgrader.json"
"""In the course folder: the SHA-256 of each notebook as this command last wrote it."""


def assignment_name(chapter: Chapter) -> str:
    """The nbgrader assignment of a chapter: ``ch02``."""
    return f"ch{chapter.number:02d}"


def write_course(
    src_dir: str | Path, out_dir: str | Path, force: bool = False
) -> tuple[Edition, list[Path]]:
    """Write ``out_dir/source/chNN/`` for each chapter notebook in ``src_dir``.

    Returns what was written and the notebooks of ``src_dir`` that are no
    chapter with exercises (skipped). Every notebook is read and converted
    before anything is written; a notebook in ``out_dir`` that this command
    did not write there last is kept unless ``force`` (see the module
    docstring). NotebookError for an unusable folder or notebook,
    ProtocolError for a notebook whose exercises cannot be converted.
    """
    src, out = Path(src_dir), Path(out_dir)
    chapters = {chapter.notebook: chapter for chapter in CHAPTERS.values()}
    files, skipped = [], []
    for path in source_notebooks(src, out, example="nbgrader-course"):
        chapter = chapters.get(path.stem)
        if chapter is None:
            skipped.append(path)
            continue
        course = course_notebook(read_notebook(path), chapter, str(path))
        name = f"source/{assignment_name(chapter)}/{path.name}"
        files.append((name, nbformat.writes(course).encode()))
    edition = write_files(
        out,
        files,
        force,
        manifest=MANIFEST,
        about="what python -m cnnlab.teaching.nbgrader last wrote here",
        backup_dir=out / "backups",
    )
    return edition, skipped


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (1 after an error, printed)."""
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.teaching.nbgrader",
        description="Write an nbgrader course's source/ folder, one assignment per "
        "chapter (ch02, ...). A notebook there that differs from what this command "
        "last wrote (a teacher's edits) is kept, unless --force.",
    )
    parser.add_argument("src_dir", help="folder of the book's notebooks: notebooks")
    parser.add_argument(
        "--out", default="nbgrader-course", help="the course folder (nbgrader-course)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace edited notebooks too (each is first moved to OUT/backups/)",
    )
    args = parser.parse_args(argv)
    try:
        edition, skipped = write_course(args.src_dir, args.out, force=args.force)
    except (ProtocolError, NotebookError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {args.out}: {error}", file=sys.stderr)
        return 1
    out = args.out.rstrip("/")
    print(
        f"Wrote {len(edition.written)} notebook(s) to {out}/source/; "
        f"{len(edition.unchanged)} already up to date. In {out}/, run "
        "`nbgrader generate_assignment ch02` (and so on) to release them."
    )
    for path in skipped:
        print(f"Skipped {path}: no chapter with exercises in assignments.py.")
    for backup in edition.backups:
        print(f"Replaced an edited notebook; the old one is kept as {backup}")
    for path in edition.kept:
        print(
            f"Kept {path}: it differs from what this command last wrote there "
            "(your edits?). Pass --force to replace it (the old one is then moved "
            f"to {out}/backups/)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
