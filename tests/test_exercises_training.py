"""Checkers of chapters 10-11: right answers pass; each common mistake gets its hint."""

import numpy as np
import pytest
from helpers import failed_with, lenient  # noqa: F401 - lenient is a fixture

from cnnlab.backends import numpy as numpy_backend
from cnnlab.teaching.checkers import (
    ch10_backpropagation_by_hand,
    ch11_training_on_digits,
)
from cnnlab.teaching.checkers.ch10_backpropagation_by_hand import (
    check_linear_backward,
    check_max_pool2d_backward,
    check_relu_backward,
    check_softmax_cross_entropy,
)
from cnnlab.teaching.checkers.ch11_training_on_digits import (
    check_confusion_matrix,
    check_sgd_momentum_step,
)

pytestmark = pytest.mark.usefixtures("lenient")
CHAPTERS = (ch10_backpropagation_by_hand, ch11_training_on_digits)


def test_all_checkers_are_exported():
    assert {name for module in CHAPTERS for name in module.__all__} == {
        "check_relu_backward",
        "check_linear_backward",
        "check_max_pool2d_backward",
        "check_confusion_matrix",
        "check_sgd_momentum_step",
        "check_softmax_cross_entropy",
    }
    import cnnlab.exercises as exercises

    for module in CHAPTERS:
        for name in module.__all__:
            assert getattr(exercises, name) is getattr(module, name)


# --- solutions ------------------------------------------------------------------------


def relu_backward(dy, x):
    return dy * (x > 0)


def linear_backward(dy, x, w):
    return dy @ w, dy.T @ x, dy.sum(axis=0)


def max_pool2d_backward(dy, x, k):
    n, c, oh, ow = dy.shape
    dx = np.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k].reshape(
                n, c, k * k
            )
            first = window.argmax(
                axis=2
            )  # the first maximum, as the forward pass picks it
            for a in range(n):
                for b in range(c):
                    r, s = divmod(first[a, b], k)
                    dx[a, b, i * k + r, j * k + s] = dy[a, b, i, j]
    return dx


def confusion_matrix(y_true, y_pred, n_classes):
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[t, p] += 1
    return matrix


def sgd_momentum_step(param, grad, velocity, lr, momentum, weight_decay):
    velocity = momentum * velocity + grad + weight_decay * param
    return param - lr * velocity, velocity


def softmax_cross_entropy(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1
    return -log_probs[np.arange(n), labels].mean(), dlogits / n


@pytest.mark.parametrize(
    "check, solution",
    [
        (check_relu_backward, relu_backward),
        (check_linear_backward, linear_backward),
        (check_max_pool2d_backward, max_pool2d_backward),
        (check_confusion_matrix, confusion_matrix),
        (check_sgd_momentum_step, sgd_momentum_step),
        (check_softmax_cross_entropy, softmax_cross_entropy),
    ],
)
def test_solution_passes(check, solution):
    report = check(solution)
    assert report.passed and report.status == "passed", report.message
    assert report.message.startswith("✓")


@pytest.mark.parametrize(
    "check",
    [
        check_relu_backward,
        check_linear_backward,
        check_max_pool2d_backward,
        check_confusion_matrix,
        check_sgd_momentum_step,
        check_softmax_cross_entropy,
    ],
)
def test_not_implemented_none_exception_and_not_a_function(check):
    def todo(*args):
        raise NotImplementedError

    report = check(todo)
    assert report.status == "not implemented" and "not implemented" in report.message
    failed_with(check(lambda *args: None), "returned None")
    failed_with(check(lambda *args: 1 / 0), "ZeroDivisionError")
    failed_with(check("relu"), "expected a function")


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "1")
    with pytest.raises(AssertionError, match="relu_backward"):
        check_relu_backward(lambda dy, x: dy)
    assert check_relu_backward(relu_backward).passed


def test_modifying_an_input_is_reported():
    def in_place(dy, x):
        dy[x <= 0] = 0
        return dy

    failed_with(check_relu_backward(in_place), "modified its input")

    def sgd_in_place(param, grad, velocity, lr, momentum, weight_decay):
        velocity *= momentum
        velocity += grad + weight_decay * param
        param -= lr * velocity
        return param, velocity

    failed_with(check_sgd_momentum_step(sgd_in_place), "modified its input")


# --- relu_backward --------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda dy, x: (x > 0).astype(x.dtype), "mask x > 0 alone"),
        (lambda dy, x: np.where(dy > 0, dy, 0), "keep dy where x > 0"),
        (lambda dy, x: dy * (x >= 0), "x >= 0"),
        (lambda dy, x: dy.copy(), "unchanged"),
    ],
)
def test_relu_backward_hints(wrong, hint):
    failed_with(check_relu_backward(wrong), "Hint:", hint)


# --- linear_backward ------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda dy, x, w: (dy @ w, x.T @ dy, dy.sum(axis=0)),
            ["dw", "transposed", "dy.T @ x"],
        ),
        (
            lambda dy, x, w: (dy @ w, dy.T @ x / len(x), dy.sum(axis=0)),
            ["dw", "averaged"],
        ),
        (lambda dy, x, w: (dy @ w, dy.T @ x, dy), ["db", "sum dy over the batch axis"]),
        (lambda dy, x, w: (dy @ w, dy.T @ x, dy.mean(axis=0)), ["db", "averaged"]),
        (
            lambda dy, x, w: dy @ w,
            ["must return a tuple (dx, dw, db)", "array of shape"],
        ),
        (
            lambda dy, x, w: (dy @ w, dy.T @ x),
            ["must return a tuple (dx, dw, db)", "tuple"],
        ),
    ],
)
def test_linear_backward_hints(wrong, words):
    failed_with(check_linear_backward(wrong), *words)


def test_linear_backward_names_the_wrong_output():
    report = check_linear_backward(
        lambda dy, x, w: (dy @ w, dy.T @ x, dy.sum(axis=0) + 1)
    )
    failed_with(report, "(db, one example")


# --- max_pool2d_backward --------------------------------------------------------------


def every_maximum(dy, x, k):
    n, c, oh, ow = dy.shape
    windows = x[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k)
    is_max = windows == windows.max(axis=(3, 5), keepdims=True)
    dx = np.zeros_like(x)
    dx[:, :, : oh * k, : ow * k] = (is_max * dy[:, :, :, None, :, None]).reshape(
        n, c, oh * k, ow * k
    )
    return dx


def top_left(dy, x, k):
    dx = np.zeros_like(x)
    dx[:, :, : dy.shape[2] * k : k, : dy.shape[3] * k : k] = dy
    return dx


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda dy, x, k: numpy_backend.avg_pool2d_backward(dy, x, k), "average"),
        (every_maximum, "only the first one in row-major order"),
        (top_left, "top-left"),
        (lambda dy, x, k: dy.copy(), "not that of dy"),
    ],
)
def test_max_pool2d_backward_hints(wrong, hint):
    failed_with(check_max_pool2d_backward(wrong), "Hint:", hint)


def test_max_pool2d_backward_cases_cover_ties_and_leftovers():
    report = check_max_pool2d_backward(every_maximum)
    failed_with(report, "case 2 of 5", "appears twice")

    def full_grid_only(dy, x, k):
        return max_pool2d_backward(dy, x, k)[..., : x.shape[2] // k * k, :]

    failed_with(check_max_pool2d_backward(full_grid_only), "last row and column")


# --- confusion_matrix -----------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda t, p, k: confusion_matrix(t, p, k).T, "swapped"),
        (lambda t, p, k: confusion_matrix(t, p, k) / len(t), "counts, not fractions"),
        (
            lambda t, p, k: confusion_matrix(t, p, max(t.max(), p.max()) + 1),
            "never occurs",
        ),
    ],
)
def test_confusion_matrix_hints(wrong, hint):
    failed_with(check_confusion_matrix(wrong), "Hint:", hint)


def test_confusion_matrix_accepts_any_number_type_for_counts():
    assert check_confusion_matrix(
        lambda t, p, k: confusion_matrix(t, p, k).astype(np.float32)
    ).passed
    assert check_confusion_matrix(
        lambda t, p, k: confusion_matrix(t, p, k).astype(np.int32)
    ).passed


# --- sgd_momentum_step ----------------------------------------------------------------


def uphill(param, grad, velocity, lr, momentum, weight_decay):
    new_param, velocity = sgd_momentum_step(
        param, grad, velocity, lr, momentum, weight_decay
    )
    return param + (param - new_param), velocity


def old_velocity(param, grad, velocity, lr, momentum, weight_decay):
    _, new_velocity = sgd_momentum_step(
        param, grad, velocity, lr, momentum, weight_decay
    )
    return param - lr * velocity, new_velocity


def no_weight_decay(param, grad, velocity, lr, momentum, weight_decay):
    return sgd_momentum_step(param, grad, velocity, lr, momentum, 0.0)


def other_convention(param, grad, velocity, lr, momentum, weight_decay):
    velocity = momentum * velocity - lr * (grad + weight_decay * param)
    return param + velocity, velocity


def no_momentum(param, grad, velocity, lr, momentum, weight_decay):
    return sgd_momentum_step(param, grad, velocity, lr, 0.0, weight_decay)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (uphill, ["new_param", "uphill"]),
        (old_velocity, ["new_param", "old velocity"]),
        (no_momentum, ["new_param"]),
        (other_convention, ["new_param", "other convention"]),
    ],
)
def test_sgd_momentum_step_hints(wrong, words):
    failed_with(check_sgd_momentum_step(wrong), *words)


def test_sgd_momentum_step_hints_on_the_velocity():
    def right_param(fn):
        def step(param, grad, velocity, lr, momentum, weight_decay):
            return sgd_momentum_step(param, grad, velocity, lr, momentum, weight_decay)[
                0
            ], fn(param, grad, velocity, lr, momentum, weight_decay)[1]

        return step

    failed_with(
        check_sgd_momentum_step(right_param(no_weight_decay)), "weight decay is missing"
    )
    failed_with(
        check_sgd_momentum_step(right_param(no_momentum)), "old velocity is missing"
    )
    failed_with(
        check_sgd_momentum_step(right_param(other_convention)),
        "new_velocity",
        "other convention",
    )


# --- softmax_cross_entropy ------------------------------------------------------------


def unstable(logits, labels):
    exps = np.exp(logits)
    probs = exps / exps.sum(axis=1, keepdims=True)
    n = len(labels)
    dlogits = probs.copy()
    dlogits[np.arange(n), labels] -= 1
    return -np.log(probs[np.arange(n), labels]).mean(), dlogits / n


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda z, y: (
                softmax_cross_entropy(z, y)[0] * len(y),
                softmax_cross_entropy(z, y)[1],
            ),
            ["loss", "summed"],
        ),
        (
            lambda z, y: (
                softmax_cross_entropy(z, y)[0],
                softmax_cross_entropy(z, y)[1] * len(y),
            ),
            ["dlogits", "divided by N"],
        ),
        (
            lambda z, y: (
                softmax_cross_entropy(z, y)[0],
                -softmax_cross_entropy(z, y)[1],
            ),
            ["dlogits", "sign"],
        ),
        (
            lambda z, y: (
                softmax_cross_entropy(z, y)[0],
                softmax_cross_entropy(z, y)[1] + np.eye(z.shape[1])[y] / len(y),
            ),
            ["one-hot"],
        ),
    ],
)
def test_softmax_cross_entropy_hints(wrong, words):
    failed_with(check_softmax_cross_entropy(wrong), "Hint:", *words)


def test_softmax_cross_entropy_overflow_hint():
    with np.errstate(over="ignore", invalid="ignore"):
        failed_with(check_softmax_cross_entropy(unstable), "large logits", "maximum")


def test_softmax_cross_entropy_accepts_a_0d_array_loss():
    assert check_softmax_cross_entropy(
        lambda z, y: (
            np.asarray(softmax_cross_entropy(z, y)[0]),
            softmax_cross_entropy(z, y)[1],
        )
    ).passed
