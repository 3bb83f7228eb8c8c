"""Checkers of chapters 4-5: right answers pass, mistakes get hints, slow code fails."""

import numpy as np
import pytest
from helpers import hint, lenient, stub  # noqa: F401 - lenient is a fixture
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view

import cnnlab
from cnnlab.exercises import (
    check_conv1x1_fast,
    check_conv2d_bias_relu,
    check_conv2d_dilated_fast,
    check_conv2d_layer,
    check_faster_than,
    check_max_pool2d,
)
from cnnlab.teaching.checkers.ch04_vectorizing_with_numpy import _conv2d_dilated_loops

pytestmark = pytest.mark.usefixtures("lenient")


# ----------------------------------------------------------------- max_pool2d
def windows(x, k):
    return sliding_window_view(x, (k, k), axis=(2, 3))


def test_max_pool2d():
    assert check_max_pool2d(
        lambda x, k: windows(x, k)[:, :, ::k, ::k].max(axis=(-2, -1))
    ).passed
    assert "average" in hint(
        check_max_pool2d(lambda x, k: windows(x, k)[:, :, ::k, ::k].mean(axis=(-2, -1)))
    )
    assert "overlap" in hint(
        check_max_pool2d(lambda x, k: windows(x, k).max(axis=(-2, -1)))
    )
    assert "window positions" in hint(
        check_max_pool2d(lambda x, k: windows(x, k)[:, :, ::k, ::k].max(axis=(2, 3)))
    )

    def ceil_mode(x, k):
        pad_h, pad_w = -x.shape[2] % k, -x.shape[3] % k
        xp = np.pad(
            x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), constant_values=-np.inf
        )
        return windows(xp, k)[:, :, ::k, ::k].max(axis=(-2, -1))

    assert "off by one" in hint(check_max_pool2d(ceil_mode))
    assert "start each window's maximum" in hint(
        check_max_pool2d(
            lambda x, k: np.maximum(windows(x, k)[:, :, ::k, ::k].max(axis=(-2, -1)), 0)
        )
    )
    assert check_max_pool2d(stub).status == "not implemented"
    assert "returned None" in check_max_pool2d(lambda x, k: None).message


# ------------------------------------------------ the full layer, one tensordot per tap
def conv_taps(
    x,
    w,
    b=None,
    stride=1,
    padding=0,
    transpose_back=True,
    use_bias=True,
    dtype=None,
    swap_taps=False,
):
    """A correct tensordot-per-tap convolution; switches make the classic mistakes."""
    n, _, h, width = x.shape
    f, _, kh, kw = w.shape
    out_h, out_w = (
        cnnlab.output_size(h, kh, stride, padding),
        cnnlab.output_size(width, kw, stride, padding),
    )
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((f, n, out_h, out_w), dtype=dtype or x.dtype)
    for di in range(kh):
        for dj in range(kw):
            tap = xp[
                :,
                :,
                di : di + stride * (out_h - 1) + 1 : stride,
                dj : dj + stride * (out_w - 1) + 1 : stride,
            ]
            weights = w[:, :, dj, di] if swap_taps else w[:, :, di, dj]
            out += np.tensordot(weights, tap, axes=([1], [1]))
    if b is not None and use_bias:
        out += b[:, None, None, None]
    return out.transpose(1, 0, 2, 3) if transpose_back else out


def test_conv2d_layer():
    assert check_conv2d_layer(conv_taps).passed
    assert "forgot the bias" in hint(
        check_conv2d_layer(lambda *a, **k: conv_taps(*a, **k, use_bias=False))
    )

    def mistake(**switches):
        return check_conv2d_layer(lambda *a, **k: conv_taps(*a, **{**k, **switches}))

    assert "first two axes are swapped" in hint(mistake(transpose_back=False))
    assert "unpadded result" in hint(mistake(padding=0))
    assert "jumps by `stride`" in hint(mistake(stride=1))
    assert "rows and columns are mixed up" in hint(mistake(swap_taps=True))
    float64 = check_conv2d_layer(lambda *a, **k: conv_taps(*a, **k, dtype=np.float64))
    assert (
        "dtype is float64; expected float32" in float64.message
        and "dtype=x.dtype" in hint(float64)
    )


def test_conv2d_layer_errors():
    def bad_slice_end(x, w, b=None, stride=1, padding=0):
        out_h = cnnlab.output_size(x.shape[2], w.shape[2], stride, padding)
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        out = np.zeros((x.shape[0], w.shape[0], out_h, out_h), x.dtype)
        tap = xp[
            :, :, 0 : stride * out_h : stride, 0 : stride * out_h + 1 : stride
        ]  # one row or column too many
        out += np.einsum("ncij,fc->nfij", tap, w[:, :, 0, 0])
        return out

    report = check_conv2d_layer(bad_slice_end)
    assert (
        "raised ValueError" in report.message and "in your code, line" in report.message
    )
    assert "print the shapes of your slices" in hint(report)
    assert check_conv2d_layer(stub).status == "not implemented"


# ------------------------------------------------ speed: vectorized dilated convolution
def dilated_fast(image, kernel, dilation):
    kh, kw = kernel.shape
    out_h, out_w = (
        image.shape[0] - (kh - 1) * dilation,
        image.shape[1] - (kw - 1) * dilation,
    )
    out = np.zeros((out_h, out_w), dtype=image.dtype)
    for di in range(kh):
        for dj in range(kw):
            out += (
                kernel[di, dj]
                * image[
                    di * dilation : di * dilation + out_h,
                    dj * dilation : dj * dilation + out_w,
                ]
            )
    return out


def test_conv2d_dilated_fast():
    report = check_conv2d_dilated_fast(dilated_fast)
    assert report.passed, report.message
    assert "faster (the goal is 10x)" in report.message and report.seconds > 0


def test_conv2d_dilated_fast_mistakes():
    def loops(image, kernel, dilation):
        return _conv2d_dilated_loops(image, kernel, dilation).astype(image.dtype)

    slow = check_conv2d_dilated_fast(loops)
    assert slow.status == "failed" and "not fast enough yet" in slow.message
    assert "Python loop over pixels" in slow.message
    assert "size of an ordinary convolution" in hint(
        check_conv2d_dilated_fast(lambda x, k, d: dilated_fast(x, k, 1))
    )
    assert check_conv2d_dilated_fast(stub).status == "not implemented"


# ----------------------------------------------------------- speed: loop order in Numba
@njit
def conv1x1_given(x, w):
    n_batch, channels, height, width = x.shape
    out = np.empty((n_batch, w.shape[0], height, width), dtype=x.dtype)
    for n in range(n_batch):
        for i in range(height):
            for j in range(width):
                for f in range(w.shape[0]):
                    acc = np.float32(0.0)
                    for c in range(channels):
                        acc += w[f, c] * x[n, c, i, j]
                    out[n, f, i, j] = acc
    return out


@njit
def conv1x1_reordered(x, w):
    n_batch, channels, height, width = x.shape
    out = np.zeros((n_batch, w.shape[0], height, width), dtype=x.dtype)
    for n in range(n_batch):
        for f in range(w.shape[0]):
            for c in range(channels):
                weight = w[f, c]
                for i in range(height):
                    for j in range(width):
                        out[n, f, i, j] += weight * x[n, c, i, j]
    return out


def test_conv1x1_fast():
    report = check_conv1x1_fast(conv1x1_reordered, conv1x1_given)
    assert report.passed, report.message
    slow = check_conv1x1_fast(conv1x1_given, conv1x1_given)
    assert "not fast enough yet" in slow.message and "innermost loop" in slow.message
    transposed = check_conv1x1_fast(
        lambda x, w: conv1x1_reordered(x, np.ascontiguousarray(w.T)), conv1x1_given
    )
    assert "w[f, c], not w[c, f]" in hint(transposed)
    assert check_conv1x1_fast(stub, conv1x1_given).status == "not implemented"


# ------------------------------------------- Numba: bias and ReLU fused into the kernel
@njit
def conv2d_bias_relu(x, w, b):
    n_batch, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    out = np.empty((n_batch, n_filters, height - kh + 1, width - kw + 1), dtype=x.dtype)
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(out.shape[2]):
                dst = out[n, f, i]
                dst[:] = b[f]
                for c in range(channels):
                    for di in range(kh):
                        for dj in range(kw):
                            tap = w[f, c, di, dj]
                            for j in range(dst.size):
                                dst[j] += tap * x[n, c, i + di, j + dj]
                for j in range(dst.size):
                    if dst[j] < 0:
                        dst[j] = 0
    return out


def bias_relu_taps(
    x,
    w,
    b,
    *,
    start_from_bias=True,
    bias_per_tap=False,
    relu=True,
    relu_before_bias=False,
    relu_each_tap=False,
    pad=0,
):
    """A NumPy version with switches that make the classic fusion mistakes."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    f, channels, kh, kw = w.shape
    out_h, out_w = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    bias = b[None, :, None, None]
    out = np.zeros((x.shape[0], f, out_h, out_w), x.dtype) + (
        bias if start_from_bias else 0
    )
    for c in range(channels):
        for di in range(kh):
            for dj in range(kw):
                tap = xp[:, c, di : di + out_h, dj : dj + out_w]
                out += w[None, :, c, di, dj, None, None] * tap[:, None]
                if bias_per_tap:
                    out += bias
                if relu_each_tap:
                    out = np.maximum(out, 0)
    if relu_before_bias:
        return (np.maximum(out, 0) + bias).astype(x.dtype)
    return (np.maximum(out, 0) if relu else out).astype(x.dtype)


def test_conv2d_bias_relu():
    assert check_conv2d_bias_relu(conv2d_bias_relu).passed
    assert check_conv2d_bias_relu(bias_relu_taps).passed


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (dict(relu=False), "negative outputs remain"),
        (dict(start_from_bias=False), "the bias is missing"),
        (
            dict(start_from_bias=False, relu_before_bias=True),
            "ReLU before adding the bias",
        ),
        (dict(start_from_bias=False, bias_per_tap=True), "once per tap"),
        (dict(relu_each_tap=True), "inside the tap loops"),
        (dict(pad=1), "no padding"),
    ],
)
def test_conv2d_bias_relu_mistakes_get_their_hint(mistake, phrase):
    assert phrase in hint(
        check_conv2d_bias_relu(lambda x, w, b: bias_relu_taps(x, w, b, **mistake))
    )


def test_conv2d_bias_relu_float64_and_stubs():
    as_float64 = check_conv2d_bias_relu(
        lambda x, w, b: bias_relu_taps(x, w, b).astype(np.float64)
    )
    assert "dtype is float64" in as_float64.message
    assert check_conv2d_bias_relu(stub).status == "not implemented"
    assert "returned None" in check_conv2d_bias_relu(lambda x, w, b: None).message


# -------------------------------------------------------------- the generic speed check
def test_faster_than_correctness_first_and_strict(monkeypatch):
    x = np.arange(10_000.0)
    wrong = check_faster_than(
        lambda v: v, lambda v: v * 2, (x,), 2.0, exercise="double"
    )
    assert "case 1 of 1 (the timed input) failed" in wrong.message
    same = check_faster_than(
        lambda v: v * 2, lambda v: v * 2, (x,), 1000.0, exercise="double", repeat=3
    )
    assert not same.passed and "(the goal is 1000x)" in same.message
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "1")
    with pytest.raises(AssertionError, match="not fast enough"):
        check_faster_than(
            lambda v: v * 2, lambda v: v * 2, (x,), 1000.0, exercise="double", repeat=3
        )
