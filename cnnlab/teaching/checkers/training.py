"""Checkers for the exercises of chapters 10-11: backward passes, the loss, SGD and the
confusion matrix.

Each checker builds a graded series of cases, easiest first, with answers
from cnnlab's NumPy backward operators (which the tests check against
finite differences), and hands them to :func:`cnnlab.teaching.grading.grade`. A
function that returns several arrays, like ``(dx, dw, db)``, is graded one
output at a time, so the feedback names the output that is wrong. The hints
recompute the answer with one typical mistake and say which one matches.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from cnnlab.backends import numpy as numpy_backend
from cnnlab.teaching.grading import Case, Report, grade

__all__ = [
    "check_relu_backward",
    "check_linear_backward",
    "check_max_pool2d_backward",
    "check_confusion_matrix",
    "check_sgd_momentum_step",
    "check_softmax_cross_entropy",
]

_rng_seed = 2027


def _matches(result, value) -> bool:
    result, value = np.asarray(result), np.asarray(value)
    return result.shape == value.shape and np.allclose(
        result, value, rtol=1e-5, atol=1e-6
    )


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _output(fn, index: int, names: tuple[str, ...]):
    """A function that calls ``fn`` and returns output ``index`` of the tuple it
    returns.

    It keeps ``fn``'s signature, so that feedback names the arguments as the student
    did.
    """

    @functools.wraps(fn)
    def output(*args, **kwargs):
        result = fn(*args, **kwargs)
        if result is None:
            return None  # graded as "it returned None"
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            raise TypeError(
                f"your function must return a tuple ({', '.join(names)}), but it returned "
                f"{_describe(result)}"
            )
        value = result[index]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]  # a 0-d array counts as a number
        return value

    return output


def _grade_outputs(
    exercise: str,
    fn,
    names: tuple[str, ...],
    inputs,
    references,
    hints,
    error_hints: dict | None = None,
) -> Report:
    """Grade each output of ``fn`` in turn over all ``inputs`` (name, args); stop at the
    first failure.

    ``references(*args)`` returns the expected tuple; ``hints[k]`` are the hints for
    output k, and ``error_hints`` those for an exception, as in
    :func:`cnnlab.teaching.grading.grade`.
    """
    start = time.perf_counter()
    expected = [references(*args) for _, args in inputs]
    n_cases = 0
    for k, name in enumerate(names):
        cases = [
            Case(f"{name}, {label}", args, answer[k])
            for (label, args), answer in zip(inputs, expected)
        ]
        report = grade(
            exercise,
            _output(fn, k, names) if callable(fn) else fn,
            cases,
            hints[k],
            error_hints,
        )
        if not report.passed:
            return report
        n_cases += len(cases)
    seconds = time.perf_counter() - start
    message = f"✓ {exercise}: passed all {n_cases} cases ({', '.join(names)}) in {seconds * 1e3:.0f} ms."
    return Report(exercise, True, "passed", message, seconds)


# ----------------------------------------------------------------- chapter 10: backward
# passes
def check_relu_backward(student_fn) -> Report:
    """``student_fn(dy, x) -> dx``: dy where x > 0, zero elsewhere; any shape."""
    rng = np.random.default_rng(_rng_seed)
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
        Case(name, (dy, x), numpy_backend.relu_backward(dy, x)) for name, dy, x in specs
    ]

    def hint(expected, result, case):
        dy, x = case.args
        if _matches(result, (x > 0).astype(float)):
            return "you returned the mask x > 0 alone; multiply it by dy: the gradient passes where x > 0."
        if _matches(result, np.where(dy > 0, dy, 0)):
            return "you kept dy where dy > 0. The gradient depends on the ReLU's input: keep dy where x > 0."
        if _matches(result, np.where(x >= 0, dy, 0)):
            return (
                "at x == 0 exactly, ReLU has no derivative; by convention (PyTorch's and cnnlab's) the "
                "gradient there is 0: use x > 0, not x >= 0."
            )
        if _matches(result, dy):
            return "you passed dy through unchanged; ReLU blocks the gradient wherever x <= 0."
        return None

    return grade("relu_backward", student_fn, cases, [hint])


def check_linear_backward(student_fn) -> Report:
    """``student_fn(dy, x, w) -> (dx, dw, db)`` for ``y = x @ w.T + b``; x (N, in), w
    (out, in), dy (N, out).
    """
    rng = np.random.default_rng(_rng_seed)
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
        if _matches(result, expected.T):
            return "dw is transposed: it must have the shape of w, (out, in), so dw = dy.T @ x, not x.T @ dy."
        if _matches(result * len(x), expected) and len(x) > 1:
            return (
                "you averaged over the batch. Sum instead: each example adds its own dy[n] (outer) x[n]; "
                "the loss already divided by N, so its dy carries the 1/N."
            )
        return None

    def hint_db(expected, result, case):
        dy = case.args[0]
        if result.shape == dy.shape:
            return "db needs one number per output, shape (out,): sum dy over the batch axis, dy.sum(axis=0)."
        if _matches(result * len(dy), expected) and len(dy) > 1:
            return "you averaged dy over the batch; the gradient of a sum of terms is the sum: dy.sum(axis=0)."
        return None

    return _grade_outputs(
        "linear_backward",
        student_fn,
        ("dx", "dw", "db"),
        inputs,
        numpy_backend.linear_backward,
        [[hint_dx], [hint_dw], [hint_db]],
    )


def check_max_pool2d_backward(student_fn) -> Report:
    """``student_fn(dy, x, k) -> dx``: max pooling over k x k windows with stride k; x
    (N, C, H, W).
    """
    rng = np.random.default_rng(_rng_seed)

    def pooled_shape(x, k):
        return (x.shape[0], x.shape[1], x.shape[2] // k, x.shape[3] // k)

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
        dy = (
            np.arange(1.0, 1.0 + np.prod(pooled_shape(x, k)))
            .reshape(pooled_shape(x, k))
            .astype(x.dtype)
        )
        cases.append(
            Case(name, (dy, x, k), numpy_backend.max_pool2d_backward(dy, x, k))
        )

    def hint_shape(expected, result, case):
        if result.shape == case.args[0].shape:
            return "dx must have the shape of x (the input of the pooling), not that of dy (its output)."
        return None

    def hint_average(expected, result, case):
        dy, x, k = case.args
        if _matches(result, numpy_backend.avg_pool2d_backward(dy, x, k)):
            return (
                "you shared dy equally over each window: that is the gradient of *average* pooling. "
                "Max pooling sends all of a window's dy to the one element that was its maximum."
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
        if _matches(result, spread) and not _matches(spread, expected):
            return (
                "when a window holds its maximum more than once, only the first one in row-major order gets "
                "dy, the element the forward pass picked (np.argmax also returns the first)."
            )
        return None

    def hint_corner(expected, result, case):
        dy, x, k = case.args
        corner = np.zeros_like(x)
        corner[:, :, : dy.shape[2] * k : k, : dy.shape[3] * k : k] = dy
        if _matches(result, corner):
            return "you sent dy to each window's top-left element; find where the maximum is, e.g. with np.argmax."
        return None

    return grade(
        "max_pool2d_backward",
        student_fn,
        cases,
        [hint_shape, hint_average, hint_all_maxima, hint_corner],
    )


# ----------------------------------------------------------------- chapter 11: training
def _confusion_matrix(y_true, y_pred, n_classes):
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def check_confusion_matrix(student_fn) -> Report:
    """``student_fn(y_true, y_pred, n_classes) -> (K, K)`` counts: entry [i, j] counts
    true class i predicted as j.
    """
    rng = np.random.default_rng(_rng_seed)
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
        if _matches(result, expected.T):
            return "rows and columns are swapped: row i is the true class, column j the predicted one."
        if result.shape == expected.shape and _matches(result * len(y_true), expected):
            return (
                "return counts, not fractions: don't divide by the number of examples."
            )
        if result.shape != expected.shape and result.ndim == 2:
            return (
                f"the matrix must be n_classes x n_classes ({n_classes} x {n_classes}), even when a class "
                "never occurs: use n_classes, not the largest label."
            )
        return None

    return grade(
        "confusion_matrix",
        counts if callable(student_fn) else student_fn,
        cases,
        [hint],
    )


_OTHER_CONVENTION = (
    "you used the other convention, v = momentum * v - lr * grad and param + v. Here the velocity "
    "is v = momentum * v + grad (+ weight decay), and the parameter moves by -lr * v, as in PyTorch."
)


def _sgd_step(param, grad, velocity, lr, momentum, weight_decay):
    g = grad + weight_decay * param
    new_velocity = momentum * velocity + g
    return param - lr * new_velocity, new_velocity


def check_sgd_momentum_step(student_fn) -> Report:
    """``student_fn(param, grad, velocity, lr, momentum, weight_decay) -> (new_param,
    new_velocity)``.

    One step of SGD with momentum and weight decay, PyTorch's form, without
    modifying the inputs.
    """
    rng = np.random.default_rng(_rng_seed)
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
        if _matches(result, param + lr * new_velocity):
            return "the parameter moved uphill: subtract lr * velocity to go down the slope."
        if _matches(result, param - lr * velocity):
            return "you moved the parameter with the old velocity; update the velocity first, then use the new one."
        if _matches(
            result, param + momentum * velocity - lr * (grad + weight_decay * param)
        ):
            return _OTHER_CONVENTION
        return None

    def hint_velocity(expected, result, case):
        param, grad, velocity, lr, momentum, weight_decay = case.args
        if weight_decay and _matches(result, momentum * velocity + grad):
            return "weight decay is missing: add weight_decay * param to the gradient before updating the velocity."
        if _matches(result, momentum * velocity - lr * (grad + weight_decay * param)):
            return _OTHER_CONVENTION
        if momentum and _matches(result, grad + weight_decay * param):
            return "the old velocity is missing: multiply it by momentum and add the gradient to it."
        return None

    return _grade_outputs(
        "sgd_momentum_step",
        student_fn,
        ("new_param", "new_velocity"),
        inputs,
        _sgd_step,
        [[hint_param], [hint_velocity]],
    )


def check_softmax_cross_entropy(student_fn) -> Report:
    """``student_fn(logits, labels) -> (loss, dlogits)``: mean cross-entropy of
    softmax(logits) and its gradient.
    """
    rng = np.random.default_rng(_rng_seed)
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
                "exp overflowed. Subtract each row's maximum from the logits first: softmax does not change, "
                "and the largest exponent becomes exp(0) = 1."
            )
        if len(labels) > 1 and np.isclose(result, expected * len(labels)):
            return "you summed the losses of the batch; the loss is their mean: divide by N."
        return None

    def hint_dlogits(expected, result, case):
        logits, labels = case.args
        n = len(labels)
        if not np.all(np.isfinite(result)):
            return "exp overflowed: subtract each row's maximum from the logits before exp."
        if n > 1 and _matches(result, expected * n):
            return "the loss is a mean over the batch, so every row of dlogits is divided by N."
        if _matches(result, -expected):
            return "the sign is flipped: dlogits = softmax(logits) - onehot(labels)."
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        if _matches(result, probs / n):
            return "subtract the one-hot labels: dlogits = (softmax(logits) - onehot(labels)) / N."
        return None

    return _grade_outputs(
        "softmax_cross_entropy",
        student_fn,
        ("loss", "dlogits"),
        inputs,
        numpy_backend.softmax_cross_entropy,
        [[hint_loss], [hint_dlogits]],
    )
