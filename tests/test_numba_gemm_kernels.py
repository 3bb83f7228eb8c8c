"""The GEMM kernels (pointwise 1x1; im2col, on phase images) forced on awkward shapes,
against the reference.

conv_gemm computes a 1x1 convolution as one BLAS matrix product per image, conv_phases
any other as one per block of output rows; forcing the chooser (as the IEEE tests do)
runs them on every shape they accept: pointwise on any 1x1 kernel, im2col on anything.
"""
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnlab
import reference
from cnnlab.backends.numba import chooser
from cnnlab.backends.numba.kernels import conv_phases

nb = cnnlab.backend("numba")


def random(shape, seed, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def forced(kernel_name):
    return mock.patch.object(chooser, "choose_conv_kernel", lambda *args, **kwargs: kernel_name)


def threads(on):
    return mock.patch.object(chooser, "use_threads", lambda work, backward=False: on)


# (x shape, w shape, stride, padding)
SHAPES = {
    "odd sizes": ((2, 5, 7, 9), (3, 5, 3, 3), 1, 1),
    "N=1, C=1": ((1, 1, 6, 5), (2, 1, 3, 3), 2, 1),
    "C not a multiple of anything": ((3, 13, 11, 10), (7, 13, 3, 3), 2, 0),
    "stride (2, 1)": ((2, 3, 9, 8), (4, 3, 3, 3), (2, 1), 1),
    "stride (1, 2)": ((2, 3, 8, 9), (4, 3, 3, 3), (1, 2), (0, 2)),
    "stride 3, padding 2": ((1, 4, 10, 11), (5, 4, 3, 3), 3, 2),
    "5x5 stride 2": ((2, 2, 13, 12), (3, 2, 5, 5), 2, 2),
    "2x4 kernel, asymmetric": ((1, 3, 7, 9), (2, 3, 2, 4), (3, 2), (1, 0)),
    "kernel as wide as the padded input": ((1, 2, 3, 1), (2, 2, 3, 3), 2, 1),
    "window mostly on the padding": ((1, 2, 1, 2), (3, 2, 3, 3), 3, 2),
    "one filter": ((2, 6, 8, 8), (1, 6, 3, 3), 2, 1),
    "1x1": ((2, 7, 6, 5), (3, 7, 1, 1), 1, 0),
    "1x1 stride 2": ((3, 5, 9, 8), (4, 5, 1, 1), 2, 0),
    "1x1 stride (1, 3), padding 1": ((1, 9, 5, 7), (6, 9, 1, 1), (1, 3), 1),
    "1x1 padding 2": ((2, 3, 4, 4), (2, 3, 1, 1), 1, 2),
    "1x1, one pixel, one channel": ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0),
}


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


# each kernel with the shapes it accepts: pointwise takes 1x1 kernels only
PATHS = {
    f"{kernel} {name}": (kernel, case)
    for kernel in ("pointwise", "im2col")
    for name, case in SHAPES.items()
    if kernel == "im2col" or case[1][2:] == (1, 1)
}


@pytest.mark.parametrize("on_threads", [False, True], ids=["serial", "threads"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_gemm_kernels_match_reference(path, dtype, on_threads):
    kernel, (x_shape, w_shape, stride, padding) = path
    x, w, b = random(x_shape, 0, dtype), random(w_shape, 1, dtype), random(w_shape[0], 2, dtype)
    copies = [a.copy() for a in (x, w, b)]
    with forced(kernel), threads(on_threads):
        out = nb.conv2d(x, w, b, stride, padding)
    expected = reference.conv2d(x, w, b, pair(stride), pair(padding))
    assert out.shape == expected.shape and out.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.abs(expected).max())
    for before, after in zip(copies, (x, w, b)):
        np.testing.assert_array_equal(before, after)  # inputs never modified


def test_gemm_kernels_on_non_contiguous_inputs_without_bias():
    x = random((3, 10, 9, 12), 3, np.float32)[:, ::2, ::-1, 1:]
    w = random((4, 5, 3, 3), 4, np.float32).transpose(0, 1, 3, 2)
    with forced("im2col"):
        out = nb.conv2d(x, w, None, 2, 1)
    expected = reference.conv2d(x, w, None, (2, 2), (1, 1))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    w1 = random((6, 5, 1, 1), 5, np.float32)
    with forced("pointwise"):
        out = nb.conv2d(x, w1, None, 2, 1)
    expected = reference.conv2d(x, w1, None, (2, 2), (1, 1))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("kernel", ["pointwise", "im2col", "rows"])
def test_gemm_kernels_on_the_bench_shapes_match_a_direct_kernel(kernel):
    """The bench shapes, on the threads, against the plain kernels (the reference is slow)."""
    if kernel == "pointwise":
        x_shape, w_shape, stride, padding, plain = (8, 256, 56, 56), (64, 256, 1, 1), 1, 0, "direct"
    else:
        x_shape, w_shape, stride, padding, plain = (8, 64, 56, 56), (128, 64, 3, 3), 2, 1, "general"
    x, w, b = random(x_shape, 6, np.float32), random(w_shape, 7, np.float32), random(w_shape[0], 8, np.float32)
    if kernel != "im2col":  # the static table's choice; im2col is the tuner's other candidate
        assert chooser.choose_conv_kernel(x_shape, w_shape, pair(stride)) == kernel
    with forced(kernel):
        out = nb.conv2d(x, w, b, stride, padding)
    with forced(plain):
        expected = nb.conv2d(x, w, b, stride, padding)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("kernel", ["pointwise", "im2col"])
def test_inf_weight_over_the_padding_is_nan_as_in_pytorch(kernel):
    """BLAS multiplies the zeros of the padding too: 0 * inf is NaN, as in a direct sum."""
    kh = 1 if kernel == "pointwise" else 3
    x, w = np.ones((1, 1, 4, 4)), np.zeros((1, 1, kh, kh))
    w[0, 0, 0, 0] = np.inf
    x[0, 0, 2, 2] = np.nan
    with forced(kernel):
        out = nb.conv2d(x, w, None, 2, 1)
    expected = reference.conv2d(x, w, None, (2, 2), (1, 1))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(out[~np.isnan(out)], expected[~np.isnan(expected)])
    assert np.isnan(out).any()


# ---- conv_phases: stride-s convolution on the sh * sw phase images, one GEMM per block


def _phases(x, w, b, stride, padding, workers, dtype):
    args = [np.ascontiguousarray(a, dtype) for a in (x, w, b)]
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    out = np.full(
        (n, f, (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1), np.nan, dtype
    )
    conv_phases.conv2d(*args, stride, padding, out, workers)
    return out


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", SHAPES.values(), ids=SHAPES.keys())
def test_phases_kernel_matches_reference(case, dtype, workers):
    x_shape, w_shape, stride, padding = case
    x, w, b = (
        random(x_shape, 0, dtype),
        random(w_shape, 1, dtype),
        random(w_shape[0], 2, dtype),
    )
    copies = [a.copy() for a in (x, w, b)]
    out = _phases(x, w, b, pair(stride), pair(padding), workers, dtype)
    expected = reference.conv2d(x, w, b, pair(stride), pair(padding))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        out, expected, rtol=tol, atol=tol * np.abs(expected).max()
    )
    for before, after in zip(copies, (x, w, b)):
        np.testing.assert_array_equal(before, after)  # inputs never modified


@st.composite
def conv_problems(draw):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h, wd = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    kh = draw(st.integers(1, min(5, h + 2 * padding[0])))
    kw = draw(st.integers(1, min(5, wd + 2 * padding[1])))
    return (n, c, h, wd), (f, c, kh, kw), stride, padding


@given(
    problem=conv_problems(), workers=st.integers(1, 3), seed=st.integers(0, 2**32 - 1)
)
def test_phases_kernel_on_any_shape(problem, workers, seed):
    x_shape, w_shape, stride, padding = problem
    x, w, b = (
        random(x_shape, seed, np.float64),
        random(w_shape, seed + 1, np.float64),
        random(w_shape[0], 2, np.float64),
    )
    out = _phases(x, w, b, stride, padding, workers, np.float64)
    expected = reference.conv2d(x, w, b, stride, padding)
    np.testing.assert_allclose(
        out, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
    )


def test_phases_kernel_cuts_images_into_blocks_of_rows():
    """One image on two threads, and a cap on the im2col buffer: blocks of rows, same values."""
    x_shape, w_shape, stride, padding = (1, 3, 17, 16), (4, 3, 3, 3), (2, 2), (1, 1)
    assert (
        conv_phases.block_rows(x_shape, w_shape, (1, 4, 9, 8), stride, padding, 2) == 5
    )
    x, w, b = (
        random(x_shape, 3, np.float64),
        random(w_shape, 4, np.float64),
        random(4, 5, np.float64),
    )
    expected = reference.conv2d(x, w, b, stride, padding)
    with mock.patch.object(conv_phases, "MAX_COLUMNS", 27 * 9 * 2):
        assert (
            conv_phases.block_rows(x_shape, w_shape, (1, 4, 9, 8), stride, padding, 1)
            == 2
        )
        out = _phases(x, w, b, stride, padding, 1, np.float64)
    np.testing.assert_allclose(
        out, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_phases_kernel_puts_nan_and_inf_where_a_direct_sum_does(workers):
    """inf times a padding zero is NaN, as in PyTorch; the grid's garbage columns drop out."""
    rng = np.random.default_rng(9)
    x, w, b = (
        rng.standard_normal((2, 3, 9, 10)),
        rng.standard_normal((4, 3, 3, 3)),
        rng.standard_normal(4),
    )
    x[0, 1, 4, 9], x[1, 0, 0, 0], x[1, 2, 8, 3] = np.nan, np.inf, -np.inf
    w[2, 1, 0, 0] = np.inf
    out = _phases(x, w, b, (2, 2), (1, 1), workers, np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf in the reference's sums
        expected = reference.conv2d(x, w, b, (2, 2), (1, 1))
    assert np.isnan(expected).any() and np.isinf(expected).any()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    keep = ~np.isnan(expected)
    np.testing.assert_allclose(out[keep], expected[keep], rtol=1e-12)
