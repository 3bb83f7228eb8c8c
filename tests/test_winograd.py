"""Winograd F(4x4, 3x3) (cnnlab.backends.numba.kernels.winograd) on the ways it cuts the work.

The kernel gathers 6x6 patches straight from x (no padded copy), cuts the batch's tiles into
blocks of at most block_tiles (a block may span tile rows and images, and the last one is
shorter), and multiplies each block by BLAS. Small blocks put every such seam into small
shapes. Float32 is held to the documented bound (1e-4 of the largest output), float64 to
rounding.
"""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from cnnlab.backends.numba.kernels import winograd


def random(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def relative_error(actual, expected):
    return np.abs(actual - expected).max() / np.abs(expected).max()


@st.composite
def cases(draw):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 6))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h, w = draw(st.integers(max(1, 3 - 2 * ph), 19)), draw(st.integers(max(1, 3 - 2 * pw), 19))
    tiles = draw(st.sampled_from([1, 2, 3, 7, 128]))
    return (n, c, h, w), f, (ph, pw), tiles, draw(st.integers(0, 2**32 - 3))


@settings(max_examples=40, deadline=None)
@given(case=cases(), dtype=st.sampled_from([np.float32, np.float64]))
def test_matches_reference_for_any_block_size(case, dtype):
    x_shape, n_filters, padding, tiles, seed = case
    x, w, b = random(x_shape, seed, dtype), random((n_filters, x_shape[1], 3, 3), seed + 1, dtype), \
        random(n_filters, seed + 2, dtype)
    expected = reference.conv2d(x, w, b, (1, 1), padding)
    out = winograd.conv2d_3x3(x, w, b, padding, block_tiles=tiles)
    assert out.dtype == dtype and out.shape == expected.shape and out.flags.c_contiguous
    assert relative_error(out, expected) < (1e-4 if dtype == np.float32 else 1e-11)


@pytest.mark.parametrize("tiles", [5, 64])
def test_blocks_spanning_images_and_tile_rows(tiles):
    """3 images of 6x5 tiles, 17 channels and 13 filters: no count is a multiple of anything."""
    x, w, b = random((3, 17, 23, 19), 20), random((13, 17, 3, 3), 21), random(13, 22)
    out = np.full((3, 13, 23, 19), np.nan, np.float32)
    assert winograd.conv2d_3x3(x, w, b, (1, 1), out, block_tiles=tiles) is out
    assert relative_error(out, reference.conv2d(x, w, b, (1, 1), (1, 1))) < 1e-4


def test_one_thread_and_all_threads_agree_with_the_reference():
    """The blocks are sized by the thread count: one thread gets fewer, larger ones."""
    x, w, b = random((2, 40, 30, 30), 30), random((24, 40, 3, 3), 31), random(24, 32)
    expected = reference.conv2d(x, w, b, (1, 1), (1, 1))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = winograd.conv2d_3x3(x, w, b, (1, 1))
    finally:
        numba.set_num_threads(threads)
    assert relative_error(one, expected) < 1e-4
    assert relative_error(winograd.conv2d_3x3(x, w, b, (1, 1)), expected) < 1e-4


def test_filter_transform_matches_g_g_gt():
    w = random((3, 2, 3, 3), 40, np.float64)
    u = winograd.filter_transform(w)
    assert u.shape == (36, 3, 2)
    for f in range(3):
        for c in range(2):
            np.testing.assert_allclose(u[:, f, c].reshape(6, 6), winograd.G @ w[f, c] @ winograd.G.T,
                                       rtol=1e-14, atol=1e-14)
