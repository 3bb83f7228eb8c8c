"""Checkers for the exercises of chapter 10: the backward passes and the loss.

Each checker builds a graded series of cases, easiest first, with answers from
cnnlab's NumPy backward operators (which the tests check against finite
differences). A function that returns several arrays, like ``(dx, dw, db)``,
is graded one output at a time (:mod:`cnnlab.teaching.checkers.outputs`), so
the feedback names the output that is wrong. The hints recompute the answer
with one typical mistake and say which one matches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import BACKPROP_SEED, REFERENCE, matches
from cnnlab.teaching.checkers.outputs import grade_outputs
from cnnlab.teaching.grading import Case, Report, grade

__all__ = [
    "check_relu_backward",
    "check_linear_backward",
    "check_max_pool2d_backward",
    "check_softmax_cross_entropy",
]


def check_relu_backward(student_fn: Any) -> Report:
    """``student_fn(dy, x) -> dx``: dy where x > 0, zero elsewhere; any shape."""
    rng = np.random.default_rng(BACKPROP_SEED)
    specs = [
        (
            "the worked example",
            np.array([1.0, -2.0, 3.0, -4.0, 5.0]),
            np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
        ),
        ("a 2x3 matrix", rng.standard_normal((2, 3)), rng.standard_normal((2, 3))),
        (
            "feature maps (2, 3, 4, 4), float32",
            rng.standard_normal((2, 3, 4, 4)).astype(np.float32),
            rng.standard_normal((2, 3, 4, 4)).astype(np.float32),
        ),
    ]
    cases = [
        Case(name, (dy, x), REFERENCE.relu_backward(dy, x)) for name, dy, x in specs
    ]

    def hint(expected, result, case):
        dy, x = case.args
        if matches(result, (x > 0).astype(float)):
            return (
                "you returned the mask x > 0 alone; multiply it by dy: the gradient "
                "passes where x > 0."
            )
        if matches(result, np.where(dy > 0, dy, 0)):
            return (
                "you kept dy where dy > 0. The gradient depends on the ReLU's input: "
                "keep dy where x > 0."
            )
        if matches(result, np.where(x >= 0, dy, 0)):
            return (
                "at x == 0 exactly, ReLU has no derivative; by convention (PyTorch's "
                "and cnnlab's) the gradient there is 0: use x > 0, not x >= 0."
            )
        if matches(result, dy):
            return (
                "you passed dy through unchanged; ReLU blocks the gradient wherever "
                "x <= 0."
            )
        return None

    return grade("relu_backward", student_fn, cases, [hint])


def check_linear_backward(student_fn: Any) -> Report:
    """``student_fn(dy, x, w) -> (dx, dw, db)`` for ``y = x @ w.T + b``.

    x is (N, in), w (out, in) and dy (N, out).
    """
    rng = np.random.default_rng(BACKPROP_SEED)
    inputs = [
        (
            "one example, 3 inputs, 2 outputs",
            (
                np.array([[1.0, -1.0]]),
                np.array([[1.0, 2.0, 3.0]]),
                np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]),
            ),
        ),
        (
            "a batch of 4, 5 inputs, 3 outputs",
            (
                rng.standard_normal((4, 3)),
                rng.standard_normal((4, 5)),
                rng.standard_normal((3, 5)),
            ),
        ),
        (
            "a batch of 6, 7 inputs, 2 outputs, float32",
            tuple(
                rng.standard_normal(shape).astype(np.float32)
                for shape in ((6, 2), (6, 7), (2, 7))
            ),
        ),
    ]

    def hint_dx(expected, result, case):
        dy, x, w = case.args
        if result.shape == x.shape[::-1]:
            return "dx must have the shape of x, (N, in): dx = dy @ w."
        return None

    def hint_dw(expected, result, case):
        dy, x, w = case.args
        if matches(result, expected.T):
            return (
                "dw is transposed: it must have the shape of w, (out, in), so "
                "dw = dy.T @ x, not x.T @ dy."
            )
        if matches(result * len(x), expected) and len(x) > 1:
            return (
                "you averaged over the batch. Sum instead: each example adds its own "
                "dy[n] (outer) x[n]; the loss already divided by N, so its dy carries "
                "the 1/N."
            )
        return None

    def hint_db(expected, result, case):
        dy = case.args[0]
        if result.shape == dy.shape:
            return (
                "db needs one number per output, shape (out,): sum dy over the batch "
                "axis, dy.sum(axis=0)."
            )
        if matches(result * len(dy), expected) and len(dy) > 1:
            return (
                "you averaged dy over the batch; the gradient of a sum of terms is the "
                "sum: dy.sum(axis=0)."
            )
        return None

    return grade_outputs(
        "linear_backward",
        student_fn,
        ("dx", "dw", "db"),
        inputs,
        REFERENCE.linear_backward,
        [[hint_dx], [hint_dw], [hint_db]],
    )


def _max_pool2d_backward_cases() -> list[Case]:
    """The worked example, ties, a batch, leftover rows and columns, float32."""
    rng = np.random.default_rng(BACKPROP_SEED)
    worked = np.array(
        [
            [1.0, 3.0, 2.0, 0.0],
            [4.0, 2.0, 1.0, 5.0],
            [0.0, 1.0, 7.0, 2.0],
            [6.0, 2.0, 3.0, 1.0],
        ]
    )
    ties = np.array(
        [
            [2.0, 2.0, 0.0, 1.0],
            [1.0, 2.0, 1.0, 1.0],
            [3.0, 0.0, 5.0, 5.0],
            [3.0, 3.0, 5.0, 5.0],
        ]
    )
    specs = [
        ("the 4x4 worked example, k=2", worked[None, None], 2),
        ("windows whose maximum appears twice or more, k=2", ties[None, None], 2),
        ("a batch (2, 3, 6, 6), k=2", rng.standard_normal((2, 3, 6, 6)), 2),
        (
            "odd sizes (1, 2, 5, 7): the last row and column belong to no window",
            rng.standard_normal((1, 2, 5, 7)),
            2,
        ),
        (
            "3x3 windows on (2, 1, 6, 9), float32",
            rng.standard_normal((2, 1, 6, 9)).astype(np.float32),
            3,
        ),
    ]
    cases = []
    for name, x, k in specs:
        pooled = (x.shape[0], x.shape[1], x.shape[2] // k, x.shape[3] // k)
        dy = np.arange(1.0, 1.0 + np.prod(pooled)).reshape(pooled).astype(x.dtype)
        cases.append(Case(name, (dy, x, k), REFERENCE.max_pool2d_backward(dy, x, k)))
    return cases


def check_max_pool2d_backward(student_fn: Any) -> Report:
    """``student_fn(dy, x, k) -> dx``: max pooling over k x k windows with stride k.

    x is (N, C, H, W), dy (N, C, H // k, W // k).
    """

    def hint_shape(expected, result, case):
        if result.shape == case.args[0].shape:
            return (
                "dx must have the shape of x (the input of the pooling), not that of "
                "dy (its output)."
            )
        return None

    def hint_average(expected, result, case):
        dy, x, k = case.args
        if matches(result, REFERENCE.avg_pool2d_backward(dy, x, k)):
            return (
                "you shared dy equally over each window: that is the gradient of "
                "*average* pooling. Max pooling sends all of a window's dy to the one "
                "element that was its maximum."
            )
        return None

    def hint_all_maxima(expected, result, case):
        dy, x, k = case.args
        n, c, oh, ow = dy.shape
        windows = x[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k)
        is_max = windows == windows.max(axis=(3, 5), keepdims=True)
        spread = np.zeros_like(x)
        spread[:, :, : oh * k, : ow * k] = (
            is_max * dy[:, :, :, None, :, None]
        ).reshape(n, c, oh * k, ow * k)
        if matches(result, spread) and not matches(spread, expected):
            return (
                "when a window holds its maximum more than once, only the first one in "
                "row-major order gets dy, the element the forward pass picked "
                "(np.argmax also returns the first)."
            )
        return None

    def hint_corner(expected, result, case):
        dy, x, k = case.args
        corner = np.zeros_like(x)
        corner[:, :, : dy.shape[2] * k : k, : dy.shape[3] * k : k] = dy
        if matches(result, corner):
            return (
                "you sent dy to each window's top-left element; find where the maximum "
                "is, e.g. with np.argmax."
            )
        return None

    return grade(
        "max_pool2d_backward",
        student_fn,
        _max_pool2d_backward_cases(),
        [hint_shape, hint_average, hint_all_maxima, hint_corner],
    )


def check_softmax_cross_entropy(student_fn: Any) -> Report:
    """``student_fn(logits, labels) -> (loss, dlogits)``.

    The mean cross-entropy of softmax(logits) (N, K) against the labels (N,),
    and its gradient (N, K).
    """
    rng = np.random.default_rng(BACKPROP_SEED)
    inputs = [
        ("one example, 3 classes", (np.array([[2.0, 1.0, 0.1]]), np.array([0]))),
        (
            "a batch of 4, 5 classes",
            (rng.standard_normal((4, 5)), np.array([0, 4, 2, 2])),
        ),
        (
            "large logits (around 1000): does exp overflow?",
            (rng.standard_normal((3, 4)) * 10 + 1000, np.array([1, 0, 3])),
        ),
        (
            "a batch of 8, 10 classes, float32",
            (rng.standard_normal((8, 10)).astype(np.float32), np.arange(8) % 10),
        ),
    ]

    def hint_loss(expected, result, case):
        logits, labels = case.args
        if not np.isfinite(result):
            return (
                "exp overflowed. Subtract each row's maximum from the logits first: "
                "softmax does not change, and the largest exponent becomes exp(0) = 1."
            )
        if len(labels) > 1 and np.isclose(result, expected * len(labels)):
            return (
                "you summed the losses of the batch; the loss is their mean: divide "
                "by N."
            )
        return None

    def hint_dlogits(expected, result, case):
        logits, labels = case.args
        n = len(labels)
        if not np.all(np.isfinite(result)):
            return (
                "exp overflowed: subtract each row's maximum from the logits before "
                "exp."
            )
        if n > 1 and matches(result, expected * n):
            return (
                "the loss is a mean over the batch, so every row of dlogits is divided "
                "by N."
            )
        if matches(result, -expected):
            return "the sign is flipped: dlogits = softmax(logits) - onehot(labels)."
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        if matches(result, probs / n):
            return (
                "subtract the one-hot labels: "
                "dlogits = (softmax(logits) - onehot(labels)) / N."
            )
        return None

    return grade_outputs(
        "softmax_cross_entropy",
        student_fn,
        ("loss", "dlogits"),
        inputs,
        REFERENCE.softmax_cross_entropy,
        [[hint_loss], [hint_dlogits]],
    )
