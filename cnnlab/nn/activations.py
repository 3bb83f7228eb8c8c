"""Activation layers, which keep the shape of their input: ReLU and Softmax.

ReLU goes between the layers with weights; Softmax turns the final scores into
probabilities.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from cnnlab.nn.layer import Layer, Shape
from cnnlab.validation import validate_axis, validate_int

__all__ = ["ReLU", "Softmax"]


class ReLU(Layer):
    """max(x, 0) elementwise, any shape (Nair & Hinton 2010)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def torch_twin(
        self, torch: ModuleType, params: dict[str, Any]
    ) -> Callable[[Any], Any]:
        return torch.nn.functional.relu

    def forward(self, x: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        return ops.relu(self._remember(x))

    def backward(self, dy: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        return ops.relu_backward(dy, self._input_for_backward())

    def __repr__(self) -> str:
        return "ReLU()"


class Softmax(Layer):
    """exp(x) / sum(exp(x)) along ``axis``: scores in, probabilities out."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = validate_int("axis", axis)

    def output_shape(self, input_shape: Shape) -> Shape:
        try:
            validate_axis(self.axis, len(input_shape), input_shape)
        except ValueError:
            needed = self.axis + 1 if self.axis >= 0 else -self.axis
            raise self._misfit(
                f"with at least {needed} dimensions", input_shape
            ) from None
        return tuple(input_shape)

    def torch_twin(
        self, torch: ModuleType, params: dict[str, Any]
    ) -> Callable[[Any], Any]:
        return functools.partial(torch.nn.functional.softmax, dim=self.axis)

    def forward(self, x: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        return ops.softmax(self._remember(x), axis=self.axis)

    def backward(self, dy: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        """dx = s * (dy - sum(dy * s)) along ``axis``, with s = softmax(x).

        Every output depends on every input of its row: ds_k / dx_i =
        s_k (delta_ik - s_i). Multiplying dy by that Jacobian gives the
        formula without building the Jacobian.
        """
        x = self._input_for_backward()
        dy = self._gradient(dy, x.shape)
        s = ops.softmax(x, axis=self.axis)
        dx = s * (dy - np.sum(dy * s, axis=self.axis, keepdims=True))
        return dx.astype(np.result_type(dy, x), copy=False)

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"
