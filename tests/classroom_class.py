"""A small class of chapter 2 submissions, honest and hostile, for the grader's tests.

Each student's notebook is the student edition of chapter 2 with some
exercises filled in, right or wrong, and some cells added that misbehave.
:data:`EXPECTED` is what each must score, exercise by exercise.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import nbformat
from helpers import exercises_only
from nbformat.v4 import new_code_cell

from cnnlab.teaching.without_solutions import defined_functions, student_notebook, tags

BOOK = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTER_2 = BOOK / "02-convolution-in-python.ipynb"

WRONG_PAD = """
import numpy as np
def pad2d(image, padding):
    out = np.zeros((image.shape[0] + padding, image.shape[1] + padding), image.dtype)
    out[: image.shape[0], : image.shape[1]] = image
    return out
"""
LOOPING_CONV = """
def conv2d_2d(image, kernel, stride=1, padding=0):
    while True:
        pass
"""
# Looks for the checker's expected answer in the frames that called it: in a
# notebook's check cell the checker is one of them, in the class grader none is.
PEEKING_PAD = """
import sys
import numpy as np
def pad2d(image, padding):
    frame = sys._getframe(1)
    while frame is not None:
        for value in frame.f_locals.values():
            expected = getattr(value, "expected", None)
            if isinstance(expected, np.ndarray) and expected.ndim == 2 and (
                    expected.shape == (image.shape[0] + 2 * padding,
                                       image.shape[1] + 2 * padding)):
                return expected.copy()
        frame = frame.f_back
    return None
"""
LOOP_CELL = "while True:\n    pass"
CRASH_CELL = "import os\nos._exit(1)"
SHOUT_CELL = 'print("x" * (3 << 20))'
HOG_CELL = "hog = bytearray(8 << 30)"

# Points per exercise (2.1 warm-up 1, 2.2 practice 2, 2.3 challenge 3).
EXPECTED = {
    "ada": ({"2.1": 1, "2.2": 2, "2.3": 3}, "graded"),
    "blank": ({"2.1": 0, "2.2": 0, "2.3": 0}, "graded"),
    "wrong": ({"2.1": 0, "2.2": 2, "2.3": 3}, "graded"),
    "looper": ({"2.1": 1, "2.2": 0, "2.3": 3}, "graded"),
    "crasher": ({"2.1": 1, "2.2": 0, "2.3": 0}, "stopped"),
    "shouter": ({"2.1": 1, "2.2": 2, "2.3": 3}, "graded"),
    "hog": ({"2.1": 1, "2.2": 2, "2.3": 3}, "graded"),
    "peeker": ({"2.1": 0, "2.2": 2, "2.3": 3}, "graded"),
    "broken": ({}, "unreadable"),
    "other-chapter": ({}, "wrong chapter"),
}


def _solutions(book: nbformat.NotebookNode) -> dict[str, str]:
    return {
        name: cell.source
        for cell in book.cells
        if "solution" in tags(cell)
        for name in defined_functions(cell.source)
    }


def _submission(
    student: nbformat.NotebookNode,
    answers: dict[str, str],
    after_check: dict[int, str] | None = None,
) -> nbformat.NotebookNode:
    """The student edition with ``answers`` in place of the starters and extra
    cells after the n-th check cell (``after_check[n]``)."""
    nb = copy.deepcopy(student)
    cells, checks = [], 0
    for cell in nb.cells:
        if "starter" in tags(cell):
            (name,) = defined_functions(cell.source)
            if name in answers:
                cell = copy.deepcopy(cell)
                cell.source = answers[name].strip()
        cells.append(cell)
        if "check" in tags(cell):
            checks += 1
            if after_check and checks in after_check:
                cells.append(new_code_cell(after_check[checks]))
    nb.cells = cells
    return nb


def write_class(folder: Path, full: tuple[str, ...] = ("ada",)) -> Path:
    """Write the class's submissions into ``folder``: notebooks, a zip, a broken file.

    The students in ``full`` hand in the whole chapter; the others only its
    imports and exercises (``full=tuple(EXPECTED)``: all of them whole).
    """
    folder.mkdir(parents=True, exist_ok=True)
    book = nbformat.read(CHAPTER_2, as_version=4)
    whole = student_notebook(book, CHAPTER_2.name)
    short = exercises_only(whole)
    right = _solutions(book)

    def student(name: str) -> nbformat.NotebookNode:
        return whole if name in full else short

    notebooks = {
        "ada": _submission(student("ada"), right),
        "blank": student("blank"),
        "wrong": _submission(student("wrong"), {**right, "pad2d": WRONG_PAD}),
        "looper": _submission(
            student("looper"), {**right, "conv2d_2d": LOOPING_CONV}, {2: LOOP_CELL}
        ),
        "crasher": _submission(student("crasher"), right, {1: CRASH_CELL}),
        "shouter": _submission(student("shouter"), right, {1: SHOUT_CELL}),
        "hog": _submission(student("hog"), right, {1: HOG_CELL}),
        "peeker": _submission(student("peeker"), {**right, "pad2d": PEEKING_PAD}),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    # one student hands in a zip of a folder, as a learning platform exports it
    with zipfile.ZipFile(folder / "shouter.zip", "w") as archive:
        archive.write(
            folder / "shouter.ipynb", "shouter/02-convolution-in-python.ipynb"
        )
    (folder / "shouter.ipynb").unlink()
    (folder / "broken.ipynb").write_text(json.dumps(nbformat.v4.new_notebook())[:-20])
    other = student_notebook(
        nbformat.read(BOOK / "04-vectorizing-with-numpy.ipynb", as_version=4)
    )
    nbformat.write(other, folder / "other-chapter.ipynb")
    return folder
