"""Checkers of chapters 6 and 7: a correct answer passes, each mistake gets its hint."""

import numpy as np
import pytest
from helpers import failed_with, hinted, lenient, stub  # noqa: F401 - lenient is a fixture
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view

import cnnlab
from cnnlab.exercises import (
    check_avg_pool2d,
    check_avg_pool_relu,
    check_flat_features,
    check_fold_batchnorm,
    check_lenet_forward,
    check_lenet_parameters,
    check_log_softmax,
)
from cnnlab.nn import lenet

NUMPY = cnnlab.backend("numpy")


pytestmark = pytest.mark.usefixtures("lenient")


def passed(report):
    assert report.passed and report.status == "passed", report.message


def returns_none(*args, **kwargs):
    return None


def crashes(*args, **kwargs):
    raise ZeroDivisionError("division by zero")


ALL_CHECKERS = [
    check_log_softmax,
    check_fold_batchnorm,
    check_avg_pool2d,
    check_avg_pool_relu,
    check_flat_features,
    check_lenet_parameters,
    check_lenet_forward,
]


@pytest.mark.parametrize("checker", ALL_CHECKERS, ids=lambda c: c.__name__)
def test_not_implemented_is_reported_as_such(checker):
    report = checker(stub)
    assert not report.passed and report.status == "not implemented"
    assert "not implemented" in report.message


@pytest.mark.parametrize("checker", ALL_CHECKERS, ids=lambda c: c.__name__)
def test_none_and_exceptions_are_reported(checker):
    failed_with(checker(returns_none), "returned None", "return")
    failed_with(checker(crashes), "it raised ZeroDivisionError")


@pytest.mark.parametrize("checker", ALL_CHECKERS, ids=lambda c: c.__name__)
def test_strict_mode_raises(checker, monkeypatch):
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "1")
    with pytest.raises(AssertionError, match="not implemented"):
        checker(stub)


# --- Exercise 6.1: log-softmax --------------------------------------------------------


def log_softmax(x):
    top = x.max(axis=-1, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=-1, keepdims=True))


def log_softmax_naive(x):
    return np.log(np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True))


def log_of_softmax(x):
    return np.log(NUMPY.softmax(x))


def log_softmax_global_max(x):
    shifted = x - x.max()
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_forgot_max(x):
    top = x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x - top).sum(axis=-1, keepdims=True))


def log_softmax_axis0(x):
    top = x.max(axis=0, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=0, keepdims=True))


def log_softmax_no_keepdims(x):
    top = x.max(axis=-1, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=-1))


def test_log_softmax_correct_passes():
    passed(check_log_softmax(log_softmax))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (log_softmax_naive, "exp overflowed"),
        (log_of_softmax, "you took the log of the probabilities"),
        (log_softmax_global_max, "maximum of the whole array"),
        (log_softmax_forgot_max, "too large by the row's maximum"),
        (NUMPY.softmax, "you returned the probabilities"),
        (log_softmax_axis0, "each column instead of each row"),
        (log_softmax_no_keepdims, "keepdims=True"),
    ],
)
def test_log_softmax_mistakes_get_their_hint(mistake, phrase):
    hinted(check_log_softmax(mistake), phrase)


def test_log_softmax_float64_for_float32_input_is_caught():
    hinted(
        check_log_softmax(lambda x: log_softmax(x.astype(np.float64))),
        "float32 in should give float32 out",
    )


# --- Exercise 6.2: folding batch normalization into the convolution -------------------


def fold_batchnorm(
    w,
    b,
    gamma,
    beta,
    mean,
    var,
    eps,
    *,
    eps_in=True,
    sqrt=True,
    use_gamma=True,
    axis=0,
    bias="right",
):
    """The folding, right by default; each keyword option makes one common mistake."""
    scale = (gamma if use_gamma else 1.0) / (np.sqrt if sqrt else np.asarray)(
        var + (eps if eps_in else 0.0)
    )
    w_folded = w * (
        scale[:, None, None, None] if axis == 0 else scale[None, :, None, None]
    )
    b_folded = {
        "right": (b - mean) * scale + beta,
        "no beta": (b - mean) * scale,
        "mean unscaled": b * scale + beta - mean,
        "no conv bias": beta - mean * scale,
        "no mean": b * scale + beta,
        "unscaled": b + beta - mean,
    }[bias]
    return w_folded, b_folded


def folded_in_place(w, b, gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    w *= scale[:, None, None, None]
    return w, (b - mean) * scale + beta


def test_fold_batchnorm_correct_passes():
    passed(check_fold_batchnorm(fold_batchnorm))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (
            lambda w, b, *rest: (w, fold_batchnorm(w, b, *rest)[1]),
            "the weights must change too",
        ),
        (lambda *args: fold_batchnorm(*args, axis=1), "you scaled the input channels"),
        (lambda *args: fold_batchnorm(*args, eps_in=False), "you left out eps"),
        (lambda *args: fold_batchnorm(*args, sqrt=False), "divided by the variance"),
        (
            lambda *args: fold_batchnorm(*args, use_gamma=False),
            "multiply by gamma as well",
        ),
        (lambda *args: fold_batchnorm(*args, bias="no beta"), "you left out beta"),
        (
            lambda *args: fold_batchnorm(*args, bias="mean unscaled"),
            "the mean is subtracted before the scaling",
        ),
        (
            lambda *args: fold_batchnorm(*args, bias="no conv bias"),
            "own bias b passes through",
        ),
        (
            lambda *args: fold_batchnorm(*args, bias="no mean"),
            "forgot to subtract the mean",
        ),
        (
            lambda *args: fold_batchnorm(*args, bias="unscaled"),
            "the bias must be scaled like the weights",
        ),
        (
            lambda w, b, gamma, beta, mean, var, eps: (
                w * (gamma / np.sqrt(var + eps)),
                b,
            ),
            "scale[:, None, None, None]",
        ),
    ],
)
def test_fold_batchnorm_mistakes_get_their_hint(mistake, phrase):
    hinted(check_fold_batchnorm(mistake), phrase)


def test_fold_batchnorm_output_problems_are_named():
    failed_with(check_fold_batchnorm(folded_in_place), "it modified its input (w)")
    failed_with(
        check_fold_batchnorm(lambda *args: fold_batchnorm(*args)[0]),
        "must return a tuple (w_folded, b_folded)",
    )
    report = failed_with(
        check_fold_batchnorm(
            lambda *args: tuple(a.astype(np.float64) for a in fold_batchnorm(*args))
        ),
        "float32 in should give float32 out",
    )
    assert "w_folded" in report.message


# --- Exercise 6.3: average pooling with a stride --------------------------------------


def avg_pool2d(x, k, stride):
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride].mean(
        axis=(-2, -1)
    )


def avg_pool2d_loops(x, k, stride, extra_window=0):
    n, c, h, w = x.shape
    out_h, out_w = (
        (h - k) // stride + 1 - extra_window,
        (w - k) // stride + 1 - extra_window,
    )
    out = np.zeros((n, c, out_h, out_w), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = x[
                :, :, i * stride : i * stride + k, j * stride : j * stride + k
            ].mean(axis=(-2, -1))
    return out


def test_avg_pool2d_correct_passes():
    passed(check_avg_pool2d(avg_pool2d))
    passed(check_avg_pool2d(avg_pool2d_loops))


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (lambda x, k, s: NUMPY.max_pool2d(x, k, s), "you took the maximum"),
        (lambda x, k, s: avg_pool2d(x, k, s) * k * k, "you summed each window"),
        (lambda x, k, s: avg_pool2d(x, k, s) * k, "you divided by k"),
        (lambda x, k, s: avg_pool2d(x, k, k), "the size of pooling with stride"),
        (lambda x, k, s: avg_pool2d(x, k, 1), "the size of pooling with stride 1"),
        (lambda x, k, s: avg_pool2d_loops(x, k, s, extra_window=1), "off by one"),
    ],
)
def test_avg_pool2d_mistakes_get_their_hint(mistake, phrase):
    hinted(check_avg_pool2d(mistake), phrase)


# --- Exercise 6.4: fused ReLU + average pooling ---------------------------------------


@njit
def _avg_pool_relu_kernel(x, out):
    n_batch, channels, out_h, out_w = out.shape
    for n in range(n_batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    total = np.float32(0.0)
                    for di in range(2):
                        for dj in range(2):
                            v = x[n, c, 2 * i + di, 2 * j + dj]
                            total += v if v > 0 else np.float32(0.0)
                    out[n, c, i, j] = total * np.float32(0.25)


def avg_pool_relu(x):
    n, c, h, w = x.shape
    out = np.empty((n, c, h // 2, w // 2), x.dtype)
    _avg_pool_relu_kernel(x, out)
    return out


def test_avg_pool_relu_fused_kernel_passes():
    passed(check_avg_pool_relu(avg_pool_relu))


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (
            lambda x: NUMPY.relu(NUMPY.avg_pool2d(x, 2)),
            "you applied ReLU after averaging",
        ),
        (lambda x: NUMPY.avg_pool2d(x, 2), "apply ReLU, max(v, 0), to every value"),
        (lambda x: NUMPY.relu(NUMPY.max_pool2d(x, 2)), "this is max pooling with ReLU"),
        (lambda x: NUMPY.avg_pool2d(NUMPY.relu(x), 2, 1), "off by one"),
    ],
)
def test_avg_pool_relu_mistakes_get_their_hint(mistake, phrase):
    hinted(check_avg_pool_relu(mistake), phrase)


def test_avg_pool_relu_correct_but_slow_is_not_enough():
    report = failed_with(
        check_avg_pool_relu(lambda x: NUMPY.avg_pool2d(np.maximum(x, 0), 2)),
        "not fast enough",
        "the goal is 2x",
    )
    assert "correct on all 4 cases" in report.message


# --- Exercise 7.1: features that reach the linear layer -------------------------------


def flat_features(image_size, shrink=4, channels=16, divide=lambda a, b: a // b):
    side = image_size
    for _ in range(2):
        side = divide(side - shrink, 2)
    return channels * side * side


def test_flat_features_correct_passes():
    passed(check_flat_features(flat_features))


def test_flat_features_agrees_with_lenet_summary():
    shapes = lenet(image_size=32).output_shapes((1, 1, 32, 32))
    assert flat_features(32) == shapes[6][1] == 400


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (
            lambda s: flat_features(s, channels=1),
            "the second convolution has 16 channels",
        ),
        (lambda s: flat_features(s, shrink=0), "shrinks the map by 4"),
        (lambda s: flat_features(s, shrink=5), "off by one"),
        (lambda s: flat_features(s, shrink=2), "follow the shape layer by layer"),
    ],
)
def test_flat_features_mistakes_get_their_hint(mistake, phrase):
    hinted(check_flat_features(mistake), phrase)


def test_flat_features_true_division_is_caught():
    failed_with(
        check_flat_features(lambda s: flat_features(s, divide=lambda a, b: a / b)),
        "floor division",
    )


# --- Exercise 7.2: LeNet's parameters -------------------------------------------------


def count_parameters(
    in_channels, image_size, n_classes, bias=True, conv1_channels=None, conv2_channels=6
):
    conv1 = 6 * (in_channels if conv1_channels is None else conv1_channels) * 5 * 5
    conv2 = 16 * conv2_channels * 5 * 5
    linear = flat_features(image_size) * n_classes
    return conv1 + conv2 + linear + (6 + 16 + n_classes if bias else 0)


def test_lenet_parameters_correct_passes():
    passed(check_lenet_parameters(count_parameters))
    assert count_parameters(1, 32, 10) == lenet(image_size=32).n_parameters == 6582


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (
            lambda c, s, k: count_parameters(c, s, k, bias=False),
            "you left out the biases",
        ),
        (
            lambda c, s, k: count_parameters(c, s, k, conv1_channels=1),
            "sees all 3 input channels",
        ),
        (
            lambda c, s, k: count_parameters(c, s, k, conv2_channels=1),
            "sees all 6 maps of the first",
        ),
        (lambda c, s, k: count_parameters(c, s, k) + 1, "add up, layer by layer"),
    ],
)
def test_lenet_parameters_mistakes_get_their_hint(mistake, phrase):
    hinted(check_lenet_parameters(mistake), phrase)


# --- Exercise 7.3: a forward pass from backend functions ------------------------------


def lenet_forward(
    x,
    params,
    ops,
    relu=True,
    bias=True,
    pool="max",
    softmax=True,
    flatten=True,
    key_prefix="",
):
    for layer in ("0", "3"):
        b = params[f"{key_prefix}{layer}.b"] if bias else None
        x = ops.conv2d(x, params[f"{key_prefix}{layer}.w"], b)
        x = ops.relu(x) if relu else x
        x = ops.max_pool2d(x, 2) if pool == "max" else ops.avg_pool2d(x, 2)
    x = x.reshape(x.shape[0], -1) if flatten else x
    logits = ops.linear(x, params["7.w"], params["7.b"] if bias else None)
    return ops.softmax(logits) if softmax else logits


def test_lenet_forward_correct_passes():
    passed(check_lenet_forward(lenet_forward))


def test_lenet_forward_matches_the_model():
    model = lenet(image_size=16, seed=3)
    x = np.random.default_rng(0).random((2, 1, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(
        lenet_forward(x, model.parameters(), NUMPY), model(x), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (dict(softmax=False), "finish with ops.softmax"),
        (dict(relu=False), "apply ops.relu after each convolution"),
        (dict(bias=False), "pass the biases too"),
        (dict(pool="avg"), "ops.max_pool2d(x, 2)"),
        (dict(key_prefix="conv"), "keyed by layer number and name"),
        (dict(flatten=False), "flatten with"),
    ],
)
def test_lenet_forward_mistakes_get_their_hint(mistake, phrase):
    hinted(
        check_lenet_forward(
            lambda x, params, ops: lenet_forward(x, params, ops, **mistake)
        ),
        phrase,
    )


def test_lenet_forward_failure_lists_shapes_not_weights():
    report = failed_with(
        check_lenet_forward(
            lambda x, params, ops: lenet_forward(x, params, ops, softmax=False)
        )
    )
    assert "'0.w': array of shape (6, 1, 5, 5)" in report.message
    assert "cnnlab.backend('numpy')" in report.message
    assert len(report.message) < 3000
