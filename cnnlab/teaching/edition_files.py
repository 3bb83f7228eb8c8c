"""The student edition on disk: read the sources, write the copies, never lose work.

Students edit the notebooks in the output folder, so writing the edition
never destroys their work. :func:`write_student_edition` refuses an output
folder that is, or lies inside, the source folder. It records the SHA-256 of
every notebook it writes in :data:`MANIFEST` in the output folder, and
replaces a notebook only if it is still exactly what it wrote last time. A
notebook that differs (the student's edits, or a file it never wrote) is kept
and reported; ``force`` replaces it, after renaming the old file to
``NAME.backup-TIME.ipynb``. Every file is written to a temporary file in the
same folder and renamed into place, so an interruption never leaves half a
notebook.

:func:`write_files` is that safe writing on its own, for any set of files
(the nbgrader course of :mod:`cnnlab.teaching.nbgrader` uses it too), and
:func:`source_notebooks` the checks on the two folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from cnnlab.teaching.without_solutions import student_notebook, validate_tags

MANIFEST = ".student-edition.json"
"""In the output folder: the SHA-256 of each notebook as this command last wrote it."""


class NotebookError(ValueError):
    """A source notebook cannot be read, or a folder cannot be used."""


def read_notebook(path: Path) -> NotebookNode:
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
    validate_tags(nb.cells, str(path))  # a clearer message than the schema's
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


def _read_manifest(out: Path, manifest: str) -> dict[str, str]:
    """The hashes recorded in ``out / manifest``; an unreadable record trusts none."""
    try:
        files = json.loads((out / manifest).read_bytes()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {name: digest for name, digest in files.items() if isinstance(digest, str)}


def _validate_folders(src: Path, out: Path, example: str) -> None:
    """Refuse a missing source folder, and an output folder that is or is inside it.

    ``example`` names an output folder to suggest instead.
    """
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
            f"another folder, e.g. {example}"
        )
    if out_real.is_relative_to(src_real):
        raise NotebookError(
            f"output folder {str(out)!r} is inside the source folder {str(src)!r}: "
            "what is written there would mix with the book's sources; choose a "
            f"folder outside it, e.g. {example}"
        )


@dataclass
class Edition:
    """What :func:`write_files` did, one list of paths per outcome."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    """Files unlike what this command last wrote (a student's work): kept."""
    backups: list[Path] = field(default_factory=list)
    """With ``force``: where each replaced file that differed was moved."""


def source_notebooks(src: Path, out: Path, example: str = "student") -> list[Path]:
    """The notebooks of ``src``, sorted; NotebookError for an unusable folder.

    ``out`` must not be ``src`` or lie inside it (``example`` is the output
    folder the message suggests instead).
    """
    _validate_folders(src, out, example)
    sources = sorted(src.glob("*.ipynb"))
    if not sources:
        raise NotebookError(f"source folder {str(src)!r} holds no notebooks (*.ipynb)")
    return sources


def write_files(
    out: Path,
    files: list[tuple[str, bytes]],
    force: bool = False,
    *,
    manifest: str = MANIFEST,
    about: str = "what python -m cnnlab.teaching.student_edition last wrote here",
    backup_dir: Path | None = None,
) -> Edition:
    """Write each ``(name, data)`` of ``files`` to ``out / name``; never lose a file.

    ``name`` is a path relative to ``out`` (``source/ch02/x.ipynb``); folders
    are made as needed. A file is replaced only if it is exactly what this
    function wrote there last (its hash is in the ``manifest`` file in
    ``out``, described by ``about``); otherwise it is kept, unless ``force``,
    which first renames it to ``NAME.backup-TIME.ipynb`` in its own folder
    or in ``backup_dir``.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotebookError(
            f"output folder {str(out)!r} cannot be created: {error.strerror}"
        ) from None
    hashes, edition = _read_manifest(out, manifest), Edition()

    def save_manifest() -> None:
        record = {"about": about, "files": hashes}
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        _write_atomically(out / manifest, text.encode())

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name, data in files:
        target = out / name
        if target.exists() or target.is_symlink():
            current = target.read_bytes() if target.is_file() else b""
            if current == data:
                edition.unchanged.append(target)
                hashes[name] = _sha256(data)
                continue
            if hashes.get(name) != _sha256(current):
                if not force:
                    edition.kept.append(target)
                    continue
                folder = target.parent if backup_dir is None else backup_dir
                backup = folder / f"{target.stem}.backup-{stamp}{target.suffix}"
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, backup)
                edition.backups.append(backup)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, data)
        hashes[name] = _sha256(data)
        edition.written.append(target)
        save_manifest()  # after each file: an interruption loses no record
    save_manifest()
    return edition


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
    sources = source_notebooks(src, out)
    students = [student_notebook(read_notebook(path), str(path)) for path in sources]
    pages = [
        (p.name, nbformat.writes(nb).encode())
        for p, nb in zip(sources, students, strict=True)
    ]
    return write_files(out, pages, force)
