"""Readable tables for what a chapter measured, instead of f-strings in every cell.

A :class:`Table` prints as aligned plain text (so nbval compares it and the
published page shows it in one box), and keeps its rows for code that wants
the numbers. :func:`timings_table` is the table every chapter prints after
:func:`cnnlab.perf.bench.compare`: median, spread, rate and speed-up of each
candidate, in one box, with lines short enough for the page. A speed-up reads
the same here as on a chart: :func:`cnnlab.viz.charts.speedup_label`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnnlab.perf import bench
from cnnlab.viz.charts import speedup_label

__all__ = ["Table", "timings_table"]


@dataclass
class Table:
    """Rows of text under a header: the first column left-aligned, the rest right.

    ``notes`` are printed under the table, one per line. ``values`` may hold
    the numbers behind the text, for code that reads them.
    """

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    title: str | None = None
    notes: list[str] = field(default_factory=list)
    values: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(
                    f"a row has {len(row)} cells but the header has "
                    f"{len(self.header)}: {row!r}"
                )

    def lines(self) -> list[str]:
        """The printed table, one string per line: title, header, rule, rows, notes."""
        cells = [
            list(map(str, self.header)),
            *[list(map(str, row)) for row in self.rows],
        ]
        widths = [max(len(row[k]) for row in cells) for k in range(len(self.header))]

        def line(row: list[str]) -> str:
            first = row[0].ljust(widths[0])
            rest = [
                cell.rjust(width)
                for cell, width in zip(row[1:], widths[1:], strict=True)
            ]
            return "  ".join([first, *rest]).rstrip()

        out = [self.title] if self.title else []
        out += [line(cells[0]), "  ".join("-" * w for w in widths)]
        out += [line(row) for row in cells[1:]]
        return out + list(self.notes)

    def __repr__(self) -> str:
        return "\n".join(self.lines())


def timings_table(
    timings: Mapping[str, bench.Timing],
    flops: int | None = None,
    baseline: str | None = None,
    title: str | None = None,
) -> Table:
    """One row per candidate: median ± spread, GFLOP/s (if ``flops``) and speed-up.

    The speed-up is over ``baseline``, by default the first candidate.
    ``values`` of the result maps each name to
    ``{"median_s", "gflops", "speedup"}``.
    """
    if not timings:
        raise ValueError("timings is empty: time at least one candidate")
    names = list(timings)
    baseline = names[0] if baseline is None else baseline
    if baseline not in timings:
        raise ValueError(
            f"baseline {baseline!r} is not one of the timed candidates {names}"
        )
    header = (
        ["implementation", "median", "spread"]
        + (["GFLOP/s"] if flops else [])
        + [f"vs {baseline}"]
    )
    rows, values = [], {}
    for name, timing in timings.items():
        speedup = timings[baseline].median / timing.median
        rate = bench.gflops(flops, timing) if flops else None
        row = [name, bench.format_time(timing.median), f"± {timing.spread:.0%}"]
        row += [f"{rate:.3g}"] if flops else []
        rows.append([*row, speedup_label(speedup)])
        values[name] = {"median_s": timing.median, "gflops": rate, "speedup": speedup}
    return Table(header, rows, title=title, values=values)
