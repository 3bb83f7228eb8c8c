"""Grade one submission: run its notebook in a kernel, check each exercise from outside.

:func:`grade_notebook` reads the notebook, finds its chapter from its check
cells, and runs its code cells in order in a :class:`LimitedKernel`. The
student's own check cells are not run; where each stood, the grader runs the
chapter's checker in this process on the student's function in the kernel
(:class:`RemoteFunction`), on the grader's own cases. An exercise whose check
cell is gone is graded after the last cell. If the kernel dies or the
notebook runs out of time, the exercises graded so far keep their points and
the others score zero, with the reason.

:func:`grade_isolated` does the same in a new Python process, which is how
the class grader calls it: nothing a submission does can take the grader
down with it.

``python -m cnnlab.teaching.classroom.one JOB RESULT`` is that process: JOB
is a JSON file (the notebook's text, the student, the chapter, the limits),
RESULT where the outcome is written as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from cnnlab.teaching.assignments import Chapter, Exercise, chapter_of, parse_check_call
from cnnlab.teaching.classroom.calls import RemoteFunction
from cnnlab.teaching.classroom.remote import KernelGone, LimitedKernel
from cnnlab.teaching.without_solutions import tags


@dataclass(frozen=True)
class Limits:
    """What one submission may use: seconds per cell and per notebook, bytes."""

    cell_seconds: float = 120.0
    notebook_seconds: float = 600.0
    memory_bytes: int = 4 << 30
    output_bytes: int = 10 << 20


@dataclass
class ExerciseGrade:
    points: int = 0
    status: str = "not graded"
    seconds: float = 0.0
    feedback: str = ""


@dataclass
class SubmissionGrade:
    """What a submission scored, exercise by exercise, and what went wrong."""

    student: str
    chapter: int | None = None
    status: str = "graded"
    problems: list[str] = field(default_factory=list)
    exercises: dict[str, ExerciseGrade] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(grade.points for grade in self.exercises.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmissionGrade:
        grade = cls(**{k: v for k, v in data.items() if k != "exercises"})
        grade.exercises = {
            number: ExerciseGrade(**fields)
            for number, fields in data.get("exercises", {}).items()
        }
        return grade


def _check_calls(nb: nbformat.NotebookNode) -> dict[int, tuple[str, tuple[str, ...]]]:
    """The parsed call of each check cell that has one, by cell index."""
    calls = {}
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code" and "check" in tags(cell):
            try:
                calls[index] = parse_check_call(cell.source)
            except ValueError:
                continue
    return calls


def identify(nb: nbformat.NotebookNode) -> Chapter | None:
    """The chapter whose exercises the notebook's check cells name; None if none."""
    return chapter_of(
        [
            c.source
            for c in nb.cells
            if c.get("cell_type") == "code" and "check" in tags(c)
        ]
    )


def _cell_name(cell: nbformat.NotebookNode, index: int) -> str:
    """``cell 57 (hog = bytearray(...)``: its place and first line, for the feedback."""
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    first = first if len(first) <= 40 else first[:37] + "..."
    return f"cell {index + 1} ({first.strip()})"


def _grade_exercise(
    kernel: LimitedKernel, exercise: Exercise, call_seconds: float
) -> ExerciseGrade:
    import cnnlab.exercises

    checker = getattr(cnnlab.exercises, exercise.checker)
    start = time.perf_counter()
    try:
        functions = [
            RemoteFunction(kernel, n, call_seconds) for n in exercise.functions
        ]
        report = checker(*functions)
    except KernelGone:
        raise
    except Exception as error:  # noqa: BLE001 - a checker's own failure is reported
        seconds = time.perf_counter() - start
        message = (
            f"✗ exercise {exercise.number}: the grader could not check it ({error!r})"
        )
        return ExerciseGrade(0, "grader error", seconds, message)
    seconds = time.perf_counter() - start
    points = exercise.points if report.passed else 0
    return ExerciseGrade(points, report.status, seconds, report.message)


def precheck(
    text: str, student: str, chapter: int | None
) -> tuple[SubmissionGrade, nbformat.NotebookNode | None, Chapter | None]:
    """Read the notebook and find its chapter, without running anything.

    Returns the grade so far, and the notebook and chapter to run; those are
    None when there is nothing to run (an unreadable file, no exercises, the
    wrong chapter), and the grade says why.
    """
    grade = SubmissionGrade(student, chapter)
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - any unreadable file is reported
        grade.status = "unreadable"
        grade.problems.append(f"the file is not a readable notebook: {error}"[:300])
        return grade, None, None
    found = identify(nb)
    if found is None:
        grade.status = "not an exercise notebook"
        grade.problems.append(
            "no check cell of any chapter's exercises was found (were the cells' "
            "tags removed?)"
        )
        return grade, None, None
    if chapter is not None and found.number != chapter:
        grade.status = "wrong chapter"
        grade.problems.append(
            f"this is chapter {found.number}'s notebook ({found.notebook}); the "
            f"assignment is chapter {chapter}"
        )
        return grade, None, None
    grade.chapter = found.number
    grade.exercises = {e.number: ExerciseGrade() for e in found.exercises}
    return grade, nb, found


def grade_notebook(
    text: str,
    student: str,
    chapter: int | None,
    limits: Limits = Limits(),
    workdir: Path | None = None,
) -> SubmissionGrade:
    """Grade one notebook's text as ``student``'s submission for ``chapter``.

    ``chapter`` None grades it as whichever chapter its check cells name.
    """
    start = time.perf_counter()
    grade, nb, found = precheck(text, student, chapter)
    if nb is None or found is None:
        return grade
    with tempfile.TemporaryDirectory(prefix="cnnlab-grade-") as scratch:
        folder = Path(workdir or scratch)
        _run(nb, found, grade, limits, folder)
    grade.seconds = time.perf_counter() - start
    return grade


def _run(
    nb: nbformat.NotebookNode,
    chapter: Chapter,
    grade: SubmissionGrade,
    limits: Limits,
    folder: Path,
) -> None:
    by_call = {(e.checker, e.functions): e for e in chapter.exercises}
    calls = _check_calls(nb)
    kernel = LimitedKernel(
        nb,
        folder,
        limits.cell_seconds,
        limits.notebook_seconds,
        limits.memory_bytes,
        limits.output_bytes,
    )
    pending = list(chapter.exercises)

    def check(exercise: Exercise) -> None:
        pending.remove(exercise)
        result = _grade_exercise(kernel, exercise, limits.cell_seconds)
        grade.exercises[exercise.number] = result

    try:
        kernel.start()
        for index, cell in enumerate(nb.cells):
            if cell.get("cell_type") != "code":
                continue
            if "check" in tags(cell):
                exercise = by_call.get(calls.get(index, ("", ())))
                if exercise is not None and exercise in pending:
                    check(exercise)
                continue  # the student's check cells are not run
            where = _cell_name(cell, index)
            try:
                error = kernel.run(cell, index)
            except KernelGone as gone:
                raise KernelGone(f"{gone}, in {where}") from None
            if error is not None:
                grade.problems.append(f"{where} {error}")
        for exercise in list(pending):
            check(exercise)
    except KernelGone as gone:
        grade.status = "stopped"
        grade.problems.append(f"grading stopped: {gone}")
        for exercise in pending:
            grade.exercises[
                exercise.number
            ].feedback = f"✗ exercise {exercise.number}: not graded, {gone}"
    except Exception as error:  # noqa: BLE001 - e.g. the kernel failed to start
        grade.status = "grader error"
        grade.problems.append(f"grading failed: {error!r}"[:300])
    finally:
        kernel.stop()
    if kernel.output_overflow:
        grade.problems.append(
            f"the notebook printed more than {limits.output_bytes >> 20} MB; the "
            "rest of its output was dropped"
        )


def grade_isolated(
    text: str, student: str, chapter: int | None, limits: Limits = Limits()
) -> SubmissionGrade:
    """:func:`grade_notebook` in a new Python process (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-grade-") as scratch:
        job, result = Path(scratch) / "job.json", Path(scratch) / "result.json"
        workdir = Path(scratch) / "work"
        workdir.mkdir()
        job.write_text(
            json.dumps(
                {
                    "text": text,
                    "student": student,
                    "chapter": chapter,
                    "limits": asdict(limits),
                    "workdir": str(workdir),
                }
            )
        )
        # Past the notebook's limit, a margin for starting and stopping the kernel.
        timeout = limits.notebook_seconds + 2 * limits.cell_seconds + 60
        env = {**os.environ, "CNNLAB_STRICT_EXERCISES": "", "MPLBACKEND": "Agg"}
        command = [sys.executable, "-m", "cnnlab.teaching.classroom.one", str(job)]
        try:
            done = subprocess.run(
                [*command, str(result)],
                cwd=workdir,
                env=env,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            grade = SubmissionGrade(student, chapter, "grader error")
            grade.problems.append(f"the grader gave up after {timeout:g} s")
            return grade
        if done.returncode != 0 or not result.exists():
            grade = SubmissionGrade(student, chapter, "grader error")
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            grade.problems.append(
                f"the grader's process failed ({done.returncode}): {' | '.join(tail)}"
            )
            return grade
        return SubmissionGrade.from_json(json.loads(result.read_text()))


def main(argv: list[str] | None = None) -> int:
    job_path, result_path = argv or sys.argv[1:]
    job = json.loads(Path(job_path).read_text())
    grade = grade_notebook(
        job["text"],
        job["student"],
        job["chapter"],
        Limits(**job["limits"]),
        Path(job["workdir"]),
    )
    Path(result_path).write_text(json.dumps(grade.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
