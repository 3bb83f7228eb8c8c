"""Where a log-log chart writes its point labels, so that none covers another.

The geometry works in log10 units of the axes: a point at (I, GFLOP/s) sits
at (log10 I, log10 GFLOP/s), and a line of text is a :data:`Box`, its left
and right ends and the height of its middle. :func:`label_places` tries, for
each label in turn, the spots right and left of its point, then a little
higher or lower, and keeps the first that covers nothing already taken:
markers, lines drawn on the chart (given as chains of boxes), and the labels
placed before it. :func:`cnnlab.viz.roofline_plot.roofline_chart` uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = [
    "Box",
    "text_size",
    "marker_box",
    "slanted_line_boxes",
    "covers",
    "label_places",
]

Box = tuple[float, float, float]
"""A line of text or a marker: (left, right, height of the middle), in log10 units."""

# The heights a label tries, in lines from its point's: level first, then one
# line up or down, and so on; past four lines, only upward.
SHIFTS = (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, 6, 7, 8)


def text_size(x_decades: float, y_decades: float) -> tuple[float, float]:
    """Width of a character and height of a line of 8-point text, in powers of ten.

    ``x_decades`` and ``y_decades`` are the plot's width and height in
    powers of ten; on the roofline chart's figure size (with the legend
    beside it) a character is at most about 1.3% of the width and a line
    about 3.5% of the height.
    """
    return 0.013 * x_decades, 0.035 * y_decades


def marker_box(point: Mapping, char: float) -> Box:
    """The box a point's marker covers: one character either side of it."""
    x = math.log10(point["intensity"])
    return (x - char, x + char, math.log10(point["gflops"]))


def slanted_line_boxes(
    bandwidth: float, ridge: float, x_lo: float, char: float, line: float
) -> list[Box]:
    """Boxes along the slanted roof ``bandwidth x I``, from ``x_lo`` to ``ridge``.

    In log10 units the roof is the line y = log10(bandwidth) + x; boxes half
    a character wide, close enough that no label can slip between them.
    """
    step = min(char, line) / 2
    x, end = math.log10(x_lo), math.log10(ridge)
    boxes = []
    while x <= end:
        boxes.append((x - step, x + step, math.log10(bandwidth) + x))
        x += step
    return boxes


def covers(
    left: float, right: float, height: float, boxes: Sequence[Box], line: float
) -> bool:
    """Whether a one-line box from ``left`` to ``right`` overlaps any of ``boxes``."""
    # 0.999: a box exactly one line above another is clear of it, despite rounding
    return any(
        a < right and left < b and abs(h - height) < 0.999 * line for a, b, h in boxes
    )


def label_places(
    points: Sequence[Mapping], char: float, line: float, taken: Sequence[Box]
) -> list[tuple[str, float] | None]:
    """Where to write each point's label: ("right" or "left" of it, height), or None.

    Each point has ``label``, ``intensity`` and ``gflops``. A label shared by
    several points is written once, for the highest of them (None for the
    others). Each label goes to the first free place among: right of its
    point, left of it, then a little higher or lower, further each time, so
    that it covers none of the boxes ``taken`` (markers and fixed lines) and
    no label placed before. ``char`` and ``line`` come from :func:`text_size`.
    """
    taken = list(taken)
    places: list[tuple[str, float] | None] = [None] * len(points)
    highest: dict[str, int] = {}
    for k, point in enumerate(points):
        text = str(point["label"])
        if text not in highest or point["gflops"] > points[highest[text]]["gflops"]:
            highest[text] = k
    for k in sorted(
        highest.values(), key=lambda k: (points[k]["gflops"], points[k]["intensity"])
    ):
        text = str(points[k]["label"])
        x, y = math.log10(points[k]["intensity"]), math.log10(points[k]["gflops"])
        width = char * len(text)
        side, left, height = _first_free_spot(x, y, width, char, line, taken)
        taken.append((left, left + width, height))
        places[k] = (side, 10**height)
    return places


def _first_free_spot(
    x: float, y: float, width: float, char: float, line: float, taken: list[Box]
) -> tuple[str, float, float]:
    """(side, left end, height) of the first free spot for a label beside (x, y).

    Free: a label of ``width`` there covers nothing ``taken``. If no spot is
    free, the last one tried.
    """
    for shift in SHIFTS:
        height = y + shift * line
        for side, left in (("right", x + char), ("left", x - char - width)):
            if not covers(left, left + width, height, taken, line):
                return side, left, height
    return "left", x - char - width, y + SHIFTS[-1] * line
