"""The exercise table (cnnlab.teaching.assignments) agrees with the notebooks."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import cnnlab.exercises
from cnnlab.teaching.assignments import (
    CHAPTERS,
    LEVEL_POINTS,
    chapter_of,
    parse_check_call,
)
from cnnlab.teaching.without_solutions import tags

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
HEADING = re.compile(
    r"^#+ Exercise (\d+\.\d+) \(([a-z-]+)\)", re.IGNORECASE | re.MULTILINE
)


def _exercises_in(notebook: Path) -> list[tuple[str, str, str]]:
    """(number, level, check call) of each exercise, in the notebook's order."""
    nb = nbformat.read(notebook, as_version=4)
    headings, calls = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            headings += [
                (n, level.lower()) for n, level in HEADING.findall(cell.source)
            ]
        elif "check" in tags(cell):
            calls.append(" ".join(cell.source.split()))
    assert len(headings) == len(calls), (
        f"{notebook.name}: headings {headings}, calls {calls}"
    )
    return [(n, level, call) for (n, level), call in zip(headings, calls, strict=True)]


def test_every_notebook_with_exercises_has_its_chapter():
    with_exercises = {p.stem for p in NOTEBOOKS.glob("*.ipynb") if _exercises_in(p)}
    assert with_exercises == {chapter.notebook for chapter in CHAPTERS.values()}


@pytest.mark.parametrize("number", sorted(CHAPTERS))
def test_the_table_matches_the_notebook(number):
    chapter = CHAPTERS[number]
    assert chapter.notebook.startswith(f"{number:02d}-")
    found = _exercises_in(NOTEBOOKS / f"{chapter.notebook}.ipynb")
    table = [(e.number, e.level, e.check_call) for e in chapter.exercises]
    assert table == found
    for exercise in chapter.exercises:
        assert callable(getattr(cnnlab.exercises, exercise.checker))
        assert exercise.points > 0
        assert exercise.number.startswith(f"{number}.")


def test_points_default_to_the_level():
    exercise = CHAPTERS[2].exercises[2]
    assert exercise.level == "challenge"
    assert exercise.points == LEVEL_POINTS["challenge"]
    assert exercise.column == "ex2.3"
    assert CHAPTERS[2].points == sum(LEVEL_POINTS.values())


def test_a_check_call_is_a_checker_on_names():
    assert parse_check_call(" check_conv1x1_fast(fast, given)\n") == (
        "check_conv1x1_fast",
        ("fast", "given"),
    )
    for bad in [
        "check_pad2d(pad2d())",
        "print(1)",
        "check_pad2d(f, x=1)",
        "check_(",
        "",
    ]:
        with pytest.raises(ValueError, match="not a check call"):
            parse_check_call(bad)


def test_a_notebook_is_known_by_its_check_calls():
    assert chapter_of(["check_pad2d(pad2d)", "check_conv2d(conv2d_2d)"]).number == 2
    assert chapter_of(["check_pad2d( pad2d )\n", "something else"]).number == 2
    assert chapter_of([]) is None
    assert chapter_of(["check_pad2d(pad2d)", "check_relu(relu_numba)"]) is None  # a tie
