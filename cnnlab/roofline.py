"""The roofline model: is a kernel limited by arithmetic or by memory?

Williams, Waterman & Patterson (2009) bound the speed of a kernel by two
ceilings. The processor cannot compute faster than its peak, ``P`` GFLOP/s,
and it cannot compute faster than memory delivers operands: ``B`` GB/s times
the kernel's *arithmetic intensity* ``I``, the FLOPs it does per byte it
moves. So a kernel reaches at most ``min(P, B * I)``. On a log-log plot the
two bounds draw a roof: a slope for memory-bound kernels, a flat line for
compute-bound ones, meeting at the *ridge point* ``I = P / B``.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from . import bench

__all__ = ["arithmetic_intensity", "conv2d_bytes", "attainable_gflops", "ridge_point", "roofline_chart"]


def _positive(name: str, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def arithmetic_intensity(flops: float, bytes_moved: float) -> float:
    """FLOPs per byte of memory traffic."""
    if not isinstance(flops, numbers.Real) or not flops >= 0:
        raise ValueError(f"flops must be a number >= 0, got {flops!r}")
    return flops / _positive("bytes_moved", bytes_moved)


def conv2d_bytes(x_shape: Sequence[int], w_shape: Sequence[int], out_shape: Sequence[int], itemsize: int = 4) -> int:
    """The least memory traffic of a convolution: read x (N, C, H, W) and w (F, C, KH, KW) once, write the output once.

    A real kernel moves more whenever its working set does not fit in the
    caches, so this gives the highest intensity the convolution can have.
    ``itemsize`` is bytes per number (4 for float32).
    """
    for name, shape in (("x_shape", x_shape), ("w_shape", w_shape), ("out_shape", out_shape)):
        if len(shape) != 4 or not all(isinstance(v, numbers.Integral) and v >= 1 for v in shape):
            raise ValueError(f"{name} must be 4 positive ints, got {shape!r}")
    if not isinstance(itemsize, numbers.Integral) or itemsize < 1:
        raise ValueError(f"itemsize must be a positive int, got {itemsize!r}")
    return int(itemsize) * (math.prod(x_shape) + math.prod(w_shape) + math.prod(out_shape))


def attainable_gflops(intensity, peak_gflops: float, bandwidth_gbs: float):
    """The roof: ``min(peak, bandwidth * intensity)`` GFLOP/s; ``intensity`` may be an array."""
    peak, bandwidth = _positive("peak_gflops", peak_gflops), _positive("bandwidth_gbs", bandwidth_gbs)
    result = np.minimum(peak, bandwidth * np.asarray(intensity, dtype=float))
    return float(result) if result.ndim == 0 else result


def ridge_point(peak_gflops: float, bandwidth_gbs: float) -> float:
    """The intensity (FLOP/byte) where the memory slope meets the compute roof."""
    return _positive("peak_gflops", peak_gflops) / _positive("bandwidth_gbs", bandwidth_gbs)


def _check_point(point) -> None:
    if not isinstance(point, Mapping) or not {"label", "intensity", "gflops"} <= set(point):
        raise ValueError(f"each point must be a dict with label, intensity and gflops, got {point!r}")
    for key in ("intensity", "gflops"):
        _positive(f"{key} of point {point['label']!r}", point[key])


def roofline_chart(
    points: Sequence[Mapping],
    peak_gflops: float,
    bandwidth_gbs: float,
    machine: str | None = None,
    title: str = "Roofline",
) -> Figure:
    """Log-log roofline with measured kernels as labelled points.

    Parameters
    ----------
    points : list of dict
        Each has ``label`` (written next to the point), ``intensity``
        (FLOP/byte) and ``gflops`` (measured). Optional: ``series`` (points
        of one series share a colour and a legend entry, e.g. one per
        implementation) and ``extrapolated`` (True draws a hollow marker:
        the rate was not measured on the whole input).
    peak_gflops, bandwidth_gbs : float
        The compute ceiling (GFLOP/s) and the memory bandwidth (GB/s).
    machine : str, optional
        Caption; defaults to ``bench.machine_label()``.
    title : str
        Title above the plot.
    """
    peak, bandwidth = _positive("peak_gflops", peak_gflops), _positive("bandwidth_gbs", bandwidth_gbs)
    for point in points:
        _check_point(point)
    ridge = ridge_point(peak, bandwidth)
    intensities = [p["intensity"] for p in points] + [ridge]
    rates = [p["gflops"] for p in points] + [peak]
    x_lo, x_hi = min(intensities) / 4, max(intensities) * 4
    y_lo, y_hi = min(rates) / 4, max(rates) * 4

    fig, ax = plt.subplots(figsize=(10, 5.5), layout="constrained")
    xs = np.geomspace(x_lo, x_hi, 200)
    roof = attainable_gflops(xs, peak, bandwidth)
    ax.plot(xs, roof, color="black", linewidth=2, label="roof: min(peak, bandwidth × I)")
    ax.plot([ridge], [peak], "o", color="black", markersize=6)
    char, line = _text_size(math.log10(x_hi / x_lo), math.log10(y_hi / y_lo))
    markers = [_marker_box(p, char) for p in points]
    # The roof's own labels go just above it, where a kernel can only be through noise (else just below it):
    # the ridge point's ends at the ridge, the compute roof's starts there, the memory slope's sits further left.
    blocked: list[Box] = []
    for text, x, y, align in [
        (f"memory bound: {bandwidth:.3g} GB/s × I", math.log10(ridge / 3), math.log10(bandwidth * ridge / 3), "right"),
        (f"ridge point: {ridge:.3g} FLOP/byte", math.log10(ridge) - char, math.log10(peak), "right"),
        (f"compute bound: {peak:.3g} GFLOP/s", math.log10(ridge) + char, math.log10(peak), "left"),
    ]:
        width = char * len(text)
        left = x - width if align == "right" else x
        height = next((h for h in (y + line, y - line) if not _covers(left, left + width, h, markers, line)), y + line)
        blocked.append((left, left + width, height))
        ax.text(10**left, 10**height, text, ha="left", va="center", fontsize=8)

    series = list(dict.fromkeys(p.get("series") for p in points))
    colors = {name: plt.get_cmap("tab10")(k % 10) for k, name in enumerate(series)}
    for p in points:
        color = colors[p.get("series")]
        ax.plot(
            p["intensity"], p["gflops"], "o", markersize=7, color=color, markeredgewidth=1.5,
            markerfacecolor="none" if p.get("extrapolated", False) else color,
        )
    for p, place in zip(points, _label_places(points, char, line, markers + blocked)):
        if place is None:
            continue
        side, y = place
        ax.annotate(p["label"], (p["intensity"], y), xytext=(7 if side == "right" else -7, 0),
                    textcoords="offset points", ha="left" if side == "right" else "right", va="center", fontsize=8)
    for name in series:
        if name is not None:
            ax.plot([], [], "o", color=colors[name], label=name)
    if any(p.get("extrapolated", False) for p in points):
        ax.plot([], [], "o", color="0.3", markerfacecolor="none", label="hollow: extrapolated\nfrom part of the input")

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("arithmetic intensity I (FLOP per byte moved, log scale)")
    ax.set_ylabel("GFLOP/s (log scale)")
    ax.grid(True, which="major", color="0.9")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title(title)
    fig.supxlabel(f"Machine: {machine or bench.machine_label()}", fontsize=8, color="0.35")
    return fig


def _text_size(x_decades: float, y_decades: float) -> tuple[float, float]:
    """Width of a character and height of a line of 8-point text, in powers of ten along each axis.

    ``x_decades`` and ``y_decades`` are the plot's width and height in
    powers of ten; on the chart's figure size a character is at most about
    0.9% of the width and a line about 3.5% of the height.
    """
    return 0.009 * x_decades, 0.035 * y_decades


# Boxes of text and markers are (left, right, height of the middle) in log10 units of the axes.
Box = tuple[float, float, float]


def _marker_box(point: Mapping, char: float) -> Box:
    return (math.log10(point["intensity"]) - char, math.log10(point["intensity"]) + char, math.log10(point["gflops"]))


def _covers(left: float, right: float, height: float, boxes: Sequence[Box], line: float) -> bool:
    """Whether a one-line box overlaps any of ``boxes``."""
    # 0.999: a box exactly one line above another is clear of it, despite rounding
    return any(a < right and left < b and abs(h - height) < 0.999 * line for a, b, h in boxes)


def _label_places(
    points: Sequence[Mapping], char: float, line: float, taken: Sequence[Box]
) -> list[tuple[str, float] | None]:
    """Where to write each point's label: ("right" or "left" of the point, height), or None.

    Each label goes to the first free place among: right of its point, left
    of it, then a little higher or lower, further each time, so that it
    covers none of the boxes ``taken`` (markers and fixed texts) and no label
    placed before. A point that sits on another point with the same label
    shares that label (None). ``char`` and ``line`` come from :func:`_text_size`.
    """
    taken = list(taken)
    places: list[tuple[str, float] | None] = [None] * len(points)
    labelled: list[tuple[str, float, float]] = []  # (label, x, y) of each point that got a label
    for k in sorted(range(len(points)), key=lambda k: (points[k]["gflops"], points[k]["intensity"])):
        text = str(points[k]["label"])
        x, y = math.log10(points[k]["intensity"]), math.log10(points[k]["gflops"])
        if any(t == text and abs(tx - x) < char and abs(ty - y) < line for t, tx, ty in labelled):
            continue
        width = char * len(text)
        for shift in (0, 1, -1, 2, -2, 3, -3, 4, 5, 6, 7, 8):
            height = y + shift * line
            for side, left in (("right", x + char), ("left", x - char - width)):
                if not _covers(left, left + width, height, taken, line):
                    break
            else:
                continue
            break
        taken.append((left, left + width, height))
        labelled.append((text, x, y))
        places[k] = (side, 10**height)
    return places
