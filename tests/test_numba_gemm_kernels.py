"""The GEMM kernels (pointwise 1x1, im2col) forced on awkward shapes, against the reference.

cnnlab.backends.numba.kernels.conv_gemm computes a convolution as one BLAS matrix
product per image; forcing the chooser (as the IEEE tests do) runs it on every
shape it accepts: pointwise on any 1x1 kernel, im2col on anything.
"""
from unittest import mock

import numpy as np
import pytest

import cnnlab
import reference
from cnnlab.backends.numba import chooser

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


@pytest.mark.parametrize("kernel", ["pointwise", "im2col"])
def test_gemm_kernels_on_the_bench_shapes_match_a_direct_kernel(kernel):
    """The bench shapes, on the threads, against the plain kernels (the reference is slow)."""
    if kernel == "pointwise":
        x_shape, w_shape, stride, padding, plain = (8, 256, 56, 56), (64, 256, 1, 1), 1, 0, "direct"
    else:
        x_shape, w_shape, stride, padding, plain = (8, 64, 56, 56), (128, 64, 3, 3), 2, 1, "general"
    x, w, b = random(x_shape, 6, np.float32), random(w_shape, 7, np.float32), random(w_shape[0], 8, np.float32)
    assert chooser.choose_conv_kernel(x_shape, w_shape, pair(stride)) == kernel
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
