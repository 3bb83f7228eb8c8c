"""The book's figures that a reader varies on the published page.

Each function returns a :class:`cnnlab.viz.frames.ResponsiveFigure`: a figure
of :mod:`cnnlab.viz.plots`, :mod:`cnnlab.viz.charts` or the bench suite's
roofline drawn for every setting of a few discrete controls when the notebook
executes, so that the controls work with no Python behind the page. The live
widgets of :mod:`cnnlab.viz.widgets` draw the kernel explorer's and the
stepper's pictures, with continuous controls, for readers who run the notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

import cnnlab
from cnnlab import data
from cnnlab.perf.roofline import Roofs
from cnnlab.viz import charts, plots, training_plots
from cnnlab.viz.frames import Control, ResponsiveFigure

__all__ = [
    "kernel_explorer",
    "learning_curves_explorer",
    "roofline_explorer",
    "sliding_window_stepper",
    "speedup_explorer",
]


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


def _percent(share: float) -> str:
    """A share as a percentage with two significant digits: "47%", "5.3%", "0.0047%"."""
    percent = 100 * share
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.2g}%"


def roofline_explorer(
    results: Mapping[str, Any], roofs: Roofs | None = None, title: str | None = None
) -> ResponsiveFigure:
    """Every case of a bench run on the roofline (``suite.cases_roofline_chart``),
    all cases alike or one case highlighted and the others faded; the alt text
    gives the highlighted case's rates and their shares of the roof above them.

    ``roofs`` defaults to the ones stored in ``results``;
    ``title`` is every frame's title."""
    from cnnlab.perf.suite import report

    run = dict(results)
    roofs = report.roofs_of(run) if roofs is None else roofs
    cases = {case["name"]: case for case in run["cases"]}
    shares = report.roofline_table(run, roofs).values

    def draw(case: str | None):
        return report.cases_roofline_chart(run, roofs, title=title, highlight=case)

    def rate(case: str, name: str) -> str:
        impl = cases[case]["implementations"][name]
        flags = {
            "extrapolated": "extrapolated",
            "direct_equivalent": "direct-equivalent",
        }
        marks = [text for flag, text in flags.items() if impl.get(flag)]
        return (
            f"{impl['label']} at {impl['gflops']:.3g} GFLOP/s"
            + (f" ({', '.join(marks)})" if marks else "")
            + f", {_percent(shares[case, name]['of_roof'])} of the roof"
        )

    lines = ["the slanted memory roof"]
    lines += ["the dashed cache roof"] if roofs.cache_gbs else []
    lines += [f"the flat compute roof of {roofs.peak_gflops:.3g} GFLOP/s"]
    lines += ["the dotted BLAS matrix multiply line"] if roofs.matmul_gflops else []
    chart = (
        "Log-log roofline chart of GFLOP/s against arithmetic intensity: every case "
        "of the run on every implementation, one colour per implementation, under "
        + ", ".join(lines[:-1])
        + f" and {lines[-1]}"
    )

    def alt(case: str | None) -> str:
        if case is None:
            best = max(shares, key=lambda pair: shares[pair]["of_roof"])
            worst = min(shares, key=lambda pair: shares[pair]["of_roof"])
            return (
                f"{chart}; the cases, left to right by intensity: "
                + ", ".join(sorted(cases, key=lambda name: cases[name]["intensity"]))
                + f". Closest to its roof: {best[0]} on {rate(*best)}; furthest: "
                f"{worst[0]} on {rate(*worst)}."
            )
        chosen = cases[case]
        first = shares[case, next(iter(chosen["implementations"]))]
        return (
            f"{chart}; {case} is drawn in colour and the other cases faded. {case} "
            f"does {chosen['intensity']:.3g} FLOPs per byte, under the "
            f"{first['bound']} roof at {first['roof_gflops']:.3g} GFLOP/s: "
            + "; ".join(rate(case, name) for name in chosen["implementations"])
            + "."
        )

    controls = [
        Control(
            "case", [None, *cases], label="Highlight", labels=["every case", *cases]
        )
    ]
    return ResponsiveFigure(draw, controls, alt, dpi=70)


def learning_curves_explorer(
    histories: Mapping[int, Sequence[Mapping[str, float]]],
    test_accuracy: Mapping[int, float],
) -> ResponsiveFigure:
    """The loss and validation accuracy of one training run per seed
    (``histories[seed]``, as ``train.fit`` returns it), the chosen seed's curves
    drawn strongly over the others'; ``test_accuracy[seed]`` is that seed's
    network's accuracy on the test set, given in the title and alt text."""
    seeds = list(histories)
    missing = [seed for seed in seeds if seed not in test_accuracy]
    if missing:
        raise ValueError(f"no test accuracy for seeds {missing}")
    tests = [test_accuracy[seed] for seed in seeds]

    def title(seed: int) -> str:
        last = histories[seed][-1]
        return (
            f"Seed {seed}: validation accuracy {last['val_accuracy']:.1%} after "
            f"epoch {last['epoch']}, test accuracy {test_accuracy[seed]:.1%}"
        )

    def draw(seed: int):
        return training_plots.learning_curves_figure(histories, seed, title=title(seed))

    def alt(seed: int) -> str:
        history = histories[seed]
        first, last = history[0], history[-1]
        return (
            f"Two line plots over {len(history)} epochs of training, one line per "
            f"seed ({len(seeds)} seeds), seed {seed} in colour and the others in "
            "gray: left, the mean training loss on a log scale; right, the accuracy "
            f"on the validation set. Seed {seed}'s loss went from {first['loss']:.3g} "
            f"to {last['loss']:.3g} and its validation accuracy from "
            f"{first['val_accuracy']:.1%} to {last['val_accuracy']:.1%}; its network "
            f"got {test_accuracy[seed]:.1%} of the test set right (every seed: from "
            f"{min(tests):.1%} to {max(tests):.1%})."
        )

    controls = [Control("seed", seeds, label="Seed")]
    return ResponsiveFigure(draw, controls, alt, dpi=70)
