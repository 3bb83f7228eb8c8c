"""Checkers for the exercises of chapter 9: the padded-width grid and Winograd.

The chapter asks for the tap offsets of the padded-width grid, a convolution
computed on that grid, and Winograd's F(2, 3) (Lavin & Gray 2016). The answers
come from references that share nothing with the grid: a window-by-window
correlation and the two dot products of F(2, 3)'s definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import FLOAT32, matches, tolerance_for
from cnnlab.teaching.grading import Case, Diagnosis, Report, grade

__all__ = [
    "check_tap_offsets",
    "check_conv2d_padded_width",
    "check_winograd_f23",
]


# ----------------------------------------------------------------- tap offsets
def _tap_offsets(kh: int, kw: int, padded_width: int) -> np.ndarray:
    """Where tap (di, dj) reads in the flattened padded input.

    offsets[di, dj] = di * padded_width + dj.
    """
    return np.arange(kh)[:, None] * padded_width + np.arange(kw)[None, :]


def _tap_offsets_hints() -> list[Diagnosis]:
    def hint_swapped(expected, result, case):
        kh, kw, width = case.args
        swapped = np.arange(kh)[:, None] + np.arange(kw)[None, :] * width
        if np.shape(result) == swapped.shape and np.array_equal(result, swapped):
            return (
                "rows and columns are swapped: moving down one row (di + 1) skips a "
                "whole padded row, padded_width numbers, and moving right one column "
                "(dj + 1) moves by 1."
            )
        return None

    def hint_general(expected, result, case):
        return "offsets[di, dj] = di * padded_width + dj, as integers."

    return [hint_swapped, hint_general]


def check_tap_offsets(student_fn: Any) -> Report:
    """``student_fn(kh, kw, padded_width) -> (kh, kw) ints``: the offset of each tap.

    The offset is where the tap reads in the flattened padded input.
    """
    specs = [
        ("3x3 kernel, padded width 7", 3, 3, 7),
        ("3x3 kernel, padded width 58 (the 56x56 layer)", 3, 3, 58),
        ("5x5 kernel, padded width 28", 5, 5, 28),
        ("2x4 kernel, padded width 10", 2, 4, 10),
        ("1x1 kernel", 1, 1, 9),
    ]
    cases = [
        Case(name, (kh, kw, width), _tap_offsets(kh, kw, width), rtol=0, atol=0)
        for name, kh, kw, width in specs
    ]
    return grade("tap_offsets", student_fn, cases, _tap_offsets_hints())


# ----------------------------------------------------------------- the grid
def _correlate_2d(image: np.ndarray, kernel: np.ndarray, padding: int) -> np.ndarray:
    """2-D cross-correlation with zero padding, computed window by window."""
    padded = np.pad(image, padding)
    kh, kw = kernel.shape
    oh, ow = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((oh, ow), dtype=np.result_type(image, kernel))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(padded[i : i + kh, j : j + kw] * kernel)
    return out


def _padded_width_hints() -> list[Diagnosis]:
    def hint_grid(expected, result, case):
        image, kernel, padding = case.args
        if np.shape(result) == (expected.shape[0], image.shape[1] + 2 * padding):
            return (
                f"you returned the whole grid, {np.shape(result)}: its rows are as "
                "wide as the padded input. The last KW - 1 = "
                f"{kernel.shape[1] - 1} columns of each row are not outputs; drop them "
                "with grid[:, :OW]."
            )
        return None

    def hint_flipped(expected, result, case):
        image, kernel, padding = case.args
        flipped = _correlate_2d(image, kernel[::-1, ::-1], padding)
        if matches(result, flipped, **FLOAT32):
            return (
                "you flipped the kernel (a convolution in the mathematical sense). "
                "Deep learning's conv2d is a cross-correlation: tap (di, dj) "
                "multiplies the input at (i + di, j + dj) by kernel[di, dj]."
            )
        return None

    def hint_no_padding(expected, result, case):
        image, kernel, padding = case.args
        unpadded = _correlate_2d(image, kernel, 0)
        if padding > 0 and np.shape(result) == unpadded.shape:
            return (
                "the output is too small: pad the image with `padding` zeros on every "
                "side first (np.pad)."
            )
        return None

    def hint_general(expected, result, case):
        return (
            "flatten the padded image; the grid has OH * padded_width points; add "
            "kernel[di, dj] times the slice starting at di * padded_width + dj to it; "
            "reshape to (OH, padded_width) and keep [:, :OW]."
        )

    return [hint_grid, hint_flipped, hint_no_padding, hint_general]


def check_conv2d_padded_width(student_fn: Any) -> Report:
    """``student_fn(image, kernel, padding) -> (OH, OW)``, on the padded-width grid.

    A 2-D cross-correlation with stride 1 of a 2-D image.
    """
    rng = np.random.default_rng(9)
    specs = [
        (
            "a 4x5 image of counts, 3x3 kernel, padding 1",
            np.arange(20.0).reshape(4, 5),
            np.arange(9.0).reshape(3, 3) - 4,
            1,
        ),
        (
            "3x3 kernel, no padding",
            rng.standard_normal((6, 7)),
            rng.standard_normal((3, 3)),
            0,
        ),
        (
            "a 2x3 kernel on a non-square image, padding 2",
            rng.standard_normal((5, 9)),
            rng.standard_normal((2, 3)),
            2,
        ),
        (
            "a 5x5 kernel on 12x10, padding 2",
            rng.standard_normal((12, 10)),
            rng.standard_normal((5, 5)),
            2,
        ),
        (
            "float32 image and kernel",
            rng.standard_normal((16, 16)).astype(np.float32),
            rng.standard_normal((3, 3)).astype(np.float32),
            1,
        ),
    ]
    cases = [
        Case(
            name,
            (image, kernel, padding),
            _correlate_2d(image, kernel, padding),
            **tolerance_for(image),
        )
        for name, image, kernel, padding in specs
    ]
    return grade("conv2d_padded_width", student_fn, cases, _padded_width_hints())


# ----------------------------------------------------------------- Winograd's F(2, 3)
def _correlate_f23(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """y[k] = d[k] g[0] + d[k + 1] g[1] + d[k + 2] g[2], for k = 0 and 1."""
    return np.array(
        [
            d[0] * g[0] + d[1] * g[1] + d[2] * g[2],
            d[1] * g[0] + d[2] * g[1] + d[3] * g[2],
        ]
    )


def _winograd_hints() -> list[Diagnosis]:
    def hint_swapped(expected, result, case):
        if np.shape(result) == (2,) and np.allclose(np.asarray(result)[::-1], expected):
            return "the two outputs are swapped: y[0] starts at d[0], y[1] at d[1]."
        return None

    def hint_flipped(expected, result, case):
        d, g = case.args
        if np.shape(result) == (2,) and np.allclose(result, _correlate_f23(d, g[::-1])):
            return (
                "you flipped g: a cross-correlation multiplies d[k + i] by g[i], not "
                "by g[2 - i]."
            )
        return None

    def hint_general(expected, result, case):
        return (
            "with m1 = (d0 - d2) g0, m2 = (d1 + d2) (g0 + g1 + g2) / 2, "
            "m3 = (d2 - d1) (g0 - g1 + g2) / 2 and m4 = (d1 - d3) g2: "
            "y0 = m1 + m2 + m3 and y1 = m2 - m3 - m4 (Lavin & Gray 2016)."
        )

    return [hint_swapped, hint_flipped, hint_general]


def check_winograd_f23(student_fn: Any) -> Report:
    """``student_fn(d, g) -> y (2,)``: Winograd's F(2, 3).

    Two outputs of a 3-tap correlation of 4 inputs,
    y[k] = d[k] g[0] + d[k + 1] g[1] + d[k + 2] g[2]; the checker compares
    values only (it cannot count the student's multiplications).
    """
    rng = np.random.default_rng(23)
    specs = [
        (
            "d = [1, 2, 3, 4], g = [1, 0, -1]",
            np.array([1.0, 2, 3, 4]),
            np.array([1.0, 0, -1]),
        ),
        (
            "d = [0, 1, 0, 0], g = [2, 3, 5]: picks out g[1] and g[0]",
            np.array([0.0, 1, 0, 0]),
            np.array([2.0, 3, 5]),
        ),
        ("random d and g", rng.standard_normal(4), rng.standard_normal(3)),
        (
            "float32 d and g",
            rng.standard_normal(4).astype(np.float32),
            rng.standard_normal(3).astype(np.float32),
        ),
    ]
    cases = [Case(name, (d, g), _correlate_f23(d, g)) for name, d, g in specs]
    return grade("winograd_f23", student_fn, cases, _winograd_hints())
