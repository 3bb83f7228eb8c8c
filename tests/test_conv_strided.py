"""The strided kernel of cnnlab.backends.numba.kernels.conv_rows against the references.

conv_rows copies each output's kernel-row pieces (KW pixels, channels last) into
row-phase planes and adds KH BLAS products, each reading its plane at a row offset;
work items are blocks of output rows. The shapes below put the padding, the
plane seams, the row blocks and strides larger than the kernel (rows and columns
never read) into small cases; the bench layer is checked against the NumPy
backend's im2col.
"""

from unittest import mock

import numpy as np
import pytest
import reference
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.backends import numpy as numpy_backend
from cnnlab.backends.numba.kernels import conv_rows


def random(shape, seed, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def rows(x, w, b, stride, padding, workers, dtype=np.float64):
    x, w, b = (np.ascontiguousarray(a, dtype) for a in (x, w, b))
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    out = np.full(
        (n, f, (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1), np.nan, dtype
    )
    conv_rows.conv2d(x, w, b, (sh, sw), (ph, pw), out, workers)
    return out


def assert_close(out, expected, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        out, expected, rtol=tol, atol=tol * np.abs(expected).max()
    )


# (x shape, w shape, stride, padding)
SHAPES = {
    "bench layer, small": ((2, 8, 14, 14), (16, 8, 3, 3), 2, 1),
    "odd sizes": ((2, 5, 7, 9), (3, 5, 3, 3), 2, 1),
    "N=1, C=1": ((1, 1, 6, 5), (2, 1, 3, 3), 2, 1),
    "no padding": ((3, 13, 11, 10), (7, 13, 3, 3), 2, 0),
    "stride (2, 1)": ((2, 3, 9, 8), (4, 3, 3, 3), (2, 1), 1),
    "stride (1, 2)": ((2, 3, 8, 9), (4, 3, 3, 3), (1, 2), (0, 2)),
    "stride 1": ((2, 4, 6, 7), (3, 4, 3, 3), 1, 1),
    "stride 3, padding 2": ((1, 4, 10, 11), (5, 4, 3, 3), 3, 2),
    "stride 4 > kernel": ((2, 3, 13, 12), (2, 3, 3, 3), 4, 1),
    "5x5 stride 2": ((2, 2, 13, 12), (3, 2, 5, 5), 2, 2),
    "2x4 kernel, asymmetric": ((1, 3, 7, 9), (2, 3, 2, 4), (3, 2), (1, 0)),
    "1x1 stride 2": ((3, 5, 9, 8), (4, 5, 1, 1), 2, 0),
    "kernel as wide as the padded input": ((1, 2, 3, 1), (2, 2, 3, 3), 2, 1),
    "window mostly on the padding": ((1, 2, 1, 2), (3, 2, 3, 3), 3, 2),
}


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", SHAPES.values(), ids=SHAPES.keys())
def test_rows_kernel_matches_reference(case, dtype, workers):
    x_shape, w_shape, stride, padding = case
    x, w, b = (
        random(x_shape, 0, dtype),
        random(w_shape, 1, dtype),
        random(w_shape[0], 2, dtype),
    )
    copies = [a.copy() for a in (x, w, b)]
    out = rows(x, w, b, stride, padding, workers, dtype)
    assert_close(out, reference.conv2d(x, w, b, pair(stride), pair(padding)), dtype)
    for before, after in zip(copies, (x, w, b), strict=True):
        np.testing.assert_array_equal(before, after)  # inputs never modified


@st.composite
def conv_problems(draw):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h, wd = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    kh = draw(st.integers(1, min(5, h + 2 * padding[0])))
    kw = draw(st.integers(1, min(5, wd + 2 * padding[1])))
    return (n, c, h, wd), (f, c, kh, kw), stride, padding


@settings(max_examples=60, deadline=None)
@given(
    problem=conv_problems(),
    workers=st.integers(1, 3),
    item_bytes=st.sampled_from([1, 3000, conv_rows.MAX_ITEM_BYTES]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 2),
)
def test_rows_kernel_on_any_shape_and_row_blocks(
    problem, workers, item_bytes, dtype, seed
):
    """Any stride, padding and kernel size; items of one row up to whole images."""
    x_shape, w_shape, stride, padding = problem
    x, w, b = (
        random(x_shape, seed, dtype),
        random(w_shape, seed + 1, dtype),
        random(w_shape[0], 2, dtype),
    )
    with mock.patch.object(conv_rows, "MAX_ITEM_BYTES", item_bytes):
        out = rows(x, w, b, stride, padding, workers, dtype)
    assert_close(out, reference.conv2d(x, w, b, stride, padding), dtype)


def test_block_rows_split_images_evenly_and_stay_under_the_cap():
    w_shape, out_shape = (4, 3, 3, 3), (1, 4, 9, 8)
    # one image, two threads: two blocks of rows
    assert conv_rows.block_rows(w_shape, out_shape, (2, 2), 2, 8) == 5
    # an output row: 2 plane rows of 8 points * 3 pixels * 3 channels, and 8 * 4
    # results, in float64; room for 2 rows cuts 9 rows into 5 blocks of 2 or 1
    row_bytes = (2 * 3 * 3 + 4) * 8 * 8
    with mock.patch.object(conv_rows, "MAX_ITEM_BYTES", row_bytes * 2):
        assert conv_rows.block_rows(w_shape, out_shape, (2, 2), 1, 8) == 2
    with mock.patch.object(conv_rows, "MAX_ITEM_BYTES", row_bytes * 4):
        assert conv_rows.block_rows(w_shape, out_shape, (2, 2), 1, 8) == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_kernel_on_the_bench_layer_matches_numpy_im2col(dtype):
    """The bench case's channels and filters (fewer images), on two threads."""
    x, w, b = (
        random((2, 64, 56, 56), 6, dtype),
        random((128, 64, 3, 3), 7, dtype),
        random(128, 8, dtype),
    )
    out = rows(x, w, b, 2, 1, 2, dtype)
    expected = numpy_backend.conv2d(x.astype(np.float64), w, b, 2, 1)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        out, expected, rtol=tol, atol=tol * np.abs(expected).max()
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_land_where_pytorch_puts_them(dtype):
    """BLAS multiplies the padding's zeros too: an inf weight over the padding gives
    0 * inf = NaN, and a NaN or inf input reaches every output whose window holds it."""
    x, w = np.ones((1, 2, 7, 7), dtype), np.ones((3, 2, 3, 3), dtype)
    x[0, 0, 2, 4] = np.nan
    x[0, 1, 5, 1] = np.inf
    w[1, 1, 0, 0] = np.inf
    w[2, 0, 2, 2] = -np.inf
    out = rows(x, w, np.zeros(3), 2, 1, 2, dtype)
    with np.errstate(invalid="ignore"):  # the reference's own 0 * inf
        expected = reference.conv2d(x, w, None, (2, 2), (1, 1))
    for mask in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(mask(out), mask(expected))
    finite = np.isfinite(expected)
    assert np.isnan(out).any() and not finite.all() and finite.any()
    assert_close(out[finite], expected[finite], dtype)


def test_a_call_after_nan_inputs_is_finite():
    """The result buffer is reused from call to call: the first product overwrites
    it (beta = 0), so NaN of an earlier call never leaks into a later one."""
    x, w, b = (
        random((2, 4, 9, 9), 9, np.float32),
        random((3, 4, 3, 3), 10, np.float32),
        np.zeros(3),
    )
    nan_x = np.full_like(x, np.nan)
    for _ in range(3):
        assert np.isnan(rows(nan_x, w, b, 2, 1, 2, np.float32)).all()
        out = rows(x, w, b, 2, 1, 2, np.float32)
        assert np.isfinite(out).all()
        assert_close(out, reference.conv2d(x, w, b, (2, 2), (1, 1)), np.float32)
