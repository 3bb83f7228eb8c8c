"""The book's figures that a reader varies on the published page.

Each function returns a :class:`cnnlab.viz.frames.ResponsiveFigure`: the figure
of :mod:`cnnlab.viz.plots` or :mod:`cnnlab.viz.charts` drawn for every setting
of a few discrete controls when the notebook executes, so that the controls work
with no Python behind the page. The live widgets of :mod:`cnnlab.viz.widgets`
draw the same pictures, with continuous controls, for readers who run the
notebook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

import cnnlab
from cnnlab import data
from cnnlab.viz import charts, plots
from cnnlab.viz.frames import Control, ResponsiveFigure

__all__ = ["kernel_explorer", "sliding_window_stepper", "speedup_explorer"]


def kernel_explorer(image: ArrayLike | None = None) -> ResponsiveFigure:
    """Each preset kernel of ``data.kernel_presets()``, as given or turned a
    quarter turn, applied to ``image`` (default: ``data.sample_image()``)."""
    image = data.sample_image() if image is None else np.asarray(image)
    presets = data.kernel_presets()
    turns = ["as given", "turned a quarter turn"]

    def kernel(preset: str, turned: int) -> np.ndarray:
        # a quarter turn clockwise: a vertical-edge kernel finds horizontal edges
        return np.rot90(presets[preset], -turned)

    def draw(preset: str, turned: int):
        title = f"Kernel: {preset}" + (", turned" if turned else "")
        return plots.kernel_explorer_figure(image, kernel(preset, turned), title=title)

    def alt(preset: str, turned: int) -> str:
        weights = " / ".join(
            " ".join(plots.format_value(v) for v in row)
            for row in kernel(preset, turned)
        )
        return (
            f"Three panels: the grayscale photograph, the {preset} kernel "
            f"{turns[turned]} (rows of weights: {weights}), and the photograph "
            "filtered by it."
        )

    controls = [
        Control("preset", list(presets), label="Preset"),
        Control("turned", [0, 1], label="Kernel", labels=turns),
    ]
    return ResponsiveFigure(draw, controls, alt, image_format="jpeg")


def sliding_window_stepper(
    x: ArrayLike | None = None,
    w: ArrayLike | None = None,
    strides: tuple[int, ...] = (1, 2),
    paddings: tuple[int, ...] = (0, 1),
    most_frames: int = 40,
) -> ResponsiveFigure:
    """Every window position of a convolution of x with w, for each stride and
    padding; x and w default to ``data.classic_example()``.

    Each frame takes a noticeable fraction of a second to draw, so (stride,
    padding) settings are kept, stride 1 first and then the fewest positions
    first, while their positions add up to at most ``most_frames`` (from the
    classic example this drops stride 2 with padding 1, which shows nothing that
    stride 2 without padding and stride 1 with padding do not)."""
    classic_x, classic_w = data.classic_example()
    x = classic_x if x is None else np.asarray(x, dtype=np.float64)
    w = classic_w if w is None else np.asarray(w, dtype=np.float64)

    def outputs(stride: int, padding: int) -> tuple[int, int]:
        return (
            cnnlab.output_size(x.shape[0], w.shape[0], stride, padding),
            cnnlab.output_size(x.shape[1], w.shape[1], stride, padding),
        )

    def positions(pair: tuple[int, int]) -> int:
        oh, ow = outputs(*pair)
        return oh * ow

    pairs = sorted(
        ((s, p) for s in strides for p in paddings),
        key=lambda pair: (pair[0] != 1, positions(pair)),
    )
    kept: set[tuple[int, int]] = set()
    for pair in pairs:
        if not kept or sum(map(positions, kept)) + positions(pair) <= most_frames:
            kept.add(pair)
    most = max(map(positions, kept))

    def valid(stride: int, padding: int, position: int) -> bool:
        oh, ow = outputs(stride, padding)
        return (stride, padding) in kept and position < oh * ow

    def draw(stride: int, padding: int, position: int):
        return plots.sliding_window_figure(x, w, position, stride, padding)

    def alt(stride: int, padding: int, position: int) -> str:
        oh, ow = outputs(stride, padding)
        i, j = divmod(position, ow)
        return (
            f"The {x.shape[0]} x {x.shape[1]} input with padding {padding}, the "
            f"{w.shape[0]} x {w.shape[1]} kernel, and the {oh} x {ow} output of "
            f"stride {stride} filled in up to position ({i}, {j}), whose window is "
            "outlined on the input; its multiply-adds are written out below."
        )

    controls = [
        Control("stride", list(strides), label="Stride"),
        Control("padding", list(paddings), label="Padding"),
        Control(
            "position",
            list(range(most)),
            kind="slider",
            label="Output position (row by row)",
        ),
    ]
    return ResponsiveFigure(draw, controls, alt, valid=valid)


class _Quartiles(NamedTuple):
    """A bench result's median and quartiles, as charts.speedup_chart draws them."""

    median: float
    q1: float
    q3: float


# the references a reader compares against, in the order offered
_BASELINES = ("python", "numpy", "torch")


def speedup_explorer(results: Mapping[str, Any]) -> ResponsiveFigure:
    """Each case of a bench run (``suite.run_suite`` or ``suite.book_results``),
    its implementations' times and speed-ups over a baseline of the reader's choice:
    the pure Python loops, NumPy, or PyTorch where the run has it."""
    from cnnlab.perf.suite.implementations import label

    cases = {case["name"]: case for case in results["cases"]}
    backends = results["settings"]["backends"]
    baselines = [name for name in _BASELINES if name in backends]
    if not baselines:
        raise ValueError(
            f"the run has none of the baselines {list(_BASELINES)}: it ran {backends}"
        )

    def timings(case: Mapping[str, Any]) -> dict[str, _Quartiles]:
        done = case["implementations"]
        return {
            label(name): _Quartiles(
                done[name]["median_s"], done[name]["q1_s"], done[name]["q3_s"]
            )
            for name in backends
            if name in done
        }

    def valid(case: str, baseline: str) -> bool:
        return baseline in cases[case]["implementations"]

    def draw(case: str, baseline: str):
        chosen = cases[case]
        return charts.speedup_chart(
            timings(chosen),
            baseline=label(baseline),
            flops=chosen["flops"],
            title=f"{case}: {chosen['description']}",
        )

    def alt(case: str, baseline: str) -> str:
        chosen = timings(cases[case])
        base = chosen[label(baseline)].median
        ratios = ", ".join(
            f"{name} {charts.speedup_label(base / timing.median)}"
            for name, timing in chosen.items()
            if name != label(baseline)
        )
        return (
            f"Bars of time per call and GFLOP/s of each implementation on {case}, "
            f"on log scales, with its speed-up over {label(baseline)}: {ratios}."
        )

    controls = [
        Control("case", list(cases), label="Case"),
        Control(
            "baseline",
            baselines,
            label="Speed-up over",
            labels=list(map(label, baselines)),
        ),
    ]
    return ResponsiveFigure(draw, controls, alt, valid=valid)
