"""Layers and a Sequential container: a small CNN built from cnnlab's operators.

A layer only holds its parameters and calls the plain functions of a backend
module (the scikit-image style: objects for state, functions for the
arithmetic), so the same network runs on every rung of the ladder::

    model = lenet(image_size=28)       # LeNet (LeCun et al. 1998)
    probs = model(x)                   # x (N, 1, 28, 28) -> (N, 10)
    model.backend = "numba"            # same weights, compiled operators

Weights are drawn with He initialisation (He et al. 2015) from a
``np.random.Generator``, so a seed fixes the whole network. Every layer
checks the shape of its input before computing anything, and a
:class:`Sequential` checks that an input fits all of its layers before the
first one runs, so a mismatch is reported by layer and shape.

Training (backpropagation, Rumelhart et al. 1986) runs the layers in
reverse: ``layer.backward(dy, ops)`` takes the gradient of the loss with
respect to the layer's output, stores the gradients of its parameters in
``layer.grads`` (same keys as ``params``) and returns the gradient with
respect to its input. A network that ends in :class:`Softmax` is trained on
the scores before it::

    logits = model.logits(x)                        # every layer but the final Softmax
    loss, dlogits = ops.softmax_cross_entropy(logits, labels) model.backward(dlogits)
    # fills layer.grads, last layer first

The softmax and the cross-entropy are differentiated together:
their combined gradient, ``(softmax(logits) - onehot(labels)) / N``, is
cheaper and numerically safer than passing a gradient through ``log`` and
``softmax`` one after the other (Goodfellow et al. 2016, section 6.2.2.3).
The Softmax layer stays in the model for inference, where ``model(x)``
returns probabilities, and has a backward pass of its own for any other
loss on probabilities.
"""

from __future__ import annotations

import math
import numbers
import time
from types import ModuleType

import numpy as np

import cnnlab
from cnnlab.validation import as_pair, validate_fits_in_memory, output_size

__all__ = [
    "Layer",
    "Conv2d",
    "ReLU",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
    "Linear",
    "Softmax",
    "Sequential",
    "he_normal",
    "lenet",
]

Shape = tuple[int, ...]
Rng = np.random.Generator | int | None  # a generator, a seed, or None for fresh entropy


def _count(name: str, value) -> int:
    """A positive int such as a number of channels, or a clear error."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def _rng(name: str, value) -> np.random.Generator:
    """A generator from a ``np.random.Generator``, a seed (an int >= 0) or None, or a
    clear error.
    """
    if isinstance(value, np.random.Generator) or value is None:
        return np.random.default_rng(value)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(
            f"{name} must be a np.random.Generator, an int >= 0 or None, got {value!r}"
        )
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return np.random.default_rng(int(value))


def _shape(name: str, value) -> Shape:
    """A shape: a tuple (or list) of ints >= 0, or a clear error."""
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
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
    """float32 weights drawn from N(0, 2 / fan_in).

    He et al. (2015) chose this variance so that the signal neither grows
    nor fades as it passes through many ReLU layers: a ReLU zeroes half of
    its inputs, and the factor 2 makes up for it. ``rng`` is a
    ``np.random.Generator``, a seed, or None for fresh entropy.
    """
    shape = _shape("shape", shape)
    fan_in = _count("fan_in", fan_in)
    rng = _rng("rng", rng)
    # The draws are float64 before the cast: that is the largest array made here.
    validate_fits_in_memory("weights", shape, np.float64, f"shape {shape}")
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


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
        """Shape of the output for an input of ``input_shape``; ValueError if it does
        not fit.
        """
        raise NotImplementedError

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        """The output for input ``x``, computed with the backend module ``ops``."""
        raise NotImplementedError

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        """Gradient with respect to ``last_input``, given ``dy``, the gradient with
        respect to the output.

        Also sets ``grads``. Uses the backward operators of the backend module ``ops``.
        """
        raise NotImplementedError

    def _input_for_backward(self) -> np.ndarray:
        """The input of the last forward pass, which every backward pass differentiates
        at.
        """
        if self.last_input is None:
            raise RuntimeError(
                f"{self!r}: backward needs the input of a forward pass; call forward first"
            )
        return self.last_input

    def _remember(self, x) -> np.ndarray:
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

    def _misfit(self, expected: str, input_shape: Shape) -> ValueError:
        return ValueError(
            f"{self!r} expects input {expected}, got shape {tuple(input_shape)}"
        )

    def _param_text(self) -> str:
        return ", ".join(f"{name} {value.shape}" for name, value in self.params.items())


class Conv2d(Layer):
    """2-D convolution: x (N, C, H, W) -> (N, F, OH, OW), weights w (F, C, KH, KW) and
    bias b (F,).

    Weights use He initialisation with fan-in ``C * KH * KW``, drawn from
    ``rng`` (a ``np.random.Generator`` or a seed); biases start at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        *,
        rng: Rng = None,
    ) -> None:
        super().__init__()
        self.in_channels = _count("in_channels", in_channels)
        self.out_channels = _count("out_channels", out_channels)
        self.kernel_size = as_pair("kernel_size", kernel_size, minimum=1)
        self.stride = as_pair("stride", stride, minimum=1)
        self.padding = as_pair("padding", padding, minimum=0)
        kh, kw = self.kernel_size
        validate_fits_in_memory(
            "weights",
            (self.out_channels, self.in_channels, kh, kw),
            np.float64,
            f"in_channels {self.in_channels}, out_channels {self.out_channels} and kernel_size {self.kernel_size}",
        )
        self.params = {
            "w": he_normal(
                (self.out_channels, self.in_channels, kh, kw),
                self.in_channels * kh * kw,
                rng,
            ),
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
                f"{self!r}: the {kh}x{kw} kernel does not fit the input of shape {tuple(input_shape)} "
                f"with padding {self.padding}"
            )
        return (n, self.out_channels, oh, ow)

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        x = self._remember(x)
        return ops.conv2d(
            x,
            self.params["w"],
            self.params["b"],
            stride=self.stride,
            padding=self.padding,
        )

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        x = self._input_for_backward()
        dx, dw, db = ops.conv2d_backward(
            dy, x, self.params["w"], stride=self.stride, padding=self.padding
        )
        self.grads = {"w": dw, "b": db}
        return dx

    def __repr__(self) -> str:
        return (
            f"Conv2d({self.in_channels} -> {self.out_channels}, {_pair_text(self.kernel_size, 'x')}, "
            f"stride {_pair_text(self.stride)}, padding {_pair_text(self.padding)}; {self._param_text()})"
        )


class ReLU(Layer):
    """max(x, 0) elementwise, any shape (Nair & Hinton 2010)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        return ops.relu(self._remember(x))

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        return ops.relu_backward(dy, self._input_for_backward())

    def __repr__(self) -> str:
        return "ReLU()"


class _Pool2d(Layer):
    """Shared shape logic of the pooling layers: x (N, C, H, W) -> (N, C, OH, OW), no
    parameters.
    """

    def __init__(self, kernel_size, stride=None) -> None:
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
                f"{self!r}: the {kh}x{kw} window does not fit the input of shape {tuple(input_shape)}"
            )
        return (n, c, output_size(h, kh, sh), output_size(w, kw, sw))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_pair_text(self.kernel_size, 'x')}, stride {_pair_text(self.stride)})"


class MaxPool2d(_Pool2d):
    """Maximum over each window; the stride defaults to the window size."""

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        return ops.max_pool2d(self._remember(x), self.kernel_size, self.stride)

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        return ops.max_pool2d_backward(
            dy, self._input_for_backward(), self.kernel_size, self.stride
        )


class AvgPool2d(_Pool2d):
    """Mean over each window; the stride defaults to the window size."""

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        return ops.avg_pool2d(self._remember(x), self.kernel_size, self.stride)

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        return ops.avg_pool2d_backward(
            dy, self._input_for_backward(), self.kernel_size, self.stride
        )


class Flatten(Layer):
    """(N, ...) -> (N, everything else): feature maps in, one feature vector per image
    out.
    """

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise self._misfit("(N, ...) with at least 2 dimensions", input_shape)
        return (input_shape[0], math.prod(input_shape[1:]))

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        x = self._remember(x)
        return x.reshape(x.shape[0], -1)  # a view: no backend needed, nothing copied

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        x = self._input_for_backward()
        dy = np.asarray(dy)
        if dy.dtype.kind not in "biuf":
            raise TypeError(
                f"{self!r}: dy must hold real numbers, got dtype {dy.dtype}"
            )
        if dy.shape != (x.shape[0], x.size // x.shape[0]):
            raise ValueError(
                f"{self!r}: dy must have the output shape {self.output_shape(x.shape)}, got {dy.shape}"
            )
        # each input element went to one output element, unchanged
        return dy.reshape(x.shape)

    def __repr__(self) -> str:
        return "Flatten()"


class Linear(Layer):
    """Fully connected layer: x (N, in) -> x @ w.T + b (N, out), w (out, in), b (out,).

    Weights use He initialisation with fan-in ``in_features``, drawn from
    ``rng`` (a ``np.random.Generator`` or a seed); biases start at zero.
    """

    def __init__(self, in_features: int, out_features: int, *, rng: Rng = None) -> None:
        super().__init__()
        self.in_features = _count("in_features", in_features)
        self.out_features = _count("out_features", out_features)
        validate_fits_in_memory(
            "weights",
            (self.out_features, self.in_features),
            np.float64,
            f"in_features {self.in_features} and out_features {self.out_features}",
        )
        self.params = {
            "w": he_normal(
                (self.out_features, self.in_features), self.in_features, rng
            ),
            "b": np.zeros(self.out_features, np.float32),
        }

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise self._misfit(f"(N, {self.in_features})", input_shape)
        return (input_shape[0], self.out_features)

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        return ops.linear(self._remember(x), self.params["w"], self.params["b"])

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        dx, dw, db = ops.linear_backward(
            dy, self._input_for_backward(), self.params["w"]
        )
        self.grads = {"w": dw, "b": db}
        return dx

    def __repr__(self) -> str:
        return (
            f"Linear({self.in_features} -> {self.out_features}; {self._param_text()})"
        )


class Softmax(Layer):
    """exp(x) / sum(exp(x)) along ``axis``: scores in, probabilities that sum to 1 out."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise TypeError(f"axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def output_shape(self, input_shape: Shape) -> Shape:
        if not -len(input_shape) <= self.axis < len(input_shape):
            needed = self.axis + 1 if self.axis >= 0 else -self.axis
            raise self._misfit(f"with at least {needed} dimensions", input_shape)
        return tuple(input_shape)

    def forward(self, x, ops: ModuleType) -> np.ndarray:
        return ops.softmax(self._remember(x), axis=self.axis)

    def backward(self, dy, ops: ModuleType) -> np.ndarray:
        """dx = s * (dy - sum(dy * s)) along ``axis``, with s = softmax(x).

        Every output depends on every input of its row: ds_k / dx_i =
        s_k (delta_ik - s_i). Multiplying dy by that Jacobian gives the
        formula without building the Jacobian.
        """
        x = self._input_for_backward()
        dy = np.asarray(dy)
        if dy.dtype.kind not in "biuf":
            raise TypeError(
                f"{self!r}: dy must hold real numbers, got dtype {dy.dtype}"
            )
        if dy.shape != x.shape:
            raise ValueError(
                f"{self!r}: dy must have the output shape {x.shape}, got {dy.shape}"
            )
        s = ops.softmax(x, axis=self.axis)
        dx = s * (dy - np.sum(dy * s, axis=self.axis, keepdims=True))
        return dx.astype(np.result_type(dy, x), copy=False)

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"


class Sequential:
    """Layers applied one after the other, all with the operators of one backend.

    Parameters
    ----------
    *layers : Layer
        The layers, in order.
    backend : str
        One of :data:`cnnlab.BACKENDS`; may be changed later (``model.backend
        = "numba"``), which keeps the weights.
    input_shape : tuple, optional
        The shape of one input without the batch axis, e.g. (1, 28, 28). Only
        used to show output shapes in the summary.
    """

    def __init__(
        self, *layers: Layer, backend: str = "numpy", input_shape: Shape | None = None
    ) -> None:
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layer {i} must be a cnnlab.nn.model.Layer, got {layer!r}"
                )
            # A layer keeps the input of its last forward pass for backward: used twice,
            # its second pass would overwrite what the first one's gradient needs.
            first = next(j for j, other in enumerate(layers) if other is layer)
            if first != i:
                raise ValueError(
                    f"layer {i} is the same object as layer {first} ({layer!r}); "
                    "use a new layer for each place in the network"
                )
        self.layers = list(layers)
        self.backend = backend
        self.input_shape = (
            None if input_shape is None else _shape("input_shape", input_shape)
        )
        self._pack_parameters()
        # how many layers the last forward pass ran, from the first
        self._ran: int | None = None
        # the last input shape that fitted every layer
        self._fitting_shape: Shape | None = None
        self._output_shape: Shape | None = None  # the shape of what that pass returned

    @property
    def backend(self) -> str:
        """Name of the backend whose operators every layer calls."""
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(
                f"backend must be a str, one of {cnnlab.BACKENDS}, got {name!r}"
            )
        self._ops = cnnlab.backend(name)  # ValueError for a name not in cnnlab.BACKENDS
        self._backend = name

    @property
    def ops(self) -> ModuleType:
        """The backend module whose operators (forward and backward) the layers call."""
        return self._ops

    def output_shapes(self, input_shape: Shape) -> list[Shape]:
        """Shape after each layer for an input of ``input_shape`` (N, ...), computed
        without running.

        Raises ValueError naming the first layer the input does not fit.
        """
        shape = _shape("input_shape", input_shape)
        shapes = []
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as err:
                raise ValueError(f"layer {i}: {err}") from None
            shapes.append(shape)
        return shapes

    def forward_all(self, x) -> list[np.ndarray]:
        """The output of every layer in turn, e.g. the feature maps to show in an image
        grid.
        """
        return self._run(x, len(self.layers))

    def forward(self, x) -> np.ndarray:
        """The output of the last layer for input ``x`` (N, ...)."""
        return self.forward_all(x)[-1]

    __call__ = forward

    @property
    def n_logit_layers(self) -> int:
        """How many layers produce the logits: all of them, except a final
        :class:`Softmax`.
        """
        final_softmax = isinstance(self.layers[-1], Softmax) and len(self.layers) > 1
        return len(self.layers) - 1 if final_softmax else len(self.layers)

    def logits(self, x) -> np.ndarray:
        """The scores before the final Softmax, (N, classes): what the training loss
        takes.

        Runs every layer but a final :class:`Softmax` (all layers if there is
        none); a following :meth:`backward` starts at the last layer that ran.
        """
        return self._run(x, self.n_logit_layers)[-1]

    def _run(self, x, depth: int) -> list[np.ndarray]:
        """Run the first ``depth`` layers on x and return each one's output."""
        if np.shape(x) != self._fitting_shape:
            # a misfit fails here, before any layer runs
            self.output_shapes(np.shape(x))
            self._fitting_shape = np.shape(x)
        self._ran = None  # a pass that fails halfway leaves nothing to differentiate
        outputs = []
        for layer in self.layers[:depth]:
            x = layer.forward(x, self._ops)
            outputs.append(x)
        self._ran, self._output_shape = depth, x.shape
        return outputs

    def backward(self, dy) -> np.ndarray:
        """Backpropagate ``dy`` through the layers of the last forward pass, last layer
        first.

        ``dy`` is the gradient of the loss with respect to what that pass
        returned: the logits after :meth:`logits`, the probabilities after
        ``model(x)``. Every layer with parameters is left with their
        gradients in ``layer.grads`` (see :meth:`gradients`). Returns the
        gradient with respect to the input x.
        """
        if self._ran is None:
            raise RuntimeError(
                "backward needs a forward pass first: call model.logits(x) or model(x)"
            )
        if np.shape(dy) != self._output_shape:
            last = self._ran - 1
            raise ValueError(
                f"dy must have the shape {self._output_shape} of the output of layer {last} "
                f"{self.layers[last]!r} (the last layer of the forward pass), got {np.shape(dy)}"
            )
        for layer in reversed(self.layers[: self._ran]):
            dy = layer.backward(dy, self._ops)
        return dy

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradients of the last :meth:`backward`, keyed like :meth:`parameters`
        ("0.w", "0.b", ...).
        """
        missing = [
            f"{i}.{name}"
            for i, layer in enumerate(self.layers)
            for name in layer.params
            if name not in layer.grads
        ]
        if missing:
            raise RuntimeError(
                f"no gradients yet for {', '.join(missing)}: run backward first"
            )
        return {
            f"{i}.{name}": layer.grads[name]
            for i, layer in enumerate(self.layers)
            for name in layer.params
        }

    def layer_names(self) -> list[str]:
        """Short unique names such as "0 Conv2d", as used by :meth:`forward_timed`."""
        return [f"{i} {type(layer).__name__}" for i, layer in enumerate(self.layers)]

    def forward_timed(self, x) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """The output and the wall-clock seconds each layer took: where the time goes.

        One call is one sample; time a few calls and compare medians.
        """
        self.output_shapes(np.shape(x))
        self._ran = None
        seconds = []
        for name, layer in zip(self.layer_names(), self.layers):
            start = time.perf_counter()
            x = layer.forward(x, self._ops)
            seconds.append((name, time.perf_counter() - start))
        self._ran, self._output_shape = len(self.layers), x.shape
        return x, seconds

    def parameters(self) -> dict[str, np.ndarray]:
        """Every parameter array in order, keyed "layer.name" ("0.w", "0.b", "3.w",
        ...).

        The arrays themselves, not copies: updating one in place updates the model.
        """
        return {
            f"{i}.{name}": value
            for i, layer in enumerate(self.layers)
            for name, value in layer.params.items()
        }

    def _pack_parameters(self) -> None:
        """Move every parameter into one contiguous buffer, in the order of
        :meth:`parameters`.

        Each ``layer.params[name]`` becomes a view of its part of the buffer,
        with the same values, shape and dtype, so nothing changes for code
        that reads or updates them in place. An optimizer that finds its
        parameters packed like this updates them all with a few NumPy calls
        on the buffer, instead of a few calls per parameter array, which is
        what a step of a small network spends most of its time on (PyTorch's
        "foreach" optimizers do the same). Parameters of mixed dtypes stay as
        they are.
        """
        params = list(self.parameters().values())
        if not params or len({value.dtype for value in params}) != 1:
            return
        buffer = np.concatenate([value.ravel() for value in params])
        start = 0
        for layer in self.layers:
            for name, value in layer.params.items():
                layer.params[name] = buffer[start : start + value.size].reshape(
                    value.shape
                )
                start += value.size

    @property
    def n_parameters(self) -> int:
        """Total number of trainable numbers."""
        return sum(value.size for value in self.parameters().values())

    def summary(self, input_shape: Shape | None = None) -> str:
        """A table of layers, output shapes and parameter counts.

        ``input_shape`` is one input without the batch axis, e.g. (1, 28, 28);
        it defaults to the model's ``input_shape``. Without one, the output
        shapes are left out.
        """
        input_shape = (
            self.input_shape
            if input_shape is None
            else _shape("input_shape", input_shape)
        )
        header = (
            ["#", "layer", "output shape", "params"]
            if input_shape
            else ["#", "layer", "params"]
        )
        shapes = self.output_shapes((1, *input_shape)) if input_shape else None
        rows = []
        for i, layer in enumerate(self.layers):
            n_params = f"{sum(v.size for v in layer.params.values()):,}"
            shape = (
                [("(N, " + ", ".join(map(str, shapes[i][1:])) + ")")] if shapes else []
            )
            rows.append([str(i), repr(layer), *shape, n_params])
        widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *rows]
        ]
        where = (
            f", input (N, {', '.join(map(str, input_shape))})" if input_shape else ""
        )
        return "\n".join(
            [
                f"Sequential(backend={self.backend!r}{where})",
                *lines,
                f"total parameters: {self.n_parameters:,}",
            ]
        )

    def __repr__(self) -> str:
        return self.summary()


def lenet(
    in_channels: int = 1,
    image_size: int = 28,
    n_classes: int = 10,
    seed: int = 0,
    backend: str = "numpy",
    filters: tuple[int, int] = (6, 16),
) -> Sequential:
    """A LeNet-style CNN (LeCun et al. 1998) for square (in_channels, image_size,
    image_size) images.

    conv -> ReLU -> 2x2 max pool -> conv -> ReLU -> 2x2 max pool -> flatten
    -> linear -> softmax. The two convolutions have ``filters`` filters, 6
    and 16 by default as in LeNet-5. They are 5x5 without padding, as in the
    paper, when the image is large enough (16x16 or more); smaller images,
    like the 8x8 digits of :mod:`cnnlab.data`, get 3x3 convolutions with
    padding 1, which keep the size. The weights depend only on ``seed``.
    """
    _count("in_channels", in_channels)
    _count("image_size", image_size)
    _count("n_classes", n_classes)
    if not isinstance(filters, (tuple, list)) or len(filters) != 2:
        raise TypeError(
            f"filters must be a pair of ints (first conv, second conv), got {filters!r}"
        )
    first, second = _count("filters[0]", filters[0]), _count("filters[1]", filters[1])
    for kernel, padding in ((5, 0), (3, 1)):
        size = image_size
        for _ in range(2):  # conv, then a 2x2 max pool of stride 2
            size = output_size(output_size(size, kernel, 1, padding), 2, 2)
        if size >= 1:
            break
    else:
        raise ValueError(
            f"image_size {image_size} is too small for LeNet: its two 2x2 poolings need images of at least 4x4"
        )
    rng = _rng("seed", seed)
    validate_fits_in_memory(
        "the linear layer's weights",
        (n_classes, second * size * size),
        np.float64,
        f"image_size {image_size} with filters {tuple(filters)} and n_classes {n_classes}",
    )
    return Sequential(
        Conv2d(in_channels, first, kernel, padding=padding, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Conv2d(first, second, kernel, padding=padding, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(second * size * size, n_classes, rng=rng),
        Softmax(),
        backend=backend,
        input_shape=(in_channels, image_size, image_size),
    )
