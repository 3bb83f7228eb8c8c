"""Write the student edition of the book: every notebook, without exercise solutions.

    python -m cnnlab.teaching.student_edition notebooks student [--force]

Which cells are removed is decided by their tags, never by their text. Each
exercise is a markdown task, a ``starter`` cell (the function with ``raise
NotImplementedError``), a ``solution`` cell (the same function, worked out)
and a ``check`` cell. Dropping every ``solution`` cell therefore leaves the
starter stub in force when the check runs, and the checker reports "not
implemented yet" until the student fills it in. The protocol is validated
first, so a notebook that would leak a solution or crash is refused with the
notebook's name and the cell's index; so is a notebook that cannot be read,
or a cell whose tags are not a list of strings (it might hide a solution).

The prose must read true without the solutions: a sentence of a kept
markdown cell that mentions a solution describes one that is gone, so it is
dropped (after a list item such as "a hidden solution," is taken out of its
sentence), and the paragraph gets :data:`CHECK_SENTENCE` instead.

Students edit the notebooks in the output folder, so the command never
destroys their work. It refuses an output folder that is, or lies inside,
the source folder. It records the SHA-256 of every notebook it writes in
:data:`MANIFEST` in the output folder, and replaces a notebook only if it is
still exactly what it wrote last time. A notebook that differs (the
student's edits, or a file it never wrote) is kept and reported; ``--force``
replaces it, after renaming the old file to ``NAME.backup-TIME.ipynb``.
Every file is written to a temporary file in the same folder and renamed
into place, so an interruption never leaves half a notebook.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

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

MANIFEST = ".student-edition.json"
"""In the output folder: the SHA-256 of each notebook as this command last wrote it."""

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


class NotebookError(ValueError):
    """A source notebook cannot be read, or a folder cannot be used."""


def tags(cell) -> set[str]:
    """The tags of a cell; TypeError unless they are a list of strings."""
    metadata = cell.get("metadata", {}) if isinstance(cell, dict) else None
    value = metadata.get("tags", []) if isinstance(metadata, dict) else None
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise TypeError(f"tags must be a list of strings, got {value!r}")
    return set(value)


def check_tags(cells, name: str = "notebook") -> None:
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


def validate(nb, name: str = "notebook") -> None:
    """Raise ProtocolError unless tags can be read and exercises follow the protocol."""
    cells = nb.cells

    def fail(index: int, problem: str):
        raise ProtocolError(f"{name}, cell {index}: {problem}")

    check_tags(cells, name)
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


def _kept_sentences(pieces: list[str]):
    """Indices of the sentences in ``pieces`` that mention no solution.

    ``pieces`` alternates sentences and the white space between them; each
    index comes with whether a sentence was kept before it.
    """
    kept_any = False
    for k in range(0, len(pieces), 2):
        if not SOLUTION_WORD.search(pieces[k]):
            yield k, kept_any
            kept_any = True


def student_notebook(nb, name: str = "notebook"):
    """A copy of ``nb`` without solutions or outputs, a note on top; ``nb`` stays.

    Kept markdown cells lose their prose about the solutions
    (:func:`without_solution_prose`).
    """
    validate(nb, name)
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


def read_notebook(path: Path):
    """Read and schema-validate a notebook; NotebookError names the file and problem."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookError(
            f"{path}: not UTF-8 text (byte {error.start}); is it a notebook?"
        ) from None
    except OSError as error:
        raise NotebookError(f"{path}: cannot be read: {error.strerror}") from None
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise NotebookError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        raise NotebookError(
            f"{path}: not a Jupyter notebook (no nbformat version number)"
        )
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat's converters fail in many ways on odd JSON
        raise NotebookError(
            f"{path}: not a valid notebook: {type(error).__name__}: {error}"
        ) from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path}: not a valid notebook: 'cells' is not a list")
    check_tags(nb.cells, str(path))  # a clearer message than the schema's
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        first_line = str(error).splitlines()[0] if str(error) else "invalid"
        raise NotebookError(f"{path}: not a valid notebook: {first_line}") from None
    return nb


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _new_file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the umask (read, then set back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in its folder, then rename."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        os.chmod(temporary, _NEW_FILE_MODE)  # mkstemp's 0o600 would hide it from others
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_manifest(out: Path) -> dict[str, str]:
    """The hashes this command recorded in ``out``; an unreadable record trusts none."""
    try:
        files = json.loads((out / MANIFEST).read_bytes()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {name: digest for name, digest in files.items() if isinstance(digest, str)}


def _check_folders(src: Path, out: Path) -> None:
    """Refuse a missing source folder, and an output folder that is or is inside it."""
    if not src.exists():
        raise NotebookError(f"source folder {str(src)!r} does not exist")
    if not src.is_dir():
        raise NotebookError(f"source folder {str(src)!r} is not a folder")
    if out.exists() and not out.is_dir():
        raise NotebookError(f"output folder {str(out)!r} is a file, not a folder")
    src_real, out_real = src.resolve(), out.resolve()
    if out_real == src_real or (out.exists() and os.path.samefile(src, out)):
        raise NotebookError(
            f"output folder {str(out)!r} is the source folder {str(src)!r}: writing "
            "there would delete the solutions from the book's sources; choose "
            "another folder, e.g. student"
        )
    if out_real.is_relative_to(src_real):
        raise NotebookError(
            f"output folder {str(out)!r} is inside the source folder {str(src)!r}: "
            "the student edition would mix with the book's sources; choose a "
            "folder outside it, e.g. student"
        )


@dataclass
class Edition:
    """What :func:`write_student_edition` did, one list of paths per outcome."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    """Notebooks unlike what this command last wrote (a student's work): kept."""
    backups: list[Path] = field(default_factory=list)
    """With ``force``: where each replaced notebook that differed was moved."""


def write_student_edition(
    src_dir: str | Path, out_dir: str | Path, force: bool = False
) -> Edition:
    """Write the student edition of every notebook in ``src_dir`` into ``out_dir``.

    Every notebook is read and validated before anything is written. A
    notebook in ``out_dir`` is replaced only if it is exactly what this
    command wrote there last (its hash is in :data:`MANIFEST`); otherwise it
    is kept, unless ``force``, which first renames it to
    ``NAME.backup-TIME.ipynb``. Raises NotebookError for an unusable folder
    or notebook and ProtocolError for a notebook that breaks the protocol.
    """
    src, out = Path(src_dir), Path(out_dir)
    _check_folders(src, out)
    sources = sorted(src.glob("*.ipynb"))
    if not sources:
        raise NotebookError(f"source folder {str(src)!r} holds no notebooks (*.ipynb)")
    students = [student_notebook(read_notebook(path), str(path)) for path in sources]
    pages = [(p.name, nbformat.writes(nb).encode()) for p, nb in zip(sources, students)]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotebookError(
            f"output folder {str(out)!r} cannot be created: {error.strerror}"
        ) from None
    manifest, edition = _read_manifest(out), Edition()

    def save_manifest() -> None:
        record = {
            "about": "what python -m cnnlab.teaching.student_edition last wrote here"
        }
        record["files"] = manifest
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        _write_atomically(out / MANIFEST, text.encode())

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name, data in pages:
        target = out / name
        if target.exists() or target.is_symlink():
            current = target.read_bytes() if target.is_file() else b""
            if current == data:
                edition.unchanged.append(target)
                manifest[name] = _sha256(data)
                continue
            if manifest.get(name) != _sha256(current):
                if not force:
                    edition.kept.append(target)
                    continue
                backup = target.with_name(
                    f"{target.stem}.backup-{stamp}{target.suffix}"
                )
                os.replace(target, backup)
                edition.backups.append(backup)
        _write_atomically(target, data)
        manifest[name] = _sha256(data)
        edition.written.append(target)
        save_manifest()  # after each notebook: an interruption loses no record
    save_manifest()
    return edition


def _notebooks(count: int) -> str:
    return f"{count} student notebook" + ("" if count == 1 else "s")


def main(argv: list[str] | None = None) -> int:
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
            f"Kept {path}: it differs from the student edition this command "
            "last wrote there "
            "(your edits?). Rename it to get a fresh copy, or pass --force to "
            "replace it "
            "(the old one is then renamed to NAME.backup-TIME.ipynb)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
