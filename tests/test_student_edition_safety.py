"""The student edition never destroys work, never leaks a solution, and reads true.

Each class of failure of issue 13, section 5: writing into the sources,
overwriting a student's edits, a missing source folder, unreadable
notebooks, unreadable tags, and prose that describes removed solutions.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnlab.teaching import edition_files
from cnnlab.teaching.student_edition import (
    CHECK_SENTENCE,
    MANIFEST,
    NOTE,
    NotebookError,
    ProtocolError,
    main,
    student_notebook,
    tags,
    without_solution_prose,
    write_student_edition,
)
from test_student_edition import NOTEBOOKS, exercise_notebook

SECRET = "the secret line"
SOLUTION_WORD = re.compile(r"\bsolutions?\b", re.IGNORECASE)


def make_sources(folder: Path, count: int = 2) -> dict[Path, bytes]:
    """``count`` exercise notebooks in ``folder``; returns each file's bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        nbformat.write(exercise_notebook(), folder / f"0{k + 1}-chapter.ipynb")
    return snapshot(folder)


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {
        path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()
    }


def run(*args: str | Path, capsys) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------- never into the sources
@pytest.mark.parametrize("where", ["same", "inside", "dot-path", "symlink"])
def test_refuses_to_write_into_the_source_folder(tmp_path, capsys, where):
    src = tmp_path / "notebooks"
    before = make_sources(src)
    out = {
        "same": src,
        "inside": src / "student",
        "dot-path": src / "sub" / "..",
        "symlink": tmp_path / "link",
    }[where]
    if where == "symlink":
        out.symlink_to(src, target_is_directory=True)
    code, _, err = run(src, out, capsys=capsys)
    assert code == 1
    assert "source folder" in err and str(src) in err and "Traceback" not in err
    assert snapshot(src) == before, "the sources must not change"
    code, _, err = run(src, out, "--force", capsys=capsys)  # not even when forced
    assert code == 1 and snapshot(src) == before


def test_an_output_folder_above_the_sources_writes_beside_them(tmp_path):
    src = tmp_path / "book" / "notebooks"
    before = make_sources(src)
    edition = write_student_edition(src, tmp_path / "book")
    assert len(edition.written) == 2
    assert all(SECRET not in path.read_text() for path in edition.written)
    assert {path: data for path, data in snapshot(src).items()} == before


# --------------------------------------------------------- never over a student's work
def test_a_second_run_keeps_edited_notebooks_and_updates_the_others(tmp_path, capsys):
    src, out = tmp_path / "notebooks", tmp_path / "student"
    make_sources(src)
    assert run(src, out, capsys=capsys)[0] == 0
    first, second = out / "01-chapter.ipynb", out / "02-chapter.ipynb"
    edited = first.read_text().replace(
        "raise NotImplementedError", "return x + x  # mine"
    )
    first.write_text(edited)
    # the book changes: both sources get a new first line
    for path in src.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nb.cells[0].source = "# 1. A new title"
        nbformat.write(nb, path)
    code, out_text, _ = run(src, out, capsys=capsys)
    assert code == 0
    assert first.read_text() == edited, "the student's work must survive"
    assert "A new title" in second.read_text(), "an untouched notebook is updated"
    assert f"Kept {first}" in out_text and "--force" in out_text
    assert "Wrote 1 student notebook to" in out_text
    # once more: still kept, and the untouched one is up to date
    code, out_text, _ = run(src, out, capsys=capsys)
    assert first.read_text() == edited and "1 student notebook already up to date" in out_text


def test_force_replaces_an_edited_notebook_and_keeps_it_as_a_backup(tmp_path, capsys):
    src, out = tmp_path / "notebooks", tmp_path / "student"
    make_sources(src, count=1)
    write_student_edition(src, out)
    target = out / "01-chapter.ipynb"
    target.write_text(
        target.read_text().replace("raise NotImplementedError", "return 2 * x")
    )
    edited = target.read_bytes()
    code, out_text, _ = run(src, out, "--force", capsys=capsys)
    assert code == 0 and "backup" in out_text
    assert "raise NotImplementedError" in target.read_text()
    backups = list(out.glob("01-chapter.backup-*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == edited
    assert str(backups[0]) in out_text


def test_notebooks_it_did_not_write_are_kept(tmp_path):
    src, out = tmp_path / "notebooks", tmp_path / "student"
    make_sources(src, count=1)
    out.mkdir()
    (out / "01-chapter.ipynb").write_text("my notes, not a notebook")
    (out / "mine.ipynb").write_text("{}")
    edition = write_student_edition(src, out)
    assert edition.kept == [out / "01-chapter.ipynb"] and edition.written == []
    assert (out / "01-chapter.ipynb").read_text() == "my notes, not a notebook"
    assert (out / "mine.ipynb").read_text() == "{}"


@given(
    record=st.one_of(
        st.binary(max_size=40),
        st.text(max_size=40).map(str.encode),
        st.dictionaries(st.text(max_size=5), st.integers()).map(
            lambda d: json.dumps({"files": d}).encode()
        ),
    )
)
def test_an_unreadable_manifest_trusts_nothing(tmp_path_factory, record):
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("out")
    make_sources(src, count=1)
    write_student_edition(src, out)
    target = out / "01-chapter.ipynb"
    target.write_text(target.read_text() + " ")  # the student's edit
    (out / MANIFEST).write_bytes(record)
    assert write_student_edition(src, out).kept == [target]
    assert target.read_text().endswith(" ")


def test_an_interrupted_write_leaves_the_old_notebook_whole(tmp_path, monkeypatch):
    src, out = tmp_path / "notebooks", tmp_path / "student"
    make_sources(src, count=1)
    write_student_edition(src, out)
    before = snapshot(out)
    nb = nbformat.read(src / "01-chapter.ipynb", as_version=4)
    nb.cells[0].source = "# 1. Changed"
    nbformat.write(nb, src / "01-chapter.ipynb")

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(edition_files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_student_edition(src, out)
    assert (
        snapshot(out) == before
    ), "no half-written notebook, no temporary file left behind"


def test_written_files_are_readable_like_any_new_file(tmp_path):
    src, out = tmp_path / "notebooks", tmp_path / "student"
    make_sources(src, count=1)
    write_student_edition(src, out)
    umask = os.umask(0o022)
    os.umask(umask)
    assert (out / "01-chapter.ipynb").stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------- unusable folders and files
def test_missing_or_empty_source_folder_is_an_error(tmp_path, capsys):
    for src, words in [
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path / "empty", "no notebooks"),
    ]:
        if src.name == "empty":
            src.mkdir()
        code, out_text, err = run(src, tmp_path / "student", capsys=capsys)
        assert code == 1 and str(src) in err and words in err, err
        assert "Wrote" not in out_text and not (tmp_path / "student").exists()
    a_file = tmp_path / "file.ipynb"
    a_file.write_text("{}")
    code, _, err = run(a_file, tmp_path / "student", capsys=capsys)
    assert code == 1 and "not a folder" in err


def test_an_output_path_that_is_a_file_or_cannot_be_made_is_an_error(tmp_path, capsys):
    src = tmp_path / "notebooks"
    make_sources(src, count=1)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    for out in (
        blocker,
        blocker / "student",
    ):  # a path under a file: unwritable even as root
        code, _, err = run(src, out, capsys=capsys)
        assert code == 1 and "blocker" in err and "Traceback" not in err
    assert blocker.read_text() == "x"


BAD_NOTEBOOKS = [
    b"\xff\xfe\x00{not utf-8",
    b"",
    b'{"cells": [',
    b"[1, 2, 3]",
    b'{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
    b'{"cells": [3], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
    b'{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5, '
    b'"metadata": {}}',
]


@pytest.mark.parametrize("data", BAD_NOTEBOOKS, ids=range(len(BAD_NOTEBOOKS)))
def test_an_unreadable_notebook_is_an_error_naming_it(tmp_path, capsys, data):
    src = tmp_path / "notebooks"
    make_sources(src, count=1)
    (src / "02-broken.ipynb").write_bytes(data)
    code, _, err = run(src, tmp_path / "student", capsys=capsys)
    assert code == 1, err
    assert "02-broken.ipynb" in err and "Traceback" not in err
    assert not (
        tmp_path / "student"
    ).exists(), "nothing is written when any notebook is broken"


@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "cells",
                        "nbformat",
                        "metadata",
                        "cell_type",
                        "source",
                        "tags",
                        "nbformat_minor",
                    ]
                ),
                inner,
                max_size=5,
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_any_file_gives_a_student_edition_or_an_error_naming_it(tmp_path_factory, data):
    src = tmp_path_factory.mktemp("src")
    (src / "odd.ipynb").write_bytes(data)
    try:
        edition = write_student_edition(src, tmp_path_factory.mktemp("out") / "student")
    except (NotebookError, ProtocolError) as error:
        assert "odd.ipynb" in str(error)
    else:
        assert len(edition.written) == 1


# ----------------------------------------------------------------- tags
TAG_VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.none(),
    st.booleans(),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.lists(
        st.one_of(
            st.sampled_from(["solution", "hide-input", "starter", "check"]),
            st.integers(),
            st.none(),
            st.lists(st.text(max_size=3), max_size=2),
        ),
        max_size=3,
    ),
)


@given(value=TAG_VALUES, which=st.sampled_from([1, 2, 3, 4]))
def test_tags_that_are_not_a_list_of_strings_are_an_error_naming_the_cell(value, which):
    nb = exercise_notebook()
    nb.cells[which].metadata["tags"] = value
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return  # readable tags: the protocol tests cover them
    with pytest.raises(
        ProtocolError, match=rf"^ch\.ipynb, cell {which}: tags must be a list"
    ):
        student_notebook(nb, "ch.ipynb")


@given(
    value=st.one_of(
        st.just("solution"),
        st.just("solution,hide-input"),
        st.text(max_size=12).map(lambda t: "solution " + t),
    )
)
def test_a_string_tag_never_leaks_the_solution(tmp_path_factory, value):
    src = tmp_path_factory.mktemp("src")
    nb = exercise_notebook()
    nb.cells[3].metadata["tags"] = value
    (src / "ch.ipynb").write_text(json.dumps(nb))
    out = tmp_path_factory.mktemp("out") / "student"
    with pytest.raises(
        ProtocolError, match="ch.ipynb, cell 3: tags must be a list of strings"
    ):
        write_student_edition(src, out)
    assert not out.exists()


def test_tags_reads_only_lists_of_strings():
    assert tags(nbformat.v4.new_code_cell("x")) == set()
    for bad in ("solution", ["solution", 1], None, {"solution": True}):
        cell = nbformat.v4.new_code_cell("x")
        cell.metadata["tags"] = bad
        with pytest.raises(TypeError, match="list of strings"):
            tags(cell)


# ----------------------------------------------------------------- the text reads true
SENTENCES = st.sampled_from(
    [
        "Replace that line with your code.",
        "The checker calls your function on a series of cases.",
        "It shows the expected and the actual output, and a hint!",
        "Does it pass?",
        "Open the solution after you have tried.",
        "Running the solution cell replaces your function with ours, so skip it.",
        "Our Solutions are collapsed: open them later.",
    ]
)


@given(
    paragraphs=st.lists(
        st.lists(SENTENCES, min_size=1, max_size=5), min_size=1, max_size=4
    ),
    separator=st.sampled_from([" ", "\n"]),
)
def test_prose_about_solutions_is_dropped_and_the_rest_kept_in_order(
    paragraphs, separator
):
    markdown = "\n\n".join(separator.join(sentences) for sentences in paragraphs)
    result = without_solution_prose(markdown)
    assert not SOLUTION_WORD.search(result)
    kept = [
        s for sentences in paragraphs for s in sentences if not SOLUTION_WORD.search(s)
    ]
    words = result.split()
    position = 0
    for sentence in kept:  # every other sentence survives, in order
        joined = " ".join(words)
        found = joined.find(sentence, position)
        assert found >= 0, (sentence, result)
        position = found + len(sentence)
    mentions = any(
        SOLUTION_WORD.search(s) for sentences in paragraphs for s in sentences
    )
    assert (CHECK_SENTENCE in result) == mentions
    assert result.count(CHECK_SENTENCE) <= 1


def test_a_solution_listed_among_the_cells_is_taken_out_of_the_list():
    text = (
        "Each exercise has a starter cell to fill in, a hidden solution, and a check "
        "cell that "
        "runs your function."
    )
    assert without_solution_prose(text) == (
        "Each exercise has a starter cell to fill in and a check cell that runs your "
        "function."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_student_notebook_mentions_a_solution(path):
    full = nbformat.read(path, as_version=4)
    student = student_notebook(full, path.name)
    assert student.cells[0].source == NOTE
    for cell in student.cells[1:]:
        assert not SOLUTION_WORD.search(
            cell.source
        ), f"{path.name}: {cell.source[:300]!r}"
    intro = [
        c.source
        for c in student.cells
        if c.cell_type == "markdown" and "Each exercise has a starter cell" in c.source
    ]
    assert len(intro) == 1, f"{path.name}: the Exercises introduction must stay"
    assert "check cell" in intro[0]
    assert "collapsed" not in intro[0] and "hidden" not in intro[0]


def test_make_student_command_on_the_book(tmp_path):
    out = tmp_path / "student"
    command = [sys.executable, "-m", "cnnlab.teaching.student_edition", "notebooks", str(out)]
    first = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )
    assert first.returncode == 0, first.stderr
    assert f"Wrote {len(NOTEBOOKS)} student notebooks" in first.stdout
    assert sorted(p.name for p in out.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert set(json.loads((out / MANIFEST).read_text())["files"]) == {
        p.name for p in NOTEBOOKS
    }
