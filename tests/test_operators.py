"""Every backend against the independent reference, on shapes drawn by hypothesis."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnlab
import reference

BACKENDS = [cnnlab.backend(name) for name in cnnlab.BACKENDS]
backends = pytest.mark.parametrize("ops", BACKENDS, ids=cnnlab.BACKENDS)
DTYPES = st.sampled_from([np.float32, np.float64])


def assert_matches(actual, expected, dtype):
    assert actual.dtype == dtype, f"expected dtype {dtype}, got {actual.dtype}"
    assert actual.shape == expected.shape
    # float32 sums of up to a few hundred terms of size ~1: 1e-4 relative is ample.
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def pairs(low, high):
    return st.tuples(st.integers(low, high), st.integers(low, high))


@st.composite
def conv_cases(draw):
    dtype = draw(DTYPES)
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(pairs(1, 7))
    padding = draw(pairs(0, 2))
    stride = draw(pairs(1, 3))
    # Kernel sizes from 1x1 up to the whole padded input.
    kh = draw(st.integers(1, h + 2 * padding[0]))
    kw = draw(st.integers(1, w + 2 * padding[1]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if draw(st.booleans()) else None
    # Exercise both spellings of stride and padding: an int or an (h, w) pair.
    as_int = draw(st.booleans()) and stride[0] == stride[1] and padding[0] == padding[1]
    return x, wt, b, stride, padding, (stride[0] if as_int else stride), (padding[0] if as_int else padding)


@backends
@given(case=conv_cases())
def test_conv2d_matches_reference(ops, case):
    x, w, b, stride, padding, stride_arg, padding_arg = case
    out = ops.conv2d(x, w, b, stride=stride_arg, padding=padding_arg)
    assert_matches(out, reference.conv2d(x, w, b, stride, padding), x.dtype)


@st.composite
def pool_cases(draw):
    dtype = draw(DTYPES)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(pairs(1, 8))
    kernel = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    stride = draw(st.none() | pairs(1, 3))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((n, c, h, w)).astype(dtype)
    return x, kernel, stride


@backends
@given(case=pool_cases())
def test_max_pool2d_matches_reference(ops, case):
    x, kernel, stride = case
    expected = reference.pool2d(x, kernel, stride or kernel, np.max)
    assert_matches(ops.max_pool2d(x, kernel, stride), expected, x.dtype)


@backends
@given(case=pool_cases())
def test_avg_pool2d_matches_reference(ops, case):
    x, kernel, stride = case
    expected = reference.pool2d(x, kernel, stride or kernel, np.mean)
    assert_matches(ops.avg_pool2d(x, kernel, stride), expected, x.dtype)


@st.composite
def arrays(draw, min_dims=1, max_dims=4):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=min_dims, max_size=max_dims)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.standard_normal(shape) * 10).astype(draw(DTYPES))


@backends
@given(x=arrays())
def test_relu_matches_reference(ops, x):
    assert_matches(ops.relu(x), reference.relu(x), x.dtype)


@backends
@given(x=arrays(), data=st.data())
def test_softmax_matches_reference(ops, x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert_matches(ops.softmax(x, axis=axis), reference.softmax(x, axis), x.dtype)


@backends
@given(data=st.data())
def test_linear_matches_reference(ops, data):
    dtype = data.draw(DTYPES)
    n, n_in, n_out = (data.draw(st.integers(1, 6)) for _ in range(3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if data.draw(st.booleans()) else None
    assert_matches(ops.linear(x, w, b), reference.linear(x, w, b), dtype)


@backends
def test_classic_vertical_edge_example(ops):
    x = np.arange(1, 26, dtype=np.float64).reshape(1, 1, 5, 5)
    w = np.array([[1, 0, -1]] * 3, dtype=np.float64).reshape(1, 1, 3, 3)
    # Each row rises by 1 per column, so every window gives 3 * (a - (a + 2)) = -6.
    np.testing.assert_array_equal(ops.conv2d(x, w), np.full((1, 1, 3, 3), -6.0))


@backends
def test_softmax_is_stable_for_large_logits(ops):
    for dtype in (np.float32, np.float64):
        x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]], dtype=dtype)
        out = ops.softmax(x)
        assert np.all(np.isfinite(out))
        assert_matches(out, reference.softmax(x - x.max(axis=1, keepdims=True)), dtype)


@backends
def test_integer_input_is_computed_in_float64(ops):
    x = np.arange(16).reshape(1, 1, 4, 4)
    w = np.ones((2, 1, 2, 2), dtype=np.int32)
    out = ops.conv2d(x, w, stride=2)
    assert_matches(out, reference.conv2d(x, w, None, (2, 2), (0, 0)), np.float64)
    assert ops.max_pool2d(x, 2).dtype == np.float64


@backends
def test_mixed_precision_gives_float64(ops):
    x = np.ones((1, 1, 3, 3), np.float32)
    w = np.ones((1, 1, 3, 3), np.float64)
    assert ops.conv2d(x, w).dtype == np.float64
    assert ops.linear(x.reshape(1, 9), w.reshape(1, 9)).dtype == np.float64


def views():
    """Non-contiguous inputs: reversed axes, strided slices, a transposed copy's view."""
    base = np.random.default_rng(1).standard_normal((3, 4, 9, 10))
    return {
        "negative strides": base[::-1, :, ::-1, ::-1],
        "strided slice": base[:, ::2, 1::2, ::3],
        "transposed": base.transpose(0, 1, 3, 2),
    }


@backends
@pytest.mark.parametrize("view", views().values(), ids=views().keys())
def test_non_contiguous_inputs(ops, view):
    w = np.random.default_rng(2).standard_normal((2, view.shape[1], 2, 3))[:, :, ::-1]
    assert_matches(ops.conv2d(view, w, padding=1), reference.conv2d(view, w, None, (1, 1), (1, 1)), np.float64)
    assert_matches(ops.max_pool2d(view, 2), reference.pool2d(view, (2, 2), (2, 2), np.max), np.float64)
    assert_matches(ops.relu(view), reference.relu(view), np.float64)
    assert_matches(ops.softmax(view, axis=1), reference.softmax(view, 1), np.float64)
    flat = view.reshape(view.shape[0], -1)[:, ::2]
    wl = np.ones((3, flat.shape[1]))[:, ::-1]
    assert_matches(ops.linear(flat, wl), reference.linear(flat, wl), np.float64)


@backends
def test_inputs_are_never_modified(ops):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    wl, bl = rng.standard_normal((5, 12)), rng.standard_normal(5)
    originals = [a.copy() for a in (x, w, b, wl, bl)]
    ops.conv2d(x, w, b, stride=2, padding=1)
    ops.max_pool2d(x, 2)
    ops.avg_pool2d(x, 3, 1)
    ops.relu(x)
    ops.softmax(x, axis=1)
    ops.linear(x.reshape(18, 12), wl, bl)
    for before, after in zip(originals, (x, w, b, wl, bl)):
        np.testing.assert_array_equal(before, after)


@backends
def test_relu_keeps_nan_like_numpy(ops):
    out = ops.relu(np.array([np.nan, -1.0, 2.0]))
    np.testing.assert_array_equal(out, [np.nan, 0.0, 2.0])
