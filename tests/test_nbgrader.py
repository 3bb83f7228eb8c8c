"""The nbgrader course (cnnlab.teaching.nbgrader, nbgrader_notebook): complete
metadata, the points of assignments.py, the book's starters in the release, nothing
lost; and a real round trip through nbgrader: generate_assignment, then autograde of
a submission with the solutions (full points) and of the release as is (none)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnlab.teaching.assignments import CHAPTERS
from cnnlab.teaching.nbgrader import MANIFEST, assignment_name, main, write_course
from cnnlab.teaching.nbgrader_notebook import (
    BEGIN,
    END,
    answer_source,
    course_notebook,
)
from cnnlab.teaching.without_solutions import ProtocolError, tags

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTER = CHAPTERS[2]  # the fastest chapter to run (about 14 s, measured)
KEYS = {"grade", "grade_id", "locked", "schema_version", "solution", "task"}


def chapter_notebook(chapter):
    return nbformat.read(NOTEBOOKS / f"{chapter.notebook}.ipynb", as_version=4)


def nbgrader_cells(nb):
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells}


def released(nb):
    """``nb`` after nbgrader's own ClearSolutions and metadata check."""
    from nbgrader.preprocessors import CheckCellMetadata, ClearSolutions

    release = nbformat.from_dict(nb)
    CheckCellMetadata().preprocess(release, {})
    ClearSolutions().preprocess(release, {})
    return release


# --------------------------------------------------------- every chapter converts
@pytest.mark.parametrize("number", sorted(CHAPTERS))
def test_every_cell_has_complete_nbgrader_metadata(number):
    chapter = CHAPTERS[number]
    book = chapter_notebook(chapter)
    course = course_notebook(book, chapter, chapter.notebook)
    ids = [cell.metadata["nbgrader"]["grade_id"] for cell in course.cells]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    for cell in course.cells:
        meta = cell.metadata["nbgrader"]
        assert set(meta) == KEYS | ({"points"} if meta["grade"] else set())
        assert meta["schema_version"] == 3 and re.fullmatch(r"[\w-]+", meta["grade_id"])
        assert not (tags(cell) & {"starter", "solution", "check"})
        assert cell.cell_type != "code" or not cell.outputs
    cells = nbgrader_cells(course)
    for exercise in chapter.exercises:
        key = f"ex{exercise.number.replace('.', '_')}"
        answer, check = cells[f"{key}-answer"], cells[f"{key}-check"]
        assert answer.metadata["nbgrader"] | {"grade_id": ""} == {
            "grade": False,
            "grade_id": "",
            "locked": False,
            "schema_version": 3,
            "solution": True,
            "task": False,
        }
        assert check.metadata["nbgrader"] | {"grade_id": ""} == {
            "grade": True,
            "grade_id": "",
            "locked": True,
            "points": exercise.points,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
        assert exercise.check_call in check.source
    graded = [cell for cell in course.cells if cell.metadata["nbgrader"]["grade"]]
    assert sum(c.metadata["nbgrader"]["points"] for c in graded) == chapter.points
    others = [
        c
        for c in course.cells
        if not re.match(r"ex\d", c.metadata["nbgrader"]["grade_id"])
    ]
    assert all(c.metadata["nbgrader"]["locked"] for c in others), (
        "the rest is read-only"
    )
    assert len(course.cells) == len(book.cells) + 1 - len(chapter.exercises)  # a note


@pytest.mark.parametrize("number", sorted(CHAPTERS))
def test_the_release_shows_the_books_starters_and_no_solution(number):
    chapter = CHAPTERS[number]
    book = chapter_notebook(chapter)
    release = released(course_notebook(book, chapter, chapter.notebook))
    starters = [cell.source for cell in book.cells if "starter" in tags(cell)]
    answers = [c.source for c in release.cells if c.metadata["nbgrader"]["solution"]]
    stub = "# YOUR CODE HERE\n{0}raise NotImplementedError()"
    for starter, answer in zip(starters, answers, strict=True):
        indent = re.search(r"^( *)raise NotImplementedError$", starter, re.M)[1]
        expected = starter.replace("raise NotImplementedError", stub.format(indent))
        assert answer.startswith(expected)
        assert answer == expected or answer.endswith("\n\n\n" + stub.format(""))

    # no line that only a solution has (in the book) is in the release
    def lines(cells):
        return {line for c in cells for line in c.source.splitlines() if line.strip()}

    solutions = [cell for cell in book.cells if "solution" in tags(cell)]
    others = [cell for cell in book.cells if "solution" not in tags(cell)]
    assert not (lines(solutions) - lines(others)) & lines(release.cells)


# --------------------------------------------------------- the answer cell
STARTER = 'def f(x):\n    """Twice x."""\n    raise NotImplementedError'


def test_the_solution_body_replaces_the_stub():
    solution = 'def f(x):\n    """Twice x."""\n    y = x + x\n    return y'
    assert answer_source(STARTER, solution) == (
        f'def f(x):\n    """Twice x."""\n    {BEGIN}\n    y = x + x\n    return y\n'
        f"    {END}"
    )


def test_a_helper_of_the_solution_goes_in_a_region_of_its_own():
    solution = (
        "def helper(x):\n    return 2 * x\n\n\n"
        'def f(x):\n    """Twice x."""\n    return helper(x)\n'
    )
    answer = answer_source(STARTER, solution)
    assert answer == (
        f'def f(x):\n    """Twice x."""\n    {BEGIN}\n    return helper(x)\n    {END}'
        f"\n\n\n{BEGIN}\ndef helper(x):\n    return 2 * x\n{END}"
    )
    namespace = {}
    exec(answer, namespace)
    assert namespace["f"](3) == 6


def test_given_code_in_the_starter_stays_outside_the_region():
    starter = "def given(x):\n    return x\n\n\n" + STARTER
    solution = 'def f(x):\n    """Twice x."""\n    return given(x) * 2'
    answer = answer_source(starter, solution)
    assert answer.startswith("def given(x):\n    return x\n\n\ndef f(x):")
    assert answer.count(BEGIN) == 1 and answer.endswith(
        f"    return given(x) * 2\n    {END}"
    )


def test_a_solution_that_changes_the_signature_follows_the_starter_whole():
    solution = 'def f(x, y=0):\n    """Twice x, plus y."""\n    return 2 * x + y'
    answer = answer_source(STARTER, solution)
    assert answer == f"{STARTER}\n\n\n{BEGIN}\n{solution}\n{END}"
    namespace = {}
    exec(answer, namespace)
    assert namespace["f"](3) == 6  # the solution's, defined after the starter's


# --------------------------------------------------------- refusals
def test_a_check_cell_unlike_assignments_py_is_refused():
    book = chapter_notebook(CHAPTER)
    check = next(cell for cell in book.cells if "check" in tags(cell))
    check.source = "check_conv2d(pad2d)"
    with pytest.raises(ProtocolError, match="assignments.py has check_pad2d"):
        course_notebook(book, CHAPTER, "ch2.ipynb")


def test_a_cell_with_an_nbgrader_delimiter_is_refused():
    book = chapter_notebook(CHAPTER)
    book.cells[3].source += "\n# ### BEGIN SOLUTION"
    with pytest.raises(
        ProtocolError, match="ch2.ipynb, cell 3: holds 'BEGIN SOLUTION'"
    ):
        course_notebook(book, CHAPTER, "ch2.ipynb")


def test_nbgrader_metadata_already_in_the_book_is_replaced():
    book = chapter_notebook(CHAPTER)
    book.cells[3].metadata["nbgrader"] = {"grade": True, "points": 99}
    course = course_notebook(book, CHAPTER, "ch2.ipynb")
    assert course.cells[4].metadata["nbgrader"]["grade"] is False  # after the note
    assert course.cells[4].metadata["nbgrader"]["locked"] is True


def test_the_output_folder_may_not_be_inside_the_book(tmp_path, capsys):
    src = tmp_path / "notebooks"
    src.mkdir()
    shutil.copy(NOTEBOOKS / f"{CHAPTER.notebook}.ipynb", src)
    assert main([str(src), "--out", str(src / "course")]) == 1
    assert "inside the source folder" in capsys.readouterr().err
    assert not (src / "course").exists()


# --------------------------------------------------------- nothing lost
def one_chapter_book(folder, chapter=CHAPTER):
    folder.mkdir()
    shutil.copy(NOTEBOOKS / f"{chapter.notebook}.ipynb", folder)
    (folder / "intro.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    return folder


def test_an_edited_notebook_is_kept_unless_forced(tmp_path, capsys):
    src, out = one_chapter_book(tmp_path / "book"), tmp_path / "course"
    edition, skipped = write_course(src, out)
    target = out / "source" / assignment_name(CHAPTER) / f"{CHAPTER.notebook}.ipynb"
    assert edition.written == [target] and skipped == [src / "intro.ipynb"]
    assert (out / MANIFEST).is_file()
    assert write_course(src, out)[0].unchanged == [target]
    edited = target.read_text().replace("Exercise 2.1", "Exercise 2.1 (for Monday)")
    target.write_text(edited)
    assert main([str(src), "--out", str(out)]) == 0
    assert f"Kept {target}" in capsys.readouterr().out and target.read_text() == edited
    assert main([str(src), "--out", str(out), "--force"]) == 0
    assert "for Monday" not in target.read_text()
    (backup,) = (out / "backups").iterdir()
    assert backup.name.startswith(f"{CHAPTER.notebook}.backup-")
    assert backup.read_text() == edited and str(backup) in capsys.readouterr().out
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_a_notebook_it_never_wrote_is_kept(tmp_path):
    src, out = one_chapter_book(tmp_path / "book"), tmp_path / "course"
    target = out / "source" / assignment_name(CHAPTER) / f"{CHAPTER.notebook}.ipynb"
    target.parent.mkdir(parents=True)
    target.write_text("the teacher's own version")
    assert write_course(src, out)[0].kept == [target]
    assert target.read_text() == "the teacher's own version"


# --------------------------------------------------------- the round trip
def nbgrader(course, *args):
    """Run nbgrader in ``course``; its database tool (alembic) is looked up on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "JUPYTER_CONFIG_DIR": str(NOTEBOOKS.parent / ".jupyter"),  # root may run
        "CNNLAB_CACHE_DIR": str(course / ".cache"),
        "CNNLAB_STRICT_EXERCISES": "",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"nbgrader {' '.join(args)}:\n{run.stdout}{run.stderr}"
    return run


def test_nbgrader_gives_the_solutions_full_points_and_the_release_none(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    course.mkdir()
    db = f"sqlite:///{course / 'gradebook.db'}"
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'cnnlab'\n"
        f"c.CourseDirectory.db_url = {db!r}\n"
    )
    write_course(one_chapter_book(tmp_path / "book"), course)
    assignment, name = assignment_name(CHAPTER), f"{CHAPTER.notebook}.ipynb"
    nbgrader(course, "generate_assignment", assignment)

    release = nbformat.read(course / "release" / assignment / name, as_version=4)
    source = nbformat.read(course / "source" / assignment / name, as_version=4)
    solutions = {
        grade_id: cell.source
        for grade_id, cell in nbgrader_cells(source).items()
        if cell.metadata["nbgrader"]["solution"]
    }
    for student in ("full", "blank"):
        submission = nbformat.from_dict(release)
        if student == "full":
            for grade_id, cell in nbgrader_cells(submission).items():
                cell.source = solutions.get(grade_id, cell.source)
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(submission, folder / name)
    nbgrader(course, "autograde", assignment)

    with Gradebook(db, course_id="cnnlab") as gradebook:
        points = {
            student: {
                e.number: gradebook.find_grade(
                    f"ex{e.number.replace('.', '_')}-check",
                    CHAPTER.notebook,
                    assignment,
                    student,
                ).score
                for e in CHAPTER.exercises
            }
            for student in ("full", "blank")
        }
        totals = {s: gradebook.find_submission(assignment, s).score for s in points}
    assert points["full"] == {e.number: e.points for e in CHAPTER.exercises}
    assert points["blank"] == {e.number: 0 for e in CHAPTER.exercises}
    assert totals == {"full": CHAPTER.points, "blank": 0}

    graded = nbformat.read(course / "autograded" / "blank" / assignment / name, 4)
    feedback = [
        "".join(output.get("text", "") for output in cell.outputs)
        for cell in graded.cells
        if cell.metadata["nbgrader"]["grade"]
    ]
    assert all("not implemented yet" in text for text in feedback), feedback
