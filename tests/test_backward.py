"""Backward operators: true gradients of the forward operators, on every backend.

Each gradient is checked against central finite differences in float64 of a
random projection of the forward output, ``L = sum(forward(x) * r)``, whose
gradient with respect to the output is ``r``: the backward operator given
``dy = r`` must return dL/dx. The forward operators here are the independent
ones of ``reference.py``, which ``test_operators.py`` checks cnnlab's against.
Every input element is perturbed, so shapes are tiny (and the python backend
stays quick). Larger shapes compare numba with numpy, serial and threaded.
"""
import contextlib
import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnlab
import reference
from cnnlab.backends.numba import backward as numba_backward
from cnnlab.backends.numba import chooser
from cnnlab.backends import numpy as numpy_backend
from cnnlab.validation import output_size
from helpers import numerical_gradient


GRADS = {name: cnnlab.backend(name) for name in cnnlab.BACKENDS}
grads = pytest.mark.parametrize("g", GRADS.values(), ids=GRADS.keys())
SEEDS = st.integers(0, 2**32 - 1)


def pairs(low, high):
    return st.tuples(st.integers(low, high), st.integers(low, high))


def assert_gradient(actual, expected, tol=1e-7):
    assert actual.dtype == np.float64 and actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def distinct(rng, shape):
    """Values at least 0.5 apart in random order: no ties, so a small step never changes which is the max."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.5 - np.prod(shape) / 4


@st.composite
def conv_cases(draw, batch=2, channels=2, size=5):
    n, c, f = draw(st.integers(1, batch)), draw(st.integers(1, channels)), draw(st.integers(1, channels))
    h, w = draw(pairs(1, size))
    padding = draw(pairs(0, 2))
    stride = draw(pairs(1, 3))
    # Kernel sizes from 1x1 up to the whole padded input; stride > kernel leaves inputs no window reads.
    kh = draw(st.integers(1, h + 2 * padding[0]))
    kw = draw(st.integers(1, w + 2 * padding[1]))
    rng = np.random.default_rng(draw(SEEDS))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((f, c, kh, kw))
    out_h, out_w = (output_size(*sizes) for sizes in zip((h, w), (kh, kw), stride, padding))
    dy = rng.standard_normal((n, f, out_h, out_w))
    return x, wt, stride, padding, dy


@grads
@given(case=conv_cases())
def test_conv2d_backward_is_the_gradient(g, case):
    x, w, stride, padding, r = case
    b = np.zeros(w.shape[0])

    def loss():
        return np.sum(reference.conv2d(x, w, b, stride, padding) * r)

    expected = [numerical_gradient(loss, a) for a in (x, w, b)]
    # Spell stride and padding as ints when both pairs allow it.
    if stride[0] == stride[1] and padding[0] == padding[1]:
        stride, padding = stride[0], padding[0]
    for actual, numeric in zip(g.conv2d_backward(r, x, w, stride, padding), expected):
        assert_gradient(actual, numeric)


@st.composite
def pool_cases(draw, batch=2, channels=2, size=6):
    n, c = draw(st.integers(1, batch)), draw(st.integers(1, channels))
    h, w = draw(pairs(1, size))
    kernel = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    stride = draw(st.none() | pairs(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    x = distinct(rng, (n, c, h, w))
    out_h, out_w = (output_size(*sizes) for sizes in zip((h, w), kernel, stride or kernel))
    dy = rng.standard_normal((n, c, out_h, out_w))
    return x, kernel, stride, dy


@grads
@pytest.mark.parametrize("pool, reduce", [("max_pool2d", np.max), ("avg_pool2d", np.mean)])
@given(case=pool_cases())
def test_pool2d_backward_is_the_gradient(g, pool, reduce, case):
    x, kernel, stride, r = case
    expected = numerical_gradient(lambda: np.sum(reference.pool2d(x, kernel, stride or kernel, reduce) * r), x)
    assert_gradient(getattr(g, f"{pool}_backward")(r, x, kernel, stride), expected)


@grads
@given(seed=SEEDS, shape=st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_relu_backward_is_the_gradient(g, seed, shape):
    rng = np.random.default_rng(seed)
    # Keep away from the kink at 0, where the derivative is not defined.
    x = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 2.0, shape)
    r = rng.standard_normal(shape)
    expected = numerical_gradient(lambda: np.sum(reference.relu(x) * r), x)
    assert_gradient(g.relu_backward(r, x), expected)


@grads
@given(seed=SEEDS, n=st.integers(1, 4), n_in=st.integers(1, 5), n_out=st.integers(1, 5))
def test_linear_backward_is_the_gradient(g, seed, n, n_in, n_out):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((n, n_in)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    r = rng.standard_normal((n, n_out))

    def loss():
        return np.sum(reference.linear(x, w, b) * r)

    expected = [numerical_gradient(loss, a) for a in (x, w, b)]
    for actual, numeric in zip(g.linear_backward(r, x, w), expected):
        assert_gradient(actual, numeric)


def cross_entropy(logits, labels):
    """Mean -log softmax(logits)[n, labels[n]], from the independent reference softmax."""
    return -np.mean(np.log(reference.softmax(logits, axis=1)[np.arange(len(labels)), labels]))


@grads
@given(seed=SEEDS, n=st.integers(1, 5), k=st.integers(1, 6), scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_softmax_cross_entropy_is_the_loss_and_its_gradient(g, seed, n, k, scale):
    rng = np.random.default_rng(seed)
    logits, labels = rng.standard_normal((n, k)) * scale, rng.integers(0, k, n)
    expected = numerical_gradient(lambda: cross_entropy(logits, labels), logits, eps=1e-6)
    loss, dlogits = g.softmax_cross_entropy(logits, labels)
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss, cross_entropy(logits, labels), rtol=1e-12, atol=1e-12)
    assert_gradient(dlogits, expected, tol=1e-6)


@grads
def test_softmax_cross_entropy_is_stable_for_large_logits(g):
    logits = np.array([[1e4, 1e4 + 1, 1e4 - 2], [-1e4, 0.0, 1e4], [3e4, 3e4, 3e4]])
    labels = np.array([0, 1, 2])
    shifted = logits - logits.max(axis=1, keepdims=True)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        loss, dlogits = g.softmax_cross_entropy(logits.astype(dtype), labels)
        loss_ref, dlogits_ref = numpy_backend.softmax_cross_entropy(shifted, labels)
        assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
        assert loss.dtype == dlogits.dtype == dtype
        # The middle row's label has probability e^-1e4: its loss is 1e4, not inf.
        np.testing.assert_allclose(loss, loss_ref, rtol=tol)
        np.testing.assert_allclose(dlogits, dlogits_ref, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------
# numpy and numba agree on larger shapes, serial and threaded.


threads = pytest.mark.parametrize("min_work", [2**62, 0], ids=["serial", "threads"])


@contextlib.contextmanager
def parallel_min_work(min_work):
    """Make numba_backward run its serial kernels only (2**62), or its threaded kernels even on small inputs (0)."""
    with pytest.MonkeyPatch.context() as patch:
        thresholds = dataclasses.replace(chooser.THRESHOLDS, parallel_min_work_backward=min_work)
        patch.setattr(chooser, "THRESHOLDS", thresholds)
        yield


def assert_same(numba_result, numpy_result, dtype=np.float64):
    for a, b in zip(numba_result, numpy_result):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@threads
@given(data=st.data())
def test_conv2d_backward_numba_matches_numpy(min_work, data):
    x, w, stride, padding, dy = data.draw(conv_cases(batch=4, channels=5, size=12))
    with parallel_min_work(min_work):
        result = numba_backward.conv2d_backward(dy, x, w, stride, padding)
    assert_same(result, numpy_backend.conv2d_backward(dy, x, w, stride, padding))


@threads
@given(data=st.data(), ties=st.booleans())
def test_pool2d_backward_numba_matches_numpy(min_work, data, ties):
    x, kernel, stride, dy = data.draw(pool_cases(batch=4, channels=4, size=12))
    if ties:  # a handful of distinct values: most windows hold several maxima
        x = np.round(x / x.size * 3)
    for pool in ("max_pool2d_backward", "avg_pool2d_backward"):
        with parallel_min_work(min_work):
            result = getattr(numba_backward, pool)(dy, x, kernel, stride)
        assert_same([result], [getattr(numpy_backend, pool)(dy, x, kernel, stride)])


@grads
def test_max_pool2d_backward_ties_go_to_the_first_maximum(g):
    x = np.array([[3.0, 1.0, 3.0], [3.0, 3.0, 0.0], [1.0, 3.0, 3.0]]).reshape(1, 1, 3, 3)
    # Four overlapping 2x2 windows, each with two or three 3s; each window's gradient goes to its first 3 in
    # row-major order: (0, 0), (0, 2), (1, 0) and (1, 1).
    dy = np.array([[1.0, 10.0], [100.0, 1000.0]]).reshape(1, 1, 2, 2)
    expected = np.array([[1.0, 0.0, 10.0], [100.0, 1000.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 1, 3, 3)
    # When the whole window ties, its first element gets the gradient.
    all_tied = np.array([[1.0, 10.0, 0.0], [100.0, 1000.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(g.max_pool2d_backward(dy, x, 2, stride=1), expected)
    np.testing.assert_array_equal(g.max_pool2d_backward(dy, np.zeros_like(x), 2, stride=1), all_tied)


@grads
def test_relu_backward_is_zero_at_zero(g):
    x, dy = np.array([-1.0, 0.0, -0.0, 2.0]), np.array([5.0, 6.0, 7.0, 8.0])
    np.testing.assert_array_equal(g.relu_backward(dy, x), [0.0, 0.0, 0.0, 8.0])


@threads
def test_float32_layer_numba_matches_numpy(min_work):
    """A conv-relu-pool layer's backward pass at batch 32, in float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8, 8, 8)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    y = rng.standard_normal((32, 16, 8, 8)).astype(np.float32)
    dpooled = rng.standard_normal((32, 16, 4, 4)).astype(np.float32)
    results = {}
    for g in (numba_backward, numpy_backend):
        with parallel_min_work(min_work):
            dy = g.relu_backward(g.max_pool2d_backward(dpooled, y, 2), y)
            results[g] = (dy, *g.conv2d_backward(dy, x, w, padding=1))
    for a, b in zip(results[numba_backward], results[numpy_backend]):
        assert a.dtype == b.dtype == np.float32
        # float32 sums of up to 2048 terms of size ~1
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------------------
# dtypes, untouched inputs, non-contiguous views.


def backward_calls(dtype, dy_dtype=None):
    """(operator, args, kwargs) for one call of every backward operator on small inputs of ``dtype``."""
    dy_dtype = dy_dtype or dtype
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 6, 6)).astype(dtype), rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    xl, wl = rng.standard_normal((5, 12)).astype(dtype), rng.standard_normal((7, 12)).astype(dtype)
    return [
        ("conv2d_backward", (np.ones((2, 4, 3, 3), dy_dtype), x, w), dict(stride=2, padding=1)),
        ("max_pool2d_backward", (np.ones((2, 3, 2, 2), dy_dtype), x, 3), {}),
        ("avg_pool2d_backward", (np.ones((2, 3, 4, 4), dy_dtype), x, 3, 1), {}),
        ("relu_backward", (np.ones(x.shape, dy_dtype), x), {}),
        ("linear_backward", (np.ones((5, 7), dy_dtype), xl, wl), {}),
        ("softmax_cross_entropy", (xl, np.arange(5)), {}),
    ]


def outputs(result):
    return result if isinstance(result, tuple) else (result,)


@grads
def test_float32_in_gives_float32_out(g):
    for name, args, kwargs in backward_calls(np.float32):
        assert all(a.dtype == np.float32 for a in outputs(getattr(g, name)(*args, **kwargs))), name
    for name, args, kwargs in backward_calls(np.float32, dy_dtype=np.float64)[:-1]:
        assert all(a.dtype == np.float64 for a in outputs(getattr(g, name)(*args, **kwargs))), name


@grads
def test_inputs_are_never_modified(g):
    for name, args, kwargs in backward_calls(np.float32):
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        originals = [a.copy() for a in arrays]
        for a in arrays:
            a.flags.writeable = False  # any write into an input now raises
        getattr(g, name)(*args, **kwargs)
        for before, after in zip(originals, arrays):
            np.testing.assert_array_equal(before, after)


@grads
def test_non_contiguous_inputs(g):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 9, 10))[::-1, :, ::-1, ::2]  # (3, 4, 9, 5): negative and gapped strides
    w = rng.standard_normal((2, 4, 3, 3))[:, :, ::-1].transpose(0, 1, 3, 2)
    dy = rng.standard_normal((3, 2, 9, 6))[..., ::-2]  # (3, 2, 9, 3), the output shape for padding (1, 0)
    dp = rng.standard_normal((3, 4, 4, 4))[..., ::-2]  # (3, 4, 4, 2), the 2x2 pooling output shape
    xl, wl, dl = x.reshape(3, -1)[:, ::3], rng.standard_normal((60, 6)).T, dp.reshape(3, -1)[:, ::6]
    labels = np.array([0, 1, 59], np.uint8)
    calls = {
        "conv2d_backward": ((dy, x, w), dict(padding=(1, 0))),
        "max_pool2d_backward": ((dp, x, 2), {}),
        "avg_pool2d_backward": ((dp, x, 2), {}),
        "relu_backward": ((x, x), {}),
        "linear_backward": ((dl, xl, wl), {}),
        "softmax_cross_entropy": ((xl, labels), {}),
    }
    for name, (args, kwargs) in calls.items():
        contiguous = [np.ascontiguousarray(a) for a in args if isinstance(a, np.ndarray)]
        expected = getattr(numpy_backend, name)(*contiguous, *args[len(contiguous) :], **kwargs)
        assert_same(outputs(getattr(g, name)(*args, **kwargs)), outputs(expected))


# ---------------------------------------------------------------------------
# Bad input: the same rules and messages as the forward operators.

X, W = np.ones((2, 3, 6, 6)), np.ones((4, 3, 3, 3))

BAD_CALLS = {
    "conv2d dy spatial shape": (
        lambda g: g.conv2d_backward(np.ones((2, 4, 5, 5)), X, W, stride=1, padding=1),
        ValueError,
        r"dy must have the conv2d output shape \(2, 4, 6, 6\) for x \(2, 3, 6, 6\), w \(4, 3, 3, 3\), "
        r"stride \(1, 1\), padding \(1, 1\), got shape \(2, 4, 5, 5\)",
    ),
    "conv2d dy 3-d": (
        lambda g: g.conv2d_backward(np.ones((4, 4, 4)), X, W),
        ValueError,
        r"dy must have the conv2d output shape \(2, 4, 4, 4\) .* got shape \(4, 4, 4\)",
    ),
    "conv2d channel mismatch": (
        lambda g: g.conv2d_backward(np.ones((2, 4, 4, 4)), X, np.ones((4, 2, 3, 3))),
        ValueError,
        r"x has 3 channels .* w expects 2",
    ),
    "conv2d string dy": (
        lambda g: g.conv2d_backward(np.full((2, 4, 4, 4), "a"), X, W),
        TypeError,
        r"dy must hold real numbers, got dtype <U1",
    ),
    "conv2d float stride": (
        lambda g: g.conv2d_backward(np.ones((2, 4, 4, 4)), X, W, stride=1.5),
        TypeError,
        r"stride must be an int or a pair of ints, got 1.5",
    ),
    "max_pool2d dy shape": (
        lambda g: g.max_pool2d_backward(np.ones((2, 3, 2, 2)), X, 2),
        ValueError,
        r"dy must have the pooling output shape \(2, 3, 3, 3\) for x \(2, 3, 6, 6\), kernel_size \(2, 2\), "
        r"stride \(2, 2\), got shape \(2, 3, 2, 2\)",
    ),
    "avg_pool2d window too big": (
        lambda g: g.avg_pool2d_backward(np.ones((2, 3, 1, 1)), X, 7),
        ValueError,
        r"pooling window \(7, 7\) is larger than the input 6x6",
    ),
    "relu dy shape": (
        lambda g: g.relu_backward(np.ones((2, 3)), np.ones((3, 2))),
        ValueError,
        r"dy must have the relu output shape \(3, 2\) for x \(3, 2\), got shape \(2, 3\)",
    ),
    "linear dy shape": (
        lambda g: g.linear_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((5, 3))),
        ValueError,
        r"dy must have the linear output shape \(2, 5\) for x \(2, 3\), w \(5, 3\), got shape \(2, 4\)",
    ),
    "labels out of range": (
        lambda g: g.softmax_cross_entropy(np.ones((4, 3)), [0, 3, -1, 2]),
        ValueError,
        r"labels must be in \[0, 3\) for logits \(4, 3\), got \[3, -1\]",
    ),
    "labels float": (
        lambda g: g.softmax_cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0])),
        TypeError,
        r"labels must be integers, got dtype float64",
    ),
    "labels bool": (
        lambda g: g.softmax_cross_entropy(np.ones((2, 3)), np.array([True, False])),
        TypeError,
        r"labels must be integers, got dtype bool",
    ),
    "labels wrong length": (
        lambda g: g.softmax_cross_entropy(np.ones((3, 4)), [0, 1]),
        ValueError,
        r"labels must have shape \(3,\), one per row of logits \(3, 4\), got shape \(2,\)",
    ),
    "labels 2-d": (
        lambda g: g.softmax_cross_entropy(np.ones((2, 4)), [[0], [1]]),
        ValueError,
        r"labels must have shape \(2,\), .* got shape \(2, 1\)",
    ),
    "logits 1-d": (
        lambda g: g.softmax_cross_entropy(np.ones(4), [0]),
        ValueError,
        r"logits must have 2 dimensions, got shape \(4,\)",
    ),
}


@grads
@pytest.mark.parametrize("call, error, message", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_names_the_problem(g, call, error, message):
    with pytest.raises(error, match=message):
        call(g)
