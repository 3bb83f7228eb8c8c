"""Checkers for the exercises 6.1 and 6.2: log-softmax and batch-norm folding.

Each checker builds a graded series of cases, the small worked example first,
with answers from the definitions, and hands them to
:func:`cnnlab.teaching.grading.grade`. The hints name the mistakes students
make most often: an overflowing exponential, a maximum taken over the whole
array, a batch norm scaled along the wrong axis or without eps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import (
    FLOAT32,
    REFERENCE,
    SEED,
    matches,
    tolerance_for,
)
from cnnlab.teaching.checkers.outputs import grade_outputs
from cnnlab.teaching.grading import Case, Diagnosis, Report, grade

__all__ = ["check_log_softmax", "check_fold_batchnorm"]


def _quietly(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` without NumPy's warnings: hints compute mistakes that overflow."""
    with np.errstate(all="ignore"):
        return fn(*args)


# ----------------------------------------------------------------- log-softmax
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))``, computed so that it is finite for any finite x.

    The row's maximum is subtracted first: ``x - max - log(sum(exp(x - max)))``.
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _log_softmax_cases() -> list[Case]:
    """Cases for ``log_softmax(x)`` on (N, K) arrays, the hard logits last."""
    rng = np.random.default_rng(SEED)
    specs = [
        ("one row of small scores", np.array([[1.0, 2.0, 3.0]])),
        ("3 rows of 3 scores", rng.standard_normal((3, 3))),
        ("equal scores", np.full((2, 4), 5.0)),
        ("large logits: exp(1000) overflows", np.array([[1000.0, 1001.0, 1002.0]])),
        (
            "a probability so small that it underflows to 0",
            np.array([[0.0, -1000.0, 5.0]]),
        ),
        (
            "one row near +1000 and one near -1000",
            np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -998.0]]),
        ),
        (
            "a float32 batch of 8 rows and 10 classes",
            (3 * rng.standard_normal((8, 10))).astype(np.float32),
        ),
    ]
    return [Case(name, (x,), log_softmax(x), **tolerance_for(x)) for name, x in specs]


def _log_softmax_hints() -> list[Diagnosis]:
    """The hints for ``log_softmax``, the likeliest mistake first."""

    def hint_log_of_softmax(expected, result, case):
        logs = _quietly(np.log, REFERENCE.softmax(case.args[0]))
        if (
            matches(result, logs, atol=1e-8, equal_nan=True)
            and not np.isfinite(result).all()
        ):
            return (
                "you took the log of the probabilities. One that underflows to 0 gives "
                "log(0) = -inf, although its log-probability is an ordinary number. "
                "Never form the probabilities: compute x - m - log(sum(exp(x - m))) "
                "with m the row's maximum."
            )
        return None

    def hint_global_max(expected, result, case):
        x = case.args[0]
        shifted = x - x.max()
        by_all = _quietly(
            lambda: shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        )
        if (
            matches(result, by_all, atol=1e-8, equal_nan=True)
            and not np.isfinite(by_all).all()
        ):
            return (
                "you subtracted the maximum of the whole array. In a row far below it "
                "every exp underflows to 0 and log(0) = -inf: subtract each row's own "
                "maximum, x.max(axis=-1, keepdims=True)."
            )
        return None

    def hint_overflow(expected, result, case):
        if np.isfinite(expected).all() and not np.isfinite(result).all():
            return (
                "your result has NaN or inf: exp overflowed. Subtract the row's "
                "maximum m first, and add it back outside the log: "
                "log(sum(exp(x))) = m + log(sum(exp(x - m)))."
            )
        return None

    def hint_forgot_max(expected, result, case):
        top = case.args[0].max(axis=-1, keepdims=True)
        if np.any(top != 0) and matches(
            result, expected + top, **FLOAT32, equal_nan=True
        ):
            return (
                "every value is too large by the row's maximum m. You computed "
                "log(sum(exp(x - m))), which is log(sum(exp(x))) - m: subtract m as "
                "well, x - m - log(sum(exp(x - m)))."
            )
        return None

    def hint_probabilities(expected, result, case):
        if matches(result, np.exp(expected), **FLOAT32, equal_nan=True):
            return (
                "you returned the probabilities, softmax(x); log-softmax is their "
                "logarithm, all values <= 0."
            )
        return None

    def hint_wrong_axis(expected, result, case):
        by_column = log_softmax(case.args[0], axis=0)
        if matches(result, by_column, **FLOAT32, equal_nan=True):
            return (
                "you normalized each column instead of each row. Take the maximum and "
                "the sum along the last axis, axis=-1: each row holds the scores of "
                "one sample."
            )
        return None

    def hint_keepdims(expected, result, case):
        x = case.args[0]
        top = x.max(axis=-1, keepdims=True)
        without_keepdims = x - top - np.log(np.exp(x - top).sum(axis=-1))
        if x.shape[0] > 1 and matches(
            result, without_keepdims, **FLOAT32, equal_nan=True
        ):
            return (
                "the row sums have shape (N,), so they line up with the columns. Keep "
                "the summed axis: np.exp(x - m).sum(axis=-1, keepdims=True) has shape "
                "(N, 1)."
            )
        return None

    return [
        hint_log_of_softmax,
        hint_global_max,
        hint_overflow,
        hint_forgot_max,
        hint_probabilities,
        hint_wrong_axis,
        hint_keepdims,
    ]


def check_log_softmax(student_fn: Any) -> Report:
    """``student_fn(x)``: log(softmax) of each row of x (N, K), finite for finite x.

    The result has x's shape and dtype.
    """
    return grade(
        "log_softmax",
        student_fn,
        _log_softmax_cases(),
        _log_softmax_hints(),
        {
            ValueError: "if the message is about shapes that cannot be broadcast, keep "
            "the reduced axis: x.max(axis=-1, keepdims=True) has shape (N, 1)."
        },
    )


# ----------------------------------------------------------------- folding batch norm
def fold_batchnorm(
    w: np.ndarray,
    b: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The weights and bias of one convolution computing ``batchnorm(conv2d(x, w, b))``.

    Batch normalization at inference (Ioffe & Szegedy 2015) maps channel f of
    its input y to ``gamma[f] * (y - mean[f]) / sqrt(var[f] + eps) + beta[f]``:
    one factor and one offset per channel, which fold into filter f's weights
    (F, C, KH, KW) and its bias (F,).
    """
    scale = gamma / np.sqrt(var + eps)
    return w * scale[:, None, None, None], (b - mean) * scale + beta


def _batchnorm_inputs() -> list[tuple[str, tuple]]:
    """(name, (w, b, gamma, beta, mean, var, eps)) for the check, 1x1 example first."""
    rng = np.random.default_rng(SEED)

    def layer(filters, channels, k, eps, dtype=np.float64, zero_var=False):
        w = rng.standard_normal((filters, channels, k, k))
        b, gamma, beta, mean = (rng.standard_normal(filters) for _ in range(4))
        var = rng.uniform(0.5, 2.0, filters)
        if zero_var:
            # a channel that was constant in training: only eps keeps 1/sqrt finite
            var[0] = 0.0
        arrays = tuple(a.astype(dtype) for a in (w, b, gamma, beta, mean, var))
        return (*arrays, eps)

    one = np.ones(1)
    example = (
        np.full((1, 1, 1, 1), 2.0),
        one,
        3 * one,
        0.5 * one,
        2 * one,
        4 * one,
        0.0,
    )
    return [
        ("one 1x1 filter, eps 0: scale 3 / sqrt(4) = 1.5", example),
        ("4 filters of 4 channels, 3x3, eps 0.1", layer(4, 4, 3, 0.1)),
        ("2 filters of 3 channels, 3x3, eps 1e-5", layer(2, 3, 3, 1e-5)),
        (
            "a channel whose variance is 0, eps 1e-3",
            layer(3, 2, 1, 1e-3, zero_var=True),
        ),
        (
            "a float32 layer of 16 filters of 8 channels, 3x3",
            layer(16, 8, 3, 1e-5, np.float32),
        ),
    ]


def _folded_with(args, *, eps=True, sqrt=True, gamma=True, axis=0) -> np.ndarray:
    """The folded weights with one mistake, for the hints.

    ``axis=1`` scales the input channels instead of the filters.
    """
    w, b, g, beta, mean, var, e = args
    scale = (g if gamma else 1.0) / (
        (np.sqrt if sqrt else np.asarray)(var + (e if eps else 0.0))
    )
    return w * (scale[:, None, None, None] if axis == 0 else scale[None, :, None, None])


def _hint_folded_weights(expected: Any, result: Any, case: Case) -> str | None:
    args = case.args
    w, var, eps = args[0], args[5], args[6]

    def like(candidate):
        return matches(result, candidate, **FLOAT32, equal_nan=True)

    if like(w):
        return (
            "the weights must change too: filter f is multiplied by "
            "gamma[f] / sqrt(var[f] + eps), so that the convolution's output comes out "
            "already scaled."
        )
    if w.shape[0] == w.shape[1] and like(_folded_with(args, axis=1)):
        return (
            "you scaled the input channels (axis 1 of w). Batch norm scales the "
            "convolution's output channels, one per filter: multiply w by "
            "scale[:, None, None, None]."
        )
    if eps and (
        like(_quietly(lambda: _folded_with(args, eps=False)))
        or (np.any(var == 0) and not np.isfinite(result).all())
    ):
        return (
            "you left out eps: divide by sqrt(var + eps), which stays finite when a "
            "variance is 0."
        )
    if like(_folded_with(args, sqrt=False)):
        return (
            "you divided by the variance; batch norm divides by the standard "
            "deviation, sqrt(var + eps)."
        )
    if like(_folded_with(args, gamma=False)):
        return (
            "you normalized but did not scale: multiply by gamma as well, "
            "scale = gamma / sqrt(var + eps)."
        )
    return None


def _hint_folded_bias(expected: Any, result: Any, case: Case) -> str | None:
    w, b, gamma, beta, mean, var, eps = case.args
    scale = gamma / np.sqrt(var + eps)
    mistakes = [
        (
            (b - mean) * scale,
            "you left out beta: add the batch norm's shift after scaling.",
        ),
        (
            b * scale + beta - mean,
            "the mean is subtracted before the scaling: (b - mean) * scale + beta.",
        ),
        (
            beta - mean * scale,
            "the convolution's own bias b passes through the batch norm too: "
            "(b - mean) * scale + beta.",
        ),
        (
            b * scale + beta,
            "you forgot to subtract the mean: (b - mean) * scale + beta.",
        ),
        (
            b + beta - mean,
            "the bias must be scaled like the weights: (b - mean) * scale + beta.",
        ),
    ]
    for wrong, hint in mistakes:
        if matches(result, wrong, **FLOAT32, equal_nan=True):
            return hint
    return None


def check_fold_batchnorm(student_fn: Any) -> Report:
    """``student_fn(w, b, gamma, beta, mean, var, eps) -> (w_folded, b_folded)``.

    w (F, C, KH, KW) and b (F,) are a convolution's weights and bias, gamma,
    beta, mean and var (F,) a batch norm's parameters. The folded convolution
    must compute ``batchnorm(conv2d(x, w, b))``; inputs unchanged, same dtype.
    """
    return grade_outputs(
        "fold_batchnorm",
        student_fn,
        ("w_folded", "b_folded"),
        _batchnorm_inputs(),
        fold_batchnorm,
        [[_hint_folded_weights], [_hint_folded_bias]],
        {
            ValueError: "if the message is about shapes that cannot be broadcast: the "
            "scale has one value per filter, shape (F,); reshape it to (F, 1, 1, 1), "
            "scale[:, None, None, None], to multiply each filter's weights "
            "(F, C, KH, KW)."
        },
    )
