"""The standard benchmark suite behind ``python -m cnnlab bench``.

Each case (a convolution, a pooling, a whole LeNet forward pass, an epoch of
training) runs on
every backend in one process, in interleaved rounds (:func:`bench.compare`),
after each backend's output has been checked against NumPy's. If PyTorch is
installed, its CPU kernels are timed too, as a reference from a tuned
library; cnnlab never depends on it.

The pure-Python backend would need minutes for the larger cases, so it runs
on a part of the input: a strip of output rows, some filters, some images.
The part does an exact fraction ``f`` of the case's FLOPs, and its time is
divided by ``f``. This assumes the cost per FLOP is the same everywhere,
which holds for plain loops, and the results say ``"extrapolated": true``.

:func:`run_suite` returns the results as a dict and writes ``results.json``,
``speedup.png`` and ``roofline.png``; :func:`summary_table` and
:func:`roofline_table` format them. The roofs come from the machine profile
(:func:`cnnlab.perf.machine.profile`), the same ceilings every chapter quotes.

:func:`book_results` is the book's own run: one quick run of the standard
cases per machine, cached next to the machine profile, so that every page
that quotes a benchmark (the landing page, chapter 8) quotes the same one.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import importlib.util
import json
import math
import operator
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from tqdm.auto import tqdm

import cnnlab
from cnnlab import data, threads
from cnnlab.nn import train
from cnnlab.nn.model import (
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    Softmax,
    he_normal,
    lenet,
)
from cnnlab.perf import bench, machine, roofline
from cnnlab.viz import tables

__all__ = [
    "CASES",
    "TINY_CASES",
    "BOOK_CASES",
    "Case",
    "available_backends",
    "run_case",
    "run_suite",
    "book_results",
    "write_results",
    "summary_table",
    "roofline_table",
    "cases_speedup_chart",
    "cases_roofline_chart",
]

SCHEMA_VERSION = 2
TORCH = "torch"
LABELS = {TORCH: "torch (reference)"}
FULL_REPEAT, QUICK_REPEAT = 7, 3
ITEMSIZE = np.dtype(np.float32).itemsize
# Roughly how many FLOPs the python backend's part of a case does: about 30 ms at 150 ns
# per FLOP.
PYTHON_FLOPS = 200_000


@dataclass(frozen=True)
class Case:
    """One benchmark.

    ``kind`` is "conv2d" (x (N, C, H, W) with weights ``w_shape`` (F, C, KH, KW), stride
    1), "max_pool2d" (a ``pool`` x ``pool`` window, stride ``pool``, on x stored as (N,
    H, W, C) if ``channels_last``), "lenet" (the forward pass of
    :func:`cnnlab.nn.model.lenet` on x) or "train" (one epoch of training on the first N
    training digits, in batches of ``batch_size``). ``python_flops`` sizes the part the
    python backend runs.
    """

    name: str
    description: str
    kind: str
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int] | None = None
    padding: int = 0
    pool: int = 2
    python_flops: int = PYTHON_FLOPS
    batch_size: int = 32
    channels_last: bool = False


CASES = {
    case.name: case
    for case in [
        Case(
            "conv-512",
            "one 512x512 image, one 3x3 filter, padding 1 (an image filter)",
            "conv2d",
            (1, 1, 512, 512),
            (1, 1, 3, 3),
            padding=1,
        ),
        Case(
            "conv-56",
            "a ResNet layer: batch 8, 64 -> 64 channels, 56x56, 3x3, padding 1",
            "conv2d",
            (8, 64, 56, 56),
            (64, 64, 3, 3),
            padding=1,
        ),
        Case(
            "lenet-conv1",
            "LeNet's first layer: batch 64, 1 -> 6 channels, 28x28, 5x5",
            "conv2d",
            (64, 1, 28, 28),
            (6, 1, 5, 5),
        ),
        Case(
            "maxpool",
            "2x2 max pooling, stride 2, on (64, 32, 28, 28); one comparison counts as a FLOP",
            "max_pool2d",
            (64, 32, 28, 28),
        ),
        Case(
            "maxpool-cl",
            "the same max pooling on a channels_last input: x stored as (N, H, W, C)",
            "max_pool2d",
            (64, 32, 28, 28),
            channels_last=True,
        ),
        Case(
            "lenet-forward",
            "the whole LeNet forward pass, batch 64, 28x28",
            "lenet",
            (64, 1, 28, 28),
        ),
        Case(
            "train-epoch",
            "one epoch of training on the 1,347 training digits (8x8), batch 32: forward, "
            "backward and SGD step of chapter 11's LeNet (8 and 16 filters)",
            "train",
            (1347, 1, 8, 8),
        ),
    ]
}

# The same cases, shrunk so that a test runs the whole suite in seconds; the
# python backend still runs on a part of each, so extrapolation is exercised.
TINY_CASES = {
    case.name: case
    for case in [
        Case(
            "conv-512",
            "tiny conv-512",
            "conv2d",
            (1, 1, 16, 16),
            (1, 1, 3, 3),
            padding=1,
            python_flops=500,
        ),
        Case(
            "conv-56",
            "tiny conv-56",
            "conv2d",
            (2, 4, 6, 6),
            (4, 4, 3, 3),
            padding=1,
            python_flops=2_000,
        ),
        Case(
            "lenet-conv1",
            "tiny lenet-conv1",
            "conv2d",
            (2, 1, 12, 12),
            (6, 1, 5, 5),
            python_flops=2_000,
        ),
        Case("maxpool", "tiny maxpool", "max_pool2d", (2, 3, 6, 6), python_flops=20),
        Case(
            "maxpool-cl",
            "tiny maxpool-cl",
            "max_pool2d",
            (2, 3, 6, 6),
            python_flops=20,
            channels_last=True,
        ),
        Case(
            "lenet-forward",
            "tiny lenet-forward",
            "lenet",
            (2, 1, 8, 8),
            python_flops=100,
        ),
        Case(
            "train-epoch",
            "tiny train-epoch",
            "train",
            (24, 1, 8, 8),
            python_flops=100,
            batch_size=8,
        ),
    ]
}


def torch_available() -> bool:
    """True if PyTorch can be imported; it is never imported just to find out."""
    return importlib.util.find_spec(TORCH) is not None


@functools.cache
def _torch():
    """Import PyTorch on first use, with one thread per logical core."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def available_backends() -> list[str]:
    """cnnlab's backends, plus "torch" when PyTorch is installed."""
    return [*cnnlab.BACKENDS, *([TORCH] if torch_available() else [])]


def label(implementation: str) -> str:
    """How an implementation is named in tables and charts."""
    return LABELS.get(implementation, implementation)


def _part_counts(sizes: Sequence[int], unit_flops: int, target_flops: int) -> list[int]:
    """How much of each axis the python part keeps, innermost axis first.

    ``sizes`` are the lengths of nested axes (say output rows, filters,
    images) and ``unit_flops`` the work of one step along the innermost. The
    innermost axis grows first, and an outer one only once all inner ones
    are whole, until the part does at least ``target_flops``: so the part is
    a strip of rows of one filter of one image, or all rows of a few
    filters, and so on.
    """
    counts = []
    flops = unit_flops
    for size in sizes:
        count = min(size, max(1, math.ceil(target_flops / flops)))
        counts.append(count)
        if count < size:
            return counts + [1] * (len(sizes) - len(counts))
        flops *= size
    return counts


class ConvWorkload:
    """A conv2d case: random input and He-initialised weights, and its python part."""

    def __init__(self, case: Case, rng: np.random.Generator) -> None:
        n, c, h, width = case.x_shape
        f, _, kh, kw = case.w_shape
        p = case.padding
        self.x = rng.standard_normal(case.x_shape, dtype=np.float32)
        self.w = he_normal(case.w_shape, c * kh * kw, rng)
        self.b = rng.standard_normal(f, dtype=np.float32)
        self.padding = (p, p)
        out_shape = (
            n,
            f,
            cnnlab.output_size(h, kh, 1, p),
            cnnlab.output_size(width, kw, 1, p),
        )
        self.flops = bench.conv2d_flops(case.x_shape, case.w_shape, padding=p)
        self.bytes = roofline.conv2d_bytes(
            case.x_shape, case.w_shape, out_shape, ITEMSIZE
        )
        self.shapes = {
            "x": case.x_shape,
            "w": case.w_shape,
            "out": out_shape,
            "padding": p,
            "stride": 1,
        }

        rows, filters, images = _part_counts(
            (out_shape[2], f, n), 2 * out_shape[3] * c * kh * kw, case.python_flops
        )
        if rows < out_shape[2] and rows + kh - 1 <= h:
            # A strip of input rows without vertical padding: output rows p .. p + rows
            # - 1 of the whole.
            x_part, padding_part = self.x[:images, :, : rows + kh - 1], (0, p)
        else:
            x_part, padding_part = self.x[:images], self.padding
        self.part = (
            np.ascontiguousarray(x_part),
            self.w[:filters].copy(),
            self.b[:filters].copy(),
            padding_part,
        )
        self.fraction = (
            bench.conv2d_flops(x_part.shape, self.part[1].shape, padding=padding_part)
            / self.flops
        )

    def run(self, implementation: str, part: bool = False) -> Callable[[], np.ndarray]:
        """A call without arguments that computes the case (or its python part) on one
        implementation.
        """
        x, w, b, padding = self.part if part else (self.x, self.w, self.b, self.padding)
        if implementation == TORCH:
            torch = _torch()
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
            return lambda: torch.nn.functional.conv2d(
                tx, tw, tb, padding=padding
            ).numpy()
        ops = cnnlab.backend(implementation)
        return lambda: ops.conv2d(x, w, b, padding=padding)


class PoolWorkload:
    """A max_pool2d case; the python part is the first few channels or images."""

    def __init__(self, case: Case, rng: np.random.Generator) -> None:
        n, c, h, width = case.x_shape
        k = case.pool
        self.x = rng.standard_normal(case.x_shape, dtype=np.float32)
        # the same values, stored (N, H, W, C); torch.from_numpy keeps the strides
        if case.channels_last:
            self.x = np.ascontiguousarray(self.x.transpose(0, 2, 3, 1)).transpose(
                0, 3, 1, 2
            )
        self.kernel_size = k
        out_shape = (n, c, cnnlab.output_size(h, k, k), cnnlab.output_size(width, k, k))
        comparisons_per_image_channel = out_shape[2] * out_shape[3] * (k * k - 1)
        self.flops = n * c * comparisons_per_image_channel
        self.bytes = ITEMSIZE * (math.prod(case.x_shape) + math.prod(out_shape))
        self.shapes = {
            "x": case.x_shape,
            "out": out_shape,
            "kernel_size": k,
            "stride": k,
            "layout": "channels_last" if case.channels_last else "NCHW",
        }
        channels, images = _part_counts(
            (c, n), comparisons_per_image_channel, case.python_flops
        )
        self.x_part = np.ascontiguousarray(self.x[:images, :channels])
        self.fraction = images * channels / (n * c)

    def run(self, implementation: str, part: bool = False) -> Callable[[], np.ndarray]:
        x, k = (self.x_part if part else self.x), self.kernel_size
        if implementation == TORCH:
            torch = _torch()
            tx = torch.from_numpy(x)
            return lambda: torch.nn.functional.max_pool2d(tx, k).numpy()
        ops = cnnlab.backend(implementation)
        return lambda: ops.max_pool2d(x, k)


def _torch_steps(model: Sequential, params: list[dict]) -> list[Callable]:
    """The layers of ``model`` as torch.nn.functional calls, with ``params[i]`` (torch
    tensors) for layer i.
    """
    torch = _torch()
    functional = torch.nn.functional
    steps = []
    for layer, p in zip(model.layers, params):
        if isinstance(layer, Conv2d):
            steps.append(
                functools.partial(
                    functional.conv2d,
                    weight=p["w"],
                    bias=p["b"],
                    stride=layer.stride,
                    padding=layer.padding,
                )
            )
        elif isinstance(layer, ReLU):
            steps.append(functional.relu)
        elif isinstance(layer, MaxPool2d):
            steps.append(
                functools.partial(
                    functional.max_pool2d,
                    kernel_size=layer.kernel_size,
                    stride=layer.stride,
                )
            )
        elif isinstance(layer, Flatten):
            steps.append(functools.partial(torch.flatten, start_dim=1))
        elif isinstance(layer, Linear):
            steps.append(
                functools.partial(functional.linear, weight=p["w"], bias=p["b"])
            )
        elif isinstance(layer, Softmax):
            steps.append(functools.partial(functional.softmax, dim=layer.axis))
        else:
            raise TypeError(f"no torch equivalent for {layer!r}")
    return steps


def _torch_forward(model: Sequential) -> Callable[[np.ndarray], np.ndarray]:
    """The same network, with the same weights, in torch.nn.functional."""
    torch = _torch()
    params = [
        {name: torch.from_numpy(value) for name, value in layer.params.items()}
        for layer in model.layers
    ]
    steps = _torch_steps(model, params)

    def forward(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x)
        for step in steps:
            t = step(t)
        return t.numpy()

    return forward


def _layer_costs(model: Sequential, x_shape: tuple[int, ...]) -> tuple[int, int]:
    """FLOPs and least bytes moved of one forward pass of ``model`` on x of ``x_shape``.

    FLOPs count the multiply-adds of the convolutions and linear layers;
    ReLU, pooling and softmax add about 2% more and are left out. Bytes are
    the least traffic of running layer by layer: each layer reads its input
    and parameters once and writes its output once (Flatten moves nothing).
    """
    flops, n_bytes = 0, 0
    shape = x_shape
    for layer, out_shape in zip(model.layers, model.output_shapes(x_shape)):
        if isinstance(layer, Conv2d):
            flops += bench.conv2d_flops(
                shape, layer.params["w"].shape, layer.stride, layer.padding
            )
        elif isinstance(layer, Linear):
            flops += 2 * shape[0] * layer.in_features * layer.out_features
        if not isinstance(layer, Flatten):
            n_params = sum(value.size for value in layer.params.values())
            n_bytes += ITEMSIZE * (math.prod(shape) + n_params + math.prod(out_shape))
        shape = out_shape
    return flops, n_bytes


class LenetWorkload:
    """The forward pass of ``lenet()`` on a batch; the python part is the first
    image(s).

    FLOPs and bytes as in :func:`_layer_costs`.
    """

    def __init__(self, case: Case, rng: np.random.Generator) -> None:
        n, c, h, width = case.x_shape
        if h != width:
            raise ValueError(f"lenet needs square images, got x_shape {case.x_shape}")
        self.x = rng.random(case.x_shape, dtype=np.float32)
        self.model_args = {"in_channels": c, "image_size": h, "seed": 0}
        model = lenet(**self.model_args)
        self.flops, self.bytes = _layer_costs(model, case.x_shape)
        self.shapes = {
            "x": case.x_shape,
            "out": model.output_shapes(case.x_shape)[-1],
            "layers": [repr(layer) for layer in model.layers],
        }
        (images,) = _part_counts((n,), self.flops // n, case.python_flops)
        self.x_part = self.x[:images].copy()
        self.fraction = images / n

    def run(self, implementation: str, part: bool = False) -> Callable[[], np.ndarray]:
        x = self.x_part if part else self.x
        if implementation == TORCH:
            forward = _torch_forward(lenet(**self.model_args))
            return lambda: forward(x)
        # same seed, same weights
        model = lenet(**self.model_args, backend=implementation)
        return lambda: model(x)


# Chapter 11's network and training settings.
TRAIN_NETWORK = {"in_channels": 1, "image_size": 8, "filters": (8, 16), "seed": 0}
TRAIN_SETTINGS = {"lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4}


def _torch_epoch(
    model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int
) -> Callable[[], np.ndarray]:
    """One epoch of the same training in PyTorch: same start weights, batches, loss and
    SGD.
    """
    torch = _torch()
    start = [
        {name: torch.from_numpy(value.copy()) for name, value in layer.params.items()}
        for layer in model.layers
    ]
    params = [
        {name: value.clone().requires_grad_() for name, value in layer.items()}
        for layer in start
    ]
    # cross_entropy takes the logits
    steps = _torch_steps(model, params)[: model.n_logit_layers]
    flat = [p for layer in params for p in layer.values()]
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def epoch() -> np.ndarray:
        with torch.no_grad():
            for layer, initial in zip(params, start):
                for name, value in layer.items():
                    value.copy_(initial[name])
        optimizer = torch.optim.SGD(flat, **TRAIN_SETTINGS)
        order = np.random.default_rng(0).permutation(len(x))
        total = 0.0
        for first in range(0, len(x), batch_size):
            batch = torch.from_numpy(order[first : first + batch_size])
            t = tx[batch]
            for step in steps:
                t = step(t)
            loss = torch.nn.functional.cross_entropy(t, ty[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        return np.array([total / len(x)], np.float32)

    return epoch


class TrainWorkload:
    """One epoch of :func:`cnnlab.nn.train.train_epoch` on the first N training digits;
    returns the mean loss.

    Every call starts from the same weights and shuffles with the same seed,
    so every call does the same work and every implementation must reach
    the same loss. The python part is an epoch over the first image(s).
    FLOPs are three times the forward pass's (:func:`_layer_costs`): the
    backward pass of a convolution or linear layer does twice the forward
    multiply-adds, once for dx and once for dw. Bytes are three times the
    forward's too, an estimate.
    """

    def __init__(self, case: Case, rng: np.random.Generator) -> None:
        n, c, h, width = case.x_shape
        if (c, h, width) != (1, 8, 8):
            raise ValueError(
                f"train-epoch runs on digits, (N, 1, 8, 8); got x_shape {case.x_shape}"
            )
        x_train, y_train, _, _ = data.digits_split()
        if n > len(x_train):
            raise ValueError(
                f"there are only {len(x_train)} training digits, got x_shape {case.x_shape}"
            )
        self.x, self.y = x_train[:n], y_train[:n]
        self.batch_size = case.batch_size
        model = lenet(**TRAIN_NETWORK)
        batches = [
            min(self.batch_size, n - first) for first in range(0, n, self.batch_size)
        ]
        costs = [_layer_costs(model, (size, c, h, width)) for size in batches]
        self.flops = 3 * sum(flops for flops, _ in costs)
        self.bytes = 3 * sum(n_bytes for _, n_bytes in costs)
        self.shapes = {
            "x": case.x_shape,
            "batch_size": self.batch_size,
            **TRAIN_SETTINGS,
            "layers": [repr(layer) for layer in model.layers],
        }
        (images,) = _part_counts((n,), self.flops // n, case.python_flops)
        self.part = (self.x[:images], self.y[:images])
        self.fraction = images / n

    def run(self, implementation: str, part: bool = False) -> Callable[[], np.ndarray]:
        x, y = self.part if part else (self.x, self.y)
        if implementation == TORCH:
            return _torch_epoch(lenet(**TRAIN_NETWORK), x, y, self.batch_size)
        model = lenet(**TRAIN_NETWORK, backend=implementation)
        start = {name: value.copy() for name, value in model.parameters().items()}

        def epoch() -> np.ndarray:
            for name, value in model.parameters().items():
                value[...] = start[name]
            optimizer = train.SGD(model.parameters(), **TRAIN_SETTINGS)
            loss = train.train_epoch(
                model, optimizer, x, y, self.batch_size, np.random.default_rng(0)
            )
            return np.array([loss], np.float32)

        return epoch


WORKLOADS = {
    "conv2d": ConvWorkload,
    "max_pool2d": PoolWorkload,
    "lenet": LenetWorkload,
    "train": TrainWorkload,
}


def _check_close(
    name: str, case: str, actual: np.ndarray, expected: np.ndarray
) -> None:
    """Every implementation must compute what NumPy computes before its time means
    anything.
    """
    tolerance = 1e-4 * max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(
        actual,
        expected,
        rtol=1e-3,
        atol=tolerance,
        err_msg=f"{label(name)} disagrees with numpy on {case}",
    )


def _fewer_multiplications(implementation: str, case: Case) -> bool:
    """Whether this implementation may compute the case with fewer multiplications than
    direct.

    PyTorch's convolutions may use Winograd or FFT algorithms, and the numba
    backend chooses Winograd F(4x4,3x3) for some shapes: their rate is then
    "direct-equivalent" (the direct algorithm's FLOPs over the time) and may
    pass the compute roof.
    """
    if case.kind != "conv2d":
        return False
    if implementation == TORCH:
        return True
    if implementation == "numba":
        numba_backend = cnnlab.backend("numba")
        kernel = numba_backend._choose_conv_kernel(case.x_shape, case.w_shape, (1, 1))
        return kernel is numba_backend._conv_winograd
    return False


def _implementation_result(
    implementation: str, timing: bench.Timing, flops: int, fraction: float, case: Case
) -> dict:
    """Times of the whole case: a part's times are divided by the fraction of the FLOPs
    it did.
    """
    median = timing.median / fraction
    return {
        "label": label(implementation),
        "direct_equivalent": _fewer_multiplications(implementation, case),
        "median_s": median,
        "q1_s": timing.q1 / fraction,
        "q3_s": timing.q3 / fraction,
        "spread": timing.spread,
        "gflops": flops / median / 1e9,
        "extrapolated": fraction < 1,
        "fraction": fraction,
        "measured_median_s": timing.median,
        "samples": len(timing.samples),
        "calls_per_sample": timing.number,
    }


def run_case(case: Case, backends: Sequence[str], repeat: int, min_time: float) -> dict:
    """Check and time one case on each implementation; returns its entry of the results."""
    work = WORKLOADS[case.kind](case, np.random.default_rng(0))
    fractions = {
        name: (work.fraction if name == "python" else 1.0) for name in backends
    }
    candidates = {name: work.run(name, part=fractions[name] < 1) for name in backends}
    expected = work.run("numpy")()
    expected_part = work.run("numpy", part=True)()
    for name, call in candidates.items():
        _check_close(
            name, case.name, call(), expected_part if fractions[name] < 1 else expected
        )

    timings = bench.compare(candidates, repeat=repeat, min_time=min_time)
    implementations = {
        name: _implementation_result(name, timing, work.flops, fractions[name], case)
        for name, timing in timings.items()
    }
    if "python" in implementations:
        baseline = implementations["python"]["median_s"]
        for result in implementations.values():
            result["speedup_vs_python"] = baseline / result["median_s"]
    return {
        "name": case.name,
        "description": case.description,
        "kind": case.kind,
        "shapes": work.shapes,
        "flops": work.flops,
        "bytes": work.bytes,
        "intensity": roofline.arithmetic_intensity(work.flops, work.bytes),
        "implementations": implementations,
    }


def ceilings(profile: machine.MachineProfile | None = None) -> dict:
    """The roofs of the machine profile, as stored in the results (see
    :class:`roofline.Roofs`).

    The profile is the one every chapter reads (:func:`cnnlab.perf.machine.profile`):
    the compute roof is the measured FMA peak, the memory roof the STREAM
    bandwidth, the cache roof the L2 triad, and the BLAS matmul rate is a
    practical line under the compute roof.
    """
    profile = machine.profile() if profile is None else profile
    roofs = roofline.Roofs.from_profile(profile)
    return {
        "peak_gflops": roofs.peak_gflops,
        "bandwidth_gbs": roofs.bandwidth_gbs,
        "cache_gbs": roofs.cache_gbs,
        "cache_bytes": roofs.cache_bytes,
        "matmul_gflops": roofs.matmul_gflops,
        "ridge_point": roofs.ridge_point,
        "profile_key": profile.key,
        "profile_measured_at": profile.measured_at,
    }


def roofs_of(results: dict) -> roofline.Roofs:
    """The :class:`roofline.Roofs` stored in ``results`` by :func:`run_suite`."""
    c = results["ceilings"]
    return roofline.Roofs(
        c["peak_gflops"],
        c["bandwidth_gbs"],
        c["cache_gbs"],
        c["cache_bytes"],
        c["matmul_gflops"],
    )


def _machine(backends: Sequence[str]) -> dict:
    info = bench.machine_info()
    info.update({name.lower(): os.environ.get(name) for name in threads.POLICY})
    if TORCH in backends:
        torch = _torch()
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return info


def _choose(what: str, names: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    if names is None:
        return list(known)
    names = list(dict.fromkeys(names))
    if not names:
        raise ValueError(f"no {what} chosen; choose from {', '.join(known)}")
    for name in names:
        if name not in known:
            raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(known)}")
    return names


def run_suite(
    cases: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    repeat: int | None = None,
    quick: bool = False,
    out_dir: str | os.PathLike | None = "bench-results",
    progress: bool = True,
    tiny: bool = False,
    profile: machine.MachineProfile | None = None,
    force: bool = False,
) -> dict:
    """Run the benchmark suite and return its results.

    Parameters
    ----------
    cases : list of str, optional
        Names from :data:`CASES`; default all.
    backends : list of str, optional
        From :func:`available_backends`; default all of them.
    repeat : int, optional
        Rounds of :func:`bench.compare`; default 7, or 3 with ``quick``.
    quick : bool
        Fewer rounds and shorter samples; the shapes stay.
    out_dir : path or None
        Where to write ``results.json``, ``speedup.png`` and ``roofline.png``;
        None writes nothing. Files there that an earlier run did not write
        are never replaced, unless ``force`` (see :func:`write_results`).
    progress : bool
        Show a progress bar over the cases.
    tiny : bool
        Use :data:`TINY_CASES`, shrunk versions of every case, so a test
        runs everything in seconds.
    profile : MachineProfile, optional
        The ceilings; default :func:`cnnlab.perf.machine.profile` (measured once
        per machine and cached).
    force : bool
        Replace files in ``out_dir`` even if this command did not write them.

    Timings of different libraries interleaved in one process are only fair
    when idle thread pools soon sleep, as :mod:`cnnlab.threads` arranges
    when ``cnnlab`` is imported before NumPy.

    Returns
    -------
    dict
        ``schema_version``, ``created``, ``machine``, ``settings``,
        ``ceilings`` and ``cases`` (one dict per case, see :func:`run_case`).
    """
    catalog = TINY_CASES if tiny else CASES
    cases = _choose("case", cases, list(catalog))
    backends = _choose("backend", backends, available_backends())
    repeat = (
        (QUICK_REPEAT if quick else FULL_REPEAT)
        if repeat is None
        else _check_repeat(repeat)
    )
    min_time = 0.001 if tiny else 0.01 if quick else 0.05
    if out_dir is not None:
        _check_out_dir(out_dir, force)

    roofs = ceilings(profile)
    results_cases = []
    bar = tqdm(cases, desc="bench", unit="case", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        results_cases.append(run_case(catalog[name], backends, repeat, min_time))
    results = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(backends),
        "settings": {
            "quick": quick,
            "tiny": tiny,
            "repeat": repeat,
            "min_time_s": min_time,
            "cases": cases,
            "backends": backends,
        },
        "ceilings": roofs,
        "cases": results_cases,
    }
    if out_dir is not None:
        write_results(results, out_dir, force)
    return results


OUTPUT_FILES = ("results.json", "speedup.png", "roofline.png")
MAX_REPEAT = 1000
"""More rounds than anyone waits for: a larger --repeat is a typo."""


def _written_by_us(out: Path) -> bool:
    """Whether ``out/results.json`` is a result of this command (so its neighbours are
    ours too).
    """
    try:
        data = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {
        "schema_version",
        "settings",
        "cases",
        "ceilings",
    } <= set(data)


def _check_repeat(repeat) -> int:
    """``repeat`` as an int from 1 to :data:`MAX_REPEAT`, else ValueError naming it."""
    try:
        if isinstance(repeat, bool):
            raise TypeError
        rounds = operator.index(repeat)
    except TypeError:
        raise ValueError(f"repeat must be a positive int, got {repeat!r}") from None
    if not 1 <= rounds <= MAX_REPEAT:
        raise ValueError(f"repeat must be from 1 to {MAX_REPEAT}, got {repeat!r}")
    return rounds


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the folder a new ``path`` is made
    in).
    """
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_out_dir(out_dir: str | os.PathLike, force: bool) -> None:
    """Refuse an output directory that cannot be written, or whose files this command
    did not write.

    Runs before any case, so a bad ``--out`` costs nothing. Writability is
    tried, not inferred from permission bits (root passes those, and /proc
    or a read-only mount refuses root too): a temporary directory is made
    and removed in ``out``, or in the nearest existing folder above it.
    Raises NotADirectoryError, PermissionError or FileExistsError naming
    ``out``.
    """
    if not os.fspath(out_dir).strip():  # Path("") would be the current directory
        raise NotADirectoryError(
            f"--out {os.fspath(out_dir)!r} is empty; give a directory, e.g. bench-results"
        )
    out = Path(out_dir)
    shown = repr(os.fspath(out_dir))
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {shown} is a file, not a directory")
    folder = _nearest_existing(out)
    if not folder.is_dir():
        raise NotADirectoryError(
            f"--out {shown} cannot be made: {str(folder)!r} is a file, not a directory"
        )
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".cnnlab-bench-probe-"))
    except OSError as error:
        raise PermissionError(
            f"--out {shown} cannot be written: {error.strerror or error} in {str(folder)!r}"
        ) from None
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not force and not _written_by_us(out):
        raise FileExistsError(
            f"{', '.join(existing)} in {shown} were not written by 'python -m cnnlab bench'; "
            "choose another --out, or pass --force to replace them"
        )


def _temporary_beside(path: Path) -> Path:
    """A new empty file in ``path``'s folder, so that os.replace onto ``path`` is one
    rename.
    """
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    os.close(handle)
    # mkstemp's 0o600 would hide the results from other users
    os.chmod(name, _NEW_FILE_MODE)
    return Path(name)


def _new_file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the umask (read without changing it
    for good).
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()


def write_results(
    results: dict, out_dir: str | os.PathLike, force: bool = False
) -> list[Path]:
    """Write results.json, speedup.png and roofline.png into out_dir (created if
    needed).

    Raises FileExistsError rather than replace files of those names that an
    earlier run of the suite did not write, unless ``force``. Each file is
    written in full to a temporary file in ``out_dir``, and only when all
    three are complete are they renamed into place: after an interruption
    each file is whole, the old one or the new, never a truncated JSON or PNG.
    """
    _check_out_dir(out_dir, force)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in OUTPUT_FILES]
    temporaries: list[Path] = []
    try:
        for path in paths:
            temporaries.append(_temporary_beside(path))
        temporaries[0].write_text(json.dumps(results, indent=2) + "\n")
        for temporary, chart in zip(
            temporaries[1:], (cases_speedup_chart, cases_roofline_chart)
        ):
            figure = chart(results)
            try:
                figure.savefig(temporary, dpi=120, format="png")
            finally:
                plt.close(figure)
        for temporary, path in zip(temporaries, paths):
            os.replace(temporary, path)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
    return paths


def _baseline(results: dict) -> str:
    """Speed-ups are over python when it ran, else over the first implementation."""
    backends = results["settings"]["backends"]
    return "python" if "python" in backends else backends[0]


def cases_speedup_chart(results: dict) -> Figure:
    """Bars of speed-up over python, one group per case, log scale; extrapolated bars
    are hatched.
    """
    backends, baseline = results["settings"]["backends"], _baseline(results)
    cases = results["cases"]
    speedups = np.array(
        [
            [
                case["implementations"][baseline]["median_s"]
                / case["implementations"][b]["median_s"]
                for b in backends
            ]
            for case in cases
        ]
    )
    lo = 10 ** math.floor(math.log10(min(speedups.min(), 1.0) / 3))
    width = 0.8 / len(backends)
    fig, ax = plt.subplots(
        figsize=(max(7.0, 1.9 * len(cases) + 2), 5.0), layout="constrained"
    )
    colors = {b: plt.get_cmap("tab10")(k % 10) for k, b in enumerate(backends)}
    for k, backend in enumerate(backends):
        x = np.arange(len(cases)) + (k - (len(backends) - 1) / 2) * width
        hatches = [
            "//" if case["implementations"][backend]["extrapolated"] else ""
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
        for bar, s in zip(bars, speedups[:, k]):
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                s * 1.15,
                tables.times(s),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_yscale("log")
    ax.set_ylim(lo, speedups.max() * 8)
    ax.axhline(1.0, color="0.4", linewidth=0.8)
    ax.set_xticks(np.arange(len(cases)), [case["name"] for case in cases])
    ax.set_xlabel("case")
    ax.set_ylabel(f"speed-up over {label(baseline)} (log scale)")
    handles, _ = ax.get_legend_handles_labels()
    if any(
        impl["extrapolated"]
        for case in cases
        for impl in case["implementations"].values()
    ):
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


def roof_points(results: dict, roofs: roofline.Roofs | None = None) -> list[dict]:
    """One point per case and implementation, for :func:`roofline.roofline_chart`.

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
    results: dict, roofs: roofline.Roofs | None = None, title: str | None = None
) -> Figure:
    """Every case on every implementation, under the memory and cache roofs of the
    machine profile.

    ``roofs`` defaults to the ones stored in ``results``.
    """
    roofs = roofs_of(results) if roofs is None else roofs
    return roofline.roofline_chart(
        roof_points(results, roofs),
        roofs.peak_gflops,
        roofs.bandwidth_gbs,
        title=title or "Every case on every implementation (squares: data in cache)",
        cache_gbs=roofs.cache_gbs,
        matmul_gflops=roofs.matmul_gflops,
    )


def summary_table(results: dict) -> tables.Table:
    """A table: case, implementation, median time, GFLOP/s and speed-up.

    When PyTorch ran, a last column gives each implementation's speed-up
    over it on the same case: its median divided into torch's, so above 1x
    is faster than PyTorch. ``values[(case, implementation)]`` holds the
    numbers of each row.
    """
    baseline = _baseline(results)
    with_torch = any(TORCH in case["implementations"] for case in results["cases"])
    header = ["case", "implementation", "median", "GFLOP/s", f"vs {baseline}"]
    header += ["vs torch"] if with_torch else []
    rows, values, notes = [], {}, []
    for case in results["cases"]:
        impls = case["implementations"]
        base = impls[baseline]["median_s"]
        for name, impl in impls.items():
            star = " *" if impl["extrapolated"] else ""
            rate = f"{impl['gflops']:.3g}" + (
                " †" if impl.get("direct_equivalent") else ""
            )
            row = [
                case["name"],
                name,
                bench.format_time(impl["median_s"]) + star,
                rate,
                tables.times(base / impl["median_s"]),
            ]
            if with_torch:
                row.append(
                    tables.times(impls[TORCH]["median_s"] / impl["median_s"])
                    if TORCH in impls
                    else ""
                )
            rows.append(row)
            values[case["name"], name] = {
                "median_s": impl["median_s"],
                "gflops": impl["gflops"],
                "speedup": base / impl["median_s"],
            }
    if any(
        impl["extrapolated"]
        for case in results["cases"]
        for impl in case["implementations"].values()
    ):
        notes.append("* timed on a part of the input and extrapolated by FLOPs")
    if any(
        impl.get("direct_equivalent")
        for case in results["cases"]
        for impl in case["implementations"].values()
    ):
        notes.append("† direct-equivalent: the direct algorithm's FLOPs over the time")
    return tables.Table(header, rows, notes=notes, values=values)


def roofline_table(results: dict, roofs: roofline.Roofs | None = None) -> tables.Table:
    """Each implementation's rate against the roof above it and against the matmul line.

    Columns: case, intensity, what bounds it ("compute", or "cache" /
    "memory": the level its data comes from), implementation, GFLOP/s, the
    roof at that intensity, the rate as a share of the roof, and as a share
    of the BLAS matmul rate. ``values[(case, implementation)]`` holds
    ``roof_gflops``, ``of_roof`` and ``bound``.
    """
    roofs = roofs_of(results) if roofs is None else roofs
    header = ["case", "FLOP/B", "bound", "impl.", "GFLOP/s", "roof", "of roof"]
    header += ["of matmul"] if roofs.matmul_gflops else []
    rows, values, notes = [], {}, []
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
            row += (
                [f"{impl['gflops'] / roofs.matmul_gflops:.1%}"]
                if roofs.matmul_gflops
                else []
            )
            rows.append(row)
            values[case["name"], name] = {
                "roof_gflops": roof,
                "of_roof": impl["gflops"] / roof,
                "bound": bound,
            }
    if any(
        impl["extrapolated"]
        for case in results["cases"]
        for impl in case["implementations"].values()
    ):
        notes.append("* timed on a part of the input and extrapolated by FLOPs")
    if any(
        impl.get("direct_equivalent")
        for case in results["cases"]
        for impl in case["implementations"].values()
    ):
        notes.append(
            "† direct-equivalent rate: fewer multiplications, so it may pass the roof"
        )
    return tables.Table(header, rows, notes=notes, values=values)


# --- the book's run
# ----------------------------------------------------------------------------------------------

BOOK_CASES = (
    "conv-512",
    "conv-56",
    "lenet-conv1",
    "maxpool",
    "maxpool-cl",
    "lenet-forward",
)
"""The cases of the book's run: every standard case but the training epoch, which alone
would take as long as all the others (chapter 11 times training itself)."""


def _book_run_path() -> Path:
    """The cache file of the book's run on this machine and these settings."""
    key, _ = machine._machine_key()
    settings = {
        "cases": BOOK_CASES,
        "backends": available_backends(),
        "quick": True,
        "schema": SCHEMA_VERSION,
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[
        :8
    ]
    return machine.cache_dir() / f"bench-{key}-{digest}.json"


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``path`` (POSIX), so that two pages built at once run
    the suite once.
    """
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): at worst, both run it
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def book_results(rerun: bool = False) -> dict:
    """The book's benchmark run: :data:`BOOK_CASES` in quick mode, on every available
    backend.

    Run once per machine the first time it is asked for (well under a
    minute), then read from a JSON file next to the machine profile (in
    :func:`cnnlab.perf.machine.cache_dir`), so that every page of a build quotes
    the same medians and speed-ups. ``rerun=True`` runs it again. The
    result has the layout of :func:`run_suite`'s.
    """
    path = _book_run_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        if not rerun:
            try:
                cached = json.loads(path.read_text())
                if cached.get("schema_version") == SCHEMA_VERSION:
                    return cached
            except (OSError, ValueError):
                pass
        results = run_suite(
            list(BOOK_CASES),
            available_backends(),
            quick=True,
            out_dir=None,
            progress=False,
        )
        # write-then-rename: a reader sees the old file or the new one, never half of
        # one
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(results, indent=1))
        partial.replace(path)
    return results


# --- command line
# ------------------------------------------------------------------------------------------------


def _names(what: str, known: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated list of names from ``known``."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"no {what} given in {text!r}")
        for name in names:
            if name not in known:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {name!r}; choose from {', '.join(known)}"
                )
            if name == TORCH and not torch_available():
                raise argparse.ArgumentTypeError(
                    "backend 'torch' needs PyTorch, which is not installed"
                )
        return names

    return parse


def _positive_int(text: str) -> int:
    """An argparse type for --repeat: a whole number from 1 to :data:`MAX_REPEAT`."""
    digits = text.strip()
    if (
        not (digits.isascii() and digits.isdecimal())
        or not 1 <= int(digits) <= MAX_REPEAT
    ):
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_REPEAT}, got {text!r}"
        )
    return int(digits)


def _out_dir(text: str) -> str:
    """An argparse type for --out: refuses at once a path that is a file or cannot be
    written.
    """
    try:
        # files of an earlier run are judged later, with --force
        _check_out_dir(text, force=True)
    except OSError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--out ")) from None
    return text


DESCRIPTION = f"""\
Time cnnlab's backends on standard CNN workloads (float32), in one process,
in interleaved rounds, after checking every backend's output against NumPy's.
Writes results.json, speedup.png and roofline.png to --out (never replacing
files it did not write, unless --force), and prints a summary table. The
roofline's ceilings come from the machine profile (python -m cnnlab machine).

The python backend is too slow to run whole: it is timed on a part of each
case (a strip of output rows, a few filters or images) that does a known
fraction of the FLOPs, and its time is extrapolated by dividing by that
fraction. The results mark it "extrapolated" and the chart hatches its bars.
If PyTorch is installed, it is timed too, as "torch (reference)".

Idle thread pools are told to spin only briefly before they sleep
({", ".join(f"{k}={v}" for k, v in threads.POLICY.items())}, unless already
set: cnnlab's thread policy), so libraries that take turns on a few cores do
not slow each other down, while back-to-back calls still find their threads awake.
"""


def _epilog() -> str:
    width = max(len(name) for name in CASES)
    lines = ["cases:"] + [
        f"  {case.name.ljust(width)}  {case.description}" for case in CASES.values()
    ]
    lines += [
        "",
        f"backends: {', '.join(cnnlab.BACKENDS)}, and {TORCH} when PyTorch is installed",
        "",
        "example: python -m cnnlab bench --quick --cases conv-56,maxpool --backends numpy,numba",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m cnnlab bench``."""
    parser.description = DESCRIPTION
    parser.epilog = _epilog()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer rounds ({QUICK_REPEAT} instead of {FULL_REPEAT}) and shorter samples; "
        "the same shapes. Finishes in under 2 minutes on 2 cores.",
    )
    parser.add_argument(
        "--cases",
        type=_names("case", list(CASES)),
        default=None,
        metavar="LIST",
        help=f"comma-separated cases to run (default: all): {', '.join(CASES)}",
    )
    parser.add_argument(
        "--backends",
        type=_names("backend", [*cnnlab.BACKENDS, TORCH]),
        default=None,
        metavar="LIST",
        help=f"comma-separated implementations to time (default: all available): "
        f"{', '.join(cnnlab.BACKENDS)}, {TORCH}",
    )
    parser.add_argument(
        "--out",
        type=_out_dir,
        default="bench-results",
        metavar="DIR",
        help="directory for results.json, speedup.png and roofline.png (default: bench-results)",
    )
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"rounds of timing per case (default: {FULL_REPEAT}, or {QUICK_REPEAT} with --quick)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace results.json, speedup.png or roofline.png in --out even if "
        "this command did not write them",
    )
    # shrunk cases, for tests
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)


def _error(message: str) -> None:
    print(f"python -m cnnlab bench: error: {message}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Run ``python -m cnnlab bench`` with parsed arguments; returns the exit code.

    Every argument is checked before any case runs (exit code 2). The table
    is printed before the files are written, and if writing fails after
    all (the disk filled up meanwhile), the results go to a file in the
    temporary folder instead of being lost (exit code 1).
    """
    try:
        _check_out_dir(args.out, args.force)
    except OSError as error:
        _error(str(error))
        return 2
    results = run_suite(
        args.cases, args.backends, args.repeat, args.quick, out_dir=None, tiny=args.tiny
    )
    print(summary_table(results))
    try:
        write_results(results, args.out, args.force)
    except OSError as error:
        _error(f"could not write the results to {args.out!r}: {error}")
        handle, rescue = tempfile.mkstemp(prefix="cnnlab-bench-", suffix=".json")
        with os.fdopen(handle, "w") as file:
            json.dump(results, file, indent=2)
        print(f"The results are saved in {rescue}", file=sys.stderr)
        return 1
    print(f"\nWrote results.json, speedup.png and roofline.png to {args.out}")
    return 0
