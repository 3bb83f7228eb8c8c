"""The grades on disk: ``grades.csv``, one feedback file per student, and the record.

The record (:data:`RECORD`, in the output folder) keeps each student's grade
with the SHA-256 of the submission it came from, so a re-run grades again
only the submissions that changed (or all, when the grader's settings
changed). The files are written as the student edition's are
(:func:`cnnlab.teaching.edition_files.write_files`, which keeps their hashes
in :data:`FILES_RECORD`): one is replaced only if it is still what was written
last time, so a teacher's edited ``grades.csv`` is never overwritten without
``force``, and even then the old one is kept as ``grades.backup-TIME.csv``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.teaching import edition_files
from cnnlab.teaching.assignments import Chapter
from cnnlab.teaching.classroom.one import SubmissionGrade
from cnnlab.teaching.edition_files import Edition, _write_atomically

RECORD = ".cnnlab-grading.json"
FILES_RECORD = ".cnnlab-grading-files.json"
GRADES = "grades.csv"
FEEDBACK = "feedback"


@dataclass
class Record:
    """What the last run graded and wrote, kept in :data:`RECORD`."""

    settings: str = ""
    grades: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> Record:
        """The record in ``out``; an unreadable one trusts nothing (all is redone)."""
        try:
            data = json.loads((out / RECORD).read_text())
            return cls(data["settings"], dict(data["grades"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, out: Path) -> None:
        data = {"settings": self.settings, "grades": self.grades}
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


def write_files(out: Path, files: dict[str, str], force: bool = False) -> Edition:
    """Write each ``files[name]`` under ``out`` unless that would lose someone's edits.

    A file is replaced only if it is still what this command wrote last time
    (see :func:`cnnlab.teaching.edition_files.write_files`); an edited one is
    kept, or with ``force`` renamed to ``NAME.backup-TIME.csv`` first.
    """
    return edition_files.write_files(
        out,
        [(name, text.encode()) for name, text in files.items()],
        force,
        manifest=FILES_RECORD,
        about="what python -m cnnlab.grade last wrote here",
    )
