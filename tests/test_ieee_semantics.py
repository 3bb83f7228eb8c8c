"""NaN, inf and overflow as in PyTorch, on every backend and every Numba kernel.

Hypothesis draws small inputs, puts NaN, +inf and -inf at random places of
x, w and b, and compares each operator with ``reference.py``: which outputs
are NaN, +inf or -inf must match exactly, the finite ones to rounding. The
Numba backend runs once with its own chooser and once per kernel, forced,
in one thread and on all threads (the chooser's thresholds patched), so a fast
path that breaks the pattern cannot hide behind the shapes it is chosen for.
The rules were read from PyTorch 2.13's CPU kernels and confirmed there:
max pooling keeps a value greater than the running maximum or NaN (so a
window with a NaN gives NaN, and its gradient goes to the last NaN), a mean
sums in the data's dtype and then divides, and a convolution multiplies the
zeros it pads with (0 * inf is NaN).
"""

import contextlib
import dataclasses
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlab
import reference
from cnnlab.backends.numba import backward as numba_backward
from cnnlab.backends import numpy as numpy_backend
from cnnlab.backends import python as python_backend
from cnnlab.backends.numba import chooser
from cnnlab.backends.numba.kernels import winograd

nb = cnnlab.backend("numba")
BACKENDS = {name: cnnlab.backend(name) for name in cnnlab.BACKENDS}
GRADS = {"python": python_backend, "numpy": numpy_backend, "numba": numba_backward}
SPECIALS = [np.nan, np.inf, -np.inf]
DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)


def threads(on: bool):
    """Force the Numba operators (forward and backward) onto all threads, or one."""
    limit = 0 if on else 2**62
    stack = contextlib.ExitStack()
    stack.enter_context(patched_thresholds(parallel_min_work=limit, parallel_min_work_backward=limit))
    return stack


def patched_thresholds(**changes):
    """The chooser's thresholds with ``changes``, from the moment this is called."""
    return mock.patch.object(chooser, "THRESHOLDS", dataclasses.replace(chooser.THRESHOLDS, **changes))


def with_specials(rng, a, most=3):
    """A copy of a with up to ``most`` elements replaced by NaN, +inf or -inf."""
    a = a.copy()
    flat = a.reshape(-1)
    for _ in range(rng.integers(0, most + 1)):
        flat[rng.integers(flat.size)] = SPECIALS[rng.integers(3)]
    return a


def assert_same_ieee(actual, expected, dtype, tol=None):
    """Same NaN, +inf and -inf places; finite values equal to rounding."""
    expected = np.asarray(expected)
    assert actual.dtype == dtype and actual.shape == expected.shape
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(
            kind(actual), kind(expected), err_msg=kind.__name__
        )
    finite = np.isfinite(expected)
    tol = tol if tol is not None else (1e-4 if dtype == np.float32 else 1e-10)
    scale = 1 + np.abs(expected[finite]).max(initial=0)
    np.testing.assert_allclose(
        actual[finite], expected[finite], rtol=tol, atol=tol * scale
    )


# ---------------------------------------------------------------------------
# conv2d


def forced(kernel_name):
    """nb.conv2d with its chooser replaced: it runs ``kernel_name`` for every shape."""
    return mock.patch.object(chooser, "choose_conv_kernel", lambda *args, **kwargs: kernel_name)


# Each kernel with the shapes it accepts: the 3x3 kernels need stride 1 and 3x3.
CONV_PATHS = {
    "python": ("python", None, None),
    "numpy": ("numpy", None, None),
    "numba chooser": ("numba", None, False),
    "numba general": ("numba", "general", False),
    "numba general threads": ("numba", "general", True),
    "numba direct": ("numba", "direct", False),
    "numba direct threads": ("numba", "direct", True),
    "numba blocked": ("numba", "blocked", True),
    "numba filter": ("numba", "filter", False),
    "numba filter threads": ("numba", "filter", True),
    "numba pointwise": ("numba", "pointwise", False),
    "numba pointwise threads": ("numba", "pointwise", True),
    "numba im2col": ("numba", "im2col", False),
    "numba im2col threads": ("numba", "im2col", True),
}
THREE_BY_THREE = {"blocked", "filter"}
ONE_BY_ONE = {"pointwise"}


@st.composite
def conv_cases(draw, three_by_three=False, strided=True, one_by_one=False):
    dtype = draw(DTYPES)
    rng = np.random.default_rng(draw(SEEDS))
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    if three_by_three:
        kh = kw = 3
        h, w = (draw(st.integers(max(1, 3 - 2 * p), 8)) for p in padding)
    elif one_by_one:
        kh = kw = 1
        h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    else:
        h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
        kh, kw = (
            draw(st.integers(1, h + 2 * padding[0])),
            draw(st.integers(1, w + 2 * padding[1])),
        )
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if strided else (1, 1)
    x = with_specials(rng, rng.standard_normal((n, c, h, w)).astype(dtype))
    wt = with_specials(rng, rng.standard_normal((f, c, kh, kw)).astype(dtype))
    b = (
        with_specials(rng, rng.standard_normal(f).astype(dtype), most=1)
        if draw(st.booleans())
        else None
    )
    return x, wt, b, stride, padding


@pytest.mark.parametrize("path", CONV_PATHS.values(), ids=CONV_PATHS.keys())
@settings(max_examples=25)
@given(data=st.data())
def test_conv2d_nan_and_inf_as_in_pytorch(path, data):
    backend, kernel, on_threads = path
    three_by_three = kernel in THREE_BY_THREE
    x, w, b, stride, padding = data.draw(
        conv_cases(
            three_by_three,
            strided=kernel in (None, "general", "pointwise", "im2col"),
            one_by_one=kernel in ONE_BY_ONE,
        )
    )
    with contextlib.ExitStack() as stack:
        if kernel is not None:
            stack.enter_context(forced(kernel))
        if on_threads is not None:
            stack.enter_context(threads(on_threads))
        out = BACKENDS[backend].conv2d(x, w, b, stride, padding)
    assert_same_ieee(out, reference.conv2d(x, w, b, stride, padding), x.dtype)


def test_inf_weight_over_padding_is_nan_on_every_backend():
    x, w = np.ones((1, 1, 1, 1)), np.full((1, 1, 3, 3), np.inf)
    for name, ops in BACKENDS.items():
        assert np.isnan(ops.conv2d(x, w, padding=1)).all(), name
    with forced("filter"):
        assert np.isnan(nb.conv2d(x, w, padding=1)).all()
        # Only the taps on the padding are inf: finite inputs, and still NaN.
        w_edge = np.zeros((1, 1, 3, 3))
        w_edge[0, 0, 0, 0] = np.inf
        out = nb.conv2d(np.ones((1, 1, 4, 4)), w_edge, padding=1)
    np.testing.assert_array_equal(
        np.isnan(out),
        np.isnan(reference.conv2d(np.ones((1, 1, 4, 4)), w_edge, None, (1, 1), (1, 1))),
    )


WINOGRAD_FOR_SMALL_SHAPES = {
    "winograd_min_channels": 1,
    "winograd_max_channels": 99,
    "winograd_min_filters": 1,
    "winograd_min_points": 1,
}


def winograd_for_small_shapes():
    """The chooser takes Winograd for any stride-1 3x3 convolution its values allow."""
    return patched_thresholds(**WINOGRAD_FOR_SMALL_SHAPES)


@settings(max_examples=30)
@given(case=conv_cases(three_by_three=True, strided=False))
def test_winograd_shapes_keep_nan_and_inf_where_direct_puts_them(case):
    x, w, b, stride, padding = case
    with (
        winograd_for_small_shapes(),
        mock.patch.object(
            winograd, "conv2d_3x3", wraps=winograd.conv2d_3x3
        ) as winograd_calls,
    ):
        out = nb.conv2d(x, w, b, stride, padding)
    finite = all(np.isfinite(a).all() for a in (x, w, b) if a is not None)
    assert winograd_calls.called == finite  # Winograd only when every value is finite
    assert_same_ieee(out, reference.conv2d(x, w, b, stride, padding), x.dtype)


def test_winograd_on_its_target_shape_keeps_a_nan_in_its_window():
    """The issue's example: one NaN pixel made 1600 outputs NaN; its window has 576."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    assert chooser.choose_conv_kernel(x.shape, w.shape, (1, 1)) == "winograd"
    x[0, 0, 20, 20] = np.nan
    bad = ~np.isfinite(nb.conv2d(x, w, padding=1))
    expected = np.zeros_like(bad)
    expected[0, :, 19:22, 19:22] = (
        True  # the 3x3 outputs whose window holds the pixel, for every filter
    )
    np.testing.assert_array_equal(bad, expected)


def test_values_that_could_overflow_winograd_take_a_direct_kernel():
    """Large finite values: direct sums stay finite, Winograd's transforms would not."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((1, 1, 8, 8)) * 1e37).astype(
        np.float32
    )  # outputs up to 6e37 < 3.4e38
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    b = np.zeros(2, np.float32)
    assert not np.isfinite(
        winograd.conv2d_3x3(x, w, b, (1, 1))
    ).all()  # the hazard is real
    assert not chooser.winograd_stays_finite(x, w, b)
    with winograd_for_small_shapes():
        out = nb.conv2d(x, w, b, padding=1)
    assert np.isfinite(out).all()
    assert_same_ieee(out, reference.conv2d(x, w, b, (1, 1), (1, 1)), np.float32)


# ---------------------------------------------------------------------------
# Pooling: max and mean, forward and backward.


def channels_last(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@st.composite
def pool_cases(draw, huge=False):
    """x with specials (or float32 values near 3e38), a window, and a memory layout."""
    dtype = np.float32 if huge else draw(DTYPES)
    rng = np.random.default_rng(draw(SEEDS))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    if draw(st.booleans()) and h >= 2 and w >= 2:
        kernel, stride = (2, 2), None  # the 2x2 fast kernels
    else:
        kernel = (draw(st.integers(1, h)), draw(st.integers(1, w)))
        stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    if huge:
        x = (rng.uniform(-1, 1, (n, c, h, w)) * 3.4e38).astype(dtype)
    else:
        # Few distinct values, so windows hold ties as well as specials.
        x = with_specials(rng, rng.integers(-2, 3, (n, c, h, w)).astype(dtype), most=6)
    if draw(st.booleans()):
        x = channels_last(x)
    return x, kernel, stride


POOL_PATHS = {
    "python": ("python", None),
    "numpy": ("numpy", None),
    "numba": ("numba", False),
    "numba threads": ("numba", True),
}


def pool_kernel(x, kernel, stride, take_max):
    return chooser.choose_pool_kernel(x, kernel, stride or kernel, take_max)


@pytest.mark.parametrize("path", POOL_PATHS.values(), ids=POOL_PATHS.keys())
@settings(max_examples=40)
@given(case=pool_cases())
def test_max_pool2d_nan_and_inf_as_in_pytorch(path, case):
    backend, on_threads = path
    x, kernel, stride = case
    with threads(bool(on_threads)):
        out = BACKENDS[backend].max_pool2d(x, kernel, stride)
    expected = reference.pool2d(
        x, kernel, stride or kernel, np.max
    )  # np.max is NaN if any is
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("path", POOL_PATHS.values(), ids=POOL_PATHS.keys())
@settings(max_examples=40)
@given(case=pool_cases(), huge=st.booleans())
def test_avg_pool2d_nan_inf_and_overflow_as_in_pytorch(path, case, huge):
    backend, on_threads = path
    x, kernel, stride = case
    with threads(bool(on_threads)):
        out = BACKENDS[backend].avg_pool2d(x, kernel, stride)
    assert_same_ieee(
        out, reference.avg_pool2d(x, kernel, stride or kernel), x.dtype, tol=1e-6
    )


@pytest.mark.parametrize("path", POOL_PATHS.values(), ids=POOL_PATHS.keys())
@settings(max_examples=40)
@given(case=pool_cases(huge=True))
def test_avg_pool2d_near_float32_max_overflows_as_in_pytorch(path, case):
    backend, on_threads = path
    x, kernel, stride = case
    with threads(bool(on_threads)):
        out = BACKENDS[backend].avg_pool2d(x, kernel, stride)
    assert_same_ieee(
        out, reference.avg_pool2d(x, kernel, stride or kernel), np.float32, tol=1e-6
    )


def test_every_pool_kernel_is_drawn():
    """The strategies above reach each kernel of the Numba pooling chooser."""
    x = np.ones((1, 2, 4, 4), np.float32)
    kernels = {
        pool_kernel(a, k, s, True)
        for a in (x, channels_last(x))
        for k, s in (((2, 2), None), ((3, 2), (1, 1)))
    }
    assert kernels == {"max_2x2_nchw", "max_2x2_nhwc", "nchw", "nhwc"}


def test_the_issue_example_max_pool2d_with_a_nan():
    x = np.array([1.0, np.nan, 3.0, 2.0]).reshape(1, 1, 2, 2)
    for name, ops in BACKENDS.items():
        for layout in (x, channels_last(x)):
            assert np.isnan(ops.max_pool2d(layout, 2)).all(), name
            np.testing.assert_array_equal(
                ops.max_pool2d_backward(np.ones((1, 1, 1, 1)), layout, 2).ravel(),
                [0, 1, 0, 0],
                err_msg=name,
            )


GRAD_PATHS = {
    "python": ("python", None),
    "numpy": ("numpy", None),
    "numba": ("numba", False),
    "numba threads": ("numba", True),
}


@pytest.mark.parametrize("path", GRAD_PATHS.values(), ids=GRAD_PATHS.keys())
@settings(max_examples=40)
@given(case=pool_cases(), seed=SEEDS)
def test_max_pool2d_backward_sends_dy_where_pytorch_does(path, case, seed):
    """To the first of equal maxima, or the last NaN of the window."""
    backend, on_threads = path
    x, kernel, stride = case
    fwd = reference.pool2d(x, kernel, stride or kernel, np.max)
    dy = np.random.default_rng(seed).standard_normal(fwd.shape).astype(x.dtype)
    with threads(bool(on_threads)):
        dx = GRADS[backend].max_pool2d_backward(dy, x, kernel, stride)
    assert dx.dtype == x.dtype
    expected = reference.max_pool2d_backward(dy, x, kernel, stride or kernel)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# relu, softmax, linear


@st.composite
def special_arrays(draw, ndim=None):
    rng = np.random.default_rng(draw(SEEDS))
    shape = tuple(
        draw(st.lists(st.integers(1, 5), min_size=ndim or 1, max_size=ndim or 3))
    )
    return with_specials(rng, rng.standard_normal(shape).astype(draw(DTYPES)), most=4)


backends = pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())


@backends
@given(x=special_arrays())
def test_relu_nan_and_inf(ops, x):
    assert_same_ieee(ops.relu(x), reference.relu(x), x.dtype)


@pytest.mark.parametrize("g", GRADS.values(), ids=GRADS.keys())
@given(x=special_arrays(), seed=SEEDS)
def test_relu_backward_passes_dy_at_nan_as_in_pytorch(g, x, seed):
    dy = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    assert_same_ieee(g.relu_backward(dy, x), reference.relu_backward(dy, x), x.dtype)


@backends
@given(x=special_arrays(), data=st.data())
def test_softmax_nan_and_inf(ops, x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    with np.errstate(invalid="ignore"):
        expected = reference.softmax(x, axis)
    assert_same_ieee(ops.softmax(x, axis=axis), expected, x.dtype)


@backends
@given(data=st.data())
def test_linear_nan_and_inf(ops, data):
    x, w = data.draw(special_arrays(ndim=2)), data.draw(special_arrays(ndim=2))
    w = np.resize(w, (w.shape[0], x.shape[1])).astype(x.dtype)
    with np.errstate(invalid="ignore"):
        expected = reference.linear(x, w)
        out = ops.linear(x, w)
    assert_same_ieee(out, expected, x.dtype)
