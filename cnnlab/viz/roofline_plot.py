"""The roofline chart: measured kernels as points under the roofs of one machine.

The model itself (roofs, intensity, ridge point) is :mod:`cnnlab.perf.roofline`;
this module only draws it, and :mod:`cnnlab.viz.label_placement` decides where
each point's label goes so that no label covers a point, a roof or another
label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cnnlab.perf import bench
from cnnlab.perf.roofline import attainable_gflops, ridge_point
from cnnlab.validation import validate_number
from cnnlab.viz.label_placement import (
    Box,
    label_places,
    marker_box,
    slanted_line_boxes,
    text_size,
)

__all__ = ["roofline_chart"]

FADED_ALPHA = 0.2
"""Opacity of a faded point; its label is written in :data:`FADED_TEXT`."""
FADED_TEXT = "0.75"


def _positive(name: str, value: object) -> float:
    return validate_number(name, value, 0.0, math.inf, low_open=True, high_open=True)


def _check_point(point: object) -> None:
    if not isinstance(point, Mapping) or not {"label", "intensity", "gflops"} <= set(
        point
    ):
        raise ValueError(
            f"each point must be a dict with label, intensity and gflops, got {point!r}"
        )
    for key in ("intensity", "gflops"):
        _positive(f"{key} of point {point['label']!r}", point[key])


def roofline_chart(
    points: Sequence[Mapping],
    peak_gflops: float,
    bandwidth_gbs: float,
    machine: str | None = None,
    title: str = "Roofline",
    *,
    cache_gbs: float | None = None,
    matmul_gflops: float | None = None,
) -> Figure:
    """Log-log roofline with measured kernels as points.

    Parameters
    ----------
    points : list of dict
        Each has ``label``, ``intensity`` (FLOP/byte) and ``gflops``
        (measured). Optional: ``series`` (points of one series share a colour
        and a legend entry, e.g. one per implementation), ``extrapolated``
        (True draws a hollow marker: the rate was not measured on the whole
        input), ``roof`` ("memory" or "cache": the roof the point is held to,
        drawn as a circle or a square) and ``direct_equivalent`` (True draws
        a star: the rate counts a direct algorithm's FLOPs, so it may pass
        the roof) and ``faded`` (True draws the point pale, behind the others,
        so that the rest stand out). A label shared by several points (one case
        on several implementations) is written once, next to the highest of
        them, and pale if every one of them is faded.
    peak_gflops, bandwidth_gbs : float
        The compute roof (GFLOP/s) and the main-memory bandwidth (GB/s).
    machine : str, optional
        Caption; defaults to ``bench.machine_label()``.
    title : str
        Title above the plot.
    cache_gbs : float, optional
        The cache bandwidth: draws a second, dashed memory roof for kernels
        whose data stays in the caches.
    matmul_gflops : float, optional
        The BLAS matrix-multiply rate, drawn as a dotted practical line.
    """
    peak, bandwidth = (
        _positive("peak_gflops", peak_gflops),
        _positive("bandwidth_gbs", bandwidth_gbs),
    )
    cache = None if cache_gbs is None else _positive("cache_gbs", cache_gbs)
    matmul = (
        None if matmul_gflops is None else _positive("matmul_gflops", matmul_gflops)
    )
    for point in points:
        _check_point(point)
    ridge = ridge_point(peak, bandwidth)
    intensities = [p["intensity"] for p in points] + [ridge]
    rates = [p["gflops"] for p in points] + [peak]
    x_lo, x_hi = min(intensities) / 4, max(intensities) * 4
    y_lo, y_hi = min(rates) / 4, max(rates) * 4

    fig, ax = plt.subplots(figsize=(10, 5.8), layout="constrained")
    _draw_roofs(ax, np.geomspace(x_lo, x_hi, 200), peak, bandwidth, cache, matmul)
    char, line = text_size(math.log10(x_hi / x_lo), math.log10(y_hi / y_lo))
    taken = [marker_box(p, char) for p in points]
    # the flat roof and the matmul line, so that no label crosses them
    taken += [
        (math.log10(x_lo), math.log10(x_hi), math.log10(r)) for r in (peak, matmul) if r
    ]
    for slope in (bandwidth, cache):  # and the slanted roofs, as a chain of small boxes
        if slope is not None:
            taken += slanted_line_boxes(
                slope, ridge_point(peak, slope), x_lo, char, line
            )
    series = list(dict.fromkeys(p.get("series") for p in points))
    colors = {name: plt.get_cmap("tab10")(k % 10) for k, name in enumerate(series)}
    _draw_points(ax, points, colors)
    _write_labels(ax, points, char, line, taken)
    _explain_markers(ax, points, colors)

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("arithmetic intensity I (FLOP per byte moved, log scale)")
    ax.set_ylabel("GFLOP/s (log scale)")
    ax.grid(True, which="major", color="0.9")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title(title)
    fig.supxlabel(
        f"Machine: {machine or bench.machine_label()}", fontsize=8, color="0.35"
    )
    return fig


def _draw_roofs(
    ax: Axes,
    xs: np.ndarray,
    peak: float,
    bandwidth: float,
    cache: float | None,
    matmul: float | None,
) -> None:
    """The memory roof, the cache roof and the matmul line (if known), and the ridge.

    The roofs are named, with their numbers, in the legend: text on the plot
    would cross the lines and the points.
    """
    ax.plot(
        xs,
        attainable_gflops(xs, peak, bandwidth),
        color="black",
        linewidth=2,
        label=f"memory roof: min({peak:.3g} GFLOP/s,\n{bandwidth:.3g} GB/s × I)",
    )
    if cache is not None:
        ax.plot(
            xs,
            attainable_gflops(xs, peak, cache),
            color="black",
            linewidth=1.2,
            linestyle="--",
            label=f"cache roof: min({peak:.3g} GFLOP/s,\n{cache:.3g} GB/s × I)",
        )
    if matmul is not None:
        ax.axhline(
            matmul,
            color="0.45",
            linestyle=":",
            linewidth=1.5,
            label=f"BLAS matmul (practical): {matmul:.3g} GFLOP/s",
        )
    ridge = ridge_point(peak, bandwidth)
    ax.plot(
        [ridge],
        [peak],
        "o",
        color="black",
        markersize=6,
        label=f"ridge point: {ridge:.3g} FLOP/byte",
    )


def _draw_points(ax: Axes, points: Sequence[Mapping], colors: Mapping) -> None:
    """One marker per point, its shape and fill saying what the point is.

    A star if direct-equivalent, a square if held to the cache roof, a circle
    otherwise; hollow if extrapolated.
    """
    for p in points:
        color = colors[p.get("series")]
        shape = (
            "*"
            if p.get("direct_equivalent")
            else "s"
            if p.get("roof") == "cache"
            else "o"
        )
        ax.plot(
            p["intensity"],
            p["gflops"],
            shape,
            markersize=9 if shape == "*" else 7,
            color=color,
            markeredgewidth=1.5,
            markerfacecolor="none" if p.get("extrapolated", False) else color,
            # a faded point stays visible, beneath the roofs and the other points
            alpha=FADED_ALPHA if p.get("faded") else None,
            zorder=1.5 if p.get("faded") else None,
        )


def _write_labels(
    ax: Axes, points: Sequence[Mapping], char: float, line: float, taken: list[Box]
) -> None:
    """Each point's label where :func:`label_places` finds room for it, pale if
    every point of that label is faded."""
    places = label_places(points, char, line, taken)
    shown = {p["label"] for p in points if not p.get("faded")}
    for p, place in zip(points, places, strict=True):
        if place is None:
            continue
        side, y = place
        moved = not math.isclose(y, p["gflops"], rel_tol=1e-9)
        color = "black" if p["label"] in shown else FADED_TEXT
        x = math.log10(p["intensity"]) + (char if side == "right" else -char)
        ax.annotate(
            p["label"],
            (p["intensity"], p["gflops"]),
            xytext=(10**x, y),
            textcoords="data",
            ha="left" if side == "right" else "right",
            va="center",
            fontsize=8,
            color=color,
            # a label that had to move away from its point's height points back at it
            arrowprops=dict(
                arrowstyle="-",
                color="0.55" if color == "black" else FADED_TEXT,
                linewidth=0.6,
                shrinkA=1,
                shrinkB=4,
            )
            if moved
            else None,
        )


def _explain_markers(ax: Axes, points: Sequence[Mapping], colors: Mapping) -> None:
    """Legend entries for the series and for the marker shapes the points use."""
    for name, color in colors.items():
        if name is not None:
            ax.plot([], [], "o", color=color, label=name)
    if any(p.get("extrapolated", False) for p in points):
        ax.plot(
            [],
            [],
            "o",
            color="0.3",
            markerfacecolor="none",
            label="hollow: extrapolated\nfrom part of the input",
        )
    roofs = {p.get("roof") for p in points}
    if "memory" in roofs and "cache" in roofs:
        ax.plot([], [], "o", color="0.3", label="circle: data from memory")
    if "cache" in roofs:
        ax.plot(
            [],
            [],
            "s",
            color="0.3",
            label="square: data in cache\n(held to the cache roof)",
        )
    if any(p.get("direct_equivalent") for p in points):
        ax.plot(
            [],
            [],
            "*",
            color="0.3",
            markersize=9,
            label="star: direct-equivalent rate\n(fewer multiplications;\n"
            "may pass the roof)",
        )
