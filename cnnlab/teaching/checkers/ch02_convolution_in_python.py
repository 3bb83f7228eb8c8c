"""Checkers for the exercises of chapter 2: padding, the convolution loops, dilation.

Each checker builds a graded series of cases (the tiny worked example first,
then stride and padding, then odd shapes, then random) with answers from
cnnlab's NumPy backend, and hands them to :func:`cnnlab.teaching.grading.grade`.
The hints name the mistakes students make most often; chapter 4 grades its
vectorized convolutions with the same hints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.teaching.checkers.cases import (
    EDGE_KERNEL,
    FLOAT32,
    REFERENCE,
    SEED,
    SEED_IMAGE,
    matches,
    tolerance_for,
)
from cnnlab.teaching.grading import Case, Diagnosis, Report, grade

__all__ = [
    "check_pad2d",
    "check_conv2d",
    "check_conv2d_dilated",
    "conv2d_cases",
    "dilated_cases",
]

INDEX_ERROR_HINT = (
    "an index ran past the edge of the image, so your output is too large. The number "
    "of window positions along an axis is (size + 2*padding - kernel) // stride + 1."
)
DILATED_INDEX_HINT = (
    "an index ran past the edge of the image, so your output is too large. The "
    "dilated kernel spans (K - 1) * dilation + 1 pixels: OH = H - (KH - 1) * dilation."
)


# ----------------------------------------------------------------- convolution hints
def _conv_like(case: Case, image=None, kernel=None, **settings) -> np.ndarray:
    """The reference answer for the case, with one thing changed, as a mistake would.

    Works for 2-D cases ``(image, kernel)`` and 4-D cases ``(x, w, b)``.
    """
    x, w = case.args[:2]
    x, w = x if image is None else image, w if kernel is None else kernel
    settings = {
        "stride": case.kwargs.get("stride", 1),
        "padding": case.kwargs.get("padding", 0),
        **settings,
    }
    if x.ndim == 2:
        return REFERENCE.conv2d(x[None, None], w[None, None], **settings)[0, 0]
    return REFERENCE.conv2d(
        x, w, case.args[2] if len(case.args) > 2 else None, **settings
    )


def hint_off_by_one(expected: Any, result: Any, case: Case) -> str | None:
    """The output is one row or column too large or too small."""
    if result.ndim == expected.ndim and result.shape != expected.shape:
        if np.all(np.abs(np.subtract(result.shape, expected.shape)) <= 1):
            return (
                "the output size is off by one. The number of window positions along "
                "an axis is (size + 2*padding - kernel) // stride + 1: check the "
                "`+ 1` and the end of your range()."
            )
    return None


def hint_forgot_padding(expected: Any, result: Any, case: Case) -> str | None:
    """The output has the size of the unpadded convolution."""
    padding = case.kwargs.get("padding", 0)
    if padding and result.shape == _conv_like(case, padding=0).shape:
        return (
            f"your output has the size of the unpadded result. With padding={padding}, "
            "first surround the image with that many rows and columns of zeros "
            "(np.pad), then slide the kernel over it."
        )
    return None


def hint_forgot_stride(expected: Any, result: Any, case: Case) -> str | None:
    """The output has the size of the convolution with stride 1."""
    stride = case.kwargs.get("stride", 1)
    if stride > 1 and result.shape == _conv_like(case, stride=1).shape:
        return (
            f"your output has as many values as with stride 1. With stride={stride}, "
            "the window jumps by `stride` pixels: output (i, j) reads the input from "
            "row i*stride, column j*stride."
        )
    return None


def hint_rows_columns(expected: Any, result: Any, case: Case) -> str | None:
    """The output, the kernel or the image was read with rows and columns swapped."""
    x, w = case.args[:2]
    mixed = [
        expected.swapaxes(-1, -2),
        _conv_like(case, kernel=w.swapaxes(-1, -2)),
        _conv_like(case, image=x.swapaxes(-1, -2)),
    ]
    if any(matches(result, m, **FLOAT32) for m in mixed):
        return (
            "rows and columns are mixed up. Index as [row, column]: output [i, j] "
            "multiplies kernel[di, dj] with image[i + di, j + dj], where i and di go "
            "down, j and dj go across."
        )
    return None


def hint_flipped_kernel(expected: Any, result: Any, case: Case) -> str | None:
    """The kernel was flipped: a convolution in the mathematical sense."""
    flipped = _conv_like(case, kernel=case.args[1][..., ::-1, ::-1])
    if matches(result, flipped, **FLOAT32):
        return (
            "you flipped the kernel, which is the mathematician's convolution. CNN "
            "libraries compute cross-correlation: kernel[0, 0] multiplies the top-left "
            "pixel of the window, unflipped."
        )
    return None


CONV2D_HINTS: list[Diagnosis] = [
    hint_forgot_padding,
    hint_forgot_stride,
    hint_off_by_one,
    hint_rows_columns,
    hint_flipped_kernel,
]


# ----------------------------------------------------------------- padding
def check_pad2d(student_fn: Any) -> Report:
    """``student_fn(image, padding)``: the (H, W) image with zeros around it.

    ``padding`` rows and columns of zeros on every side.
    """
    rng = np.random.default_rng(SEED)
    specs = [
        ("a 3x3 image of ones, padding 1", np.ones((3, 3)), 1),
        ("padding 0 (nothing to add)", np.arange(6.0).reshape(2, 3), 0),
        ("a 2x5 image, padding 2", np.arange(1.0, 11.0).reshape(2, 5), 2),
        (
            "random float32 4x3, padding 3",
            rng.standard_normal((4, 3)).astype(np.float32),
            3,
        ),
    ]
    cases = [Case(name, (x, p), np.pad(x, p)) for name, x, p in specs]

    def hint(expected, result, case):
        image, p = case.args
        (h, w), (rh, rw) = image.shape, result.shape
        if (rh, rw) == (h + p, w + p):
            return (
                "you added zeros on one side only; padding goes on BOTH sides, so the "
                "result is (H + 2p, W + 2p)."
            )
        if result.shape == expected.shape and np.array_equal(result[:h, :w], image):
            return (
                "the image sits in the top-left corner. It belongs in the middle: "
                f"rows {p} to {p}+H and columns {p} to {p}+W, i.e. "
                "out[p:p + H, p:p + W] = image."
            )
        if result.shape == expected.T.shape:
            return (
                "rows and columns are swapped: the padded image has H + 2p rows and "
                "W + 2p columns."
            )
        return None

    return grade("pad2d", student_fn, cases, [hint])


# ----------------------------------------------------------------- the convolution
def conv2d_cases() -> list[Case]:
    """2-D cases for ``conv2d(image, kernel, stride=1, padding=0)``, easiest first.

    The 5x5 worked example, then stride and padding, then odd shapes, then a
    random float32 image.
    """
    rng = np.random.default_rng(SEED)
    specs: list[tuple[str, np.ndarray, np.ndarray, int, int]] = [
        ("the 5x5 worked example", SEED_IMAGE, EDGE_KERNEL, 1, 0),
        ("an asymmetric kernel", SEED_IMAGE, np.arange(9.0).reshape(3, 3), 1, 0),
        ("stride 2", SEED_IMAGE, EDGE_KERNEL, 2, 0),
        ("padding 1", SEED_IMAGE, EDGE_KERNEL, 1, 1),
        (
            "stride 2 and padding 1",
            rng.standard_normal((6, 6)),
            rng.standard_normal((3, 3)),
            2,
            1,
        ),
        (
            "a non-square image and 2x4 kernel",
            rng.standard_normal((5, 8)),
            rng.standard_normal((2, 4)),
            1,
            0,
        ),
        (
            "stride 3 and padding 2, windows that do not fit",
            rng.standard_normal((8, 9)),
            rng.standard_normal((3, 2)),
            3,
            2,
        ),
        (
            "random float32 12x10, 5x5 kernel, padding 2",
            rng.standard_normal((12, 10)).astype(np.float32),
            rng.standard_normal((5, 5)).astype(np.float32),
            1,
            2,
        ),
    ]
    return [
        Case(
            name,
            (x, k),
            REFERENCE.conv2d(x[None, None], k[None, None], stride=s, padding=p)[0, 0],
            dict(stride=s, padding=p),
            **tolerance_for(x),
        )
        for name, x, k, s, p in specs
    ]


def check_conv2d(student_fn: Any) -> Report:
    """``student_fn(image, kernel, stride=1, padding=0)``: the 2-D convolution.

    ``image`` and ``kernel`` are 2-D arrays, and so is the result.
    """
    return grade(
        "conv2d",
        student_fn,
        conv2d_cases(),
        CONV2D_HINTS,
        {IndexError: INDEX_ERROR_HINT},
    )


# ----------------------------------------------------------------- dilation
def _dilated(image: np.ndarray, kernel: np.ndarray, dilation: int) -> np.ndarray:
    """A dilated convolution, as an ordinary one whose kernel has zeros between taps.

    The kernel is spread out with dilation - 1 zeros between its taps.
    """
    kh, kw = kernel.shape
    spread = np.zeros(
        ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1), dtype=kernel.dtype
    )
    spread[::dilation, ::dilation] = kernel
    return REFERENCE.conv2d(image[None, None], spread[None, None])[0, 0]


def dilated_cases() -> list[Case]:
    """Cases for ``conv2d_dilated(image, kernel, dilation)``, easiest first."""
    rng = np.random.default_rng(SEED)
    specs = [
        (
            "dilation 1 (an ordinary convolution) on the 5x5 example",
            SEED_IMAGE,
            EDGE_KERNEL,
            1,
        ),
        (
            "dilation 2 on a 7x7 image",
            np.arange(1.0, 50.0).reshape(7, 7),
            EDGE_KERNEL,
            2,
        ),
        (
            "dilation 2, a non-square 9x11 image",
            rng.standard_normal((9, 11)),
            rng.standard_normal((3, 3)),
            2,
        ),
        (
            "dilation 3, a 2x3 kernel",
            rng.standard_normal((10, 12)),
            rng.standard_normal((2, 3)),
            3,
        ),
        (
            "random float32 20x18, dilation 4",
            rng.standard_normal((20, 18)).astype(np.float32),
            rng.standard_normal((3, 3)).astype(np.float32),
            4,
        ),
    ]
    return [
        Case(name, (x, k, d), _dilated(x, k, d), **tolerance_for(x))
        for name, x, k, d in specs
    ]


def dilated_hints() -> list[Diagnosis]:
    """The hints for a dilated convolution, in loops (chapter 2) or vectorized (4)."""

    def hint_no_dilation(expected, result, case):
        image, kernel, dilation = case.args
        if dilation > 1 and result.shape == _dilated(image, kernel, 1).shape:
            return (
                "your output has the size of an ordinary convolution. A dilated kernel "
                "spans (K - 1) * dilation + 1 pixels, so the output has "
                "H - (KH - 1) * dilation rows."
            )
        return None

    def hint_stride(expected, result, case):
        image, kernel, dilation = case.args
        strided = REFERENCE.conv2d(
            image[None, None], kernel[None, None], stride=dilation
        )[0, 0]
        if dilation > 1 and result.shape == strided.shape:
            return (
                "you moved the window by `dilation` pixels, which is a stride. "
                "Dilation keeps the window moving one pixel at a time and spreads its "
                "taps: image[i + di*dilation, j + dj*dilation]."
            )
        return None

    def hint_span(expected, result, case):
        dilation = case.args[2]
        if dilation > 1 and np.all(
            np.subtract(expected.shape, result.shape) == dilation - 1
        ):
            return (
                "your output is too small. The kernel spans (K - 1) * dilation + 1 "
                "pixels, not K * dilation: the last tap sits at (K - 1) * dilation."
            )
        return None

    return [hint_no_dilation, hint_stride, hint_span, hint_off_by_one]


def check_conv2d_dilated(student_fn: Any) -> Report:
    """``student_fn(image, kernel, dilation)``: a dilated valid cross-correlation.

    ``image`` and ``kernel`` are 2-D arrays, and so is the result.
    """
    return grade(
        "conv2d_dilated",
        student_fn,
        dilated_cases(),
        dilated_hints(),
        {IndexError: DILATED_INDEX_HINT},
    )
