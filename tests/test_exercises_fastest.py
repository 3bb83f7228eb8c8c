"""Checkers of chapter 9: a correct answer passes, each common mistake gets its hint."""

import numpy as np
import pytest
from helpers import hinted, lenient, stub  # noqa: F401 - lenient is a fixture

from cnnlab.exercises import (
    check_conv2d_padded_width,
    check_tap_offsets,
    check_winograd_f23,
)

pytestmark = pytest.mark.usefixtures("lenient")


@pytest.mark.parametrize(
    "check", [check_tap_offsets, check_conv2d_padded_width, check_winograd_f23]
)
def test_not_implemented_none_and_exceptions_are_reported(check):
    report = check(stub)
    assert report.status == "not implemented" and "not implemented" in report.message
    report = check(lambda *args: None)
    assert report.status == "failed" and "returned None" in report.message
    report = check(lambda *args: 1 / 0)
    assert report.status == "failed" and "ZeroDivisionError" in report.message


# --- Exercise 9.1: tap offsets --------------------------------------------------------


def tap_offsets(kh, kw, padded_width):
    return np.arange(kh)[:, None] * padded_width + np.arange(kw)[None, :]


def test_tap_offsets_correct_passes():
    assert check_tap_offsets(tap_offsets).passed


def test_tap_offsets_swapped_rows_and_columns():
    hinted(
        check_tap_offsets(
            lambda kh, kw, width: (
                np.arange(kh)[:, None] + np.arange(kw)[None, :] * width
            )
        ),
        "rows and columns are swapped",
    )


def test_tap_offsets_other_mistake_gets_the_formula():
    hinted(
        check_tap_offsets(lambda kh, kw, width: tap_offsets(kh, kw, width - 1)),
        "di * padded_width + dj",
    )


# --- Exercise 9.2: a convolution on the padded-width grid -----------------------------


def padded_width_conv(image, kernel, padding, *, keep_grid=False, flip=False, pad=True):
    """A student's conv2d_padded_width; each keyword-only option makes one mistake."""
    kernel = kernel[::-1, ::-1] if flip else kernel
    xp = np.pad(image, padding if pad else 0)
    kh, kw = kernel.shape
    height, width = xp.shape
    oh, ow = height - kh + 1, width - kw + 1
    flat = np.concatenate([xp.ravel(), np.zeros(kw - 1, xp.dtype)])
    grid = np.zeros(oh * width, np.result_type(image, kernel))
    for di in range(kh):
        for dj in range(kw):
            start = di * width + dj
            grid += kernel[di, dj] * flat[start : start + oh * width]
    grid = grid.reshape(oh, width)
    return grid if keep_grid else grid[:, :ow]


def test_padded_width_correct_passes():
    assert check_conv2d_padded_width(padded_width_conv).passed


def test_padded_width_whole_grid_returned():
    hinted(
        check_conv2d_padded_width(
            lambda x, k, p: padded_width_conv(x, k, p, keep_grid=True)
        ),
        "you returned the whole grid",
    )


def test_padded_width_flipped_kernel():
    hinted(
        check_conv2d_padded_width(
            lambda x, k, p: padded_width_conv(x, k, p, flip=True)
        ),
        "flipped the kernel",
    )


def test_padded_width_padding_forgotten():
    hinted(
        check_conv2d_padded_width(
            lambda x, k, p: padded_width_conv(x, k, p, pad=False)
        ),
        "pad the image",
    )


def test_padded_width_modifying_the_input_is_reported():
    def modifies(image, kernel, padding):
        image *= 1.5
        return padded_width_conv(image, kernel, padding)

    report = check_conv2d_padded_width(modifies)
    assert not report.passed and "modified its input" in report.message


# --- Exercise 9.3: Winograd's F(2, 3) -------------------------------------------------


def winograd_f23(d, g):
    m1 = (d[0] - d[2]) * g[0]
    m2 = (d[1] + d[2]) * (g[0] + g[1] + g[2]) / 2
    m3 = (d[2] - d[1]) * (g[0] - g[1] + g[2]) / 2
    m4 = (d[1] - d[3]) * g[2]
    return np.array([m1 + m2 + m3, m2 - m3 - m4])


def test_winograd_correct_passes():
    assert check_winograd_f23(winograd_f23).passed


def test_winograd_swapped_outputs():
    hinted(check_winograd_f23(lambda d, g: winograd_f23(d, g)[::-1].copy()), "swapped")


def test_winograd_flipped_filter():
    hinted(
        check_winograd_f23(lambda d, g: winograd_f23(d, g[::-1].copy())),
        "you flipped g",
    )


def test_winograd_sign_mistake_gets_the_formulas():
    def wrong_sign(d, g):
        y = winograd_f23(d, g)
        return np.array(
            [y[0], y[1] + 2 * (d[1] - d[3]) * g[2]]
        )  # m4 added instead of subtracted

    hinted(check_winograd_f23(wrong_sign), "y1 = m2 - m3 - m4")
