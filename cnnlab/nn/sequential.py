"""The Sequential container and LeNet: layers run one after the other.

A :class:`Sequential` runs every layer with the operators of one backend, so
the same network runs on every rung of the ladder::

    model = lenet(image_size=28)  # LeNet (LeCun et al. 1998)
    probs = model(x)  # x (N, 1, 28, 28) -> (N, 10)
    model.backend = "numba"  # same weights, compiled operators

It checks that an input fits all of its layers before the first one runs, so
a mismatch is reported by layer and shape. A network that ends in
:class:`~cnnlab.nn.activations.Softmax` is trained on the scores before it::

    logits = model.logits(x)  # every layer but the final Softmax
    loss, dlogits = model.ops.softmax_cross_entropy(logits, labels)
    model.backward(dlogits)  # fills layer.grads, last layer first

The softmax and the cross-entropy are differentiated together: their
combined gradient, ``(softmax(logits) - onehot(labels)) / N``, is cheaper
and numerically safer than passing a gradient through ``log`` and
``softmax`` one after the other (Goodfellow et al. 2016, section 6.2.2.3).
The Softmax layer stays in the model for inference, where ``model(x)``
returns probabilities, and has a backward pass of its own for any other
loss on probabilities.
"""

from __future__ import annotations

import time
from types import ModuleType

import numpy as np
import numpy.typing as npt

import cnnlab
from cnnlab.nn.activations import ReLU, Softmax
from cnnlab.nn.conv import Conv2d, MaxPool2d
from cnnlab.nn.layer import Layer, Shape, _rng, _shape
from cnnlab.nn.linear import Flatten, Linear
from cnnlab.validation import validate_fits_in_memory, validate_int

__all__ = ["Sequential", "lenet"]


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
                raise TypeError(f"layer {i} must be a cnnlab.nn.Layer, got {layer!r}")
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
        """The shape after each layer for an input of ``input_shape`` (N, ...).

        Computed without running anything. Raises ValueError naming the first
        layer the input does not fit.
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

    def forward_all(self, x: npt.ArrayLike) -> list[np.ndarray]:
        """The output of every layer in turn, e.g. feature maps to show in a grid."""
        return self._run(x, len(self.layers))

    def forward(self, x: npt.ArrayLike) -> np.ndarray:
        """The output of the last layer for input ``x`` (N, ...)."""
        return self.forward_all(x)[-1]

    __call__ = forward

    @property
    def n_logit_layers(self) -> int:
        """How many layers produce the logits: all but a final :class:`Softmax`."""
        final_softmax = isinstance(self.layers[-1], Softmax) and len(self.layers) > 1
        return len(self.layers) - 1 if final_softmax else len(self.layers)

    def logits(self, x: npt.ArrayLike) -> np.ndarray:
        """The scores before the final Softmax, (N, classes): what the loss takes.

        Runs every layer but a final :class:`Softmax` (all layers if there is
        none); a following :meth:`backward` starts at the last layer that ran.
        """
        return self._run(x, self.n_logit_layers)[-1]

    def _run(self, x: npt.ArrayLike, depth: int) -> list[np.ndarray]:
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
        self._ran, self._output_shape = depth, outputs[-1].shape
        return outputs

    def backward(self, dy: npt.ArrayLike) -> np.ndarray:
        """Backpropagate ``dy`` through the last forward pass, last layer first.

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
                f"dy must have the shape {self._output_shape} of the output of layer "
                f"{last} {self.layers[last]!r} (the last layer of the forward pass), "
                f"got {np.shape(dy)}"
            )
        grad = np.asarray(dy)
        for layer in reversed(self.layers[: self._ran]):
            grad = layer.backward(grad, self._ops)
        return grad

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradients of the last :meth:`backward`, keyed like :meth:`parameters`."""
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

    def forward_timed(
        self, x: npt.ArrayLike
    ) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """The output and the wall-clock seconds each layer took: where the time goes.

        One call is one sample; time a few calls and compare medians.
        """
        self.output_shapes(np.shape(x))
        self._ran = None
        seconds = []
        out = np.asarray(x)
        for name, layer in zip(self.layer_names(), self.layers, strict=True):
            start = time.perf_counter()
            out = layer.forward(out, self._ops)
            seconds.append((name, time.perf_counter() - start))
        self._ran, self._output_shape = len(self.layers), out.shape
        return out, seconds

    def parameters(self) -> dict[str, np.ndarray]:
        """Every parameter array in order, keyed "layer.name" ("0.w", "0.b", ...).

        The arrays themselves, not copies: updating one in place updates the model.
        """
        return {
            f"{i}.{name}": value
            for i, layer in enumerate(self.layers)
            for name, value in layer.params.items()
        }

    def _pack_parameters(self) -> None:
        """Move every parameter into one buffer, in the order of :meth:`parameters`.

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
            "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
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


def _checked_model(model: object) -> Sequential:
    """``model`` if it is a Sequential: what training and weights files work on."""
    if not isinstance(model, Sequential):
        raise TypeError(
            f"model must be a cnnlab.nn.Sequential, got {type(model).__name__}"
        )
    return model


def lenet(
    in_channels: int = 1,
    image_size: int = 28,
    n_classes: int = 10,
    seed: int = 0,
    backend: str = "numpy",
    filters: tuple[int, int] = (6, 16),
) -> Sequential:
    """A LeNet-style CNN (LeCun et al. 1998) for square images.

    The input is (N, in_channels, image_size, image_size). The layers:
    conv -> ReLU -> 2x2 max pool -> conv -> ReLU -> 2x2 max pool -> flatten
    -> linear -> softmax. The two convolutions have ``filters`` filters, 6
    and 16 by default as in LeNet-5. They are 5x5 without padding, as in the
    paper, when the image is large enough (16x16 or more); smaller images,
    like the 8x8 digits of :mod:`cnnlab.data`, get 3x3 convolutions with
    padding 1, which keep the size. The weights depend only on ``seed``.
    """
    validate_int("in_channels", in_channels, 1)
    validate_int("image_size", image_size, 1)
    validate_int("n_classes", n_classes, 1)
    if not isinstance(filters, (tuple, list)) or len(filters) != 2:
        raise TypeError(
            f"filters must be a pair of ints (first conv, second conv), got {filters!r}"
        )
    first = validate_int("filters[0]", filters[0], 1)
    second = validate_int("filters[1]", filters[1], 1)
    if image_size < 4:
        raise ValueError(
            f"image_size {image_size} is too small for LeNet: its two 2x2 poolings "
            "need images of at least 4x4"
        )
    # Two 5x5 convolutions and poolings leave 1x1 of a 16x16 image; padded 3x3
    # convolutions keep the size, so the poolings alone decide.
    kernel, padding = (5, 0) if image_size >= 16 else (3, 1)
    rng = _rng("seed", seed)
    features = [
        Conv2d(in_channels, first, kernel, padding=padding, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Conv2d(first, second, kernel, padding=padding, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
    ]
    shape: Shape = (1, in_channels, image_size, image_size)
    for layer in features:
        shape = layer.output_shape(shape)
    validate_fits_in_memory(
        "the linear layer's weights",
        (n_classes, shape[1]),
        np.dtype(np.float64),
        f"image_size {image_size} with filters {tuple(filters)} "
        f"and n_classes {n_classes}",
    )
    return Sequential(
        *features,
        Linear(shape[1], n_classes, rng=rng),
        Softmax(),
        backend=backend,
        input_shape=(in_channels, image_size, image_size),
    )
