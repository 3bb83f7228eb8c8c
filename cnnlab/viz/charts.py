"""Timing charts for the book: plain functions that return a Figure.

:func:`speedup_chart` draws what :func:`cnnlab.perf.bench.compare` measured,
:func:`timing_distribution` shows why a single reading is not a measurement,
and :func:`speedup_label` is the text that charts and tables give a speed-up.
Like :mod:`cnnlab.viz.plots`, each function builds its own figure and touches
no global state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from cnnlab.perf import bench

__all__ = ["speedup_chart", "speedup_label", "timing_distribution"]


def speedup_label(speedup: float) -> str:
    """A speed-up as text: "1.4x", "12x", "3,450x"."""
    return f"{speedup:,.0f}x" if speedup >= 10 else f"{speedup:.2g}x"


class Quartiles(Protocol):
    """What a chart reads of a timing: a ``bench.Timing``, or any object with these
    (the landing page draws timings read back from a results file)."""

    @property
    def median(self) -> float: ...
    @property
    def q1(self) -> float: ...
    @property
    def q3(self) -> float: ...


def _median_seconds(timing: float | Quartiles) -> float:
    """Seconds per call: the median of a timing, or the number itself."""
    return float(timing) if isinstance(timing, (int, float)) else float(timing.median)


def speedup_chart(
    timings: Mapping[str, float | Quartiles],
    baseline: str,
    flops: int | None = None,
    title: str = "",
    machine: str | None = None,
) -> Figure:
    """Bar chart of time per call (and GFLOP/s when ``flops`` is given), log scale.

    ``timings`` maps implementation names to seconds per call or to timings
    with quartiles, such as ``bench.Timing`` (then the bar is the median and the
    whisker spans the quartiles). Each bar is annotated with its speed-up
    over ``baseline``, and the figure is captioned with ``machine`` (default:
    ``bench.machine_label()``), because a timing means nothing without it.
    """
    if baseline not in timings:
        raise ValueError(
            f"baseline {baseline!r} is not one of the timings {list(timings)}"
        )
    names = list(timings)
    seconds = np.array([_median_seconds(timings[name]) for name in names])
    base = seconds[names.index(baseline)]
    y = np.arange(len(names))

    ncols = 1 if flops is None else 2
    fig, axes = plt.subplots(
        1,
        ncols,
        figsize=(5.5 * ncols, 1.2 + 0.55 * len(names)),
        layout="constrained",
        squeeze=False,
    )
    ax_time = axes[0, 0]
    lo = 10 ** math.floor(math.log10(seconds.min() / 3))
    ax_time.barh(y, seconds - lo, left=lo, color="tab:blue", height=0.6)
    right_end = seconds.copy()  # labels start right of the whisker, if there is one
    measured = [t for t in timings.values() if hasattr(t, "q1") and hasattr(t, "q3")]
    if len(measured) == len(names):  # every value is a Timing: draw its quartiles
        q1 = np.array([t.q1 for t in measured])
        q3 = np.array([t.q3 for t in measured])
        ax_time.errorbar(
            seconds,
            y,
            xerr=[seconds - q1, q3 - seconds],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
        right_end = np.maximum(seconds, q3)
    for yi, name, s, end in zip(y, names, seconds, right_end, strict=True):
        note = "baseline" if name == baseline else speedup_label(base / s)
        ax_time.text(
            end * 1.3, yi, f"{bench.format_time(s)}  ({note})", va="center", fontsize=9
        )
    ax_time.set_xscale("log")
    ax_time.set_xlim(lo, right_end.max() * 3000)  # room for the longest label
    ax_time.set_xlabel("seconds per call (log scale)")
    ax_time.set_title("Time per call: shorter is faster")

    if flops is not None:
        ax_rate = axes[0, 1]
        rates = np.array([bench.gflops(flops, s) for s in seconds])
        lo_rate = 10 ** math.floor(math.log10(rates.min() / 3))
        ax_rate.barh(y, rates - lo_rate, left=lo_rate, color="tab:green", height=0.6)
        for yi, rate in zip(y, rates, strict=True):
            ax_rate.text(rate * 1.3, yi, f"{rate:.3g} GFLOP/s", va="center", fontsize=9)
        ax_rate.set_xscale("log")
        ax_rate.set_xlim(lo_rate, rates.max() * 100)
        ax_rate.set_xlabel("GFLOP/s (log scale)")
        ax_rate.set_title("Throughput: longer is faster")

    for ax in axes[0]:
        ax.set_yticks(y, names)
        ax.invert_yaxis()  # first implementation on top
        ax.set_ylabel("implementation")
    fig.suptitle(title or f"Speed-up over {baseline}")
    fig.supxlabel(
        f"Machine: {machine or bench.machine_label()}", fontsize=8, color="0.35"
    )
    return fig


def _time_axis(ax: Axes, values: np.ndarray, log: bool) -> None:
    """Label an x axis of seconds with a few readable durations ("500 µs", "2 ms").

    Matplotlib's default labels for a log axis that spans less than a decade
    are every minor tick in scientific notation, and they overlap; here the
    ticks are round durations at least a sixth of the axis apart.
    """
    label = FuncFormatter(lambda s, _: bench.format_time(s) if s > 0 else "0")
    if not log:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.xaxis.set_major_formatter(label)
        return
    ax.set_xscale("log")
    lo, hi = float(np.min(values)) / 1.2, float(np.max(values)) * 1.2
    ax.set_xlim(lo, hi)
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    candidates = sorted(m * 10.0**d for d in decades for m in (1, 2, 3, 5, 7))
    gap = (math.log10(hi) - math.log10(lo)) / 6
    ticks: list[float] = []
    for value in (v for v in candidates if lo <= v <= hi):
        if not ticks or math.log10(value / ticks[-1]) >= gap:
            ticks.append(value)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(label)


def timing_distribution(
    readings: Sequence[float], timing: bench.Timing, title: str = ""
) -> Figure:
    """Single readings against a ``bench.Timing``'s samples: a strip plot and a
    histogram.

    Left, on a log scale, one dot per value: the top row holds ``readings``
    (seconds, each one call timed alone), the bottom row ``timing.samples``;
    a black bar marks each row's median. Right, a histogram of the samples
    with their median, quartiles and mean. Durations are labelled in
    readable units, few enough not to overlap.
    """
    samples = np.asarray(timing.samples, dtype=float)
    rows = [
        ("single time.time()\nreadings", np.asarray(readings, dtype=float)),
        ("bench.time_it\nsamples", samples),
    ]
    fig, (ax_strip, ax_hist) = plt.subplots(
        1, 2, figsize=(11, 3.8), layout="constrained"
    )
    jitter = np.random.default_rng(1)
    for row, (_, values) in enumerate(rows):
        ax_strip.scatter(
            values, row + jitter.uniform(-0.15, 0.15, len(values)), s=12, alpha=0.6
        )
        ax_strip.plot(
            [np.median(values)] * 2, [row - 0.3, row + 0.3], color="black", linewidth=2
        )
    ax_strip.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax_strip.set_ylim(len(rows) - 0.5, -0.5)  # the first row on top
    _time_axis(ax_strip, np.concatenate([v for _, v in rows]), log=True)
    ax_strip.set_xlabel("time per call (log scale)")
    ax_strip.set_title("Each dot is one value; black bar: median")

    ax_hist.hist(samples, bins=30, color="tab:blue", alpha=0.8)
    marks = [
        (timing.q1, ":", "quartiles"),
        (timing.median, "-", "median"),
        (timing.q3, ":", None),
    ]
    for value, style, label in marks:
        ax_hist.axvline(value, color="black", linestyle=style, label=label)
    ax_hist.axvline(samples.mean(), color="tab:red", linestyle="--", label="mean")
    _time_axis(ax_hist, samples, log=False)
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_hist.set_xlabel("time per call")
    ax_hist.set_ylabel("number of samples")
    ax_hist.set_title(f"{len(samples)} samples of {timing.number} calls each")
    ax_hist.legend()
    if title:
        fig.suptitle(title)
    return fig
