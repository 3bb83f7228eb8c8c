"""Pages a reader can trust and read: no hand-typed measurements, no wide lines, no leaks.

Two halves:

- On the notebooks' sources (always): code lines of at most 88 characters,
  and in the chapters that measure (3-9, 11 and 12) no markdown cell that types a
  measured quantity by hand, a number with a unit of time, rate, bandwidth
  or speedup. Such a number must reach the prose through myst-nb's
  ``{glue}``, so it is the number the page measured.
- On the built book (``CNNLAB_BOOK_HTML``, set by ``make browser-test``): no
  output line over 100 characters, no traceback, and no machine path under
  /tmp, /root or /home anywhere on a page.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MEASURED_CHAPTERS = {"03", "04", "05", "06", "07", "08", "09", "11", "12"}
CODE_WIDTH, OUTPUT_WIDTH = 88, 100
BOOK_HTML = (
    Path(os.environ["CNNLAB_BOOK_HTML"]) if os.environ.get("CNNLAB_BOOK_HTML") else None
)

_NUMBER = r"(?<![\w.^{])\d[\d,]*(?:\.\d+)?"
_UNIT = (
    r"(?:ns|µs|us|ms|s|sec|seconds?|minutes?|min|hours?|"
    r"[kMGT]?FLOP/s|[kMGT]?FLOPS|[kMGT]i?B/s|FLOP/cycle|FLOPs per cycle)"
)
MEASURED_QUANTITY = re.compile(
    rf"{_NUMBER}\s?(?:{_UNIT})(?![\w/])"  # 1.2 ms, 300 GFLOP/s, 20 GB/s
    rf"|{_NUMBER}\s?[x×](?!\s?\d)(?![\w])"  # 14x, 3.5× (but not 5x5 or 3 x 3)
    rf"|{_NUMBER}\s(?:times)\s(?:faster|slower|as fast)"  # 12 times faster
)
# Phrases that look like measurements but are facts of a library, a definition
# or an algorithm; each names why it may be typed.
NOT_MEASUREMENTS = {
    "2.25x": "Winograd F(2x2,3x3) does 2.25 times fewer multiplications: arithmetic, not a timing",
    "4x": "Winograd F(4x4,3x3) does 4 times fewer multiplications: arithmetic, not a timing",
    "1 s": "a unit in a definition (GFLOP/s = 10^9 FLOPs in 1 s)",
    "10 s": "the checkers' documented time limit for a student's function",
    "68,000x": "Modular's published claim (a Mandelbrot set on 88 cores), quoted, not measured here",
}


def _markdown_cells(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text())["cells"]
    return [
        (i, "".join(c["source"]))
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown"
    ]


def _prose(text: str) -> str:
    """Markdown without code blocks, inline code, glue roles, links' targets and cell tags."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return text


def hand_typed_measurements(text: str) -> list[str]:
    """The measured-looking quantities in a markdown cell that are not glued."""
    found = [m.group(0).strip() for m in MEASURED_QUANTITY.finditer(_prose(text))]
    return [q for q in found if q.replace("×", "x") not in NOT_MEASUREMENTS]


def test_the_pattern_finds_typed_measurements_and_spares_shapes():
    typed = "It took 1.18 ms, ran at 300 GFLOP/s, moved 23.5 GB/s and was 6.8x faster, 12 times faster."
    assert hand_typed_measurements(typed) == [
        "1.18 ms",
        "300 GFLOP/s",
        "23.5 GB/s",
        "6.8x",
        "12 times faster",
    ]
    spared = "A 5x5 image, a 3 x 3 kernel, {glue:md}`numba_time`, `repeat=7`, F(4x4,3x3), step 2^4."
    assert hand_typed_measurements(spared) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_code_lines_fit_the_page(path):
    cells = json.loads(path.read_text())["cells"]
    wide = [
        f"cell {i}: {line[:60]}... ({len(line)} characters)"
        for i, c in enumerate(cells)
        if c["cell_type"] == "code"
        for line in "".join(c["source"]).splitlines()
        if len(line) > CODE_WIDTH
    ]
    assert not wide, (
        f"{path.name}: code lines over {CODE_WIDTH} characters:\n" + "\n".join(wide)
    )


@pytest.mark.parametrize(
    "path",
    [p for p in NOTEBOOKS if p.name[:2] in MEASURED_CHAPTERS],
    ids=[p.name for p in NOTEBOOKS if p.name[:2] in MEASURED_CHAPTERS],
)
def test_measured_chapters_glue_their_numbers(path):
    typed = [
        (i, q)
        for i, text in _markdown_cells(path)
        for q in hand_typed_measurements(text)
    ]
    assert not typed, (
        f"{path.name}: markdown types measured quantities by hand; glue them from the cell that "
        f"measures them ({{glue:md}}`name`):\n"
        + "\n".join(f"cell {i}: {q!r}" for i, q in typed)
    )


# ---------------------------------------------------------------- the built book


# Elements that have no end tag, and elements whose text is not read as lines: a menu's
# options (a responsive figure's controls) are a list to pick from, not a line of output.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_NOT_READ = {"script", "style", "select"}


class _PageText(HTMLParser):
    """Collects the text of a page's cell outputs (line by line) and of the whole page."""

    def __init__(self) -> None:
        super().__init__()
        self.depth_in_output = 0
        self.depth_in_script = 0
        self.outputs: list[str] = []
        self.text: list[str] = []
        self._stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:  # no end tag follows: nothing to match on the stack
            return
        classes = (dict(attrs).get("class") or "").split()
        is_output = "cell_output" in classes
        if tag in _NOT_READ:
            self.depth_in_script += 1
        self._stack.append(is_output)
        if is_output:
            self.depth_in_output += 1
            self.outputs.append("")

    def handle_startendtag(self, tag, attrs):  # <img ... />: a void element
        if tag not in _VOID:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if tag in _NOT_READ:
            self.depth_in_script = max(0, self.depth_in_script - 1)
        if self._stack and self._stack.pop():
            self.depth_in_output -= 1

    def handle_data(self, data):
        if self.depth_in_script:
            return
        self.text.append(data)
        if self.depth_in_output:
            self.outputs[-1] += data


def built_pages() -> list[Path]:
    if BOOK_HTML is None:
        return []
    skip = {"_static", "_sources", "_images"}
    return sorted(
        p
        for p in BOOK_HTML.rglob("*.html")
        if not skip & set(p.relative_to(BOOK_HTML).parts)
    )


MACHINE_PATH = re.compile(r"(?<![\w.])/(?:tmp|root|home)/[\w.-]")
TRACEBACK = re.compile(
    r"Traceback \(most recent call last\)|^\S*Error\s+Traceback|-{20,}\n\w+Error", re.M
)


@pytest.mark.skipif(
    BOOK_HTML is None, reason="runs in `make browser-test`, on the built book"
)
@pytest.mark.parametrize("page", built_pages(), ids=lambda p: p.name)
def test_built_page_outputs_are_readable(page):
    parser = _PageText()
    parser.feed(page.read_text(encoding="utf-8"))
    wide = [
        line
        for out in parser.outputs
        for line in out.splitlines()
        if len(line) > OUTPUT_WIDTH
    ]
    assert not wide, (
        f"{page.name}: output lines over {OUTPUT_WIDTH} characters:\n"
        + "\n".join(wide[:10])
    )
    tracebacks = [out[:300] for out in parser.outputs if TRACEBACK.search(out)]
    assert not tracebacks, f"{page.name}: an output shows a traceback:\n" + "\n".join(
        tracebacks
    )
    paths = sorted({m.group(0) for m in MACHINE_PATH.finditer("".join(parser.text))})
    assert not paths, f"{page.name}: machine paths on the page: {paths}"


PAGE_WEIGHT_LIMIT = 5_000_000  # bytes: a page a reader on a slow connection still opens


@pytest.mark.skipif(
    BOOK_HTML is None, reason="runs in `make browser-test`, on the built book"
)
@pytest.mark.parametrize("page", built_pages(), ids=lambda p: p.name)
def test_a_page_with_its_images_weighs_under_5_mb(page):
    """Responsive figures carry every frame inline; with the images a page loads, it
    stays under the limit."""
    text = page.read_text(encoding="utf-8")
    images = {
        (page.parent / src).resolve()
        for src in re.findall(r'<img[^>]+src="([^":]+)"', text)
    }
    weight = page.stat().st_size + sum(p.stat().st_size for p in images if p.is_file())
    assert weight < PAGE_WEIGHT_LIMIT, (
        f"{page.name} weighs {weight / 1e6:.1f} MB with its {len(images)} images"
    )
