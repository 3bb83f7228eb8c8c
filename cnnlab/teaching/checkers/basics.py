"""Checkers for the exercises of chapters 1-3: sizes, softmax, convolution loops, FLOPs
and timings.

Each checker builds a graded series of cases (the tiny worked example first,
then stride and padding, then odd shapes, then random) with answers from
cnnlab's reference operators, and hands them to :func:`cnnlab.teaching.grading.grade`.
The hints name the mistakes students make most often with that exercise.
"""

from __future__ import annotations

import numpy as np

from cnnlab import backend
from cnnlab.teaching.grading import Case, Report, grade
from cnnlab.validation import output_size

__all__ = [
    "check_output_size",
    "check_conv2d_flops",
    "check_softmax",
    "check_receptive_field",
    "check_relu",
    "check_pad2d",
    "check_conv2d",
    "check_conv2d_dilated",
    "conv2d_cases",
    "dilated_cases",
    "check_relative_spread",
    "check_arithmetic_intensity",
    "check_flops_without_padding",
]

_reference = backend("numpy")
_rng_seed = 2026
# the worked example of chapters 1 and 2
_SEED_IMAGE = np.arange(1, 26, dtype=np.float64).reshape(5, 5)
_EDGE_KERNEL = np.array([[1.0, 0.0, -1.0]] * 3)
# float32 sums round differently in every implementation
_FLOAT32 = dict(rtol=1e-4, atol=1e-5)

INDEX_ERROR_HINT = (
    "an index ran past the edge of the image, so your output is too large. The number of window "
    "positions along an axis is (size + 2*padding - kernel) // stride + 1."
)


# ----------------------------------------------------------------- convolution hints
# (2-D and 4-D cases)
def _conv_like(case: Case, image=None, kernel=None, **settings) -> np.ndarray:
    """The reference answer for the case, with one thing changed: what a typical mistake
    computes.

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
        return _reference.conv2d(x[None, None], w[None, None], **settings)[0, 0]
    return _reference.conv2d(
        x, w, case.args[2] if len(case.args) > 2 else None, **settings
    )


def _same(result, other) -> bool:
    return result.shape == other.shape and np.allclose(
        result, other, rtol=1e-4, atol=1e-5
    )


def hint_off_by_one(expected, result, case):
    if result.ndim == expected.ndim and result.shape != expected.shape:
        if np.all(np.abs(np.subtract(result.shape, expected.shape)) <= 1):
            return (
                "the output size is off by one. The number of window positions along an axis is "
                "(size + 2*padding - kernel) // stride + 1: check the `+ 1` and the end of your range()."
            )
    return None


def hint_forgot_padding(expected, result, case):
    padding = case.kwargs.get("padding", 0)
    if padding and result.shape == _conv_like(case, padding=0).shape:
        return (
            f"your output has the size of the unpadded result. With padding={padding}, first surround the "
            "image with that many rows and columns of zeros (np.pad), then slide the kernel over it."
        )
    return None


def hint_forgot_stride(expected, result, case):
    stride = case.kwargs.get("stride", 1)
    if stride > 1 and result.shape == _conv_like(case, stride=1).shape:
        return (
            f"your output has as many values as with stride 1. With stride={stride}, the window "
            "jumps by `stride` pixels: output (i, j) reads the input from row i*stride, column j*stride."
        )
    return None


def hint_rows_columns(expected, result, case):
    x, w = case.args[:2]
    mixed = [
        expected.swapaxes(-1, -2),
        _conv_like(case, kernel=w.swapaxes(-1, -2)),
        _conv_like(case, image=x.swapaxes(-1, -2)),
    ]
    if any(_same(result, m) for m in mixed):
        return (
            "rows and columns are mixed up. Index as [row, column]: output [i, j] multiplies "
            "kernel[di, dj] with image[i + di, j + dj], where i and di go down, j and dj go across."
        )
    return None


def hint_flipped_kernel(expected, result, case):
    if _same(result, _conv_like(case, kernel=case.args[1][..., ::-1, ::-1])):
        return (
            "you flipped the kernel, which is the mathematician's convolution. CNN libraries compute "
            "cross-correlation: kernel[0, 0] multiplies the top-left pixel of the window, unflipped."
        )
    return None


CONV2D_HINTS = [
    hint_forgot_padding,
    hint_forgot_stride,
    hint_off_by_one,
    hint_rows_columns,
    hint_flipped_kernel,
]


# ----------------------------------------------------------------- chapter 1
def check_output_size(student_fn) -> Report:
    """``student_fn(size, kernel, stride, padding) -> int``, the output length along one
    axis.
    """
    combos = [
        (5, 3, 1, 0),
        (5, 3, 1, 2),
        (7, 3, 2, 0),
        (8, 3, 2, 1),
        (6, 6, 1, 0),
        (10, 4, 3, 2),
        (224, 7, 2, 3),
    ]
    cases = [
        Case(
            f"size={n}, kernel={k}, stride={s}, padding={p}",
            (n, k, s, p),
            output_size(n, k, s, p),
        )
        for n, k, s, p in combos
    ]

    def hint(expected, result, case):
        n, k, s, p = case.args
        if result in (expected - 1, expected + 1):
            return "off by one: count the window positions, 0 through (size + 2*padding - kernel) // stride, inclusive."
        if result == output_size(n + p, k, s, 0):
            return "padding adds `padding` pixels on BOTH sides: size + 2*padding."
        if result == output_size(n, k, 1, p):
            return "divide by the stride: the window jumps `stride` pixels per step."
        if isinstance(result, float):
            return "use floor division `//`: a window that does not fit is not counted."
        return None

    return grade("output_size", student_fn, cases, [hint])


def _flops(x_shape, w_shape, stride, padding) -> int:
    n, _, h, width = x_shape
    f, c, kh, kw = w_shape
    return (
        2
        * n
        * f
        * output_size(h, kh, stride, padding)
        * output_size(width, kw, stride, padding)
        * c
        * kh
        * kw
    )


def check_conv2d_flops(student_fn) -> Report:
    """``student_fn(x_shape, w_shape, stride, padding) -> FLOPs``, counting a
    multiply-add as 2.
    """
    specs = [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
        ((1, 3, 8, 8), (4, 3, 3, 3), 1, 1),
        ((2, 3, 9, 9), (4, 3, 3, 3), 2, 0),
        ((1, 3, 224, 224), (64, 3, 7, 7), 2, 3),
        ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ]
    cases = [
        Case(
            f"x {xs}, w {ws}, stride {s}, padding {p}",
            (xs, ws, s, p),
            _flops(xs, ws, s, p),
        )
        for xs, ws, s, p in specs
    ]

    def hint(expected, result, case):
        xs, ws, s, p = case.args
        if result * 2 == expected:
            return "a multiply-add is two floating-point operations: count 2 per multiply-add."
        if result == expected * 2:
            return "you counted each multiply-add as 4 operations; it is 2 (one multiply, one add)."
        if result == _flops(xs, ws, s, 0) or result == _flops(xs, ws, 1, p):
            return "compute the output size with the stride and the padding: (H + 2*P - KH) // S + 1."
        return "FLOPs = 2 x N x F x OH x OW x C x KH x KW: every output sums C x KH x KW products."

    return grade("conv2d_flops", student_fn, cases, [hint])


def check_softmax(student_fn) -> Report:
    """``student_fn(x) -> probabilities`` along the last axis of a 1-D or 2-D x, same
    shape and dtype.
    """
    rng = np.random.default_rng(_rng_seed)
    inputs = [
        ("the scores [1, 2, 3]", np.array([1.0, 2.0, 3.0])),
        (
            "a 3x3 batch (one row per sample)",
            np.array([[0.0, 1.0, 2.0], [5.0, 0.0, 0.0], [-1.0, -1.0, 3.0]]),
        ),
        ("two rows of scores", np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])),
        (
            "large scores, which overflow np.exp",
            np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]]),
        ),
        (
            "random float32 scores (4, 10)",
            5 * rng.standard_normal((4, 10)).astype(np.float32),
        ),
    ]
    cases = [
        Case(
            name,
            (x,),
            _reference.softmax(x),
            **(_FLOAT32 if x.dtype == np.float32 else {}),
        )
        for name, x in inputs
    ]

    def hint(expected, result, case):
        x = case.args[0]
        if np.isfinite(expected).all() and not np.isfinite(result).all():
            return (
                "np.exp overflowed to inf (exp(1000) is too large for a float). Subtract each row's maximum "
                "first: np.exp(x - x.max(axis=-1, keepdims=True)). The result does not change mathematically."
            )
        exps = np.exp(x - x.max())
        if _same(result, exps / exps.sum()):
            return "you normalized over the whole array; each row is one sample: sum along axis=-1 only."
        if x.ndim == 2 and _same(result, exps / exps.sum(axis=-1)):
            return (
                "the sums divide the wrong entries: x.sum(axis=-1) has shape (N,), which lines up with the "
                "columns. Keep the axis: x.sum(axis=-1, keepdims=True) has shape (N, 1)."
            )
        if not np.allclose(result.sum(axis=-1), 1.0, atol=1e-4):
            return "each row must sum to 1: divide the exponentials by their sum."
        return None

    shapes = (
        "if the message is about shapes, keep the summed axis: x.sum(axis=-1, keepdims=True) has shape "
        "(N, 1), which lines up with the rows of an (N, K) array."
    )
    return grade("softmax", student_fn, cases, [hint], {ValueError: shapes})


def _receptive_field(layers, own_stride: bool = False) -> int:
    """Each layer widens the field by (K - 1) x the step, the product of the strides of
    the layers before it.

    ``own_stride=True`` computes the common mistake of counting a layer's own stride
    too.
    """
    field, step = 1, 1
    for kernel, stride in layers:
        step *= stride if own_stride else 1
        field += (kernel - 1) * step
        step *= 1 if own_stride else stride
    return field


def check_receptive_field(student_fn) -> Report:
    """``student_fn(layers) -> int``: the receptive field of a stack of ``(kernel,
    stride)`` layers.
    """
    stacks = [
        ("one 3x3 convolution", [(3, 1)]),
        ("two 3x3 convolutions", [(3, 1), (3, 1)]),
        ("a 2x2 pooling, stride 2", [(2, 2)]),
        ("conv, pool, conv", [(3, 1), (2, 2), (3, 1)]),
        ("the chapter's stack", [(3, 1), (2, 2)] * 3 + [(3, 1)]),
        (
            "the ResNet stem: 7x7 stride 2, then 3x3 pooling stride 2, then 3x3",
            [(7, 2), (3, 2), (3, 1)],
        ),
    ]
    cases = [Case(name, (layers,), _receptive_field(layers)) for name, layers in stacks]

    def hint(expected, result, case):
        layers = case.args[0]
        if result == 1 + sum(k - 1 for k, _ in layers):
            return (
                "you left out the strides. After a layer with stride 2, one step of the next layer covers "
                "2 input pixels: add (K - 1) times the product of the strides of all EARLIER layers."
            )
        if result == _receptive_field(layers, own_stride=True):
            return "a layer's own stride does not widen its own window: use the strides of the layers before it."
        if result == sum(k for k, _ in layers):
            return "the windows overlap: each extra layer adds K - 1 pixels (times the step), not K."
        return None

    return grade("receptive_field", student_fn, cases, [hint])


def check_relu(student_fn) -> Report:
    """``student_fn(x) -> max(x, 0)`` elementwise, same shape and dtype."""
    rng = np.random.default_rng(_rng_seed)
    inputs = [
        np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
        np.array([[1.0, -1.0], [-3.0, 4.0]], np.float32),
        rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
    ]
    cases = [
        Case(f"shape {x.shape} {x.dtype}", (x,), _reference.relu(x)) for x in inputs
    ]

    def hint(expected, result, case):
        if _same(result, np.abs(case.args[0])):
            return "you returned |x|; ReLU sets negative values to 0 instead of flipping their sign."
        return None

    return grade("relu", student_fn, cases, [hint])


# ----------------------------------------------------------------- chapter 2
def check_pad2d(student_fn) -> Report:
    """``student_fn(image, padding)``: the (H, W) image surrounded by ``padding`` zeros
    on every side.
    """
    rng = np.random.default_rng(_rng_seed)
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
            return "you added zeros on one side only; padding goes on BOTH sides, so the result is (H + 2p, W + 2p)."
        if result.shape == expected.shape and np.array_equal(result[:h, :w], image):
            return (
                f"the image sits in the top-left corner. It belongs in the middle: rows {p} to {p}+H and "
                f"columns {p} to {p}+W, i.e. out[p:p + H, p:p + W] = image."
            )
        if result.shape == expected.T.shape:
            return "rows and columns are swapped: the padded image has H + 2p rows and W + 2p columns."
        return None

    return grade("pad2d", student_fn, cases, [hint])


def conv2d_cases() -> list[Case]:
    """2-D cases for ``conv2d(image, kernel, stride=1, padding=0)``: worked example
    first, then harder.
    """
    rng = np.random.default_rng(_rng_seed)
    specs = [
        ("the 5x5 worked example", _SEED_IMAGE, _EDGE_KERNEL, 1, 0),
        ("an asymmetric kernel", _SEED_IMAGE, np.arange(9.0).reshape(3, 3), 1, 0),
        ("stride 2", _SEED_IMAGE, _EDGE_KERNEL, 2, 0),
        ("padding 1", _SEED_IMAGE, _EDGE_KERNEL, 1, 1),
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
            _conv_like(Case("", (x, k), None), stride=s, padding=p),
            dict(stride=s, padding=p),
            **(_FLOAT32 if x.dtype == np.float32 else {}),
        )
        for name, x, k, s, p in specs
    ]


def check_conv2d(student_fn) -> Report:
    """``student_fn(image, kernel, stride=1, padding=0)`` on 2-D arrays, returning the
    2-D output.
    """
    return grade(
        "conv2d",
        student_fn,
        conv2d_cases(),
        CONV2D_HINTS,
        {IndexError: INDEX_ERROR_HINT},
    )


def _dilated(image, kernel, dilation):
    """A dilated kernel is an ordinary kernel with dilation - 1 zeros between its taps."""
    kh, kw = kernel.shape
    spread = np.zeros(
        ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1), dtype=kernel.dtype
    )
    spread[::dilation, ::dilation] = kernel
    return _reference.conv2d(image[None, None], spread[None, None])[0, 0]


def dilated_cases() -> list[Case]:
    """Cases for ``conv2d_dilated(image, kernel, dilation)``, easiest first."""
    rng = np.random.default_rng(_rng_seed)
    specs = [
        (
            "dilation 1 (an ordinary convolution) on the 5x5 example",
            _SEED_IMAGE,
            _EDGE_KERNEL,
            1,
        ),
        (
            "dilation 2 on a 7x7 image",
            np.arange(1.0, 50.0).reshape(7, 7),
            _EDGE_KERNEL,
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
        Case(
            name,
            (x, k, d),
            _dilated(x, k, d),
            **(_FLOAT32 if x.dtype == np.float32 else {}),
        )
        for name, x, k, d in specs
    ]


def dilated_hints():
    """Diagnoses for a dilated convolution (shared with the vectorized version of
    chapter 4).
    """

    def hint_no_dilation(expected, result, case):
        image, kernel, dilation = case.args
        if dilation > 1 and result.shape == _dilated(image, kernel, 1).shape:
            return (
                "your output has the size of an ordinary convolution. A dilated kernel spans "
                "(K - 1) * dilation + 1 pixels, so the output has H - (KH - 1) * dilation rows."
            )
        return None

    def hint_stride(expected, result, case):
        image, kernel, dilation = case.args
        strided = _reference.conv2d(
            image[None, None], kernel[None, None], stride=dilation
        )[0, 0]
        if dilation > 1 and result.shape == strided.shape:
            return (
                "you moved the window by `dilation` pixels, which is a stride. Dilation keeps the window "
                "moving one pixel at a time and spreads its taps: image[i + di*dilation, j + dj*dilation]."
            )
        return None

    def hint_span(expected, result, case):
        dilation = case.args[2]
        if dilation > 1 and np.all(
            np.subtract(expected.shape, result.shape) == dilation - 1
        ):
            return (
                "your output is too small. The kernel spans (K - 1) * dilation + 1 pixels, not K * dilation: "
                "the last tap sits at (K - 1) * dilation."
            )
        return None

    return [hint_no_dilation, hint_stride, hint_span, hint_off_by_one]


DILATED_INDEX_HINT = (
    "an index ran past the edge of the image, so your output is too large. The dilated kernel "
    "spans (K - 1) * dilation + 1 pixels: OH = H - (KH - 1) * dilation."
)


def check_conv2d_dilated(student_fn) -> Report:
    """``student_fn(image, kernel, dilation)`` on 2-D arrays: a dilated valid
    cross-correlation.
    """
    return grade(
        "conv2d_dilated",
        student_fn,
        dilated_cases(),
        dilated_hints(),
        {IndexError: DILATED_INDEX_HINT},
    )


# ----------------------------------------------------------------- chapter 3
def check_relative_spread(student_fn) -> Report:
    """``student_fn(samples) -> (q3 - q1) / median``, the spread of a list of timings as
    a fraction.
    """
    rng = np.random.default_rng(_rng_seed)
    inputs = [
        ("the samples [1, 2, 3, 4, 5]", [1.0, 2.0, 3.0, 4.0, 5.0]),
        ("the same samples, unsorted", [4.0, 1.0, 5.0, 2.0, 3.0]),
        ("an even number of samples", [0.5, 0.25, 1.0, 0.75]),
        ("one very slow outlier", [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 30.0]),
        ("15 timings in seconds", (1e-3 * rng.lognormal(0, 0.1, 15)).tolist()),
    ]

    def spread(samples):
        q1, median, q3 = np.percentile(samples, [25, 50, 75])
        return float((q3 - q1) / median)

    cases = [
        Case(name, (samples,), spread(samples), rtol=1e-9, atol=1e-12)
        for name, samples in inputs
    ]

    def hint(expected, result, case):
        s = np.asarray(case.args[0])
        q1, median, q3 = np.percentile(s, [25, 50, 75])
        if np.isclose(result, 100 * expected):
            return "return a fraction (0.04), not a percentage (4)."
        if np.isclose(result, q3 - q1):
            return "divide the interquartile range by the median: the spread is relative to the typical time."
        if np.isclose(result, (q3 - q1) / s.mean()):
            return (
                "divide by the median, not the mean: one slow sample pulls the mean up."
            )
        if np.isclose(result, s.std() / s.mean()) or np.isclose(
            result, s.std(ddof=1) / s.mean()
        ):
            return (
                "that is the standard deviation over the mean, which one outlier blows up. Use the quartiles: "
                "np.percentile(samples, [25, 50, 75])."
            )
        if np.isclose(result, (s.max() - s.min()) / median):
            return "use the quartiles (25th and 75th percentiles), not the minimum and maximum."
        return "quartiles with np.percentile(samples, [25, 50, 75]), then (q3 - q1) / median."

    return grade("relative_spread", student_fn, cases, [hint])


def _intensity(
    x_shape,
    w_shape,
    stride,
    padding,
    itemsize,
    output=True,
    weights=True,
    in_bytes=True,
    padded=False,
):
    """FLOPs per byte of input, weights and output; the flags compute the common
    mistakes.
    """
    n, c, h, width = x_shape
    f, _, kh, kw = w_shape
    out = (
        n
        * f
        * output_size(h, kh, stride, padding)
        * output_size(width, kw, stride, padding)
    )
    inputs = n * c * (h + 2 * padding * padded) * (width + 2 * padding * padded)
    values = inputs + weights * np.prod(w_shape) + output * out
    return _flops(x_shape, w_shape, stride, padding) / (
        values * (itemsize if in_bytes else 1)
    )


def check_arithmetic_intensity(student_fn) -> Report:
    """``student_fn(x_shape, w_shape, stride, padding, itemsize) -> FLOPs per byte`` of
    input, weights and output.
    """
    specs = [
        ((1, 1, 6, 6), (1, 1, 3, 3), 1, 0, 4),
        ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 4),
        ((2, 3, 9, 9), (4, 3, 3, 3), 2, 0, 8),
        ((8, 16, 32, 32), (32, 16, 5, 5), 2, 2, 4),
    ]
    cases = [
        Case(
            f"x {xs}, w {ws}, stride {s}, padding {p}, itemsize {i}",
            (xs, ws, s, p, i),
            float(_intensity(xs, ws, s, p, i)),
            rtol=1e-6,
        )
        for xs, ws, s, p, i in specs
    ]

    def hint(expected, result, case):
        itemsize = case.args[4]
        if np.isclose(result, _intensity(*case.args, in_bytes=False)):
            return f"you divided by a number of values, not bytes: each value takes `itemsize` ({itemsize}) bytes."
        if np.isclose(result, _intensity(*case.args, output=False)):
            return "count the output too: the layer must write N x F x OH x OW values."
        if np.isclose(result, _intensity(*case.args, weights=False)):
            return "count the weights too: F x C x KH x KW values are read."
        if np.isclose(result * 2, expected):
            return "count FLOPs, not multiply-adds: each multiply-add is 2 FLOPs."
        if np.isclose(result, _intensity(*case.args, padded=True)):
            return "count the input as stored, without the padding: the padding zeros are never read from memory."
        return "FLOPs (2 x N x F x OH x OW x C x KH x KW) divided by itemsize x (input + weights + output values)."

    return grade("arithmetic_intensity", student_fn, cases, [hint])


def _flops_without_padding(x_shape, w_shape, stride, padding) -> int:
    n, _, h, width = x_shape
    f, c, kh, kw = w_shape

    # for each tap: how many output positions read a real pixel
    def inside(size, kernel):
        count = output_size(size, kernel, stride, padding)
        return [
            sum(0 <= i * stride + d - padding < size for i in range(count))
            for d in range(kernel)
        ]

    return 2 * n * f * c * sum(inside(h, kh)) * sum(inside(width, kw))


def check_flops_without_padding(student_fn) -> Report:
    """``student_fn(x_shape, w_shape, stride, padding) -> FLOPs`` of the multiply-adds
    that read a real pixel.
    """
    specs = [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 1),
        ((1, 1, 4, 4), (1, 1, 3, 3), 1, 2),
        ((2, 3, 9, 7), (4, 3, 3, 3), 2, 1),
        ((1, 3, 224, 224), (64, 3, 7, 7), 2, 3),
        ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ]
    cases = [
        Case(
            f"x {xs}, w {ws}, stride {s}, padding {p}",
            (xs, ws, s, p),
            _flops_without_padding(xs, ws, s, p),
        )
        for xs, ws, s, p in specs
    ]

    def hint(expected, result, case):
        if result == _flops(*case.args):
            return (
                "that counts every multiply-add, including those that read the zero padding. For each tap, "
                "count only the output positions whose input pixel i*stride + di - padding lies inside the image."
            )
        if result * 2 == expected:
            return "a multiply-add is two floating-point operations: count 2 per multiply-add."
        return (
            "work one axis at a time: for each tap d, count the outputs i with 0 <= i*stride + d - padding "
            "< size. The 2-D count for a tap is the product of its two axis counts."
        )

    return grade("flops_without_padding", student_fn, cases, [hint])
