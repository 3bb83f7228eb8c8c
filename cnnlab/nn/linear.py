"""The fully connected end of a network: Flatten and Linear.

Flatten turns feature maps into one vector per image, and Linear maps that
vector to scores.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from cnnlab.nn.layer import Layer, Rng, Shape, he_normal
from cnnlab.validation import validate_fits_in_memory, validate_int

__all__ = ["Flatten", "Linear"]


class Flatten(Layer):
    """(N, ...) -> (N, everything else): one feature vector per image."""

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise self._misfit("(N, ...) with at least 2 dimensions", input_shape)
        return (input_shape[0], math.prod(input_shape[1:]))

    def bytes_moved(self, input_shape: Shape, itemsize: int) -> int:
        """0: the output is a view of the input, so nothing is read or written."""
        self.output_shape(input_shape)
        return 0

    def torch_twin(
        self, torch: ModuleType, params: dict[str, Any]
    ) -> Callable[[Any], Any]:
        return functools.partial(torch.flatten, start_dim=1)

    def forward(self, x: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        x = self._remember(x)
        return x.reshape(x.shape[0], -1)  # a view: no backend needed, nothing copied

    def backward(self, dy: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        x = self._input_for_backward()
        dy = self._gradient(dy, self.output_shape(x.shape))
        # each input element went to one output element, unchanged
        return dy.reshape(x.shape)

    def __repr__(self) -> str:
        return "Flatten()"


class Linear(Layer):
    """Fully connected layer: x (N, in) -> x @ w.T + b (N, out).

    The weights w are (out, in) and the bias b (out,). Weights use He
    initialisation with fan-in ``in_features``, drawn from ``rng`` (a
    ``np.random.Generator`` or a seed); biases start at zero.
    """

    def __init__(self, in_features: int, out_features: int, *, rng: Rng = None) -> None:
        super().__init__()
        self.in_features = validate_int("in_features", in_features, 1)
        self.out_features = validate_int("out_features", out_features, 1)
        w_shape = (self.out_features, self.in_features)
        validate_fits_in_memory(
            "weights",
            w_shape,
            np.dtype(np.float64),
            f"in_features {self.in_features} and out_features {self.out_features}",
        )
        self.params = {
            "w": he_normal(w_shape, self.in_features, rng),
            "b": np.zeros(self.out_features, np.float32),
        }

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise self._misfit(f"(N, {self.in_features})", input_shape)
        return (input_shape[0], self.out_features)

    def flops(self, input_shape: Shape) -> int:
        """2 * N * in_features * out_features: one multiply-add per weight and example.

        Bias excluded. Raises ValueError if the input does not fit.
        """
        n, _ = self.output_shape(input_shape)
        return 2 * n * self.in_features * self.out_features

    def torch_twin(
        self, torch: ModuleType, params: dict[str, Any]
    ) -> Callable[[Any], Any]:
        return functools.partial(
            torch.nn.functional.linear, weight=params["w"], bias=params["b"]
        )

    def forward(self, x: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        return ops.linear(self._remember(x), self.params["w"], self.params["b"])

    def backward(self, dy: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        x = self._input_for_backward()
        dx, dw, db = ops.linear_backward(dy, x, self.params["w"])
        self.grads = {"w": dw, "b": db}
        return dx

    def __repr__(self) -> str:
        return (
            f"Linear({self.in_features} -> {self.out_features}; {self._param_text()})"
        )
