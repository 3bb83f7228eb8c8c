"""Matplotlib figures for the book: plain functions that return a Figure.

Each function builds its own figure with ``plt.subplots`` and touches no
global state, so the static book and the live widgets (:mod:`cnnlab.viz.widgets`)
draw exactly the same picture. Convolutions are computed with cnnlab's NumPy
backend. In a notebook, end the cell with ``plt.show()`` (or close the figure
and display it yourself) so the figure appears once.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import cnnlab

# Cell colours of the sliding-window figure.
PADDING_COLOR = (0.88, 0.88, 0.88)
CELL_COLOR = (1.0, 1.0, 1.0)
KERNEL_COLOR = (0.85, 0.92, 1.0)
HIGHLIGHT_COLOR = (1.0, 0.85, 0.45)
HIGHLIGHT_EDGE = "tab:orange"
PENDING_COLOR = (0.96, 0.96, 0.96)


def filter_image(image, kernel, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Cross-correlate one 2-D image (H, W) with one 2-D kernel (KH, KW); returns (OH,
    OW).

    A thin wrapper that adds the batch and channel axes cnnlab's ``conv2d``
    expects (N, C, H, W) and removes them again.
    """
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(
            f"image and kernel must be 2-D, got shapes {image.shape} and {kernel.shape}"
        )
    conv2d = cnnlab.backend("numpy").conv2d
    return conv2d(
        image[None, None], kernel[None, None], stride=stride, padding=padding
    )[0, 0]


def format_value(v: float) -> str:
    """Short label for a number in a grid cell: "3", "-1", "0.111", "14.1", "1234"."""
    v = float(v)
    if v.is_integer():
        return str(int(v))  # also turns -0.0 into "0"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _seconds(t) -> float:
    """Median seconds of a ``bench.Timing``, or the number itself."""
    return float(getattr(t, "median", t))


def _speedup_label(speedup: float) -> str:
    return f"{speedup:,.0f}x" if speedup >= 10 else f"{speedup:.2g}x"


def speedup_chart(
    timings: Mapping[str, float],
    baseline: str,
    flops: int | None = None,
    title: str = "",
    machine: str | None = None,
) -> Figure:
    """Bar chart of time per call (and GFLOP/s when ``flops`` is given), log scale.

    ``timings`` maps implementation names to seconds per call or to
    ``bench.Timing`` objects (then the bar is the median and the whisker spans
    the quartiles). Each bar is annotated with its speed-up over ``baseline``,
    and the figure is captioned with ``machine`` (default:
    ``bench.machine_label()``), because a timing means nothing without it.
    """
    from cnnlab.perf import bench  # imported on use: only the timing chart needs it

    if baseline not in timings:
        raise ValueError(
            f"baseline {baseline!r} is not one of the timings {list(timings)}"
        )
    names = list(timings)
    seconds = np.array([_seconds(timings[name]) for name in names])
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
    if all(hasattr(timings[name], "q1") for name in names):
        q1 = np.array([timings[name].q1 for name in names])
        q3 = np.array([timings[name].q3 for name in names])
        ax_time.errorbar(
            seconds,
            y,
            xerr=[seconds - q1, q3 - seconds],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
    right_end = seconds.copy()  # labels start right of the whisker, if there is one
    if all(hasattr(timings[name], "q3") for name in names):
        right_end = np.maximum(seconds, [timings[name].q3 for name in names])
    for yi, name, s, end in zip(y, names, seconds, right_end):
        note = "baseline" if name == baseline else _speedup_label(base / s)
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
        for yi, rate in zip(y, rates):
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


def _time_axis(ax, values: np.ndarray, log: bool) -> None:
    """Label an x axis of seconds with readable durations ("500 µs", "2 ms"), a few
    ticks only.

    Matplotlib's default labels for a log axis that spans less than a decade
    are every minor tick in scientific notation, and they overlap; here the
    ticks are round durations at least a sixth of the axis apart.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

    from cnnlab.perf import bench

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


def timing_distribution(readings: Sequence[float], timing, title: str = "") -> Figure:
    """Single readings against a ``bench.Timing``'s samples: a strip plot and a
    histogram.

    Left, on a log scale, one dot per value: the top row holds ``readings``
    (seconds, each one call timed alone), the bottom row ``timing.samples``;
    a black bar marks each row's median. Right, a histogram of the samples
    with their median, quartiles and mean. Durations are labelled in
    readable units, few enough not to overlap.
    """
    from matplotlib.ticker import MaxNLocator

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


def _show_values(ax, values: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write every value of a small 2-D array into its cell."""
    for (i, j), v in np.ndenumerate(values):
        color = "black" if colors is None else colors[i, j]
        ax.text(
            j, i, format_value(v), ha="center", va="center", fontsize=10, color=color
        )


def _grid_axes(ax, rows: int, cols: int) -> None:
    """Integer ticks and thin lines between the cells of a rows x cols grid."""
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticks(np.arange(-0.5, cols), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("column")
    ax.set_ylabel("row")


def kernel_explorer_figure(image, kernel, title: str | None = None) -> Figure:
    """Input image | kernel with its values | output of the cross-correlation, side by
    side.

    image is (H, W), kernel is (KH, KW); the output is the "valid" result
    (no padding), (H - KH + 1, W - KW + 1). Signed outputs use a diverging
    colour map centred on zero, so red and blue mean positive and negative.
    """
    image, kernel = np.asarray(image), np.asarray(kernel, dtype=np.float64)
    output = filter_image(image, kernel)
    fig, (ax_in, ax_k, ax_out) = plt.subplots(
        1, 3, figsize=(12, 4.2), layout="constrained", width_ratios=[1, 0.7, 1]
    )

    ax_in.imshow(image, cmap="gray")
    ax_in.set_title(f"Input ({image.shape[0]} x {image.shape[1]})")
    ax_in.set_xlabel("column")
    ax_in.set_ylabel("row")

    limit = np.abs(kernel).max() or 1.0
    ax_k.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    text_colors = np.where(np.abs(kernel) > 0.6 * limit, "white", "black")
    _show_values(ax_k, kernel, text_colors)
    _grid_axes(ax_k, *kernel.shape)
    ax_k.set_title(f"Kernel ({kernel.shape[0]} x {kernel.shape[1]})")

    if output.min() < 0:
        spread = np.abs(output).max() or 1.0
        shown = ax_out.imshow(output, cmap="RdBu_r", vmin=-spread, vmax=spread)
    else:
        shown = ax_out.imshow(output, cmap="gray")
    fig.colorbar(shown, ax=ax_out, shrink=0.8, label="output value")
    ax_out.set_title(f"Output ({output.shape[0]} x {output.shape[1]})")
    ax_out.set_xlabel("column")
    ax_out.set_ylabel("row")

    fig.suptitle(title or "Sliding a kernel over an image (cross-correlation)")
    return fig


def _outline(col: int, row: int, width: int, height: int) -> Rectangle:
    """A thick frame around grid cells; not clipped, so it stays whole on the border of
    the grid.
    """
    corner = (col - 0.5, row - 0.5)
    return Rectangle(
        corner,
        width,
        height,
        fill=False,
        edgecolor=HIGHLIGHT_EDGE,
        linewidth=3,
        clip_on=False,
        zorder=3,
    )


def output_position(
    position: int | tuple[int, int], out_shape: tuple[int, int]
) -> tuple[int, int]:
    """Turn a flat index into the output (row-major) or an (i, j) pair into a checked
    (i, j).
    """
    oh, ow = out_shape
    if isinstance(position, (tuple, list)):
        i, j = (int(p) for p in position)
    else:
        i, j = divmod(int(position), ow)
    if not (0 <= i < oh and 0 <= j < ow):
        raise ValueError(f"position {position!r} is outside the {oh} x {ow} output")
    return i, j


def multiply_add_text(window: np.ndarray, kernel: np.ndarray, i: int, j: int) -> str:
    """The sum behind one output value, one kernel row per line: "out[0, 0] = 1·1 + 2·0
    + 3·(-1)" ...
    """
    head = f"out[{i}, {j}] "
    indent = " " * len(head)
    lines = []
    for r, (x_row, k_row) in enumerate(zip(window, kernel)):
        terms = " + ".join(
            f"{format_value(a)}·{format_value(b) if b >= 0 else f'({format_value(b)})'}"
            for a, b in zip(x_row, k_row)
        )
        lines.append((head + "= " if r == 0 else indent + "+ ") + terms)
    lines.append(indent + f"= {format_value((window * kernel).sum())}")
    return "\n".join(lines)


def sliding_window_figure(
    x, w, position: int | tuple[int, int], stride: int = 1, padding: int = 0
) -> Figure:
    """One step of a convolution: padded input, kernel, and the output filled in so far.

    x is a small (H, W) input and w a (KH, KW) kernel; stride and padding
    are ints, the same along both axes. ``position`` is the output cell,
    either a flat row-major index or an (i, j) pair. The receptive field of
    that cell is outlined on the padded input (the grey border is the zero
    padding), the value it produces is outlined in the output, and the
    multiply-adds behind it are written out underneath.
    Meant for grids of up to about 12 x 12, where the numbers stay readable.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    stride, padding = operator.index(stride), operator.index(padding)
    output = filter_image(x, w, stride=stride, padding=padding)
    i, j = output_position(position, output.shape)
    kh, kw = w.shape
    xp = np.pad(x, padding)
    top, left = i * stride, j * stride
    window = xp[top : top + kh, left : left + kw]

    oh, ow = output.shape
    # Equal width ratios per column give every grid cell the same size; cells shrink for
    # big grids.
    columns, rows = xp.shape[1] + kw + ow, max(xp.shape[0], oh)
    cell = min(0.6, 12 / columns)
    fig, (ax_in, ax_k, ax_out) = plt.subplots(
        1,
        3,
        figsize=(cell * columns + 2.5, cell * rows + 2.3),
        layout="constrained",
        width_ratios=[xp.shape[1], kw, ow],
    )

    colors = np.full(xp.shape + (3,), PADDING_COLOR)
    colors[padding : padding + x.shape[0], padding : padding + x.shape[1]] = CELL_COLOR
    colors[top : top + kh, left : left + kw] = HIGHLIGHT_COLOR
    ax_in.imshow(colors)
    _show_values(ax_in, xp)
    ax_in.add_patch(_outline(left, top, kw, kh))
    _grid_axes(ax_in, *xp.shape)
    padded = f", zero padding {padding} (grey)" if padding else ""
    ax_in.set_title(f"Input {x.shape[0]} x {x.shape[1]}{padded}")

    ax_k.imshow(np.broadcast_to(KERNEL_COLOR, w.shape + (3,)))
    _show_values(ax_k, w)
    _grid_axes(ax_k, kh, kw)
    ax_k.set_title(f"Kernel {kh} x {kw}")

    # raster order: cells computed so far
    done = (np.arange(oh * ow) <= i * ow + j).reshape(oh, ow)
    out_colors = np.where(done[..., None], CELL_COLOR, PENDING_COLOR)
    out_colors[i, j] = HIGHLIGHT_COLOR
    ax_out.imshow(out_colors)
    for (r, c), v in np.ndenumerate(output):
        if done[r, c]:
            bold = "bold" if (r, c) == (i, j) else "normal"
            ax_out.text(
                c,
                r,
                format_value(v),
                ha="center",
                va="center",
                fontsize=10,
                fontweight=bold,
            )
    ax_out.add_patch(_outline(j, i, 1, 1))
    _grid_axes(ax_out, oh, ow)
    ax_out.set_title(f"Output {oh} x {ow}, stride {stride}")

    fig.suptitle(
        f"Output ({i}, {j}) reads the window at rows {top}-{top + kh - 1}, "
        f"columns {left}-{left + kw - 1} of the {'padded ' if padding else ''}input"
    )
    fig.supxlabel(
        multiply_add_text(window, w, i, j),
        fontfamily="monospace",
        fontsize=10,
        multialignment="left",
    )
    return fig


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    cols: int | None = None,
    cmap: str = "gray",
    title: str | None = None,
) -> Figure:
    """Show several 2-D images (for example the feature maps of a layer) in a grid.

    ``images`` is a sequence of (H, W) arrays or one (K, H, W) array. Each
    image is scaled to its own range, so weak and strong maps are both visible.
    """
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    cols = cols or min(len(images), 4)
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3 * cols, 3 * rows + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for k, ax in enumerate(axes.flat):
        if k >= len(images):
            fig.delaxes(ax)
            continue
        ax.imshow(images[k], cmap=cmap)
        ax.set_title(titles[k] if titles is not None else f"map {k}")
        ax.set_axis_off()
    fig.suptitle(title or "Feature maps")
    return fig


def digit_probabilities_figure(image, probs, title: str | None = None) -> Figure:
    """A digit and what a network thinks of it: the (H, W) image, and a bar per class of
    ``probs``.

    ``probs`` holds one probability per class (10 for the digits), e.g. a row
    of ``model(x)``; the most likely class is highlighted and named in the
    title. Ink is dark on a light background, as on paper. This is the
    static twin of :func:`cnnlab.viz.widgets.digit_canvas`.
    """
    image, probs = (
        np.asarray(image, dtype=np.float64),
        np.asarray(probs, dtype=np.float64),
    )
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {image.shape}")
    if probs.ndim != 1 or probs.size < 2:
        raise ValueError(
            f"probs must be 1-D with one probability per class, got shape {probs.shape}"
        )
    best = int(probs.argmax())
    fig, (ax_img, ax_bar) = plt.subplots(
        1, 2, figsize=(9, 3.6), layout="constrained", width_ratios=[1, 1.6]
    )
    ax_img.imshow(image, cmap="gray_r")
    ax_img.set_xticks(range(image.shape[1]))
    ax_img.set_yticks(range(image.shape[0]))
    ax_img.set_xlabel("column")
    ax_img.set_ylabel("row")
    ax_img.set_title(f"Input ({image.shape[0]} x {image.shape[1]})")

    classes = np.arange(probs.size)
    colors = ["tab:orange" if k == best else "tab:blue" for k in classes]
    bars = ax_bar.bar(classes, probs, color=colors)
    for bar, p in zip(bars, probs):
        ax_bar.text(
            bar.get_x() + bar.get_width() / 2,
            p + 0.02,
            f"{p:.0%}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax_bar.set_xticks(classes)
    ax_bar.set_ylim(0, 1.12)
    ax_bar.set_xlabel("class")
    ax_bar.set_ylabel("probability")
    ax_bar.set_title("What the network predicts")
    fig.suptitle(title or f"Predicted: {best} ({probs[best]:.0%})")
    return fig
