"""Checkers for the exercises of chapter 11: the confusion matrix and one step of SGD.

Each checker builds a graded series of cases, easiest first, with answers from
the definitions. The SGD step returns two arrays and is graded one output at a
time (:mod:`cnnlab.teaching.checkers.outputs`); the hints recompute the answer
with one typical mistake and say which one matches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import BACKPROP_SEED, matches
from cnnlab.teaching.checkers.outputs import grade_outputs
from cnnlab.teaching.grading import Case, Report, grade

__all__ = ["check_confusion_matrix", "check_sgd_momentum_step"]


# ----------------------------------------------------------------- confusion matrix
def _confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> np.ndarray:
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def check_confusion_matrix(student_fn: Any) -> Report:
    """``student_fn(y_true, y_pred, n_classes) -> (K, K)`` counts.

    Entry [i, j] counts the examples of true class i predicted as class j.
    """
    rng = np.random.default_rng(BACKPROP_SEED)
    y_true = rng.integers(0, 10, 200)
    y_pred = np.where(rng.random(200) < 0.8, y_true, rng.integers(0, 10, 200))
    specs = [
        (
            "3 classes, 6 examples",
            np.array([0, 0, 1, 1, 2, 2]),
            np.array([0, 1, 1, 1, 2, 0]),
            3,
        ),
        (
            "a class that is never predicted",
            np.array([0, 1, 2, 2]),
            np.array([0, 2, 2, 2]),
            3,
        ),
        (
            "a class that never occurs at all",
            np.array([0, 1, 1]),
            np.array([1, 1, 0]),
            4,
        ),
        ("10 classes, 200 examples, 80% right", y_true, y_pred, 10),
    ]
    cases = [
        Case(name, (t, p, k), _confusion_matrix(t, p, k)) for name, t, p, k in specs
    ]

    def counts(*args, **kwargs):
        result = student_fn(*args, **kwargs)
        if (
            isinstance(result, np.ndarray)
            and result.dtype.kind in "fiu"
            and np.all(result == np.round(result))
        ):
            return result.astype(np.int64)  # counts of any number type are fine
        return result

    def hint(expected, result, case):
        y_true, y_pred, n_classes = case.args
        if matches(result, expected.T):
            return (
                "rows and columns are swapped: row i is the true class, column j the "
                "predicted one."
            )
        if result.shape == expected.shape and matches(result * len(y_true), expected):
            return (
                "return counts, not fractions: don't divide by the number of examples."
            )
        if result.shape != expected.shape and result.ndim == 2:
            return (
                f"the matrix must be n_classes x n_classes ({n_classes} x "
                f"{n_classes}), even when a class never occurs: use n_classes, not the "
                "largest label."
            )
        return None

    return grade(
        "confusion_matrix",
        counts if callable(student_fn) else student_fn,
        cases,
        [hint],
    )


# ----------------------------------------------------------------- SGD with momentum
_OTHER_CONVENTION = (
    "you used the other convention, v = momentum * v - lr * grad and param + v. Here "
    "the velocity is v = momentum * v + grad (+ weight decay), and the parameter moves "
    "by -lr * v, as in PyTorch."
)


def _sgd_step(
    param: np.ndarray,
    grad: np.ndarray,
    velocity: np.ndarray,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> tuple[np.ndarray, np.ndarray]:
    g = grad + weight_decay * param
    new_velocity = momentum * velocity + g
    return param - lr * new_velocity, new_velocity


def check_sgd_momentum_step(student_fn: Any) -> Report:
    """``student_fn(param, grad, velocity, lr, momentum, weight_decay)``: one SGD step.

    One step of SGD with momentum and weight decay, PyTorch's form, returning
    ``(new_param, new_velocity)`` without modifying the inputs.
    """
    rng = np.random.default_rng(BACKPROP_SEED)
    p, g, v = (
        np.array([1.0, -2.0, 0.5]),
        np.array([0.5, 0.5, -1.0]),
        np.array([0.0, 1.0, 2.0]),
    )
    inputs = [
        ("plain SGD: momentum 0, no weight decay", (p, g, np.zeros(3), 0.1, 0.0, 0.0)),
        ("momentum 0.9, no weight decay", (p, g, v, 0.1, 0.9, 0.0)),
        ("momentum 0.9 and weight decay 0.01", (p, g, v, 0.1, 0.9, 0.01)),
        (
            "a (4, 3) float32 weight matrix",
            (
                *(rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3)),
                0.05,
                0.8,
                5e-4,
            ),
        ),
    ]

    def hint_param(expected, result, case):
        param, grad, velocity, lr, momentum, weight_decay = case.args
        new_velocity = _sgd_step(*case.args)[1]
        if matches(result, param + lr * new_velocity):
            return (
                "the parameter moved uphill: subtract lr * velocity to go down the "
                "slope."
            )
        if matches(result, param - lr * velocity):
            return (
                "you moved the parameter with the old velocity; update the velocity "
                "first, then use the new one."
            )
        other = param + momentum * velocity - lr * (grad + weight_decay * param)
        if matches(result, other):
            return _OTHER_CONVENTION
        return None

    def hint_velocity(expected, result, case):
        param, grad, velocity, lr, momentum, weight_decay = case.args
        if weight_decay and matches(result, momentum * velocity + grad):
            return (
                "weight decay is missing: add weight_decay * param to the gradient "
                "before updating the velocity."
            )
        if matches(result, momentum * velocity - lr * (grad + weight_decay * param)):
            return _OTHER_CONVENTION
        if momentum and matches(result, grad + weight_decay * param):
            return (
                "the old velocity is missing: multiply it by momentum and add the "
                "gradient to it."
            )
        return None

    return grade_outputs(
        "sgd_momentum_step",
        student_fn,
        ("new_param", "new_velocity"),
        inputs,
        _sgd_step,
        [[hint_param], [hint_velocity]],
    )
