"""The workloads: a case turned into inputs, calls to time and the work they do.

Every workload meets the :class:`Workload` interface, so the runner
(:func:`cnnlab.perf.suite.run_case`) treats a convolution, a pooling, a LeNet
forward pass and an epoch of training alike: it checks each implementation's
result against NumPy's, then times them.

The pure-Python backend would need minutes for the larger cases, so it runs
on a part of the input: a strip of output rows, some filters, some images.
The part does an exact fraction ``f`` of the case's FLOPs (``fraction``), and
its time is divided by ``f``. This assumes the cost per FLOP is the same
everywhere, which holds for plain loops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

import cnnlab
from cnnlab import data
from cnnlab.nn import SGD, Sequential, he_normal, lenet, train_epoch
from cnnlab.perf import bench, roofline
from cnnlab.perf.suite.cases import TRAIN_NETWORK, TRAIN_SETTINGS, BenchCase, LenetArgs
from cnnlab.perf.suite.implementations import conv_call, is_rung
from cnnlab.perf.suite.torch_reference import (
    TORCH,
    label,
    load_torch,
    torch_epoch,
    torch_forward,
)

__all__ = [
    "Workload",
    "ConvWorkload",
    "PoolWorkload",
    "LenetWorkload",
    "TrainWorkload",
    "WORKLOADS",
    "REFERENCE",
    "ITEMSIZE",
]

REFERENCE = "numpy"
"""The implementation every other one is checked against."""
ITEMSIZE = np.dtype(np.float32).itemsize


class Workload(Protocol):
    """What every workload provides to the runner.

    Attributes
    ----------
    case : BenchCase
        The case it was built from.
    shapes : dict
        The shapes (and settings) of the work, as stored in the results.
    flops : int
        Floating-point operations of the whole case.
    bytes : int
        Least bytes it moves to and from memory (for the roofline).
    fraction : float
        The share of ``flops`` that the python backend's part does (1 if whole).
    """

    case: BenchCase
    shapes: dict[str, Any]
    flops: int
    bytes: int
    fraction: float

    def run(self, implementation: str, part: bool = False) -> Callable[[], np.ndarray]:
        """A call without arguments that computes the case on ``implementation``.

        ``implementation`` is a cnnlab backend, "torch", or, on a convolution
        it supports, a rung (:mod:`cnnlab.perf.suite.implementations`);
        ``part=True`` computes only the part of the slow implementations.
        The call returns an array, which :meth:`check` compares with the
        reference's.
        """
        ...

    def check(
        self, implementation: str, result: np.ndarray, expected: np.ndarray
    ) -> None:
        """Raise AssertionError unless ``result`` matches :data:`REFERENCE`'s.

        Every implementation must compute what NumPy computes before its time
        means anything.
        """
        tolerance = 1e-4 * max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(
            result,
            expected,
            rtol=1e-3,
            atol=tolerance,
            err_msg=f"{label(implementation)} disagrees with {REFERENCE} "
            f"on {self.case.name}",
        )


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


class ConvWorkload(Workload):
    """A conv2d case: random input and He-initialised weights, and its python part."""

    def __init__(self, case: BenchCase, rng: np.random.Generator) -> None:
        if case.w_shape is None:
            raise ValueError(f"a conv2d case needs w_shape, got {case!r}")
        self.case = case
        n, c, h, width = case.x_shape
        f, _, kh, kw = case.w_shape
        p, s = case.padding, case.stride
        self.x = rng.standard_normal(case.x_shape, dtype=np.float32)
        self.w = he_normal(case.w_shape, c * kh * kw, rng)
        self.b = rng.standard_normal(f, dtype=np.float32)
        self.padding, self.stride = (p, p), (s, s)
        out_shape = (
            n,
            f,
            cnnlab.output_size(h, kh, s, p),
            cnnlab.output_size(width, kw, s, p),
        )
        self.flops = bench.conv2d_flops(case.x_shape, case.w_shape, s, p)
        self.bytes = roofline.conv2d_bytes(
            case.x_shape, case.w_shape, out_shape, ITEMSIZE
        )
        self.shapes = {
            "x": case.x_shape,
            "w": case.w_shape,
            "out": out_shape,
            "padding": p,
            "stride": s,
        }

        rows, filters, images = _part_counts(
            (out_shape[2], f, n), 2 * out_shape[3] * c * kh * kw, case.python_flops
        )
        strip_rows = (rows - 1) * s + kh
        if rows < out_shape[2] and strip_rows <= h and p % s == 0:
            # A strip of input rows without vertical padding: output rows
            # p / s .. p / s + rows - 1 of the whole.
            x_part, padding_part = self.x[:images, :, :strip_rows], (0, p)
        else:
            x_part, padding_part = self.x[:images], self.padding
        self.part = (
            np.ascontiguousarray(x_part),
            self.w[:filters].copy(),
            self.b[:filters].copy(),
            padding_part,
        )
        part_flops = bench.conv2d_flops(
            x_part.shape, self.part[1].shape, s, padding_part
        )
        self.fraction = part_flops / self.flops

    def run(self, implementation: str, part: bool = False) -> Callable[[], np.ndarray]:
        x, w, b, padding = self.part if part else (self.x, self.w, self.b, self.padding)
        stride = self.stride
        if is_rung(implementation):
            out_shape = (
                x.shape[0],
                w.shape[0],
                cnnlab.output_size(x.shape[2], w.shape[2], stride[0], padding[0]),
                cnnlab.output_size(x.shape[3], w.shape[3], stride[1], padding[1]),
            )
            return conv_call(implementation, x, w, b, stride, padding, out_shape)
        if implementation == TORCH:
            torch = load_torch()
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
            return lambda: torch.nn.functional.conv2d(
                tx, tw, tb, stride=stride, padding=padding
            ).numpy()
        ops = cnnlab.backend(implementation)
        return lambda: ops.conv2d(x, w, b, stride=stride, padding=padding)


class PoolWorkload(Workload):
    """A max_pool2d case; the python part is the first few channels or images."""

    def __init__(self, case: BenchCase, rng: np.random.Generator) -> None:
        self.case = case
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
            torch = load_torch()
            tx = torch.from_numpy(x)
            return lambda: torch.nn.functional.max_pool2d(tx, k).numpy()
        ops = cnnlab.backend(implementation)
        return lambda: ops.max_pool2d(x, k)


def _layer_costs(model: Sequential, x_shape: tuple[int, ...]) -> tuple[int, int]:
    """FLOPs and least bytes moved of one forward pass of ``model`` on x of ``x_shape``.

    Each layer counts its own (:meth:`cnnlab.nn.Layer.flops` and
    ``bytes_moved``): FLOPs are the multiply-adds of the convolutions and
    linear layers, and bytes the least traffic of running layer by layer,
    each layer reading its input and parameters once and writing its output
    once.
    """
    inputs = [x_shape, *model.output_shapes(x_shape)[:-1]]
    flops = sum(
        layer.flops(shape) for layer, shape in zip(model.layers, inputs, strict=True)
    )
    n_bytes = sum(
        layer.bytes_moved(shape, ITEMSIZE)
        for layer, shape in zip(model.layers, inputs, strict=True)
    )
    return flops, n_bytes


class LenetWorkload(Workload):
    """The forward pass of ``lenet()`` on a batch; the python part: the first images.

    FLOPs and bytes as in :func:`_layer_costs`.
    """

    def __init__(self, case: BenchCase, rng: np.random.Generator) -> None:
        self.case = case
        n, c, h, width = case.x_shape
        if h != width:
            raise ValueError(f"lenet needs square images, got x_shape {case.x_shape}")
        self.x = rng.random(case.x_shape, dtype=np.float32)
        self.model_args: LenetArgs = {"in_channels": c, "image_size": h, "seed": 0}
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
            forward = torch_forward(lenet(**self.model_args))
            return lambda: forward(x)
        # same seed, same weights
        model = lenet(**self.model_args, backend=implementation)
        return lambda: model(x)


class TrainWorkload(Workload):
    """One epoch of :func:`cnnlab.nn.train_epoch` on the first N training digits.

    Each call returns the mean loss.

    Every call starts from the same weights and shuffles with the same seed,
    so every call does the same work and every implementation must reach
    the same loss. The python part is an epoch over the first image(s).
    FLOPs are three times the forward pass's (:func:`_layer_costs`): the
    backward pass of a convolution or linear layer does twice the forward
    multiply-adds, once for dx and once for dw. Bytes are three times the
    forward's too, an estimate.
    """

    def __init__(self, case: BenchCase, rng: np.random.Generator) -> None:
        self.case = case
        n, c, h, width = case.x_shape
        if (c, h, width) != (1, 8, 8):
            raise ValueError(
                f"train-epoch runs on digits, (N, 1, 8, 8); got x_shape {case.x_shape}"
            )
        x_train, y_train, _, _ = data.digits_split()
        if n > len(x_train):
            raise ValueError(
                f"there are only {len(x_train)} training digits, "
                f"got x_shape {case.x_shape}"
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
            return torch_epoch(lenet(**TRAIN_NETWORK), x, y, self.batch_size)
        model = lenet(**TRAIN_NETWORK, backend=implementation)
        start = {name: value.copy() for name, value in model.parameters().items()}

        def epoch() -> np.ndarray:
            for name, value in model.parameters().items():
                value[...] = start[name]
            optimizer = SGD(model.parameters(), **TRAIN_SETTINGS)
            loss = train_epoch(
                model, optimizer, x, y, self.batch_size, np.random.default_rng(0)
            )
            return np.array([loss], np.float32)

        return epoch


WORKLOADS: dict[str, Callable[[BenchCase, np.random.Generator], Workload]] = {
    "conv2d": ConvWorkload,
    "max_pool2d": PoolWorkload,
    "lenet": LenetWorkload,
    "train": TrainWorkload,
}
"""The workload of each kind of case."""
