"""Figures of training runs: plain functions that return a Figure.

Chapter 11 trains one network per seed; :func:`learning_curves_figure` draws
them all, one highlighted, and :func:`cnnlab.viz.explorers.learning_curves_explorer`
makes a responsive figure of it, one frame per seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter


def learning_curves_figure(
    histories: Mapping[int, Sequence[Mapping[str, float]]],
    highlight: int,
    title: str | None = None,
) -> Figure:
    """The loss and validation accuracy of several training runs, one highlighted.

    ``histories`` maps each seed to the history ``cnnlab.nn.train.fit``
    returned for its run: one dict per epoch, with ``epoch``, ``loss`` and
    ``val_accuracy``. The run of seed ``highlight`` is drawn in colour over the
    others in gray. Every run is on the same axes whichever is highlighted, so
    one figure per seed can be compared with the next.
    """
    if highlight not in histories:
        raise ValueError(
            f"highlight must be one of the seeds {list(histories)}, got {highlight!r}"
        )
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for seed, history in histories.items():
        epochs = [record["epoch"] for record in history]
        strong = seed == highlight
        style = (
            {"color": "tab:blue", "linewidth": 2, "marker": "o", "markersize": 4}
            if strong
            else {"color": "0.6", "linewidth": 1, "alpha": 0.6}
        )
        # the highlighted run on top of the others
        zorder = 3 if strong else 2
        ax_loss.plot(
            epochs, [record["loss"] for record in history], zorder=zorder, **style
        )
        ax_acc.plot(
            epochs,
            [record["val_accuracy"] for record in history],
            zorder=zorder,
            label=f"seed {seed}" if strong else None,
            **style,
        )
    others = len(histories) - 1
    if others:
        ax_acc.plot([], [], color="0.6", linewidth=1, label=f"the other {others} seeds")
    lowest = min(record["val_accuracy"] for h in histories.values() for record in h)
    ax_acc.set_ylim(math.floor(lowest * 20) / 20, 1.0)  # the 5% step below the lowest
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("mean training loss (log scale)")
    ax_acc.set_ylabel("validation accuracy")
    ax_acc.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, color="0.92")
    ax_loss.set_title("Loss")
    ax_acc.set_title("Accuracy on the validation set")
    ax_acc.legend(loc="lower right")
    fig.suptitle(title or f"Seed {highlight} of {len(histories)}, the others in gray")
    return fig
