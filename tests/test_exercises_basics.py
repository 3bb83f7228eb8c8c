"""Checkers of chapters 1-3: the right answer passes, each common mistake a hint."""

import numpy as np
import pytest
from helpers import hint, lenient, stub  # noqa: F401 - lenient is a fixture

import cnnlab
from cnnlab.exercises import (
    check_arithmetic_intensity,
    check_conv2d,
    check_conv2d_dilated,
    check_conv2d_flops,
    check_flops_without_padding,
    check_output_size,
    check_pad2d,
    check_receptive_field,
    check_relative_spread,
    check_relu,
    check_softmax,
)

pytestmark = pytest.mark.usefixtures("lenient")


# ----------------------------------------------------------------- output_size
def test_output_size():
    assert check_output_size(lambda n, k, s, p: (n + 2 * p - k) // s + 1).passed
    assert "off by one" in hint(
        check_output_size(lambda n, k, s, p: (n + 2 * p - k) // s)
    )
    assert "BOTH sides" in hint(
        check_output_size(lambda n, k, s, p: (n + p - k) // s + 1)
    )
    assert "divide by the stride" in hint(
        check_output_size(lambda n, k, s, p: n + 2 * p - k + 1)
    )
    assert (
        "floor division //"
        in check_output_size(lambda n, k, s, p: (n + 2 * p - k) / s + 1).message
    )


# ----------------------------------------------------------------- conv2d_flops
def flops(x_shape, w_shape, stride=1, padding=0):
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    out_h, out_w = (
        cnnlab.output_size(h, kh, stride, padding),
        cnnlab.output_size(w, kw, stride, padding),
    )
    return 2 * n * f * out_h * out_w * c * kh * kw


def test_conv2d_flops():
    assert check_conv2d_flops(flops).passed
    assert "2 per multiply-add" in hint(check_conv2d_flops(lambda *a: flops(*a) // 2))
    assert "counted each multiply-add as 4" in hint(
        check_conv2d_flops(lambda *a: flops(*a) * 2)
    )
    assert "with the stride and the padding" in hint(
        check_conv2d_flops(lambda xs, ws, s, p: flops(xs, ws, s, 0))
    )


# ----------------------------------------------------------------- softmax
def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax():
    assert check_softmax(softmax).passed
    with np.errstate(over="ignore", invalid="ignore"):
        assert "overflowed" in hint(
            check_softmax(lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True))
        )
    assert "whole array" in hint(check_softmax(lambda x: np.exp(x) / np.exp(x).sum()))
    no_keepdims = hint(
        check_softmax(lambda x: np.exp(x - x.max()) / np.exp(x - x.max()).sum(axis=-1))
    )
    assert "keepdims=True" in no_keepdims
    assert "sum to 1" in hint(
        check_softmax(lambda x: np.exp(x - x.max(axis=-1, keepdims=True)))
    )
    float64 = check_softmax(lambda x: softmax(x.astype(np.float64)))
    assert "dtype is float64; expected float32" in float64.message


# ----------------------------------------------------------------- receptive_field
def receptive_field(layers):
    field, step = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * step
        step *= stride
    return field


def test_receptive_field():
    assert check_receptive_field(receptive_field).passed
    assert "left out the strides" in hint(
        check_receptive_field(lambda layers: 1 + sum(k - 1 for k, _ in layers))
    )

    def own_stride(layers):
        field, step = 1, 1
        for kernel, stride in layers:
            step *= stride
            field += (kernel - 1) * step
        return field

    assert "own stride" in hint(check_receptive_field(own_stride))
    assert "K - 1 pixels" in hint(
        check_receptive_field(lambda layers: sum(k for k, _ in layers))
    )


# ----------------------------------------------------------------- relu
def test_relu():
    assert check_relu(lambda x: np.maximum(x, 0)).passed
    assert "|x|" in hint(check_relu(np.abs))


# ----------------------------------------------------------------- pad2d
def pad2d(image, p):
    out = np.zeros((image.shape[0] + 2 * p, image.shape[1] + 2 * p), dtype=image.dtype)
    out[p : p + image.shape[0], p : p + image.shape[1]] = image
    return out


def test_pad2d():
    assert check_pad2d(pad2d).passed

    def one_side(image, p):
        out = np.zeros((image.shape[0] + p, image.shape[1] + p), dtype=image.dtype)
        out[p:, p:] = image
        return out

    def corner(image, p):
        out = np.zeros(
            (image.shape[0] + 2 * p, image.shape[1] + 2 * p), dtype=image.dtype
        )
        out[: image.shape[0], : image.shape[1]] = image
        return out

    def default_dtype(image, p):
        return pad2d(image, p).astype(np.float64)

    assert "one side only" in hint(check_pad2d(one_side))
    assert "top-left corner" in hint(check_pad2d(corner))
    assert "dtype=x.dtype" in hint(check_pad2d(default_dtype))


# ------------------------------------------------------- conv2d with stride and padding
def conv2d(
    image,
    kernel,
    stride=1,
    padding=0,
    flip=False,
    transpose=False,
    extra=0,
    out_dtype=None,
):
    """A correct loop convolution, with switches that make the classic mistakes."""
    kernel = kernel[::-1, ::-1] if flip else kernel
    kernel = kernel.T if transpose else kernel
    xp = np.pad(image, padding)
    kh, kw = kernel.shape
    out_h, out_w = (
        (xp.shape[0] - kh) // stride + 1 + extra,
        (xp.shape[1] - kw) // stride + 1 + extra,
    )
    out = np.zeros((out_h, out_w), dtype=out_dtype or image.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = xp[i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[i, j] = sum(
                window[di, dj] * kernel[di, dj] for di in range(kh) for dj in range(kw)
            )
    return out


def test_conv2d():
    assert check_conv2d(conv2d).passed
    no_padding = check_conv2d(lambda x, k, stride=1, padding=0: conv2d(x, k, stride))
    assert "the size of the unpadded result" in hint(no_padding)
    assert "jumps by `stride` pixels" in hint(
        check_conv2d(lambda x, k, stride=1, padding=0: conv2d(x, k, 1, padding))
    )
    assert "off by one" in hint(
        check_conv2d(
            lambda x, k, stride=1, padding=0: conv2d(x, k, stride, padding, extra=-1)
        )
    )
    index_error = hint(
        check_conv2d(
            lambda x, k, stride=1, padding=0: conv2d(x, k, stride, padding, extra=1)
        )
    )
    assert "index ran past the edge" in index_error
    assert "rows and columns are mixed up" in hint(
        check_conv2d(lambda x, k, **kw: conv2d(x, k, **kw, transpose=True))
    )
    assert "flipped the kernel" in hint(
        check_conv2d(lambda x, k, **kw: conv2d(x, k, **kw, flip=True))
    )
    float64 = check_conv2d(lambda x, k, **kw: conv2d(x, k, **kw, out_dtype=np.float64))
    assert (
        "dtype is float64; expected float32" in float64.message
        and "dtype=x.dtype" in hint(float64)
    )
    integer = check_conv2d(lambda x, k, **kw: conv2d(x, k, **kw, out_dtype=np.int64))
    assert "dtype" in hint(integer)


def test_conv2d_mixed_up_image_indices():
    def swapped(image, kernel, stride=1, padding=0):
        kh, kw = kernel.shape
        out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = np.sum(
                    image[j : j + kh, i : i + kw] * kernel
                )  # [column, row]
        return out

    assert "rows and columns are mixed up" in hint(check_conv2d(swapped))


def test_conv2d_none_exception_not_implemented_and_input_change():
    assert (
        "returned None" in check_conv2d(lambda x, k, stride=1, padding=0: None).message
    )
    report = check_conv2d(
        lambda x, k, stride=1, padding=0: x / 0 if x.sum() > 1e9 else x[100, 100]
    )
    assert (
        "raised IndexError" in report.message and "in your code, line" in report.message
    )
    assert check_conv2d(stub).status == "not implemented"

    def in_place(image, kernel, stride=1, padding=0):
        result = conv2d(image, kernel, stride, padding)
        image[:] = 0
        return result

    assert "modified its input (image)" in check_conv2d(in_place).message


# ----------------------------------------------------------------- dilated convolution
def dilated(image, kernel, dilation, out_size=None, reads=None):
    kh, kw = kernel.shape
    out_h, out_w = out_size or (
        image.shape[0] - (kh - 1) * dilation,
        image.shape[1] - (kw - 1) * dilation,
    )
    reads = reads or (lambda i, j, di, dj: image[i + di * dilation, j + dj * dilation])
    out = np.zeros((out_h, out_w), dtype=image.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = sum(
                reads(i, j, di, dj) * kernel[di, dj]
                for di in range(kh)
                for dj in range(kw)
            )
    return out


def test_conv2d_dilated():
    assert check_conv2d_dilated(dilated).passed

    def ignored(image, kernel, dilation):
        return dilated(image, kernel, 1)

    def strided(image, kernel, d):
        size = (
            (image.shape[0] - kernel.shape[0]) // d + 1,
            (image.shape[1] - kernel.shape[1]) // d + 1,
        )
        return dilated(
            image, kernel, d, size, lambda i, j, di, dj: image[i * d + di, j * d + dj]
        )

    def span_k_times_d(image, kernel, d):
        (h, w), (kh, kw) = image.shape, kernel.shape
        return dilated(image, kernel, d, (h - kh * d + 1, w - kw * d + 1))

    def undilated_size(image, kernel, d):
        return dilated(
            image,
            kernel,
            d,
            (
                image.shape[0] - kernel.shape[0] + 1,
                image.shape[1] - kernel.shape[1] + 1,
            ),
        )

    assert "size of an ordinary convolution" in hint(check_conv2d_dilated(ignored))
    assert "which is a stride" in hint(check_conv2d_dilated(strided))
    assert "not K * dilation" in hint(check_conv2d_dilated(span_k_times_d))
    assert "(K - 1) * dilation + 1" in hint(check_conv2d_dilated(undilated_size))
    assert check_conv2d_dilated(stub).status == "not implemented"


# ----------------------------------------------------------------- relative_spread
def spread(samples):
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return float((q3 - q1) / median)


def test_relative_spread():
    assert check_relative_spread(spread).passed
    assert "fraction" in hint(check_relative_spread(lambda s: 100 * spread(s)))
    assert "divide the interquartile range by the median" in hint(
        check_relative_spread(lambda s: float(np.subtract(*np.percentile(s, [75, 25]))))
    )
    iqr = lambda s: float(np.subtract(*np.percentile(s, [75, 25])))  # noqa: E731
    assert "not the mean" in hint(check_relative_spread(lambda s: iqr(s) / np.mean(s)))
    assert "standard deviation" in hint(
        check_relative_spread(lambda s: float(np.std(s) / np.mean(s)))
    )
    assert "not the minimum and maximum" in hint(
        check_relative_spread(lambda s: (max(s) - min(s)) / np.median(s))
    )
    assert "returned None" in check_relative_spread(lambda s: None).message


# ----------------------------------------------------------------- arithmetic_intensity
def intensity(
    x_shape,
    w_shape,
    stride,
    padding,
    itemsize,
    count_output=True,
    count_weights=True,
    per_byte=True,
    padded=False,
):
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    out = (
        n
        * f
        * cnnlab.output_size(h, kh, stride, padding)
        * cnnlab.output_size(w, kw, stride, padding)
    )
    inputs = n * c * (h + 2 * padding * padded) * (w + 2 * padding * padded)
    values = inputs + count_weights * f * c * kh * kw + count_output * out
    return flops(x_shape, w_shape, stride, padding) / (
        values * (itemsize if per_byte else 1)
    )


def test_arithmetic_intensity():
    assert check_arithmetic_intensity(intensity).passed
    assert "not bytes" in hint(
        check_arithmetic_intensity(lambda *a: intensity(*a, per_byte=False))
    )
    assert "count the output too" in hint(
        check_arithmetic_intensity(lambda *a: intensity(*a, count_output=False))
    )
    assert "count the weights too" in hint(
        check_arithmetic_intensity(lambda *a: intensity(*a, count_weights=False))
    )
    assert "not multiply-adds" in hint(
        check_arithmetic_intensity(lambda *a: intensity(*a) / 2)
    )
    assert "without the padding" in hint(
        check_arithmetic_intensity(lambda *a: intensity(*a, padded=True))
    )


# ---------------------------------------------------------------- flops_without_padding
def real_flops(x_shape, w_shape, stride, padding):
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape

    def pairs(size, k):
        return sum(
            0 <= i * stride + d - padding < size
            for i in range(cnnlab.output_size(size, k, stride, padding))
            for d in range(k)
        )

    return 2 * n * f * c * pairs(h, kh) * pairs(w, kw)


def test_flops_without_padding():
    assert check_flops_without_padding(real_flops).passed
    assert "read the zero padding" in hint(check_flops_without_padding(flops))
    assert "2 per multiply-add" in hint(
        check_flops_without_padding(lambda *a: real_flops(*a) // 2)
    )
    assert "one axis at a time" in hint(
        check_flops_without_padding(lambda *a: real_flops(*a) + 2)
    )
