"""A class's submissions, found on disk: one notebook per student.

The command line names files and folders. A ``.ipynb`` file is one student's
submission and a ``.zip`` file another's; in both, the student is the file's
name without its extension. A folder holds such files, or one sub-folder per
student (named after the student) with the notebook anywhere inside it.
Jupyter's ``.ipynb_checkpoints`` and macOS's ``__MACOSX`` are ignored. A
student whose zip or folder holds no notebook, or several, gets that as a
problem, not a crash; two submissions under one name stop the run before
anything is graded.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_NOTEBOOK_BYTES = 50 << 20
"""A submitted notebook larger than this is refused unread (a zip may hold a bomb)."""

_IGNORED_PARTS = {".ipynb_checkpoints", "__MACOSX"}


class SubmissionsError(ValueError):
    """The submissions cannot be graded as given (a missing path, a name twice)."""


@dataclass(frozen=True)
class Submission:
    """One student's notebook as text, or the problem that kept it from being read."""

    student: str
    source: str
    text: str | None
    problem: str | None = None

    @property
    def sha256(self) -> str:
        """What a re-run compares to skip a submission that has not changed."""
        data = (self.text if self.text is not None else f"!{self.problem}").encode()
        return hashlib.sha256(data).hexdigest()


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(part in _IGNORED_PARTS or part.startswith("._") for part in parts)


def _decode(data: bytes, student: str, source: str) -> Submission:
    try:
        return Submission(student, source, data.decode("utf-8"))
    except UnicodeDecodeError:
        return Submission(student, source, None, "the notebook is not UTF-8 text")


def _too_big(size: int, student: str, source: str) -> Submission | None:
    if size <= MAX_NOTEBOOK_BYTES:
        return None
    problem = (
        f"the notebook is {size / 1e6:.0f} MB, more than "
        f"{MAX_NOTEBOOK_BYTES >> 20} MB: clear its outputs and submit it again"
    )
    return Submission(student, source, None, problem)


def _one_notebook(names: list[str], student: str, source: str) -> str | Submission:
    if len(names) == 1:
        return names[0]
    problem = (
        "no notebook (.ipynb) inside"
        if not names
        else f"{len(names)} notebooks inside ({', '.join(sorted(names)[:4])}); "
        "submit exactly one"
    )
    return Submission(student, source, None, problem)


def read_notebook_file(path: Path, student: str) -> Submission:
    size = path.stat().st_size
    return _too_big(size, student, str(path)) or _decode(
        path.read_bytes(), student, str(path)
    )


def read_zip(path: Path) -> Submission:
    student, source = path.stem, str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                info
                for info in archive.infolist()
                if info.filename.endswith(".ipynb")
                and not info.is_dir()
                and not _ignored(PurePosixPath(info.filename).parts)
            ]
            found = _one_notebook([m.filename for m in members], student, source)
            if isinstance(found, Submission):
                return found
            info = archive.getinfo(found)
            too_big = _too_big(info.file_size, student, source)
            if too_big is not None:
                return too_big
            with archive.open(info) as member:  # read no more than the limit
                data = member.read(MAX_NOTEBOOK_BYTES + 1)
            return _too_big(len(data), student, source) or _decode(
                data, student, f"{source}:{found}"
            )
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        return Submission(student, source, None, f"not a readable zip file ({error})")


def read_folder_of_one(path: Path) -> Submission:
    student = path.name
    notebooks = [
        p
        for p in sorted(path.rglob("*.ipynb"))
        if p.is_file() and not _ignored(p.relative_to(path).parts)
    ]
    found = _one_notebook(
        [str(p.relative_to(path)) for p in notebooks], student, str(path)
    )
    if isinstance(found, Submission):
        return found
    return read_notebook_file(path / found, student)


def _from_path(path: Path, top: bool) -> list[Submission]:
    if path.is_file():
        if path.suffix == ".ipynb":
            return [read_notebook_file(path, path.stem)]
        if path.suffix == ".zip":
            return [read_zip(path)]
        if top:
            raise SubmissionsError(f"{path}: not a notebook (.ipynb), zip or folder")
        return []
    if not path.is_dir():
        raise SubmissionsError(f"{path}: no such file or folder")
    if not top:
        return [read_folder_of_one(path)]
    found = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or _ignored((entry.name,)):
            continue
        found += _from_path(entry, top=False)
    return found


def find_submissions(paths: list[Path]) -> list[Submission]:
    """Every student's submission under ``paths``, in order of the students' names."""
    found: list[Submission] = []
    for path in paths:
        found += _from_path(path, top=True)
    by_student: dict[str, Submission] = {}
    for submission in found:
        if submission.student in by_student:
            raise SubmissionsError(
                f"two submissions for student {submission.student!r}: "
                f"{by_student[submission.student].source} and {submission.source}"
            )
        by_student[submission.student] = submission
    if not by_student:
        raise SubmissionsError(
            f"no submission (.ipynb, .zip or a student's folder) in "
            f"{', '.join(map(str, paths))}"
        )
    return [by_student[name] for name in sorted(by_student)]
