"""The student edition: solutions gone (and nothing of them left), starters and checks kept, and it runs."""
import json
import types
from pathlib import Path

import nbformat
import pytest
from helpers import exercises_only
from nbclient import NotebookClient

from cnnlab.teaching.classroom.remote import get_msg_in_slices
from cnnlab.teaching.student_edition import NOTE, ProtocolError, student_notebook, tags, write_student_edition

NOTEBOOK_DIR = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CHAPTERS = NOTEBOOKS


def exercise_notebook(starter="def f(x):\n    \"\"\"Double x.\"\"\"\n    raise NotImplementedError",
                      solution="def f(x):\n    \"\"\"Double x.\"\"\"\n    return 2 * x  # the secret line",
                      check="check(f)", solution_tags=("solution", "hide-input"), hidden=True, extra=(),
                      check_tags=("check",)):
    """A notebook with one exercise: task, starter, solution, check."""
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_markdown_cell("# 1. Title"), nbformat.v4.new_markdown_cell("### Exercise 1.1 (warm-up)"),
             nbformat.v4.new_code_cell(starter), nbformat.v4.new_code_cell(solution), *extra,
             nbformat.v4.new_code_cell(check)]
    cells[2].metadata["tags"] = ["starter"]
    cells[3].metadata["tags"] = list(solution_tags)
    if hidden:
        cells[3].metadata["jupyter"] = {"source_hidden": True}
    cells[-1].metadata["tags"] = list(check_tags)
    cells[-1].outputs = [nbformat.v4.new_output("stream", text="✓ passed")]
    cells[-1].execution_count = 3
    nb.cells = cells
    return nb


def leaked_lines(full_nb, student_text: str) -> list[str]:
    """Distinctive lines of the solution cells (found in no other cell) that appear in the student notebook's JSON."""
    elsewhere = {line.strip() for c in full_nb.cells if "solution" not in tags(c) for line in c.source.splitlines()}
    distinctive = {line.strip() for c in full_nb.cells if "solution" in tags(c) for line in c.source.splitlines()
                   if len(line.strip()) > 8 and line.strip() not in elsewhere}
    return sorted(line for line in distinctive
                  if line in student_text or json.dumps(line, ensure_ascii=False)[1:-1] in student_text)


# ----------------------------------------------------------------- a synthetic exercise
def test_student_notebook_drops_solutions_keeps_starter_and_check():
    nb = exercise_notebook()
    before = nbformat.writes(nb)
    student = student_notebook(nb, "one.ipynb")
    assert nbformat.writes(nb) == before, "the input notebook must not change"
    assert [tags(c) for c in student.cells[-2:]] == [{"starter"}, {"check"}]
    assert not any("solution" in tags(c) for c in student.cells)
    assert student.cells[0].source == NOTE and "Student edition" in NOTE
    assert student.cells[1].source == "# 1. Title"
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert leaked_lines(nb, nbformat.writes(student)) == []
    nbformat.validate(student)


def test_leak_detector_finds_a_kept_solution():
    nb = exercise_notebook()
    assert leaked_lines(nb, nbformat.writes(nb)) == ["return 2 * x  # the secret line"]


def test_markdown_solution_cells_are_dropped_too():
    explanation = nbformat.v4.new_markdown_cell("Why it works: doubling is adding x to itself.")
    explanation.metadata["tags"] = ["solution"]
    student = student_notebook(exercise_notebook(extra=[explanation]))
    assert "doubling is adding" not in nbformat.writes(student)


@pytest.mark.parametrize("kwargs, problem", [
    (dict(starter="def g(x):\n    raise NotImplementedError"), "no starter cell above it defining the same function"),
    (dict(starter="def f(x):\n    return None"), "must end its function with `raise NotImplementedError`"),
    (dict(check_tags=()), "must be followed by a check cell"),
    (dict(solution="x = 2"), "defines no function"),
    (dict(solution_tags=("solution",)), "must be collapsed"),
    (dict(hidden=False), "must be collapsed"),
    (dict(solution_tags=("solution", "starter", "hide-input")), "only one of starter, solution and check"),
])
def test_protocol_errors_name_the_notebook_and_cell(kwargs, problem):
    with pytest.raises(ProtocolError, match=r"^chapter\.ipynb, cell \d: ") as error:
        student_notebook(exercise_notebook(**kwargs), "chapter.ipynb")
    assert problem in str(error.value)


def test_check_after_other_code_is_an_error():
    between = nbformat.v4.new_code_cell("y = 1")
    with pytest.raises(ProtocolError, match="cell 3: the solution must be followed by a check cell"):
        student_notebook(exercise_notebook(extra=[between]), "chapter.ipynb")


def test_write_student_edition_and_command_line(tmp_path):
    src, out = tmp_path / "notebooks", tmp_path / "student"
    src.mkdir()
    nbformat.write(exercise_notebook(), src / "01-one.ipynb")
    edition = write_student_edition(src, out)
    assert edition.written == [out / "01-one.ipynb"]
    assert "the secret line" not in edition.written[0].read_text()

    from cnnlab.teaching.student_edition import main

    nbformat.write(exercise_notebook(check_tags=()), src / "02-broken.ipynb")
    assert main([str(src), str(tmp_path / "again")]) == 1
    assert not (tmp_path / "again").exists(), "nothing is written when any notebook breaks the protocol"


# ----------------------------------------------------------------- the book's notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_solution_text_in_student_notebook(path):
    full = nbformat.read(path, as_version=4)
    student = student_notebook(full, path.name)
    text = nbformat.writes(student)
    assert leaked_lines(full, text) == []
    for cell in full.cells:
        if tags(cell) & {"starter", "check"}:
            assert cell.source in [c.source for c in student.cells], f"{path.name}: a starter or check cell is missing"
    assert len(student.cells) == 1 + sum("solution" not in tags(c) for c in full.cells)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_has_two_to_four_exercises(path):
    cells = nbformat.read(path, as_version=4).cells
    starters = [c for c in cells if "starter" in tags(c)]
    checks = [c for c in cells if "check" in tags(c)]
    assert 2 <= len(starters) <= 4 and len(checks) == len(starters), path.name
    headings = [c.source.splitlines()[0] for c in cells
                if c.cell_type == "markdown" and c.source.startswith("### Exercise")]
    assert len(headings) == len(starters)
    assert all(any(level in h for level in ("(warm-up)", "(practice)", "(challenge)")) for h in headings), headings
    assert all(c.source.startswith("check_") and "\n" not in c.source for c in checks), "one checker call per check"


@pytest.fixture(scope="module")
def measurements(tmp_path_factory):
    """A cache folder for the machine profile and benchmark the chapters measure.

    Not the book's: tests run beside each other (pytest -n), and a profile measured
    on a busy machine must not become the ceilings the book quotes.
    """
    return tmp_path_factory.mktemp("cnnlab-cache")


def _exercises_heading(cells) -> int:
    return next(i for i, c in enumerate(cells)
                if c.cell_type == "markdown" and c.source.startswith("## Exercises"))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_before_the_exercises_the_student_edition_runs_the_books_code(path):
    """The book's run (nbval, the strict build) runs these very cells, so the test
    below need only run the student edition from its exercises on."""
    full = nbformat.read(path, as_version=4)
    student = student_notebook(full, path.name)
    book_start, student_start = _exercises_heading(full.cells), _exercises_heading(student.cells)
    assert not any(tags(c) & {"starter", "solution", "check"} for c in full.cells[:book_start])
    code = [[c.source for c in cells if c.cell_type == "code"]
            for cells in (full.cells[:book_start], student.cells[:student_start])]
    assert code[0] == code[1], path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_student_notebooks_run_and_report_not_implemented(path, measurements, tmp_path, monkeypatch):
    """Every cell from the exercises heading on, after all the chapter's imports."""
    monkeypatch.delenv("CNNLAB_STRICT_EXERCISES", raising=False)  # the kernel inherits the environment
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(measurements))
    nb = exercises_only(student_notebook(nbformat.read(path, as_version=4), path.name))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    # jupyter/nbclient#312: a missed wake-up waits for the whole cell timeout; poll in slices
    with client.setup_kernel():
        for channel in (client.kc.shell_channel, client.kc.iopub_channel):
            channel.get_msg = types.MethodType(get_msg_in_slices, channel)
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError if a cell fails
    checks = [c for c in nb.cells if "check" in tags(c)]
    assert checks, path.name
    for cell in checks:
        shown = "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in cell.outputs)
        assert "not implemented yet" in shown, f"{path.name}: check cell {cell.source!r} showed {shown!r}"