"""The roofline model: is a kernel limited by arithmetic or by memory?

Williams, Waterman & Patterson (2009) bound the speed of a kernel by two
ceilings. The processor cannot compute faster than its peak, ``P`` GFLOP/s,
and it cannot compute faster than memory delivers operands: ``B`` GB/s times
the kernel's *arithmetic intensity* ``I``, the FLOPs it does per byte it
moves. So a kernel reaches at most ``min(P, B * I)``. On a log-log plot the
two bounds draw a roof: a slope for memory-bound kernels, a flat line for
compute-bound ones, meeting at the *ridge point* ``I = P / B``.

Data that stays in the caches arrives faster than main memory can deliver
it, so a kernel whose data fits in the caches is held to a second, higher
slope, the cache roof (the cache-aware roofline of Ilic, Pratas & Sousa
2014). :class:`Roofs` holds the ceilings of one machine and says which roof
a kernel is held to; :func:`Roofs.from_profile` reads them from
:func:`cnnlab.perf.machine.profile`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from cnnlab.perf import bench

__all__ = [
    "Roofs",
    "arithmetic_intensity",
    "conv2d_bytes",
    "attainable_gflops",
    "ridge_point",
    "roofline_chart",
]


def _positive(name: str, value) -> float:
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not value > 0
        or math.isinf(value)
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def arithmetic_intensity(flops: float, bytes_moved: float) -> float:
    """FLOPs per byte of memory traffic."""
    if not isinstance(flops, numbers.Real) or not flops >= 0:
        raise ValueError(f"flops must be a number >= 0, got {flops!r}")
    return flops / _positive("bytes_moved", bytes_moved)


def conv2d_bytes(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    out_shape: Sequence[int],
    itemsize: int = 4,
) -> int:
    """The least memory traffic of a convolution: read x (N, C, H, W) and w (F, C, KH,
    KW) once, write the output once.

    A real kernel moves more whenever its working set does not fit in the
    caches, so this gives the highest intensity the convolution can have.
    ``itemsize`` is bytes per number (4 for float32).
    """
    for name, shape in (
        ("x_shape", x_shape),
        ("w_shape", w_shape),
        ("out_shape", out_shape),
    ):
        if len(shape) != 4 or not all(
            isinstance(v, numbers.Integral) and v >= 1 for v in shape
        ):
            raise ValueError(f"{name} must be 4 positive ints, got {shape!r}")
    if not isinstance(itemsize, numbers.Integral) or itemsize < 1:
        raise ValueError(f"itemsize must be a positive int, got {itemsize!r}")
    return int(itemsize) * (
        math.prod(x_shape) + math.prod(w_shape) + math.prod(out_shape)
    )


def attainable_gflops(intensity, peak_gflops: float, bandwidth_gbs: float):
    """The roof: ``min(peak, bandwidth * intensity)`` GFLOP/s; ``intensity`` may be an
    array.
    """
    peak, bandwidth = (
        _positive("peak_gflops", peak_gflops),
        _positive("bandwidth_gbs", bandwidth_gbs),
    )
    result = np.minimum(peak, bandwidth * np.asarray(intensity, dtype=float))
    return float(result) if result.ndim == 0 else result


def ridge_point(peak_gflops: float, bandwidth_gbs: float) -> float:
    """The intensity (FLOP/byte) where the memory slope meets the compute roof."""
    return _positive("peak_gflops", peak_gflops) / _positive(
        "bandwidth_gbs", bandwidth_gbs
    )


@dataclass(frozen=True)
class Roofs:
    """The ceilings of one machine: compute peak, memory and cache bandwidth, matmul
    rate.

    ``peak_gflops`` is the compute roof, ``bandwidth_gbs`` the memory roof's
    slope; ``cache_gbs`` (optional) is the bandwidth of the caches, the slope
    for a kernel whose data, ``bytes_moved``, fits in ``cache_bytes`` (the
    last-level cache). The cache bandwidth is measured in the fastest level
    measured (L2), so for data that only fits in a slower level it is a loose
    bound, but still a bound. ``matmul_gflops`` is a practical line, not a
    roof: what the most tuned kernel reaches.
    """

    peak_gflops: float
    bandwidth_gbs: float
    cache_gbs: float | None = None
    cache_bytes: int | None = None
    matmul_gflops: float | None = None

    @classmethod
    def from_profile(cls, profile=None) -> Roofs:
        """The roofs of :func:`cnnlab.perf.machine.profile` (or of ``profile``)."""
        from cnnlab.perf import machine

        profile = machine.profile() if profile is None else profile
        return cls(
            profile.peak_gflops,
            profile.bandwidth_gbs,
            profile.cache_gbs,
            profile.last_level_cache_bytes,
            profile.matmul_gflops,
        )

    @property
    def ridge_point(self) -> float:
        """FLOP per byte where the memory roof meets the compute roof."""
        return ridge_point(self.peak_gflops, self.bandwidth_gbs)

    def level(self, bytes_moved: float) -> str:
        """ "cache" if data of ``bytes_moved`` bytes fits in the caches (and a cache
        roof is known), else "memory".
        """
        if (
            self.cache_gbs is not None
            and self.cache_bytes is not None
            and bytes_moved <= self.cache_bytes
        ):
            return "cache"
        return "memory"

    def bandwidth(self, level: str) -> float:
        """The bandwidth of "memory" or "cache", GB/s."""
        if level not in ("memory", "cache") or (
            level == "cache" and self.cache_gbs is None
        ):
            raise ValueError(
                f"level must be 'memory' or 'cache' (when known), got {level!r}"
            )
        return self.cache_gbs if level == "cache" else self.bandwidth_gbs

    def attainable(self, intensity: float, bytes_moved: float) -> float:
        """The roof above a kernel: ``min(peak, bandwidth of its data's level x
        intensity)``.
        """
        return attainable_gflops(
            intensity, self.peak_gflops, self.bandwidth(self.level(bytes_moved))
        )

    def bound(self, intensity: float, bytes_moved: float) -> str:
        """What holds a kernel down: "compute", or the level its data comes from."""
        level = self.level(bytes_moved)
        return (
            "compute"
            if intensity >= ridge_point(self.peak_gflops, self.bandwidth(level))
            else level
        )


def _check_point(point) -> None:
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
        the roof). A label shared by several points (one case on several
        implementations) is written once, next to the highest of them.
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
    xs = np.geomspace(x_lo, x_hi, 200)
    # The roofs are named, with their numbers, in the legend: text on the plot would
    # cross the lines and the points.
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
    ax.plot(
        [ridge],
        [peak],
        "o",
        color="black",
        markersize=6,
        label=f"ridge point: {ridge:.3g} FLOP/byte",
    )
    char, line = _text_size(math.log10(x_hi / x_lo), math.log10(y_hi / y_lo))
    markers = [_marker_box(p, char) for p in points]
    # the flat roof and the matmul line, so that no label crosses them
    lines = [
        (math.log10(x_lo), math.log10(x_hi), math.log10(r)) for r in (peak, matmul) if r
    ]
    for slope in (bandwidth, cache):  # and the slanted roofs, as a chain of small boxes
        if slope is not None:
            lines += _slanted_roof_boxes(
                slope, ridge_point(peak, slope), x_lo, char, line
            )

    series = list(dict.fromkeys(p.get("series") for p in points))
    colors = {name: plt.get_cmap("tab10")(k % 10) for k, name in enumerate(series)}
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
        )
    for p, place in zip(points, _label_places(points, char, line, markers + lines)):
        if place is None:
            continue
        side, y = place
        moved = not math.isclose(y, p["gflops"], rel_tol=1e-9)
        ax.annotate(
            p["label"],
            (p["intensity"], p["gflops"]),
            xytext=(
                10
                ** (math.log10(p["intensity"]) + (char if side == "right" else -char)),
                y,
            ),
            textcoords="data",
            ha="left" if side == "right" else "right",
            va="center",
            fontsize=8,
            # a label that had to move away from its point's height points back at it
            arrowprops=dict(
                arrowstyle="-", color="0.55", linewidth=0.6, shrinkA=1, shrinkB=4
            )
            if moved
            else None,
        )
    for name in series:
        if name is not None:
            ax.plot([], [], "o", color=colors[name], label=name)
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
            label="star: direct-equivalent rate\n(fewer multiplications;\nmay pass the roof)",
        )

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


def _text_size(x_decades: float, y_decades: float) -> tuple[float, float]:
    """Width of a character and height of a line of 8-point text, in powers of ten along
    each axis.

    ``x_decades`` and ``y_decades`` are the plot's width and height in
    powers of ten; on the chart's figure size (with the legend beside it) a
    character is at most about 1.3% of the width and a line about 3.5% of
    the height.
    """
    return 0.013 * x_decades, 0.035 * y_decades


# Boxes of text and markers are (left, right, height of the middle) in log10 units of
# the axes.
Box = tuple[float, float, float]


def _marker_box(point: Mapping, char: float) -> Box:
    return (
        math.log10(point["intensity"]) - char,
        math.log10(point["intensity"]) + char,
        math.log10(point["gflops"]),
    )


def _slanted_roof_boxes(
    bandwidth: float, ridge: float, x_lo: float, char: float, line: float
) -> list[Box]:
    """Boxes along the slanted roof ``bandwidth x I`` from the chart's left edge to
    ``ridge``.

    In log10 units the roof is the line y = log10(bandwidth) + x; boxes half a
    character wide, close enough that no label can slip between them.
    """
    step = min(char, line) / 2
    x, end = math.log10(x_lo), math.log10(ridge)
    boxes = []
    while x <= end:
        boxes.append((x - step, x + step, math.log10(bandwidth) + x))
        x += step
    return boxes


def _covers(
    left: float, right: float, height: float, boxes: Sequence[Box], line: float
) -> bool:
    """Whether a one-line box overlaps any of ``boxes``."""
    # 0.999: a box exactly one line above another is clear of it, despite rounding
    return any(
        a < right and left < b and abs(h - height) < 0.999 * line for a, b, h in boxes
    )


def _label_places(
    points: Sequence[Mapping], char: float, line: float, taken: Sequence[Box]
) -> list[tuple[str, float] | None]:
    """Where to write each point's label: ("right" or "left" of the point, height), or
    None.

    A label shared by several points is written once, for the highest of
    them (None for the others). Each label goes to the first free place
    among: right of its point, left of it, then a little higher or lower,
    further each time, so that it covers none of the boxes ``taken``
    (markers and fixed texts) and no label placed before. ``char`` and
    ``line`` come from :func:`_text_size`.
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
        for shift in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, 6, 7, 8):
            height = y + shift * line
            for side, left in (("right", x + char), ("left", x - char - width)):
                if not _covers(left, left + width, height, taken, line):
                    break
            else:
                continue
            break
        taken.append((left, left + width, height))
        places[k] = (side, 10**height)
    return places
