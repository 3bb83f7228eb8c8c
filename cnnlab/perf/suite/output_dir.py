"""The folder the suite writes its results to, checked before anything runs.

``python -m cnnlab bench`` writes three files (:data:`OUTPUT_FILES`) into
``--out``. :func:`check_out_dir` refuses a folder that cannot hold them, or
one whose files of those names this command did not write, before any case
runs; :func:`temporary_beside` gives the temporary files that
:func:`cnnlab.perf.suite.write_results` renames into place, so that an
interrupted write leaves every file whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["OUTPUT_FILES", "check_out_dir", "temporary_beside"]

OUTPUT_FILES = ("results.json", "speedup.png", "roofline.png")


def _written_by_us(out: Path) -> bool:
    """Whether ``out/results.json`` is this command's (so its neighbours are too)."""
    try:
        data = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {
        "schema_version",
        "settings",
        "cases",
        "ceilings",
    } <= set(data)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor: where a new ``path`` is made."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_out_dir(out_dir: str | os.PathLike[str], force: bool) -> None:
    """Refuse an output directory that cannot be written or holds others' files.

    Others' files are files of the names in :data:`OUTPUT_FILES` that this
    command did not write.

    Runs before any case, so a bad ``--out`` costs nothing. Writability is
    tried, not inferred from permission bits (root passes those, and /proc
    or a read-only mount refuses root too): a temporary directory is made
    and removed in ``out``, or in the nearest existing folder above it.
    Raises NotADirectoryError, PermissionError or FileExistsError naming
    ``out``.
    """
    if not os.fspath(out_dir).strip():  # Path("") would be the current directory
        raise NotADirectoryError(
            f"--out {os.fspath(out_dir)!r} is empty; "
            "give a directory, e.g. bench-results"
        )
    out = Path(out_dir)
    shown = repr(os.fspath(out_dir))
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {shown} is a file, not a directory")
    folder = _nearest_existing(out)
    if not folder.is_dir():
        raise NotADirectoryError(
            f"--out {shown} cannot be made: {str(folder)!r} is a file, not a directory"
        )
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".cnnlab-bench-probe-"))
    except OSError as error:
        raise PermissionError(
            f"--out {shown} cannot be written: {error.strerror or error} "
            f"in {str(folder)!r}"
        ) from None
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not force and not _written_by_us(out):
        raise FileExistsError(
            f"{', '.join(existing)} in {shown} were not written by "
            "'python -m cnnlab bench'; "
            "choose another --out, or pass --force to replace them"
        )


def _new_file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the umask.

    The umask can only be read by setting it, so it is set back at once.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()


def temporary_beside(path: Path) -> Path:
    """A new empty file in ``path``'s folder.

    Then ``os.replace`` of it onto ``path`` is one rename.
    """
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    os.close(handle)
    # mkstemp's 0o600 would hide the results from other users
    os.chmod(name, _NEW_FILE_MODE)
    return Path(name)
