"""Grading a class: honest and hostile submissions on a 2-worker Dask LocalCluster.

The class (tests/classroom_class.py) is graded once by ``python -m cnnlab.grade``
in a subprocess, as a teacher runs it; the tests read what it wrote. The
pieces (finding submissions, the records, the answers' transport) are tested
on their own without a kernel.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from classroom_class import EXPECTED, write_class
from cnnlab.teaching.assignments import CHAPTERS
from cnnlab.teaching.classroom import calls, in_kernel
from cnnlab.teaching.classroom.cli import main
from cnnlab.teaching.classroom.records import write_files
from cnnlab.teaching.classroom.submissions import SubmissionsError, find_submissions

ROOT = Path(__file__).resolve().parent.parent
LIMITS = ["--timeout", "5", "--memory", "3", "--max-output", "1"]
STATUSES = {  # each exercise's status, for each student who was graded
    "ada": ["passed"] * 3,
    "blank": ["not implemented"] * 3,
    "wrong": ["failed", "passed", "passed"],
    "looper": ["passed", "failed", "passed"],
    "crasher": ["passed", "not graded", "not graded"],
    "shouter": ["passed"] * 3,
    "hog": ["passed"] * 3,
    "peeker": ["failed", "passed", "passed"],
    "broken": ["not graded"] * 3,
    "other-chapter": ["not graded"] * 3,
}
PROBLEMS = {
    "looper": "ran past its time limit (5 s) and was stopped",
    "crasher": "the kernel died",
    "shouter": "printed more than 1 MB",
    "hog": "raised MemoryError",
    "broken": "not a readable notebook",
    "other-chapter": "this is chapter 4's notebook",
}


def grade(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(ROOT / ".jupyter")}
    env.pop("CNNLAB_STRICT_EXERCISES", None)
    command = [sys.executable, "-m", "cnnlab.grade", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once on 2 local workers: (submissions folder, out, run)."""
    folder = write_class(tmp_path_factory.mktemp("class"))
    out = tmp_path_factory.mktemp("grades")
    run = grade(folder, "--out", out, "--workers", "2", "--no-progress", *LIMITS)
    assert run.returncode == 0, run.stderr[-3000:]
    return folder, out, run


def test_every_cell_of_the_csv(graded):
    _, out, _ = graded
    with open(out / "grades.csv", newline="") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert sorted(rows) == sorted(EXPECTED)
    exercises = CHAPTERS[2].exercises
    for student, (points, status) in EXPECTED.items():
        row = rows[student]
        assert row["status"] == status, f"{student}: {row['status']}, {row['problems']}"
        for exercise, state in zip(exercises, STATUSES[student], strict=True):
            assert int(row[exercise.column]) == points.get(exercise.number, 0), (
                student,
                exercise.number,
                row,
            )
            assert row[f"{exercise.column} status"] == state, (student, row)
            if state != "not graded":
                assert float(row[f"{exercise.column} seconds"]) >= 0
        assert int(row["total"]) == sum(points.values())
        assert float(row["seconds"]) >= 0
        assert (
            (PROBLEMS[student] in row["problems"])
            if student in PROBLEMS
            else (row["problems"] == "")
        ), (student, row["problems"])


def test_feedback_is_the_check_cells_text(graded):
    _, out, _ = graded
    files = sorted(p.stem for p in (out / "feedback").iterdir())
    assert files == sorted(EXPECTED)
    ada = (out / "feedback" / "ada.txt").read_text()
    assert "6 of 6 points" in ada and "✓ pad2d: passed all 4 cases in" in ada
    looper = (out / "feedback" / "looper.txt").read_text()
    assert (
        "✗ conv2d: case 1 of 8" in looper
        and "Is there a loop that never ends?" in looper
    )
    blank = (out / "feedback" / "blank.txt").read_text()
    assert "… pad2d: not implemented yet" in blank
    wrong = (out / "feedback" / "wrong.txt").read_text()
    assert "✗ pad2d: case 1 of 4" in wrong and "0 of 1 points" in wrong


def test_the_terminal_shows_a_summary(graded):
    _, _, run = graded
    assert (
        "10 submissions, 8 to run, 0 unchanged since the last run, 2 that cannot run"
        in run.stdout
    )
    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("student"))
    table = {
        line.split()[0]: line.split() for line in lines[header + 2 :] if line.strip()
    }
    assert table["ada"][-4:] == ["1", "2", "3", "6"]
    assert table["looper"][-1] == "4"
    assert table["(out"][-1] == "6"  # "(out of)": the most each exercise gives


def test_a_peek_at_the_checkers_frames_finds_nothing_here_but_works_in_a_notebook():
    """The test above would pass by accident if the peeking student could not peek
    at all: in the notebook's own check cell, its trick does pass."""
    from classroom_class import PEEKING_PAD

    from cnnlab.exercises import check_pad2d

    namespace: dict = {}
    exec(PEEKING_PAD, namespace)
    assert check_pad2d(namespace["pad2d"]).passed


def test_a_rerun_of_an_unchanged_class_does_no_work(graded):
    folder, out, _ = graded
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = grade(folder, "--out", out, "--workers", "2", "--no-progress", *LIMITS)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "10 submissions, 0 to run, 10 unchanged since the last run" in again.stdout
    assert "graded" not in again.stdout.split("(out of)")[1]  # no "graded N notebooks"
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_an_edited_grades_file_is_kept_unless_forced(graded, tmp_path):
    folder, out, _ = graded
    copy = tmp_path / "grades"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    edited = (
        (copy / "grades.csv")
        .read_text()
        .replace("ada,graded,1,2,3,6", "ada,graded,1,2,3,7")
    )
    (copy / "grades.csv").write_text(edited)
    # a changed submission, so there is something new to write
    blank = folder / "blank.ipynb"
    changed = tmp_path / "class"
    subprocess.run(["cp", "-r", str(folder), str(changed)], check=True)
    nb = nbformat.read(changed / "blank.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("I will finish it tomorrow."))
    nbformat.write(nb, changed / "blank.ipynb")
    assert blank.read_text() != (changed / "blank.ipynb").read_text()

    refused = grade(changed, "--out", copy, "--no-progress", "--workers", "1", *LIMITS)
    assert refused.returncode == 1
    assert "grades.csv" in refused.stderr and "--force" in refused.stderr
    assert (copy / "grades.csv").read_text() == edited
    assert "1 to run, 9 unchanged" in refused.stdout

    forced = grade(changed, "--out", copy, "--force", "--no-progress", *LIMITS)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert "0 to run, 10 unchanged" in forced.stdout  # graded by the refused run
    backups = list(copy.glob("grades.backup-*.csv"))
    assert len(backups) == 1 and backups[0].read_text() == edited
    assert "ada,graded,1,2,3,6" in (copy / "grades.csv").read_text()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--timeout", "0"], "--timeout must be positive"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--memory", "-1"], "--memory must be positive"),
    ],
)
def test_bad_options_exit_2_naming_the_value(tmp_path, capsys, args, words):
    (tmp_path / "a.ipynb").write_text("{}")
    assert main([str(tmp_path / "a.ipynb"), "--out", str(tmp_path / "out"), *args]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------- the pieces
def _notebook(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_submissions_from_files_zips_and_folders(tmp_path):
    _notebook(tmp_path / "class" / "ann.ipynb")
    _notebook(tmp_path / "class" / "ben" / "work" / "ch02.ipynb")
    _notebook(
        tmp_path / "class" / "ben" / ".ipynb_checkpoints" / "ch02-checkpoint.ipynb"
    )
    _notebook(tmp_path / "class" / "cy" / "a.ipynb")
    _notebook(tmp_path / "class" / "cy" / "b.ipynb")
    with zipfile.ZipFile(tmp_path / "class" / "dee.zip", "w") as archive:
        archive.writestr("dee/ch02.ipynb", "{}")
        archive.writestr("__MACOSX/dee/._ch02.ipynb", "junk")
    (tmp_path / "class" / "eve.zip").write_bytes(b"not a zip")
    (tmp_path / "class" / "notes.txt").write_text("ignored")
    found = {s.student: s for s in find_submissions([tmp_path / "class"])}
    assert sorted(found) == ["ann", "ben", "cy", "dee", "eve"]
    assert found["ann"].text == found["ben"].text == found["dee"].text == "{}"
    assert "2 notebooks inside" in found["cy"].problem
    assert "not a readable zip" in found["eve"].problem
    assert found["ann"].sha256 == found["ben"].sha256 != found["cy"].sha256


def test_two_submissions_of_one_student_stop_the_run(tmp_path):
    a = _notebook(tmp_path / "a" / "ann.ipynb")
    b = _notebook(tmp_path / "b" / "ann.ipynb")
    with pytest.raises(SubmissionsError, match="two submissions for student 'ann'"):
        find_submissions([a, b])
    with pytest.raises(SubmissionsError, match="no such file"):
        find_submissions([tmp_path / "missing"])


def test_files_are_replaced_only_if_they_are_what_was_written(tmp_path):
    done = write_files(tmp_path, {"grades.csv": "a\n"})
    assert [p.name for p in done.written] == ["grades.csv"]
    assert [p.name for p in write_files(tmp_path, {"grades.csv": "b\n"}).written] == [
        "grades.csv"
    ]
    (tmp_path / "grades.csv").write_text("teacher\n")
    kept = write_files(tmp_path, {"grades.csv": "c\n", "feedback/x.txt": "x"})
    assert [p.name for p in kept.kept] == ["grades.csv"]
    assert (tmp_path / "grades.csv").read_text() == "teacher\n"
    forced = write_files(tmp_path, {"grades.csv": "c\n"}, force=True)
    assert [p.name for p in forced.written] == ["grades.csv"] and len(
        forced.backups
    ) == 1
    assert forced.backups[0].read_text() == "teacher\n"
    (tmp_path / "other.csv").write_text("mine\n")  # never written by this command
    assert [p.name for p in write_files(tmp_path, {"other.csv": "x"}).kept] == [
        "other.csv"
    ]


@pytest.mark.parametrize(
    "value",
    [
        np.arange(6.0).reshape(2, 3),
        np.float32(1.5),
        (np.ones(2, np.int8), [1, 2.5, None, True], {"a": "b"}),
        float("nan"),
        float("-inf"),
        2**70,
    ],
)
def test_answers_come_back_as_the_same_plain_data(tmp_path, value):
    arrays: list = []
    tree = {"result": in_kernel._encode(value, arrays)}
    in_kernel._write(str(tmp_path / "r.npz"), tree, arrays)
    back = calls._read_response(tmp_path / "r.npz")["result"]
    assert type(back) is type(value) or isinstance(value, np.generic)
    np.testing.assert_equal(back, value)


def test_an_answer_that_is_not_plain_data_is_named_not_run(tmp_path):
    class Sneaky:
        def __reduce__(self):
            raise AssertionError("never pickled")

    arrays: list = []
    tree = {"result": in_kernel._encode((Sneaky(), np.array([object()])), arrays)}
    in_kernel._write(str(tmp_path / "r.npz"), tree, arrays)
    sneaky, objects = calls._read_response(tmp_path / "r.npz")["result"]
    assert (
        type(sneaky).__name__ == "Sneaky" and type(objects).__name__ == "object_array"
    )
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    bad = calls._read_response(tmp_path / "bad.npz")["result"]
    assert type(bad).__name__ == "unreadable_answer"


def test_a_students_exception_comes_back_as_its_kind():
    error = calls._exception({"type": "IndexError", "message": "out", "line": "\n  l"})
    assert type(error) is IndexError and str(error) == "out\n  l"
    own = calls._exception({"type": "MyError", "message": "m", "line": ""})
    assert type(own).__name__ == "MyError" and isinstance(own, Exception)
    stub = calls._exception({"type": "X", "not_implemented": True})
    assert isinstance(stub, NotImplementedError)
    assert json.dumps(in_kernel._error(ValueError("v")))  # plain data
