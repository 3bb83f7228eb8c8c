"""Convolution and pooling layers: windows slid over images (N, C, H, W).

Their output sizes come from :func:`cnnlab.validation.output_size`, the formula
every backend uses, and their sizes, strides and paddings are checked by
:func:`cnnlab.validation.as_pair`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from cnnlab.nn.layer import Layer, Rng, Shape, _pair_text, he_normal
from cnnlab.validation import (
    PairLike,
    as_pair,
    output_size,
    validate_fits_in_memory,
    validate_int,
)

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d"]


class Conv2d(Layer):
    """2-D convolution: x (N, C, H, W) -> (N, F, OH, OW).

    The weights w are (F, C, KH, KW) and the bias b (F,). Weights use He
    initialisation with fan-in ``C * KH * KW``, drawn from ``rng`` (a
    ``np.random.Generator`` or a seed); biases start at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: PairLike,
        stride: PairLike = 1,
        padding: PairLike = 0,
        *,
        rng: Rng = None,
    ) -> None:
        super().__init__()
        self.in_channels = validate_int("in_channels", in_channels, 1)
        self.out_channels = validate_int("out_channels", out_channels, 1)
        self.kernel_size = as_pair("kernel_size", kernel_size, minimum=1)
        self.stride = as_pair("stride", stride, minimum=1)
        self.padding = as_pair("padding", padding, minimum=0)
        kh, kw = self.kernel_size
        w_shape = (self.out_channels, self.in_channels, kh, kw)
        validate_fits_in_memory(
            "weights",
            w_shape,
            np.dtype(np.float64),
            f"in_channels {self.in_channels}, out_channels {self.out_channels} "
            f"and kernel_size {self.kernel_size}",
        )
        self.params = {
            "w": he_normal(w_shape, self.in_channels * kh * kw, rng),
            "b": np.zeros(self.out_channels, np.float32),
        }

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 4 or input_shape[1] != self.in_channels:
            raise self._misfit(f"(N, {self.in_channels}, H, W)", input_shape)
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
        if oh < 1 or ow < 1:
            raise ValueError(
                f"{self!r}: the {kh}x{kw} kernel does not fit the input of shape "
                f"{tuple(input_shape)} with padding {self.padding}"
            )
        return (n, self.out_channels, oh, ow)

    def flops(self, input_shape: Shape) -> int:
        """2 * N * F * OH * OW * C * KH * KW: one multiply-add per weight and output.

        The count of :func:`cnnlab.perf.bench.conv2d_flops`. Raises ValueError if the
        input does not fit.
        """
        n, f, oh, ow = self.output_shape(input_shape)
        kh, kw = self.kernel_size
        return 2 * n * f * oh * ow * self.in_channels * kh * kw

    def torch_twin(
        self, torch: ModuleType, params: dict[str, Any]
    ) -> Callable[[Any], Any]:
        return functools.partial(
            torch.nn.functional.conv2d,
            weight=params["w"],
            bias=params["b"],
            stride=self.stride,
            padding=self.padding,
        )

    def forward(self, x: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        return ops.conv2d(
            self._remember(x),
            self.params["w"],
            self.params["b"],
            stride=self.stride,
            padding=self.padding,
        )

    def backward(self, dy: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        x = self._input_for_backward()
        dx, dw, db = ops.conv2d_backward(
            dy, x, self.params["w"], stride=self.stride, padding=self.padding
        )
        self.grads = {"w": dw, "b": db}
        return dx

    def __repr__(self) -> str:
        return (
            f"Conv2d({self.in_channels} -> {self.out_channels}, "
            f"{_pair_text(self.kernel_size, 'x')}, stride {_pair_text(self.stride)}, "
            f"padding {_pair_text(self.padding)}; {self._param_text()})"
        )


class _Pool2d(Layer):
    """What the pooling layers share: x (N, C, H, W) -> (N, C, OH, OW).

    No parameters: a window of ``kernel_size`` moves by ``stride`` (by default the
    window size). A subclass names its operator in ``_operator``: the backend
    function of that name, its ``_backward`` twin, and the torch.nn.functional
    function of that name compute it.
    """

    _operator: str

    def __init__(self, kernel_size: PairLike, stride: PairLike | None = None) -> None:
        super().__init__()
        self.kernel_size = as_pair("kernel_size", kernel_size, minimum=1)
        self.stride = (
            self.kernel_size if stride is None else as_pair("stride", stride, minimum=1)
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 4:
            raise self._misfit("(N, C, H, W)", input_shape)
        n, c, h, w = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if kh > h or kw > w:
            raise ValueError(
                f"{self!r}: the {kh}x{kw} window does not fit the input of shape "
                f"{tuple(input_shape)}"
            )
        return (n, c, output_size(h, kh, sh), output_size(w, kw, sw))

    def torch_twin(
        self, torch: ModuleType, params: dict[str, Any]
    ) -> Callable[[Any], Any]:
        return functools.partial(
            getattr(torch.nn.functional, self._operator),
            kernel_size=self.kernel_size,
            stride=self.stride,
        )

    def forward(self, x: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        pool = getattr(ops, self._operator)
        return pool(self._remember(x), self.kernel_size, self.stride)

    def backward(self, dy: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        pool_backward = getattr(ops, self._operator + "_backward")
        return pool_backward(
            dy, self._input_for_backward(), self.kernel_size, self.stride
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({_pair_text(self.kernel_size, 'x')}, "
            f"stride {_pair_text(self.stride)})"
        )


class MaxPool2d(_Pool2d):
    """Maximum over each window; the stride defaults to the window size."""

    _operator = "max_pool2d"


class AvgPool2d(_Pool2d):
    """Mean over each window; the stride defaults to the window size."""

    _operator = "avg_pool2d"
