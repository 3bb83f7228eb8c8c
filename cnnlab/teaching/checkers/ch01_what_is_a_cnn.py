"""Checkers for the exercises of chapter 1, the first look at a CNN.

Output size, FLOPs, softmax and receptive field: each checker builds a graded
series of cases, the small worked example first, and hands them to
:func:`cnnlab.teaching.grading.grade`. The hints name the mistakes students
make most often with that exercise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import (
    FLOAT32,
    REFERENCE,
    SEED,
    layer_shape_cases,
    matches,
    tolerance_for,
)
from cnnlab.teaching.checkers.formulas import conv2d_flops
from cnnlab.teaching.grading import Case, Report, grade
from cnnlab.validation import output_size

__all__ = [
    "check_output_size",
    "check_conv2d_flops",
    "check_softmax",
    "check_receptive_field",
]

TWO_FLOPS_HINT = (
    "a multiply-add is two floating-point operations: count 2 per multiply-add."
)


def check_output_size(student_fn: Any) -> Report:
    """``student_fn(size, kernel, stride, padding) -> int``, the output length.

    The number of window positions along one axis.
    """
    combos = [
        (5, 3, 1, 0),
        (5, 3, 1, 2),
        (7, 3, 2, 0),
        (8, 3, 2, 1),
        (6, 6, 1, 0),
        (10, 4, 3, 2),
        (224, 7, 2, 3),
    ]
    cases = [
        Case(
            f"size={n}, kernel={k}, stride={s}, padding={p}",
            (n, k, s, p),
            output_size(n, k, s, p),
        )
        for n, k, s, p in combos
    ]

    def hint(expected, result, case):
        n, k, s, p = case.args
        if result in (expected - 1, expected + 1):
            return (
                "off by one: count the window positions, 0 through "
                "(size + 2*padding - kernel) // stride, inclusive."
            )
        if result == output_size(n + p, k, s, 0):
            return "padding adds `padding` pixels on BOTH sides: size + 2*padding."
        if result == output_size(n, k, 1, p):
            return "divide by the stride: the window jumps `stride` pixels per step."
        if isinstance(result, float):
            return "use floor division `//`: a window that does not fit is not counted."
        return None

    return grade("output_size", student_fn, cases, [hint])


def check_conv2d_flops(student_fn: Any) -> Report:
    """``student_fn(x_shape, w_shape, stride, padding) -> FLOPs`` of a convolution.

    A multiply-add counts as 2 FLOPs.
    """
    specs = [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
        ((1, 3, 8, 8), (4, 3, 3, 3), 1, 1),
        ((2, 3, 9, 9), (4, 3, 3, 3), 2, 0),
        ((1, 3, 224, 224), (64, 3, 7, 7), 2, 3),
        ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ]
    cases = layer_shape_cases(specs, conv2d_flops)

    def hint(expected, result, case):
        xs, ws, s, p = case.args
        if result * 2 == expected:
            return TWO_FLOPS_HINT
        if result == expected * 2:
            return (
                "you counted each multiply-add as 4 operations; it is 2 (one multiply, "
                "one add)."
            )
        if result == conv2d_flops(xs, ws, s, 0) or result == conv2d_flops(xs, ws, 1, p):
            return (
                "compute the output size with the stride and the padding: "
                "(H + 2*P - KH) // S + 1."
            )
        return (
            "FLOPs = 2 x N x F x OH x OW x C x KH x KW: every output sums C x KH x KW "
            "products."
        )

    return grade("conv2d_flops", student_fn, cases, [hint])


def check_softmax(student_fn: Any) -> Report:
    """``student_fn(x) -> probabilities`` along the last axis of a 1-D or 2-D x.

    The result has x's shape and dtype.
    """
    rng = np.random.default_rng(SEED)
    inputs = [
        ("the scores [1, 2, 3]", np.array([1.0, 2.0, 3.0])),
        (
            "a 3x3 batch (one row per sample)",
            np.array([[0.0, 1.0, 2.0], [5.0, 0.0, 0.0], [-1.0, -1.0, 3.0]]),
        ),
        ("two rows of scores", np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])),
        (
            "large scores, which overflow np.exp",
            np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]]),
        ),
        (
            "random float32 scores (4, 10)",
            5 * rng.standard_normal((4, 10)).astype(np.float32),
        ),
    ]
    cases = [
        Case(name, (x,), REFERENCE.softmax(x), **tolerance_for(x)) for name, x in inputs
    ]

    def hint(expected, result, case):
        x = case.args[0]
        if np.isfinite(expected).all() and not np.isfinite(result).all():
            return (
                "np.exp overflowed to inf (exp(1000) is too large for a float). "
                "Subtract each row's maximum first: "
                "np.exp(x - x.max(axis=-1, keepdims=True)). The result does not change "
                "mathematically."
            )
        exps = np.exp(x - x.max())
        if matches(result, exps / exps.sum(), **FLOAT32):
            return (
                "you normalized over the whole array; each row is one sample: sum "
                "along axis=-1 only."
            )
        if x.ndim == 2 and matches(result, exps / exps.sum(axis=-1), **FLOAT32):
            return (
                "the sums divide the wrong entries: x.sum(axis=-1) has shape (N,), "
                "which lines up with the columns. Keep the axis: "
                "x.sum(axis=-1, keepdims=True) has shape (N, 1)."
            )
        if not np.allclose(result.sum(axis=-1), 1.0, atol=1e-4):
            return "each row must sum to 1: divide the exponentials by their sum."
        return None

    shapes = (
        "if the message is about shapes, keep the summed axis: "
        "x.sum(axis=-1, keepdims=True) has shape (N, 1), which lines up with the rows "
        "of an (N, K) array."
    )
    return grade("softmax", student_fn, cases, [hint], {ValueError: shapes})


def _receptive_field(layers: list[tuple[int, int]], own_stride: bool = False) -> int:
    """The receptive field of ``(kernel, stride)`` layers, one pixel wide at the start.

    Each layer widens the field by (K - 1) x the step, the product of the
    strides of the layers before it. ``own_stride=True`` computes the common
    mistake of counting a layer's own stride too.
    """
    field, step = 1, 1
    for kernel, stride in layers:
        step *= stride if own_stride else 1
        field += (kernel - 1) * step
        step *= 1 if own_stride else stride
    return field


def check_receptive_field(student_fn: Any) -> Report:
    """``student_fn(layers) -> int``: the receptive field of a stack of layers.

    ``layers`` is a list of ``(kernel, stride)`` pairs, first layer first.
    """
    stacks = [
        ("one 3x3 convolution", [(3, 1)]),
        ("two 3x3 convolutions", [(3, 1), (3, 1)]),
        ("a 2x2 pooling, stride 2", [(2, 2)]),
        ("conv, pool, conv", [(3, 1), (2, 2), (3, 1)]),
        ("the chapter's stack", [(3, 1), (2, 2)] * 3 + [(3, 1)]),
        (
            "the ResNet stem: 7x7 stride 2, then 3x3 pooling stride 2, then 3x3",
            [(7, 2), (3, 2), (3, 1)],
        ),
    ]
    cases = [Case(name, (layers,), _receptive_field(layers)) for name, layers in stacks]

    def hint(expected, result, case):
        layers = case.args[0]
        if result == 1 + sum(k - 1 for k, _ in layers):
            return (
                "you left out the strides. After a layer with stride 2, one step of "
                "the next layer covers 2 input pixels: add (K - 1) times the product "
                "of the strides of all EARLIER layers."
            )
        if result == _receptive_field(layers, own_stride=True):
            return (
                "a layer's own stride does not widen its own window: use the strides "
                "of the layers before it."
            )
        if result == sum(k for k, _ in layers):
            return (
                "the windows overlap: each extra layer adds K - 1 pixels (times the "
                "step), not K."
            )
        return None

    return grade("receptive_field", student_fn, cases, [hint])
