"""``python -m cnnlab.grade``: grade a class's notebooks, in parallel on Dask.

Each submission is graded by :func:`~cnnlab.teaching.classroom.one.grade_isolated`
as one Dask task: a new process, a fresh kernel, the limits given here. By
default a :class:`dask.distributed.LocalCluster` runs one worker per core;
``--scheduler tcp://host:8786`` sends the same tasks to a Dask cluster the
teacher already has (its workers need cnnlab installed; the notebooks travel
with the tasks, so no shared disk is needed).

The grades go to ``OUT/grades.csv`` and ``OUT/feedback/STUDENT.txt``; see
:mod:`~cnnlab.teaching.classroom.records` for how a re-run skips unchanged
submissions and never overwrites a teacher's edits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import nbformat
from tabulate import tabulate
from tqdm.auto import tqdm

from cnnlab.teaching.assignments import CHAPTERS, Chapter
from cnnlab.teaching.classroom.one import (
    Limits,
    SubmissionGrade,
    grade_isolated,
    identify,
    precheck,
)
from cnnlab.teaching.classroom.records import (
    FEEDBACK,
    GRADES,
    Record,
    feedback_text,
    grades_csv,
    write_files,
)
from cnnlab.teaching.classroom.submissions import (
    Submission,
    SubmissionsError,
    find_submissions,
)

EXAMPLES = """examples:
  python -m cnnlab.grade submissions/ --out grades/
  python -m cnnlab.grade alice.ipynb bob.zip --out grades/ --workers 2
  python -m cnnlab.grade submissions/ --out grades/ --scheduler tcp://host:8786
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.grade",
        description="Grade a class's notebooks: each in its own kernel, under limits, "
        "the exercises checked from outside the student's process.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "submissions",
        nargs="+",
        type=Path,
        metavar="SUBMISSIONS",
        help="notebooks, zip files, or folders of them (one per student)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for grades.csv and the feedback files",
    )
    parser.add_argument(
        "--chapter",
        type=int,
        choices=sorted(CHAPTERS),
        help="the chapter assigned (default: the one most submissions are)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="wall-clock limit per cell (default 120)",
    )
    parser.add_argument(
        "--notebook-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wall-clock limit per notebook (default 600)",
    )
    parser.add_argument(
        "--memory",
        type=float,
        default=4.0,
        metavar="GB",
        help="memory limit of each student's kernel (default 4 GB)",
    )
    parser.add_argument(
        "--max-output",
        type=float,
        default=10.0,
        metavar="MB",
        help="output a notebook may print (default 10 MB)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local Dask workers (default: one per core)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing Dask scheduler, e.g. tcp://host:8786",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace grade files that were edited since they were "
        "written (the old ones are kept as backups)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _assigned_chapter(submissions: list[Submission], given: int | None) -> Chapter:
    if given is not None:
        return CHAPTERS[given]
    votes: Counter[int] = Counter()
    for submission in submissions:
        try:
            chapter = identify(nbformat.reads(submission.text or "", as_version=4))
        except Exception:  # noqa: BLE001 - an unreadable notebook casts no vote
            continue
        if chapter is not None:
            votes[chapter.number] += 1
    if not votes:
        raise SubmissionsError(
            "no submission is a chapter's exercise notebook (no check cell was "
            "found); name the chapter with --chapter"
        )
    return CHAPTERS[votes.most_common(1)[0][0]]


# Modules of cnnlab.teaching that write files or talk to the teacher: changing them
# changes no grade, so a re-run does not grade the class again.
_NOT_GRADING = {
    "cli.py",
    "records.py",
    "edition_files.py",
    "student_edition.py",
    "nbgrader.py",
    "nbgrader_notebook.py",
}


def _settings(chapter: Chapter, limits: Limits) -> str:
    """What a grade depends on besides the submission: chapter, limits, checkers."""
    teaching = Path(__file__).resolve().parent.parent
    sources = hashlib.sha256()
    for path in sorted(teaching.rglob("*.py")):
        if path.name not in _NOT_GRADING:
            sources.update(path.read_bytes())
    key = {
        "chapter": chapter.number,
        "limits": limits.__dict__,
        "code": sources.hexdigest(),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _client(workers: int | None, scheduler: str | None):  # noqa: ANN202 - dask types
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(
        n_workers=workers or len(os.sched_getaffinity(0)),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def grade_class(
    todo: list[Submission],
    chapter: Chapter,
    limits: Limits,
    workers: int | None,
    scheduler: str | None,
    on_grade: Callable[[Submission, SubmissionGrade], None],
    progress: bool = True,
) -> None:
    """Grade ``todo`` on Dask, one task per submission, reporting each as it ends."""
    from dask.distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        futures = {
            client.submit(
                grade_isolated,
                submission.text,
                submission.student,
                chapter.number,
                limits,
                key=f"grade-{submission.student}-{submission.sha256[:12]}",
                pure=False,
            ): submission
            for submission in todo
        }
        bar = tqdm(
            total=len(futures), desc="grading", unit="notebook", disable=not progress
        )
        with bar:
            for future in as_completed(futures):
                submission = futures[future]
                try:
                    grade = future.result()
                except Exception as error:  # noqa: BLE001 - e.g. a worker was lost
                    grade = SubmissionGrade(
                        submission.student,
                        chapter.number,
                        "grader error",
                        [f"{error!r}"[:300]],
                    )
                on_grade(submission, grade)
                bar.update()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def summary(grades: list[SubmissionGrade], chapter: Chapter) -> str:
    """The terminal's table: each student's points per exercise and total."""
    headers = ["student", "status", *(e.number for e in chapter.exercises), "total"]
    rows = []
    for grade in grades:
        points = [
            grade.exercises[e.number].points if e.number in grade.exercises else 0
            for e in chapter.exercises
        ]
        rows.append([grade.student, grade.status, *points, grade.total])
    rows.append(
        ["(out of)", "", *(e.points for e in chapter.exercises), chapter.points]
    )
    return tabulate(rows, headers, tablefmt="simple", disable_numparse=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    limits = Limits(
        cell_seconds=args.timeout,
        notebook_seconds=args.notebook_timeout,
        memory_bytes=int(args.memory * (1 << 30)),
        output_bytes=int(args.max_output * (1 << 20)),
    )
    for name, value in [
        ("--timeout", args.timeout),
        ("--notebook-timeout", args.notebook_timeout),
        ("--memory", args.memory),
        ("--max-output", args.max_output),
    ]:
        if not value > 0:
            print(f"error: {name} must be positive, not {value:g}", file=sys.stderr)
            return 2
    if args.workers is not None and args.workers < 1:
        print(
            f"error: --workers must be at least 1, not {args.workers}", file=sys.stderr
        )
        return 2
    try:
        submissions = find_submissions(args.submissions)
        chapter = _assigned_chapter(submissions, args.chapter)
    except SubmissionsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} is a file, not a folder", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    record = Record.load(args.out)
    settings = _settings(chapter, limits)
    if record.settings != settings:
        record.grades.clear()  # new settings or checkers: every grade is redone
    record.settings = settings

    grades: dict[str, SubmissionGrade] = {}
    todo, unchanged = [], 0
    for submission in submissions:
        cached = record.cached(submission.student, submission.sha256, settings)
        if cached is not None:
            grades[submission.student] = cached
            unchanged += 1
            continue
        if submission.text is None:
            grade = SubmissionGrade(
                submission.student,
                chapter.number,
                "unreadable",
                [str(submission.problem)],
            )
        else:
            grade, runnable, _ = precheck(
                submission.text, submission.student, chapter.number
            )
            if runnable is not None:
                todo.append(submission)
                continue
        grades[submission.student] = grade
        record.keep(grade, submission.sha256)
    cannot_run = len(submissions) - len(todo) - unchanged
    print(
        f"chapter {chapter.number} ({chapter.notebook}): {len(submissions)} "
        f"submissions, {len(todo)} to run, {unchanged} unchanged since the last run, "
        f"{cannot_run} that cannot run (see the table)"
    )

    def on_grade(submission: Submission, grade: SubmissionGrade) -> None:
        grades[submission.student] = grade
        record.keep(grade, submission.sha256)
        record.save(args.out)  # an interrupted run keeps what it graded

    start = time.perf_counter()
    if todo:
        grade_class(
            todo,
            chapter,
            limits,
            args.workers,
            args.scheduler,
            on_grade,
            progress=not args.no_progress,
        )
    record.save(args.out)
    ordered = [grades[s.student] for s in submissions]
    files = {GRADES: grades_csv(ordered, chapter)}
    files |= {f"{FEEDBACK}/{g.student}.txt": feedback_text(g, chapter) for g in ordered}
    done = write_files(args.out, files, force=args.force)
    print(summary(ordered, chapter))
    if todo:
        print(f"graded {len(todo)} notebooks in {time.perf_counter() - start:.1f} s")
    for backup in done.backups:
        print(f"kept the edited file as {backup}")
    if done.kept:
        names = ", ".join(str(path.relative_to(args.out)) for path in done.kept[:5])
        print(
            f"error: {names} in {args.out} changed since this command wrote them, "
            "so they were kept and the new grades not written there. Move them "
            "aside, or pass --force to replace them (the old files are kept as "
            "backups).",
            file=sys.stderr,
        )
        return 1
    print(f"grades: {args.out / GRADES}; feedback: {args.out / FEEDBACK}/")
    return 0
