"""The grades on disk: ``grades.csv``, one feedback file per student, and the record.

The record (:data:`RECORD`, in the output folder) keeps each student's grade
with the SHA-256 of the submission it came from, and the SHA-256 of every
file this module wrote. A re-run grades again only the submissions that
changed (or all, when the grader's settings changed), and replaces a file
only if it is still what was written last time: a teacher's edited
``grades.csv`` is never overwritten without ``force``, and even then the old
one is kept as ``grades.backup-TIME.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cnnlab.teaching.assignments import Chapter
from cnnlab.teaching.classroom.one import SubmissionGrade
from cnnlab.teaching.edition_files import _write_atomically

RECORD = ".cnnlab-grading.json"
GRADES = "grades.csv"
FEEDBACK = "feedback"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Record:
    """What the last run graded and wrote, kept in :data:`RECORD`."""

    settings: str = ""
    grades: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> Record:
        """The record in ``out``; an unreadable one trusts nothing (all is redone)."""
        try:
            data = json.loads((out / RECORD).read_text())
            return cls(data["settings"], dict(data["grades"]), dict(data["files"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, out: Path) -> None:
        data = {"settings": self.settings, "grades": self.grades, "files": self.files}
        _write_atomically(out / RECORD, json.dumps(data, indent=1).encode())

    def cached(
        self, student: str, sha256: str, settings: str
    ) -> SubmissionGrade | None:
        """The student's grade from the last run, if neither the submission nor the
        settings changed since."""
        entry = self.grades.get(student)
        if settings != self.settings or not entry or entry.get("sha256") != sha256:
            return None
        try:
            return SubmissionGrade.from_json(entry["grade"])
        except (KeyError, TypeError):
            return None

    def keep(self, grade: SubmissionGrade, sha256: str) -> None:
        self.grades[grade.student] = {"sha256": sha256, "grade": grade.to_json()}


def columns(chapter: Chapter) -> list[str]:
    points = [exercise.column for exercise in chapter.exercises]
    details = [
        f"{exercise.column} {what}"
        for exercise in chapter.exercises
        for what in ("status", "seconds")
    ]
    return ["student", "status", *points, "total", *details, "seconds", "problems"]


def grades_csv(grades: list[SubmissionGrade], chapter: Chapter) -> str:
    """One row per student: points per exercise, the total, then status and time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns(chapter))
    for grade in grades:
        by_number = grade.exercises
        points, details = [], []
        for exercise in chapter.exercises:
            graded = by_number.get(exercise.number)
            points.append(graded.points if graded else 0)
            details += (
                [graded.status, f"{graded.seconds:.2f}"]
                if graded
                else ["not graded", ""]
            )
        writer.writerow(
            [
                grade.student,
                grade.status,
                *points,
                grade.total,
                *details,
                f"{grade.seconds:.1f}",
                "; ".join(grade.problems),
            ]
        )
    return buffer.getvalue()


def feedback_text(grade: SubmissionGrade, chapter: Chapter) -> str:
    """The feedback a student reads: the check cells' text, exercise by exercise."""
    lines = [
        f"{grade.student}: chapter {chapter.number} ({chapter.notebook}), "
        f"{grade.total} of {chapter.points} points",
        "",
    ]
    if grade.problems:
        lines += [
            "While grading your notebook:",
            *(f"- {p}" for p in grade.problems),
            "",
        ]
    for exercise in chapter.exercises:
        graded = grade.exercises.get(exercise.number)
        points = graded.points if graded else 0
        lines.append(
            f"Exercise {exercise.number} ({exercise.level}): {points} of "
            f"{exercise.points} points"
        )
        lines += [graded.feedback if graded and graded.feedback else "(not graded)", ""]
    return "\n".join(lines)


@dataclass
class Written:
    """What :func:`write_files` did with each file, by its path inside ``out``."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Files that differ from what this command wrote last (a teacher's edits)."""
    backups: list[str] = field(default_factory=list)


def write_files(
    out: Path, files: dict[str, str], record: Record, force: bool = False
) -> Written:
    """Write each ``files[name]`` under ``out`` unless that would lose someone's edits.

    Nothing is written if any file would be kept: the run stops with the
    grades in the record, and the next run (after the teacher moves the
    edited file, or with ``force``) writes everything at once.
    """
    done = Written()
    plan = []
    for name, text in files.items():
        path = out / name
        data = text.encode()
        if path.exists():
            current = _sha256(path.read_bytes())
            if current == _sha256(data):
                done.unchanged.append(name)
                record.files[name] = current
                continue
            if current != record.files.get(name) and not force:
                done.kept.append(name)
                continue
            plan.append((name, data, current != record.files.get(name)))
        else:
            plan.append((name, data, False))
    if done.kept:
        return done
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name, data, back_up in plan:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if back_up:
            backup = path.with_name(f"{path.stem}.backup-{stamp}{path.suffix}")
            path.rename(backup)
            done.backups.append(str(backup.relative_to(out)))
        _write_atomically(path, data)
        record.files[name] = _sha256(data)
        done.written.append(name)
    return done
