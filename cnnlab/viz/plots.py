"""Figures of images, kernels, sliding windows and digits: plain functions that
return a Figure.

Each function builds its own figure with ``plt.subplots`` and touches no
global state, so the static book and the live widgets
(:mod:`cnnlab.viz.widgets`) draw exactly the same picture. Convolutions are
computed with cnnlab's NumPy backend. The timing charts are in
:mod:`cnnlab.viz.charts`. In a notebook, end the cell with ``plt.show()`` (or
close the figure and display it yourself) so the figure appears once.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike

import cnnlab

# Cell colours of the sliding-window figure.
PADDING_COLOR = (0.88, 0.88, 0.88)
CELL_COLOR = (1.0, 1.0, 1.0)
KERNEL_COLOR = (0.85, 0.92, 1.0)
HIGHLIGHT_COLOR = (1.0, 0.85, 0.45)
HIGHLIGHT_EDGE = "tab:orange"
PENDING_COLOR = (0.96, 0.96, 0.96)


def filter_image(
    image: ArrayLike, kernel: ArrayLike, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Cross-correlate one (H, W) image with one (KH, KW) kernel; returns (OH, OW).

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


def _show_values(
    ax: Axes, values: np.ndarray, colors: np.ndarray | None = None
) -> None:
    """Write every value of a small 2-D array into its cell."""
    for (i, j), v in np.ndenumerate(values):
        color = "black" if colors is None else colors[i, j]
        ax.text(
            j, i, format_value(v), ha="center", va="center", fontsize=10, color=color
        )


def _grid_axes(ax: Axes, rows: int, cols: int) -> None:
    """Integer ticks and thin lines between the cells of a rows x cols grid."""
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticks(np.arange(-0.5, cols), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("column")
    ax.set_ylabel("row")


def kernel_explorer_figure(
    image: ArrayLike, kernel: ArrayLike, title: str | None = None
) -> Figure:
    """Input image, kernel (with its values) and output, side by side.

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
    """A thick frame around grid cells, unclipped so it stays whole at the edge."""
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
    """The output cell (i, j) at ``position``: a flat row-major index or an (i, j) pair.

    Raises ValueError when the cell is outside an output of ``out_shape`` (OH, OW).
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
    """The sum behind one output value, one kernel row per line.

    ``window`` and ``kernel`` are (KH, KW); the first line reads like
    "out[0, 0] = 1·1 + 2·0 + 3·(-1)" and the last gives the total.
    """
    head = f"out[{i}, {j}] "
    indent = " " * len(head)
    lines = []
    for r, (x_row, k_row) in enumerate(zip(window, kernel, strict=True)):
        terms = " + ".join(
            f"{format_value(a)}·{format_value(b) if b >= 0 else f'({format_value(b)})'}"
            for a, b in zip(x_row, k_row, strict=True)
        )
        lines.append((head + "= " if r == 0 else indent + "+ ") + terms)
    lines.append(indent + f"= {format_value((window * kernel).sum())}")
    return "\n".join(lines)


def sliding_window_figure(
    x: ArrayLike,
    w: ArrayLike,
    position: int | tuple[int, int],
    stride: int = 1,
    padding: int = 0,
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
    # Width ratios in grid columns give every cell the same size; big grids shrink it.
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
    images: Sequence[np.ndarray] | np.ndarray,
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


def digit_probabilities_figure(
    image: ArrayLike, probs: ArrayLike, title: str | None = None
) -> Figure:
    """A digit and what a network thinks of it: the (H, W) image and a bar per class.

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
    for bar, p in zip(bars, probs, strict=True):
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
