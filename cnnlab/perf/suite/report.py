"""The suite's report: tables and charts of its results, and the files it writes.

:func:`summary_table` and :func:`roofline_table` format a run's results as
text, :func:`cases_speedup_chart` and :func:`cases_roofline_chart` draw them,
and :func:`write_results` saves ``results.json``, ``speedup.png`` and
``roofline.png``. All of them read the dict :func:`cnnlab.perf.suite.run_suite`
returns (or its JSON), so a saved run can be reported again later.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from cnnlab.perf import bench, roofline
from cnnlab.perf.suite.implementations import is_rung, label
from cnnlab.perf.suite.output_dir import OUTPUT_FILES, check_out_dir, temporary_beside
from cnnlab.perf.suite.torch_reference import TORCH
from cnnlab.viz import tables
from cnnlab.viz.charts import speedup_label
from cnnlab.viz.roofline_plot import roofline_chart

__all__ = [
    "write_results",
    "summary_table",
    "roofline_table",
    "cases_speedup_chart",
    "cases_roofline_chart",
    "roof_points",
    "roofs_of",
]

EXTRAPOLATED_NOTE = "* timed on a part of the input and extrapolated by FLOPs"


def write_results(
    results: dict[str, Any], out_dir: str | os.PathLike[str], force: bool = False
) -> list[Path]:
    """Write results.json, speedup.png and roofline.png into ``out_dir``.

    ``out_dir`` is created if needed.

    Raises FileExistsError rather than replace files of those names that an
    earlier run of the suite did not write, unless ``force``. Each file is
    written in full to a temporary file in ``out_dir``, and only when all
    three are complete are they renamed into place: after an interruption
    each file is whole, the old one or the new, never a truncated JSON or PNG.
    """
    check_out_dir(out_dir, force)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in OUTPUT_FILES]
    temporaries: list[Path] = []
    try:
        for path in paths:
            temporaries.append(temporary_beside(path))
        temporaries[0].write_text(json.dumps(results, indent=2) + "\n")
        for temporary, chart in zip(
            temporaries[1:], (cases_speedup_chart, cases_roofline_chart), strict=True
        ):
            figure = chart(results)
            try:
                figure.savefig(temporary, dpi=120, format="png")
            finally:
                plt.close(figure)
        for temporary, path in zip(temporaries, paths, strict=True):
            os.replace(temporary, path)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
    return paths


def _baseline(results: dict[str, Any]) -> str:
    """Speed-ups are over python when it ran, else over the first implementation.

    The first that ran on every case, if any did (a rung lacks some cases).
    """
    backends = results["settings"]["backends"]
    everywhere = [
        name
        for name in backends
        if all(name in case["implementations"] for case in results["cases"])
    ]
    ordered = sorted(everywhere or backends, key=lambda name: name != "python")
    return ordered[0]


def _any_implementation(results: dict[str, Any], flag: str) -> bool:
    """Whether any implementation on any case has ``flag`` set (e.g. extrapolated)."""
    return any(
        impl.get(flag)
        for case in results["cases"]
        for impl in case["implementations"].values()
    )


def roofs_of(results: dict[str, Any]) -> roofline.Roofs:
    """The :class:`roofline.Roofs` stored in ``results`` by ``run_suite``."""
    c = results["ceilings"]
    return roofline.Roofs(
        c["peak_gflops"],
        c["bandwidth_gbs"],
        c["cache_gbs"],
        c["cache_bytes"],
        c["matmul_gflops"],
    )


def cases_speedup_chart(results: dict[str, Any]) -> Figure:
    """Bars of speed-up over python, one group per case, on a log scale.

    Bars of extrapolated times are hatched.
    """
    backends, baseline = results["settings"]["backends"], _baseline(results)
    cases = results["cases"]
    # nan where a case lacks the implementation (or the baseline): no bar
    speedups = np.array(
        [
            [
                case["implementations"][baseline]["median_s"]
                / case["implementations"][b]["median_s"]
                if b in case["implementations"] and baseline in case["implementations"]
                else np.nan
                for b in backends
            ]
            for case in cases
        ]
    )
    lo = 10 ** math.floor(math.log10(min(np.nanmin(speedups), 1.0) / 3))
    width = 0.8 / len(backends)
    fig, ax = plt.subplots(
        figsize=(max(7.0, 1.9 * len(cases) + 2), 5.0), layout="constrained"
    )
    colors = {b: plt.get_cmap("tab10")(k % 10) for k, b in enumerate(backends)}
    for k, backend in enumerate(backends):
        x = np.arange(len(cases)) + (k - (len(backends) - 1) / 2) * width
        hatches = [
            "//" if case["implementations"].get(backend, {}).get("extrapolated") else ""
            for case in cases
        ]
        bars = ax.bar(
            x,
            speedups[:, k] - lo,
            width=width * 0.92,
            bottom=lo,
            color=colors[backend],
            label=label(backend),
            hatch=hatches,
            edgecolor="white",
        )
        for bar, s in zip(bars, speedups[:, k], strict=True):
            if np.isnan(s):
                continue
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                s * 1.15,
                speedup_label(s),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_yscale("log")
    ax.set_ylim(lo, np.nanmax(speedups) * 8)
    ax.axhline(1.0, color="0.4", linewidth=0.8)
    ax.set_xticks(np.arange(len(cases)), [case["name"] for case in cases])
    ax.set_xlabel("case")
    ax.set_ylabel(f"speed-up over {label(baseline)} (log scale)")
    handles, _ = ax.get_legend_handles_labels()
    if _any_implementation(results, "extrapolated"):
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="0.3",
                hatch="//",
                label="hatched: timed on part of the input,\nextrapolated by FLOPs",
            )
        )
    ax.legend(handles=handles, loc="upper left", fontsize=8, ncols=2)
    ax.set_title(f"Speed-up over {label(baseline)}, per case: higher is faster")
    fig.supxlabel(f"Machine: {bench.machine_label()}", fontsize=8, color="0.35")
    return fig


def roof_points(
    results: dict[str, Any], roofs: roofline.Roofs | None = None
) -> list[dict[str, Any]]:
    """One point per case and implementation, for :func:`roofline_chart`.

    Each point says which roof holds it (``roof``: "cache" when the case's
    data fits in the caches, else "memory") and whether its rate is
    direct-equivalent.
    """
    roofs = roofs_of(results) if roofs is None else roofs
    return [
        {
            "label": case["name"],
            "series": impl["label"],
            "intensity": case["intensity"],
            "gflops": impl["gflops"],
            "extrapolated": impl["extrapolated"],
            "roof": roofs.level(case["bytes"]),
            "direct_equivalent": impl.get("direct_equivalent", False),
        }
        for case in results["cases"]
        for impl in case["implementations"].values()
    ]


def cases_roofline_chart(
    results: dict[str, Any],
    roofs: roofline.Roofs | None = None,
    title: str | None = None,
    highlight: str | None = None,
) -> Figure:
    """Every case on every implementation, under the roofs of the machine profile.

    ``roofs`` defaults to the ones stored in ``results``. ``highlight``, a
    case's name, fades every other case's points and labels, so that case's
    column stands out on the same axes.
    """
    roofs = roofs_of(results) if roofs is None else roofs
    points = roof_points(results, roofs)
    if highlight is not None:
        names = [case["name"] for case in results["cases"]]
        if highlight not in names:
            raise ValueError(
                f"highlight must be one of the cases {names}, got {highlight!r}"
            )
        for point in points:
            point["faded"] = point["label"] != highlight
    return roofline_chart(
        points,
        roofs.peak_gflops,
        roofs.bandwidth_gbs,
        title=title or "Every case on every implementation (squares: data in cache)",
        cache_gbs=roofs.cache_gbs,
        matmul_gflops=roofs.matmul_gflops,
    )


def summary_table(results: dict[str, Any]) -> tables.Table:
    """A table: case, implementation, median time, GFLOP/s and speed-up.

    The numba rows of convolutions name the kernel that ran, as "numba (winograd)";
    a single rung is named by :func:`~cnnlab.perf.suite.implementations.label`,
    as "mojo (direct)" or "numba kernel (winograd)". A case that lacks the
    baseline (a rung that cannot compute it) leaves its speed-ups blank.

    When PyTorch ran, a last column gives each implementation's speed-up
    over it on the same case: its median divided into torch's, so above 1x
    is faster than PyTorch. ``values[(case, implementation)]`` holds the
    numbers of each row.
    """
    baseline = _baseline(results)
    with_torch = any(TORCH in case["implementations"] for case in results["cases"])
    header = ["case", "implementation", "median", "GFLOP/s", f"vs {baseline}"]
    header += ["vs torch"] if with_torch else []
    rows: list[Sequence[str]] = []
    values: dict[tuple[str, str], dict[str, float]] = {}
    for case in results["cases"]:
        impls = case["implementations"]
        base = impls[baseline]["median_s"] if baseline in impls else math.nan
        for name, impl in impls.items():
            star = " *" if impl["extrapolated"] else ""
            dagger = " †" if impl.get("direct_equivalent") else ""
            kernel = f" ({impl['kernel']})" if impl.get("kernel") else ""
            row = [
                case["name"],
                label(name) if is_rung(name) else name + kernel,
                bench.format_time(impl["median_s"]) + star,
                f"{impl['gflops']:.3g}{dagger}",
                "" if math.isnan(base) else speedup_label(base / impl["median_s"]),
            ]
            if with_torch:
                row.append(
                    speedup_label(impls[TORCH]["median_s"] / impl["median_s"])
                    if TORCH in impls
                    else ""
                )
            rows.append(row)
            values[case["name"], name] = {
                "median_s": impl["median_s"],
                "gflops": impl["gflops"],
                "speedup": base / impl["median_s"],
            }
    notes = [EXTRAPOLATED_NOTE] if _any_implementation(results, "extrapolated") else []
    if _any_implementation(results, "direct_equivalent"):
        notes.append(
            "† direct-equivalent GFLOP/s: the direct algorithm's FLOPs over the time"
        )
        peak = results.get("ceilings", {}).get("peak_gflops")
        if peak:
            notes.append(
                f"  beside the measured FMA peak of this machine: {peak:.3g} GFLOP/s"
            )
    if _any_implementation(results, "kernel"):
        notes.insert(0, "numba (kernel): the kernel the numba backend chose to run")
    return tables.Table(header, rows, notes=notes, values=values)


def roofline_table(
    results: dict[str, Any], roofs: roofline.Roofs | None = None
) -> tables.Table:
    """Each implementation's rate against the roof above it and the matmul line.

    Columns: case, intensity, what bounds it ("compute", or "cache" /
    "memory": the level its data comes from), implementation, GFLOP/s, the
    roof at that intensity, the rate as a share of the roof, and as a share
    of the BLAS matmul rate. ``values[(case, implementation)]`` holds
    ``roof_gflops``, ``of_roof`` and ``bound``.
    """
    roofs = roofs_of(results) if roofs is None else roofs
    header = ["case", "FLOP/B", "bound", "impl.", "GFLOP/s", "roof", "of roof"]
    header += ["of matmul"] if roofs.matmul_gflops else []
    rows: list[Sequence[str]] = []
    values: dict[tuple[str, str], dict[str, Any]] = {}
    for case in results["cases"]:
        roof = roofs.attainable(case["intensity"], case["bytes"])
        bound = roofs.bound(case["intensity"], case["bytes"])
        for name, impl in case["implementations"].items():
            mark = (
                " *"
                if impl["extrapolated"]
                else " †"
                if impl.get("direct_equivalent")
                else ""
            )
            row = [
                case["name"],
                f"{case['intensity']:.3g}",
                bound,
                name,
                f"{impl['gflops']:.3g}{mark}",
                f"{roof:.3g}",
                f"{impl['gflops'] / roof:.1%}",
            ]
            if roofs.matmul_gflops:
                row.append(f"{impl['gflops'] / roofs.matmul_gflops:.1%}")
            rows.append(row)
            values[case["name"], name] = {
                "roof_gflops": roof,
                "of_roof": impl["gflops"] / roof,
                "bound": bound,
            }
    notes = [EXTRAPOLATED_NOTE] if _any_implementation(results, "extrapolated") else []
    if _any_implementation(results, "direct_equivalent"):
        notes.append(
            "† direct-equivalent rate: fewer multiplications, so it may pass the roof"
        )
    return tables.Table(header, rows, notes=notes, values=values)
