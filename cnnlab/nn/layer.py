"""The Layer contract: what every layer of a network holds, computes and reports.

A layer only holds its parameters and calls the plain functions of a backend
module (the scikit-image style: objects for state, functions for the
arithmetic), so the same network runs on every rung of the ladder. Every
layer checks the shape of its input before computing anything.

Training (backpropagation, Rumelhart et al. 1986) runs the layers in
reverse: ``layer.backward(dy, ops)`` takes the gradient of the loss with
respect to the layer's output, stores the gradients of its parameters in
``layer.grads`` (same keys as ``params``) and returns the gradient with
respect to its input.

A layer also describes its cost to the benchmark suite (:mod:`cnnlab.perf`):
its FLOPs (:meth:`Layer.flops`), the least memory traffic of running it
(:meth:`Layer.bytes_moved`), and the same layer as a PyTorch call
(:meth:`Layer.torch_twin`). Weights are drawn with :func:`he_normal` from a
``np.random.Generator``, so a seed fixes the whole network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from cnnlab.validation import is_int, validate_fits_in_memory, validate_int

__all__ = ["Layer", "he_normal"]

Shape = tuple[int, ...]
Rng = np.random.Generator | int | None  # a generator, a seed, or None for fresh entropy


def _rng(name: str, value: object) -> np.random.Generator:
    """A generator from a ``np.random.Generator``, a seed (an int >= 0) or None."""
    if isinstance(value, np.random.Generator) or value is None:
        return np.random.default_rng(value)
    if not is_int(value):
        raise TypeError(
            f"{name} must be a np.random.Generator, an int >= 0 or None, got {value!r}"
        )
    return np.random.default_rng(validate_int(name, value, 0))


def _shape(name: str, value: object) -> Shape:
    """A shape: a tuple (or list) of ints >= 0."""
    if not isinstance(value, (tuple, list)) or not all(is_int(v) for v in value):
        raise TypeError(f"{name} must be a tuple of ints, got {value!r}")
    if any(v < 0 for v in value):
        raise ValueError(f"{name} must hold sizes >= 0, got {tuple(value)}")
    return tuple(int(v) for v in value)


def _pair_text(pair: tuple[int, int], sep: str = ", ") -> str:
    """(2, 2) -> "2", (3, 1) -> "(3, 1)"; with sep="x", (5, 5) -> "5x5"."""
    if sep == "x":
        return f"{pair[0]}x{pair[1]}"
    return str(pair[0]) if pair[0] == pair[1] else str(pair)


def he_normal(shape: Shape, fan_in: int, rng: Rng = None) -> np.ndarray:
    """float32 weights of ``shape`` drawn from N(0, 2 / fan_in).

    He et al. (2015) chose this variance so that the signal neither grows
    nor fades as it passes through many ReLU layers: a ReLU zeroes half of
    its inputs, and the factor 2 makes up for it. ``rng`` is a
    ``np.random.Generator``, a seed, or None for fresh entropy.
    """
    shape = _shape("shape", shape)
    fan_in = validate_int("fan_in", fan_in, 1)
    generator = _rng("rng", rng)
    # The draws are float64 before the cast: that is the largest array made here.
    validate_fits_in_memory("weights", shape, np.dtype(np.float64), f"shape {shape}")
    draws = generator.standard_normal(shape) * math.sqrt(2.0 / fan_in)
    return draws.astype(np.float32)


class Layer:
    """One step of a network: parameters in ``params``, arithmetic in a backend.

    Subclasses define ``output_shape(input_shape)``, which checks an input
    shape without computing anything, ``forward(x, ops)``, which calls the
    functions of ``ops``, a backend module from :func:`cnnlab.backend`, and
    ``backward(dy, ops)``. ``forward`` keeps a reference to its input in
    ``last_input`` (never a copy, never modified), which the backward pass
    needs; ``backward`` leaves the gradients of the parameters in ``grads``
    (same keys and shapes as ``params``). Apart from the last input shape
    that fitted (so a batch of the same shape is not checked again), nothing
    else is stored between calls.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.last_input: np.ndarray | None = None
        # the last input shape that passed output_shape
        self._fitting_shape: Shape | None = None

    def output_shape(self, input_shape: Shape) -> Shape:
        """Shape of the output for an input of ``input_shape``.

        Raises ValueError if the input does not fit the layer.
        """
        raise NotImplementedError

    def forward(self, x: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        """The output for input ``x``, computed with the backend module ``ops``."""
        raise NotImplementedError

    def backward(self, dy: npt.ArrayLike, ops: ModuleType) -> np.ndarray:
        """The gradient with respect to ``last_input``, given ``dy``.

        ``dy`` is the gradient of the loss with respect to the layer's output.
        Also sets ``grads``. Uses the backward operators of the backend module
        ``ops``.
        """
        raise NotImplementedError

    def flops(self, input_shape: Shape) -> int:
        """Floating-point operations of the forward pass on ``input_shape``.

        Only convolutions and linear layers count, at 2 FLOPs per multiply-add;
        ReLU, pooling and softmax are left out by convention (they add about 2%
        to a CNN's count), so this is 0 for them. Raises ValueError if the input
        does not fit.
        """
        self.output_shape(input_shape)
        return 0

    def bytes_moved(self, input_shape: Shape, itemsize: int) -> int:
        """Least bytes moved by running this layer alone on ``input_shape``.

        ``itemsize`` bytes for each input, parameter and output element: each is
        read or written once.
        """
        out_shape = self.output_shape(input_shape)
        n_params = sum(value.size for value in self.params.values())
        return itemsize * (math.prod(input_shape) + n_params + math.prod(out_shape))

    def torch_twin(
        self, torch: ModuleType, params: dict[str, Any]
    ) -> Callable[[Any], Any]:
        """This layer as a PyTorch call, with the tensors ``params`` as parameters.

        ``torch`` is the module itself, passed in: cnnlab never imports it.
        ``params`` has the keys of ``self.params``. The call takes a tensor
        shaped like this layer's input and returns its output.
        """
        raise TypeError(f"no torch equivalent for {self!r}")

    def _input_for_backward(self) -> np.ndarray:
        """The input of the last forward pass: where backward differentiates."""
        if self.last_input is None:
            raise RuntimeError(
                f"{self!r}: backward needs the input of a forward pass; "
                "call forward first"
            )
        return self.last_input

    def _remember(self, x: npt.ArrayLike) -> np.ndarray:
        """Check that x fits this layer and keep it as ``last_input``.

        Training calls a layer on batches of one shape thousands of times, so
        a shape that fitted once is not checked again.
        """
        x = np.asarray(x)
        if x.shape != self._fitting_shape:
            self.output_shape(x.shape)
            self._fitting_shape = x.shape
        self.last_input = x
        return x

    def _gradient(self, dy: npt.ArrayLike, out_shape: Shape) -> np.ndarray:
        """``dy``, checked to be real numbers of ``out_shape``.

        For the layers whose backward pass is computed here, not in a backend operator.
        """
        dy = np.asarray(dy)
        if dy.dtype.kind not in "biuf":
            raise TypeError(
                f"{self!r}: dy must hold real numbers, got dtype {dy.dtype}"
            )
        if dy.shape != out_shape:
            raise ValueError(
                f"{self!r}: dy must have the output shape {out_shape}, got {dy.shape}"
            )
        return dy

    def _misfit(self, expected: str, input_shape: Shape) -> ValueError:
        return ValueError(
            f"{self!r} expects input {expected}, got shape {tuple(input_shape)}"
        )

    def _param_text(self) -> str:
        return ", ".join(f"{name} {value.shape}" for name, value in self.params.items())
