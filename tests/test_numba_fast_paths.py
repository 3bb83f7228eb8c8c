"""The Numba backend's fast paths against the reference, on the shapes they target and awkward neighbours."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnlab
import reference
from cnnlab.backends.numba.chooser import choose_conv_kernel, choose_pool_kernel

nb = cnnlab.backend("numba")


def random(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_close(actual, expected, tol=1e-4):
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * np.abs(expected).max())


# (x shape, w shape, stride, padding, kernel the chooser must pick)
TARGETS = {
    "L1 one channel 512x512": ((1, 1, 512, 512), (1, 1, 3, 3), 1, 1, "filter"),
    "L2 64->64 56x56": ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, "winograd"),
    "L3 LeNet 5x5": ((64, 1, 28, 28), (6, 1, 5, 5), 1, 0, "direct"),
    "conv-1x1 bench case": ((8, 256, 56, 56), (64, 256, 1, 1), 1, 0, "pointwise"),
    "conv-s2 bench case": ((8, 64, 56, 56), (128, 64, 3, 3), 2, 1, "rows"),
}
NEIGHBOURS = {
    "many channels odd sizes": ((1, 9, 7, 11), (10, 9, 3, 3), 1, 1, "direct"),
    "many channels C not multiple of 8, F not of 3": ((2, 13, 5, 17), (8, 13, 3, 3), 1, 1, "direct"),
    "many channels no padding, 3x3 input": ((1, 8, 3, 3), (8, 8, 3, 3), 1, 0, "direct"),
    "many channels padding 2": ((1, 8, 4, 6), (9, 8, 3, 3), 1, 2, "direct"),
    "many channels tall": ((1, 8, 61, 5), (16, 8, 3, 3), 1, 1, "direct"),
    "blocked: 8 channels, 8 filters, a grid of several chunks": ((3, 8, 33, 29), (8, 8, 3, 3), 1, 1, "blocked"),
    "blocked: odd filters, padding 0": ((2, 9, 40, 31), (11, 9, 3, 3), 1, 0, "blocked"),
    "blocked: padding 2": ((1, 8, 50, 45), (8, 8, 3, 3), 1, 2, "blocked"),
    "too few channels for blocked": ((8, 7, 32, 32), (8, 7, 3, 3), 1, 1, "direct"),
    "filter: padding 2, odd sizes": ((1, 1, 301, 257), (1, 1, 3, 3), 1, 2, "filter"),
    "filter: no padding, several images": ((3, 1, 150, 151), (1, 1, 3, 3), 1, 0, "filter"),
    "two filters: not the filter kernel": ((1, 1, 512, 512), (2, 1, 3, 3), 1, 1, "direct"),
    "winograd: 48 channels, 33 filters, odd sizes": ((6, 48, 61, 45), (33, 48, 3, 3), 1, 1, "winograd"),
    "too few images for winograd": ((4, 64, 56, 56), (64, 64, 3, 3), 1, 1, "blocked"),
    "too many channels for winograd": ((2, 128, 56, 56), (128, 128, 3, 3), 1, 1, "blocked"),
    "too small an image for blocked": ((1, 64, 14, 14), (64, 64, 3, 3), 1, 1, "direct"),
    "direct 3x3 few channels": ((2, 3, 17, 33), (5, 3, 3, 3), 1, 1, "direct"),
    "direct 3x3 F=4 (block + 1)": ((1, 2, 9, 15), (4, 2, 3, 3), 1, 0, "direct"),
    "direct 3x3 width 1": ((1, 1, 5, 1), (2, 1, 3, 3), 1, 1, "direct"),
    "direct 5x5 odd width": ((3, 1, 13, 29), (7, 1, 5, 5), 1, 0, "direct"),
    "direct 5 wide: 3x5, two channels, padding": ((2, 2, 6, 11), (4, 2, 3, 5), 1, (1, 2), "direct"),
    "direct 5 wide: 1x5 as wide as the padded input": ((1, 3, 4, 1), (5, 3, 1, 5), 1, (0, 2), "direct"),
    "direct 1x1": ((2, 4, 6, 7), (3, 4, 1, 1), 1, 0, "direct"),
    "direct 2x4 asymmetric padding": ((1, 2, 6, 9), (3, 2, 2, 4), 1, (2, 1), "direct"),
    "direct 3x3 with few filters": ((1, 16, 9, 9), (2, 16, 3, 3), 1, 1, "direct"),
    "im2col stride 2": ((2, 8, 11, 13), (9, 8, 3, 3), 2, 1, "im2col"),
    "im2col stride (1, 2)": ((1, 3, 8, 9), (2, 3, 3, 3), (1, 2), 0, "im2col"),
    "pointwise 1x1 above the threshold": ((2, 16, 9, 11), (5, 16, 1, 1), 1, 0, "pointwise"),
    "pointwise 1x1 stride 2, padding 1": ((1, 16, 9, 12), (7, 16, 1, 1), 2, 1, "pointwise"),
    "tiny 1x1 stays direct": ((1, 2, 3, 3), (2, 2, 1, 1), 1, 0, "direct"),
}
CASES = {**TARGETS, **NEIGHBOURS}


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_chooser_picks_the_intended_kernel(case):
    x_shape, w_shape, stride, _, kernel = case
    assert choose_conv_kernel(x_shape, w_shape, pair(stride)) == kernel


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_conv2d_fast_paths_match_reference(case):
    x_shape, w_shape, stride, padding, _ = case
    x, w, b = random(x_shape, 0), random(w_shape, 1), random(w_shape[0], 2)
    if x_shape[0] > 2:  # the reference is slow; the kernels treat images independently
        out = nb.conv2d(x, w, b, stride, padding)[:2]
        x = x[:2]
    else:
        out = nb.conv2d(x, w, b, stride, padding)
    assert_close(out, reference.conv2d(x, w, b, pair(stride), pair(padding)))


def test_fast_paths_on_non_contiguous_and_float64_inputs():
    base = random((2, 16, 12, 14), 5, np.float64)
    x = base[:, ::2, ::-1, 1:]  # strided, reversed, offset
    w = random((9, 8, 3, 3), 6, np.float64).transpose(0, 1, 3, 2)
    out = nb.conv2d(x, w, padding=1)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, reference.conv2d(x, w, None, (1, 1), (1, 1)), rtol=1e-10, atol=1e-10)


def test_inputs_are_not_modified():
    x, w, b = random((1, 8, 9, 9), 7), random((8, 8, 3, 3), 8), random(8, 9)
    copies = [a.copy() for a in (x, w, b)]
    nb.conv2d(x, w, b, padding=1)
    nb.max_pool2d(x, 2)
    nb.max_pool2d(x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2), 2)
    for before, after in zip(copies, (x, w, b)):
        np.testing.assert_array_equal(before, after)


@st.composite
def stride1_conv_cases(draw):
    """Shapes around the fast paths: few or many channels, 3x3 and other kernels."""
    n, c, f = draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 7, 8, 9, 16])), draw(st.integers(1, 11))
    h, w = draw(st.integers(1, 19)), draw(st.integers(1, 19))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    kh = draw(st.sampled_from([3, 3, 1, 2, 5]))
    kw = draw(st.sampled_from([3, kh]))
    if kh > h + 2 * ph or kw > w + 2 * pw:
        kh = kw = 1
    seed = draw(st.integers(0, 2**32 - 1))
    return random((n, c, h, w), seed), random((f, c, kh, kw), seed + 1), random(f, seed + 2), (ph, pw)


@given(case=stride1_conv_cases())
def test_stride1_conv2d_matches_reference_on_drawn_shapes(case):
    x, w, b, padding = case
    assert_close(nb.conv2d(x, w, b, padding=padding), reference.conv2d(x, w, b, (1, 1), padding))


def channels_last(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


POOL_CASES = {
    "P1 NCHW": ((64, 32, 28, 28), 2, None, False, "max_2x2_nchw"),
    "P1 channels_last": ((64, 32, 28, 28), 2, None, True, "max_2x2_nhwc"),
    "odd sizes NCHW": ((1, 3, 7, 9), 2, None, False, "max_2x2_nchw"),
    "odd sizes channels_last": ((2, 5, 7, 9), 2, None, True, "max_2x2_nhwc"),
    "3x3 stride 2 channels_last": ((1, 17, 9, 8), 3, 2, True, "nhwc"),
    "3x3 stride 1 NCHW": ((2, 3, 6, 5), 3, 1, False, "nchw"),
    "2x2 stride 1 NCHW": ((2, 3, 6, 5), 2, 1, False, "nchw"),
}


@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool_fast_paths_match_reference(case):
    shape, kernel, stride, cl, expected_kernel = case
    x = random(shape, 10)
    if cl:
        x = channels_last(x)
    k, s = pair(kernel), pair(stride or kernel)
    assert choose_pool_kernel(x, k, s, True) == expected_kernel
    for take_max, reduce, op in ((True, np.max, nb.max_pool2d), (False, np.mean, nb.avg_pool2d)):
        out = op(x, kernel, stride)
        expected = reference.pool2d(x, k, s, reduce)
        assert_close(out, expected, 1e-6)
        if cl:
            assert out.transpose(0, 2, 3, 1).flags.c_contiguous  # keeps the channels_last layout
        else:
            assert out.flags.c_contiguous


def test_pool_on_a_strided_view_uses_the_general_kernel():
    x = random((2, 4, 10, 12), 11)[:, ::2, :, ::-1]
    assert choose_pool_kernel(x, (2, 2), (2, 2), True) == "max_2x2_nchw"
    assert_close(nb.max_pool2d(x, 2), reference.pool2d(x, (2, 2), (2, 2), np.max), 1e-6)


def test_every_kernel_name_the_choosers_return_has_a_kernel():
    from cnnlab.backends.numba import chooser, forward

    assert set(forward.CONV_KERNELS) == set(chooser.CONV_KERNEL_NAMES)
    assert set(forward.POOL_KERNELS) == set(chooser.POOL_KERNEL_NAMES)
