"""The numba backend's small-work paths: serial twins of the threaded kernels, several small images per work
item in the direct convolution, the grid of the stride-1 conv2d_backward, and the 2x2 max-pool backward."""
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
from cnnlab.backends.numba.kernels import conv_backward
from cnnlab.backends import numpy as numpy_backend

nb = cnnlab.backend("numba")


def random(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@contextlib.contextmanager
def threads(on):
    """Force the forward and backward operators to use threads always (on) or never."""
    with pytest.MonkeyPatch.context() as patch:
        limit = 0 if on else 2**62
        thresholds = dataclasses.replace(
            chooser.THRESHOLDS, parallel_min_work=limit, parallel_min_work_backward=limit
        )
        patch.setattr(chooser, "THRESHOLDS", thresholds)
        yield


def test_use_threads_decides_by_work():
    assert not chooser.use_threads(chooser.THRESHOLDS.parallel_min_work - 1)
    assert chooser.use_threads(chooser.THRESHOLDS.parallel_min_work)


@pytest.mark.parametrize("on", [False, True], ids=["serial", "threads"])
@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding",
    [
        ((32, 1, 8, 8), (8, 1, 3, 3), 1, 1),  # chapter 11's first layer: 16 images per work item
        ((32, 8, 4, 4), (16, 8, 3, 3), 1, 1),  # its second layer: all 32 in one item
        ((37, 3, 5, 6), (4, 3, 3, 3), 1, 1),  # a batch that does not split evenly
        ((9, 2, 5, 5), (3, 2, 2, 4), 1, (2, 1)),  # another kernel size, uneven padding
        ((3, 2, 60, 50), (2, 2, 3, 3), 1, 1),  # big images: row blocks of one image
        ((5, 2, 7, 9), (3, 2, 3, 3), 2, 1),  # the general kernel
    ],
)
def test_conv2d_serial_and_threaded_match_reference(on, x_shape, w_shape, stride, padding):
    x, w, b = random(x_shape, 0), random(w_shape, 1), random(w_shape[0], 2)
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    with threads(on):
        out = nb.conv2d(x, w, b, stride, padding)
    np.testing.assert_allclose(out, reference.conv2d(x, w, b, pair(stride), pair(padding)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("on", [False, True], ids=["serial", "threads"])
def test_pooling_linear_and_softmax_serial_and_threaded(on):
    x = random((6, 5, 7, 9), 3)
    cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    xl, wl, bl = random((7, 11), 4), random((5, 11), 5), random(5, 6)
    with threads(on):
        for k, s in ((2, None), (3, 1)):
            for data in (x, cl):
                window, steps = (k, k), (s or k, s or k)
                np.testing.assert_allclose(nb.max_pool2d(data, k, s), reference.pool2d(x, window, steps, np.max),
                                           rtol=1e-6)
                np.testing.assert_allclose(nb.avg_pool2d(data, k, s), reference.pool2d(x, window, steps, np.mean),
                                           rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(nb.linear(xl, wl, bl), xl.astype(np.float64) @ wl.T + bl, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(nb.softmax(xl), cnnlab.backend("numpy").softmax(xl), rtol=1e-6)


@st.composite
def stride1_cases(draw):
    n, c, f = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 9))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    kh, kw = draw(st.integers(1, h + 2 * ph)), draw(st.integers(1, w + 2 * pw))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw))
    dy = rng.standard_normal((n, f, h + 2 * ph - kh + 1, w + 2 * pw - kw + 1))
    return dy, x, wt, (ph, pw)


@given(case=stride1_cases(), on=st.booleans())
def test_grid_backward_matches_numpy(case, on):
    """Padding wider than the kernel makes outputs wider than the input: the grid must leave room for them."""
    dy, x, w, padding = case
    with threads(on):
        result = numba_backward.conv2d_backward(dy, x, w, 1, padding)
    for ours, theirs in zip(result, numpy_backend.conv2d_backward(dy, x, w, 1, padding)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


def test_grid_layout_shares_the_padding():
    grid = conv_backward.grid_layout((32, 8, 4, 4), (16, 8, 3, 3), (1, 1))
    assert (grid.row, grid.image) == (5, 25)  # 5x5 positions per 4x4 image, not 6x6
    last_output = 31 * 25 + 3 * 5 + 4
    assert grid.top == 6 and grid.n_grid % conv_backward.GRID_ALIGN == 0
    assert last_output <= grid.n_grid < last_output + conv_backward.GRID_ALIGN
    assert grid.length == grid.n_grid + 2 * 5 + 2
    wide = conv_backward.grid_layout((1, 1, 2, 2), (1, 1, 1, 1), (2, 2))  # 6x6 outputs of a 2x2 image
    assert wide.row >= 6 and wide.image >= 6 * wide.row


@pytest.mark.parametrize("on", [False, True], ids=["serial", "threads"])
@pytest.mark.parametrize("shape", [(32, 8, 8, 8), (3, 2, 7, 9), (2, 1, 1, 5)])
def test_max_pool_2x2_backward_matches_numpy_with_ties(on, shape):
    if shape[2] < 2:
        shape = (2, 1, 2, 5)
    for x in (random(shape, 7), np.round(random(shape, 8)), np.zeros(shape, np.float32)):
        dy = random((shape[0], shape[1], shape[2] // 2, shape[3] // 2), 9)
        with threads(on):
            result = numba_backward.max_pool2d_backward(dy, x, 2)
        np.testing.assert_array_equal(result, numpy_backend.max_pool2d_backward(dy, x, 2))
