"""The benchmark cases: what ``python -m cnnlab bench`` times, and at what size.

:data:`CASES` are the standard cases, :data:`TINY_CASES` the same cases shrunk
so that a test runs the whole suite in seconds, and :data:`BOOK_CASES` the
ones of the book's own run (:func:`cnnlab.perf.suite.book_results`). Each is a
:class:`BenchCase`; :mod:`cnnlab.perf.suite.workloads` turns one into inputs
and calls to time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypedDict

__all__ = [
    "BenchCase",
    "CASES",
    "TINY_CASES",
    "BOOK_CASES",
    "PYTHON_FLOPS",
    "TRAIN_NETWORK",
    "TRAIN_SETTINGS",
    "LenetArgs",
]

# How many FLOPs the python backend's part of a case does: enough that one call
# lasts far longer than the timer's resolution, few enough that pure-Python loops
# finish it in well under a second.
PYTHON_FLOPS = 200_000


@dataclass(frozen=True)
class BenchCase:
    """One benchmark.

    ``kind`` is one of:

    - "conv2d": x (N, C, H, W) with weights ``w_shape`` (F, C, KH, KW) at
      ``stride``, with ``padding``;
    - "max_pool2d": a ``pool`` x ``pool`` window, stride ``pool``, on x stored
      as (N, H, W, C) if ``channels_last``;
    - "lenet": the forward pass of :func:`cnnlab.nn.lenet` on x;
    - "train": one epoch of training on the first N training digits, in
      batches of ``batch_size``.

    ``python_flops`` sizes the part the python backend runs.
    """

    name: str
    description: str
    kind: str
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int] | None = None
    padding: int = 0
    stride: int = 1
    pool: int = 2
    python_flops: int = PYTHON_FLOPS
    batch_size: int = 32
    channels_last: bool = False


class LenetArgs(TypedDict, total=False):
    """Keyword arguments of :func:`cnnlab.nn.lenet` that a case fixes."""

    in_channels: int
    image_size: int
    filters: tuple[int, int]
    seed: int


# Chapter 11's network and training settings.
TRAIN_NETWORK: LenetArgs = {
    "in_channels": 1,
    "image_size": 8,
    "filters": (8, 16),
    "seed": 0,
}
TRAIN_SETTINGS = {"lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4}


CASES = {
    case.name: case
    for case in [
        BenchCase(
            "conv-512",
            "one 512x512 image, one 3x3 filter, padding 1 (an image filter)",
            "conv2d",
            (1, 1, 512, 512),
            (1, 1, 3, 3),
            padding=1,
        ),
        BenchCase(
            "conv-56",
            "a ResNet layer: batch 8, 64 -> 64 channels, 56x56, 3x3, padding 1",
            "conv2d",
            (8, 64, 56, 56),
            (64, 64, 3, 3),
            padding=1,
        ),
        BenchCase(
            "conv-1x1",
            "a ResNet bottleneck's 1x1 layer: batch 8, 256 -> 64 channels, 56x56",
            "conv2d",
            (8, 256, 56, 56),
            (64, 256, 1, 1),
        ),
        BenchCase(
            "conv-s2",
            "a ResNet downsampling layer: batch 8, 64 -> 128 channels, 56x56 -> "
            "28x28, 3x3, stride 2, padding 1",
            "conv2d",
            (8, 64, 56, 56),
            (128, 64, 3, 3),
            padding=1,
            stride=2,
        ),
        BenchCase(
            "lenet-conv1",
            "LeNet's first layer: batch 64, 1 -> 6 channels, 28x28, 5x5",
            "conv2d",
            (64, 1, 28, 28),
            (6, 1, 5, 5),
        ),
        BenchCase(
            "maxpool",
            "2x2 max pooling, stride 2, on (64, 32, 28, 28); "
            "one comparison counts as a FLOP",
            "max_pool2d",
            (64, 32, 28, 28),
        ),
        BenchCase(
            "maxpool-cl",
            "the same max pooling on a channels_last input: x stored as (N, H, W, C)",
            "max_pool2d",
            (64, 32, 28, 28),
            channels_last=True,
        ),
        BenchCase(
            "lenet-forward",
            "the whole LeNet forward pass, batch 64, 28x28",
            "lenet",
            (64, 1, 28, 28),
        ),
        BenchCase(
            "train-epoch",
            "one epoch of training on the 1,347 training digits (8x8), batch 32: "
            "forward, backward and SGD step of chapter 11's LeNet (8 and 16 filters)",
            "train",
            (1347, 1, 8, 8),
        ),
    ]
}


def _shrunk(
    name: str, x_shape: tuple[int, int, int, int], python_flops: int, **changes: Any
) -> BenchCase:
    """The standard case ``name`` on a smaller input, described as "tiny <name>"."""
    return replace(
        CASES[name],
        description=f"tiny {name}",
        x_shape=x_shape,
        python_flops=python_flops,
        **changes,
    )


# The same cases, shrunk so that a test runs the whole suite in seconds; the
# python backend still runs on a part of each, so extrapolation is exercised.
TINY_CASES = {
    case.name: case
    for case in [
        _shrunk("conv-512", (1, 1, 16, 16), 500),
        _shrunk("conv-56", (2, 4, 6, 6), 2_000, w_shape=(4, 4, 3, 3)),
        _shrunk("conv-1x1", (2, 8, 6, 6), 2_000, w_shape=(4, 8, 1, 1)),
        _shrunk("conv-s2", (2, 4, 7, 7), 2_000, w_shape=(6, 4, 3, 3)),
        _shrunk("lenet-conv1", (2, 1, 12, 12), 2_000),
        _shrunk("maxpool", (2, 3, 6, 6), 20),
        _shrunk("maxpool-cl", (2, 3, 6, 6), 20),
        _shrunk("lenet-forward", (2, 1, 8, 8), 100),
        _shrunk("train-epoch", (24, 1, 8, 8), 100, batch_size=8),
    ]
}

BOOK_CASES = (
    "conv-512",
    "conv-56",
    "lenet-conv1",
    "maxpool",
    "maxpool-cl",
    "lenet-forward",
)
"""The cases of the book's run: every standard case but the training epoch, which
alone would take as long as all the others (chapter 11 times training itself)."""
