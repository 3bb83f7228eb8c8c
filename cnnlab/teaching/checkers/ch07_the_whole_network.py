"""Checkers for the exercises of chapter 7: LeNet's shapes, size and forward pass.

The answers come from cnnlab's own LeNet (:func:`cnnlab.nn.lenet`) and its NumPy
backend. The hints recompute the answer with one typical mistake: a channel
count forgotten, a bias left out, ReLU or softmax skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab import backend
from cnnlab.nn import lenet
from cnnlab.teaching.checkers.cases import FLOAT32, REFERENCE, SEED, matches
from cnnlab.teaching.grading import Case, Report, grade

__all__ = [
    "check_flat_features",
    "check_lenet_parameters",
    "check_lenet_forward",
]

_LENET_FILTERS = (6, 16)  # output channels of LeNet's two convolutions


# ----------------------------------------------------------------- shapes
def _lenet_flat_features(image_size: int) -> int:
    """Features entering LeNet's linear layer, read off cnnlab's own model."""
    shapes = lenet(image_size=image_size).output_shapes((1, 1, image_size, image_size))
    return shapes[6][1]


def check_flat_features(student_fn: Any) -> Report:
    """``student_fn(image_size) -> int``: features after LeNet's second pooling.

    The images are square, with sides of 16 pixels or more, so that both 5x5
    convolutions fit.
    """
    sizes = [32, 28, 64, 33, 20, 17]
    cases = [Case(f"image_size={s}", (s,), _lenet_flat_features(s)) for s in sizes]

    def hint(expected, result, case):
        size = case.args[0]
        side = int(round((expected / _LENET_FILTERS[1]) ** 0.5))
        if result == side * side:
            return (
                f"that is one channel's {side} x {side} map; the second convolution "
                f"has {_LENET_FILTERS[1]} channels."
            )
        if result == _LENET_FILTERS[1] * (size // 4) ** 2:
            return (
                "each 5x5 convolution without padding shrinks the map by 4 "
                "(size - 5 + 1) before it is pooled; you only counted the two poolings."
            )
        wrong = size
        for _ in range(2):
            wrong = (wrong - 5) // 2  # the off-by-one: size - 5 instead of size - 5 + 1
        if result == _LENET_FILTERS[1] * wrong * wrong:
            return (
                "off by one: a 5x5 convolution without padding leaves "
                "size - 5 + 1 = size - 4 positions."
            )
        return (
            "follow the shape layer by layer: conv 5x5 (side - 4), pool 2x2 "
            "(side // 2), conv 5x5, pool, then multiply the channels by the two sides."
        )

    return grade("flat_features", student_fn, cases, [hint])


# ----------------------------------------------------------------- parameters
def _lenet_count(
    in_channels: int,
    image_size: int,
    n_classes: int,
    *,
    bias: bool = True,
    conv1_channels: int | None = None,
    conv2_channels: int | None = None,
) -> int:
    """LeNet's parameter count; each keyword option makes one counting mistake."""
    k = 5
    f1, f2 = _LENET_FILTERS
    conv1 = f1 * (in_channels if conv1_channels is None else conv1_channels) * k * k
    conv2 = f2 * (f1 if conv2_channels is None else conv2_channels) * k * k
    linear = _lenet_flat_features(image_size) * n_classes
    return conv1 + conv2 + linear + (f1 + f2 + n_classes if bias else 0)


def check_lenet_parameters(student_fn: Any) -> Report:
    """``student_fn(in_channels, image_size, n_classes) -> int``: LeNet's parameters.

    The count of its trainable numbers; ``image_size`` is 16 or more, as in
    :func:`check_flat_features`.
    """
    specs = [(1, 32, 10), (3, 32, 10), (1, 28, 10), (3, 64, 100), (2, 17, 5)]
    cases = [
        Case(
            f"in_channels={c}, image_size={s}, n_classes={k}",
            (c, s, k),
            lenet(c, s, k).n_parameters,
        )
        for c, s, k in specs
    ]

    def hint(expected, result, case):
        c, s, k = case.args
        if result == _lenet_count(c, s, k, bias=False):
            return (
                "you left out the biases: each convolution filter and each output of "
                f"the linear layer has one, {_LENET_FILTERS[0]} + {_LENET_FILTERS[1]} "
                f"+ {k} in all."
            )
        if c != 1 and result == _lenet_count(c, s, k, conv1_channels=1):
            return (
                f"each filter of the first convolution sees all {c} input channels: it "
                f"has {c} x 5 x 5 weights, not 5 x 5."
            )
        if result == _lenet_count(c, s, k, conv2_channels=1):
            return (
                "each filter of the second convolution sees all "
                f"{_LENET_FILTERS[0]} maps of the first: {_LENET_FILTERS[0]} x 5 x 5 "
                "weights per filter."
            )
        return (
            "add up, layer by layer: filters x in_channels x 5 x 5 weights + one bias "
            "per filter, for both convolutions, then flat_features x n_classes weights "
            "+ n_classes biases for the linear layer."
        )

    return grade("lenet_parameters", student_fn, cases, [hint])


# ----------------------------------------------------------------- the forward pass
def _lenet_forward(
    x: np.ndarray,
    params: dict[str, np.ndarray],
    ops: Any,
    *,
    relu: bool = True,
    bias: bool = True,
    pool: str = "max",
    softmax: bool = True,
) -> np.ndarray:
    """The LeNet forward pass by hand; each keyword option leaves one step out."""

    def conv(x, key):
        return ops.conv2d(x, params[f"{key}.w"], params[f"{key}.b"] if bias else None)

    def stage(x, key):
        x = conv(x, key)
        x = ops.relu(x) if relu else x
        return ops.max_pool2d(x, 2) if pool == "max" else ops.avg_pool2d(x, 2)

    x = stage(stage(x, "0"), "3")
    x = x.reshape(x.shape[0], -1)
    logits = ops.linear(x, params["7.w"], params["7.b"] if bias else None)
    return ops.softmax(logits) if softmax else logits


class _Parameters(dict):
    """model.parameters() that a failed case lists by shape, not weight by weight."""

    def __repr__(self) -> str:
        shapes = (
            f"{key!r}: array of shape {value.shape}" for key, value in self.items()
        )
        return "{" + ", ".join(shapes) + "}"


class _Backend:
    """A backend module that shows as ``cnnlab.backend('numpy')`` in a failed case."""

    def __init__(self, name: str) -> None:
        self._name, self._module = name, backend(name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module, attribute)

    def __reduce__(self) -> tuple:
        # Sent to a student's kernel by name (the class grader pickles the arguments).
        return _Backend, (self._name,)

    def __repr__(self) -> str:
        return f"cnnlab.backend({self._name!r})"


def _lenet_forward_cases() -> list[Case]:
    """Cases for ``forward(x, params, ops)``: LeNets with non-zero biases.

    Two backends, so that a pass that ignores ``ops`` is caught.
    """
    rng = np.random.default_rng(SEED)
    specs = [
        ("one 32x32 image, 10 classes, numpy backend", 1, 1, 32, 10, "numpy"),
        (
            "a batch of 4 RGB 20x20 images, 5 classes, numpy backend",
            4,
            3,
            20,
            5,
            "numpy",
        ),
        ("two 16x16 images on the python backend", 2, 1, 16, 10, "python"),
    ]
    cases = []
    for seed, (name, n, c, size, classes, backend_name) in enumerate(specs):
        params = _Parameters(lenet(c, size, classes, seed=seed).parameters())
        for key, value in params.items():
            # fresh biases are 0, which would hide a forgotten bias
            if key.endswith(".b"):
                value[:] = 0.1 * rng.standard_normal(value.shape)
        x = rng.random((n, c, size, size), dtype=np.float32)
        cases.append(
            Case(
                name,
                (x, params, _Backend(backend_name)),
                _lenet_forward(x, params, REFERENCE),
                **FLOAT32,
            )
        )
    return cases


# What a forward pass computes when one step is left out, and the hint for it.
_LENET_MISTAKES: list[tuple[dict[str, Any], str]] = [
    (
        dict(softmax=False),
        "you returned the scores of the linear layer; finish with "
        "ops.softmax(logits), so that every row holds probabilities that sum to 1.",
    ),
    (
        dict(relu=False),
        "apply ops.relu after each convolution: conv, relu, max pool, twice.",
    ),
    (
        dict(bias=False),
        "pass the biases too: ops.conv2d(x, params['0.w'], params['0.b']), and "
        "likewise for layers 3 and 7.",
    ),
    (dict(pool="avg"), "LeNet here uses max pooling: ops.max_pool2d(x, 2)."),
]


def _hint_lenet_step_left_out(expected: Any, result: Any, case: Case) -> str | None:
    for mistake, hint in _LENET_MISTAKES:
        left_out = _lenet_forward(*case.args, **mistake)
        if matches(result, left_out, **FLOAT32, equal_nan=True):
            return hint
    return None


def check_lenet_forward(student_fn: Any) -> Report:
    """``student_fn(x, params, ops)``: LeNet's probabilities (N, n_classes).

    Computed with the operators of the backend ``ops``.
    """
    return grade(
        "lenet_forward",
        student_fn,
        _lenet_forward_cases(),
        [_hint_lenet_step_left_out],
        {
            KeyError: "the parameters are keyed by layer number and name, as "
            "model.parameters() returns them: '0.w', '0.b' (first conv), '3.w', "
            "'3.b' (second conv), '7.w', '7.b' (linear).",
            ValueError: "if the message is about shapes, print x.shape after every "
            "step; flatten with x.reshape(x.shape[0], -1) before the linear layer.",
        },
    )
