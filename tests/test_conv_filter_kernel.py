"""The filter kernel (cnnlab.backends.numba.kernels.conv_filter) against the reference.

Both entries, the threaded conv2d_3x3_rows and conv2d_3x3_rows_serial, are called
directly, on shapes that reach every path of the kernel: the three-row pass, the
single rows at the end of an image, the rows and columns over the padding, and
rows whose interior is shorter than, equal to or not a multiple of one vector.
NaN, +inf and -inf must come out where the reference puts them; a NaN in x
reaches only the outputs whose 3x3 window holds it.
"""

import numpy as np
import pytest
import reference
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.backends.numba.kernels import conv_filter

KERNELS = {
    "threads": conv_filter.conv2d_3x3_rows,
    "serial": conv_filter.conv2d_3x3_rows_serial,
}
SPECIALS = [np.nan, np.inf, -np.inf]


def run(kernel, x, w, b, padding):
    """The kernel's output, written over NaN so an element it skips shows."""
    ph, pw = padding
    n, _, h, wd = x.shape
    out = np.full((n, w.shape[0], h + 2 * ph - 2, wd + 2 * pw - 2), np.nan, x.dtype)
    saved = [a.copy() for a in (x, w, b)]
    kernel(x, w, b, ph, pw, out)
    for before, after in zip(saved, (x, w, b), strict=True):
        np.testing.assert_array_equal(before, after)  # inputs never modified
    return out


def assert_same_ieee(actual, expected):
    """Same NaN, +inf and -inf places; finite values equal to rounding."""
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(kind(actual), kind(expected), kind.__name__)
    finite = np.isfinite(expected)
    tol = 1e-5 if actual.dtype == np.float32 else 1e-12
    scale = 1 + np.abs(expected[finite]).max(initial=0)
    np.testing.assert_allclose(
        actual[finite], expected[finite], rtol=tol, atol=tol * scale
    )


@st.composite
def cases(draw, specials=False):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, c, f = (draw(st.integers(1, 2)) for _ in range(3))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    # Widths up to 30: interiors shorter than, equal to and past one vector of 8.
    h = draw(st.integers(max(1, 3 - 2 * padding[0]), 12))
    wd = draw(st.integers(max(1, 3 - 2 * padding[1]), 30))
    arrays = [
        rng.standard_normal(shape).astype(dtype)
        for shape in ((n, c, h, wd), (f, c, 3, 3), (f,))
    ]
    if specials:
        for a in arrays:
            flat = a.reshape(-1)
            for _ in range(draw(st.integers(0, 2))):
                flat[rng.integers(flat.size)] = SPECIALS[rng.integers(3)]
    return (*arrays, padding)


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@settings(max_examples=60)
@given(case=cases())
def test_filter_kernel_matches_reference(kernel, case):
    x, w, b, padding = case
    out = run(kernel, x, w, b, padding)
    assert out.dtype == x.dtype
    assert_same_ieee(out, reference.conv2d(x, w, b, padding=padding))


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@settings(max_examples=60)
@given(case=cases(specials=True))
def test_filter_kernel_puts_nan_and_inf_where_reference_does(kernel, case):
    x, w, b, padding = case
    out = run(kernel, x, w, b, padding)
    assert_same_ieee(out, reference.conv2d(x, w, b, padding=padding))


# (x shape, padding): the shapes the issue names, and the borders of each path.
SHAPES = {
    "1 x W": ((1, 1, 1, 40), (1, 1)),
    "H x 1": ((1, 1, 40, 1), (1, 1)),
    "padding 0": ((1, 1, 20, 27), (0, 0)),
    "padding 2": ((1, 1, 20, 27), (2, 2)),
    "interior exactly one vector": ((1, 1, 7, 10), (1, 1)),
    "interior two vectors and a remainder": ((1, 1, 9, 21), (1, 1)),
    "N > 1, OH not a multiple of 3": ((3, 1, 10, 19), (1, 1)),
    "several channels and filters": ((2, 3, 11, 18), (1, 0)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize("case", SHAPES.values(), ids=SHAPES.keys())
def test_filter_kernel_on_named_shapes(case, kernel, dtype):
    x_shape, padding = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((2 if x_shape[1] > 1 else 1, x_shape[1], 3, 3))
    w = w.astype(dtype)
    b = rng.standard_normal(w.shape[0]).astype(dtype)
    out = run(kernel, x, w, b, padding)
    assert_same_ieee(out, reference.conv2d(x, w, b, padding=padding))


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize(
    "pixel", [(0, 0), (5, 0), (0, 17), (20, 33), (39, 34), (21, 9)]
)
def test_nan_pixel_reaches_only_its_window(kernel, pixel):
    """A NaN pixel makes NaN exactly the outputs whose 3x3 window holds it."""
    x = np.random.default_rng(1).standard_normal((1, 1, 40, 35)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((1, 1, 3, 3)).astype(np.float32)
    i, j = pixel
    x[0, 0, i, j] = np.nan
    out = run(kernel, x, w, np.zeros(1, np.float32), (1, 1))
    expected = np.zeros(out.shape, bool)
    expected[0, 0, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2] = True
    np.testing.assert_array_equal(np.isnan(out), expected)


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
def test_inf_weight_makes_nan_over_the_padding_only(kernel):
    """An inf weight times a padded zero is NaN: the rule of the other kernels."""
    x = np.ones((1, 1, 12, 20), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    w[0, 0, 0, 0] = np.inf  # the tap up and to the left
    out = run(kernel, x, w, np.zeros(1, np.float32), (1, 1))
    expected = np.zeros(out.shape, bool)
    expected[0, 0, 0, :] = expected[0, 0, :, 0] = True  # that tap is on the padding
    np.testing.assert_array_equal(np.isnan(out), expected)
    assert np.isposinf(out[0, 0, 1:, 1:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize("ph", [0, 1, 2])
def test_one_channel_image_over_several_bands(ph, kernel, dtype):
    """One channel, padding 1 wide: the band path, over several work items per plane,
    for several images and filters, with NaN, +inf and -inf in x and a NaN bias."""
    rng = np.random.default_rng(ph)
    x = rng.standard_normal((2, 1, 61, 29)).astype(dtype)
    x[0, 0, 30, 0], x[1, 0, 3, 28], x[1, 0, 50, 12] = np.nan, np.inf, -np.inf
    w = rng.standard_normal((2, 1, 3, 3)).astype(dtype)
    b = np.array([0.5, np.nan], dtype)
    out = run(kernel, x, w, b, (ph, 1))
    assert_same_ieee(out, reference.conv2d(x, w, b, padding=(ph, 1)))


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize("tap", [(0, 2), (1, 2), (2, 2), (1, 0)])
def test_inf_weight_on_a_side_column(kernel, tap):
    """An inf weight on a side tap makes NaN down that side only, every row."""
    x = np.ones((1, 1, 40, 20), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    w[(0, 0, *tap)] = np.inf
    out = run(kernel, x, w, np.zeros(1, np.float32), (1, 1))
    expected = np.zeros(out.shape, bool)
    expected[0, 0, :, -1 if tap[1] == 2 else 0] = True
    if tap[0] != 1:
        expected[0, 0, 0 if tap[0] == 0 else -1, :] = True
    np.testing.assert_array_equal(np.isnan(out), expected)
