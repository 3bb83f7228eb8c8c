"""Checkers of chapters 4-5: the right answer passes, each common mistake gets its hint, slow code is told so."""
import numpy as np
import pytest
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view

import cnnlab
from cnnlab.exercises import (
    check_conv1x1_fast, check_conv2d_dilated_fast, check_conv2d_layer, check_faster_than, check_max_pool2d,
)
from cnnlab.exercises.vectorize import _conv2d_dilated_loops
from helpers import hint, lenient, stub  # noqa: F401 - lenient is a fixture

pytestmark = pytest.mark.usefixtures("lenient")


# ----------------------------------------------------------------- max_pool2d
def windows(x, k):
    return sliding_window_view(x, (k, k), axis=(2, 3))


def test_max_pool2d():
    assert check_max_pool2d(lambda x, k: windows(x, k)[:, :, ::k, ::k].max(axis=(-2, -1))).passed
    assert "average" in hint(check_max_pool2d(lambda x, k: windows(x, k)[:, :, ::k, ::k].mean(axis=(-2, -1))))
    assert "overlap" in hint(check_max_pool2d(lambda x, k: windows(x, k).max(axis=(-2, -1))))
    assert "window positions" in hint(check_max_pool2d(lambda x, k: windows(x, k)[:, :, ::k, ::k].max(axis=(2, 3))))

    def ceil_mode(x, k):
        pad_h, pad_w = -x.shape[2] % k, -x.shape[3] % k
        xp = np.pad(x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), constant_values=-np.inf)
        return windows(xp, k)[:, :, ::k, ::k].max(axis=(-2, -1))

    assert "off by one" in hint(check_max_pool2d(ceil_mode))
    assert "start each window's maximum" in hint(check_max_pool2d(
        lambda x, k: np.maximum(windows(x, k)[:, :, ::k, ::k].max(axis=(-2, -1)), 0)))
    assert check_max_pool2d(stub).status == "not implemented"
    assert "returned None" in check_max_pool2d(lambda x, k: None).message


# ----------------------------------------------------------------- the full layer, one tensordot per tap
def conv_taps(x, w, b=None, stride=1, padding=0, transpose_back=True, use_bias=True, dtype=None, swap_taps=False):
    """A correct tensordot-per-tap convolution, with switches that make the classic mistakes."""
    n, _, h, width = x.shape
    f, _, kh, kw = w.shape
    out_h, out_w = cnnlab.output_size(h, kh, stride, padding), cnnlab.output_size(width, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((f, n, out_h, out_w), dtype=dtype or x.dtype)
    for di in range(kh):
        for dj in range(kw):
            tap = xp[:, :, di : di + stride * (out_h - 1) + 1 : stride, dj : dj + stride * (out_w - 1) + 1 : stride]
            weights = w[:, :, dj, di] if swap_taps else w[:, :, di, dj]
            out += np.tensordot(weights, tap, axes=([1], [1]))
    if b is not None and use_bias:
        out += b[:, None, None, None]
    return out.transpose(1, 0, 2, 3) if transpose_back else out


def test_conv2d_layer():
    assert check_conv2d_layer(conv_taps).passed
    assert "forgot the bias" in hint(check_conv2d_layer(lambda *a, **k: conv_taps(*a, **k, use_bias=False)))
    def mistake(**switches):
        return check_conv2d_layer(lambda *a, **k: conv_taps(*a, **{**k, **switches}))

    assert "first two axes are swapped" in hint(mistake(transpose_back=False))
    assert "unpadded result" in hint(mistake(padding=0))
    assert "jumps by `stride`" in hint(mistake(stride=1))
    assert "rows and columns are mixed up" in hint(mistake(swap_taps=True))
    float64 = check_conv2d_layer(lambda *a, **k: conv_taps(*a, **k, dtype=np.float64))
    assert "dtype is float64; expected float32" in float64.message and "dtype=x.dtype" in hint(float64)


def test_conv2d_layer_errors():
    def bad_slice_end(x, w, b=None, stride=1, padding=0):
        out_h = cnnlab.output_size(x.shape[2], w.shape[2], stride, padding)
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        out = np.zeros((x.shape[0], w.shape[0], out_h, out_h), x.dtype)
        tap = xp[:, :, 0 : stride * out_h : stride, 0 : stride * out_h + 1 : stride]  # one row or column too many
        out += np.einsum("ncij,fc->nfij", tap, w[:, :, 0, 0])
        return out

    report = check_conv2d_layer(bad_slice_end)
    assert "raised ValueError" in report.message and "in your code, line" in report.message
    assert "print the shapes of your slices" in hint(report)
    assert check_conv2d_layer(stub).status == "not implemented"


# ----------------------------------------------------------------- speed: vectorized dilated convolution
def dilated_fast(image, kernel, dilation):
    kh, kw = kernel.shape
    out_h, out_w = image.shape[0] - (kh - 1) * dilation, image.shape[1] - (kw - 1) * dilation
    out = np.zeros((out_h, out_w), dtype=image.dtype)
    for di in range(kh):
        for dj in range(kw):
            out += kernel[di, dj] * image[di * dilation : di * dilation + out_h, dj * dilation : dj * dilation + out_w]
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
    assert "size of an ordinary convolution" in hint(check_conv2d_dilated_fast(lambda x, k, d: dilated_fast(x, k, 1)))
    assert check_conv2d_dilated_fast(stub).status == "not implemented"


# ----------------------------------------------------------------- speed: loop order in Numba
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
    transposed = check_conv1x1_fast(lambda x, w: conv1x1_reordered(x, np.ascontiguousarray(w.T)), conv1x1_given)
    assert "w[f, c], not w[c, f]" in hint(transposed)
    assert check_conv1x1_fast(stub, conv1x1_given).status == "not implemented"


# ----------------------------------------------------------------- the generic speed check
def test_faster_than_correctness_first_and_strict(monkeypatch):
    x = np.arange(10_000.0)
    wrong = check_faster_than(lambda v: v, lambda v: v * 2, (x,), 2.0, exercise="double")
    assert "case 1 of 1 (the timed input) failed" in wrong.message
    same = check_faster_than(lambda v: v * 2, lambda v: v * 2, (x,), 1000.0, exercise="double", repeat=3)
    assert not same.passed and "(the goal is 1000x)" in same.message
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "1")
    with pytest.raises(AssertionError, match="not fast enough"):
        check_faster_than(lambda v: v * 2, lambda v: v * 2, (x,), 1000.0, exercise="double", repeat=3)
