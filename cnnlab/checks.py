"""Argument checking shared by every backend.

Each backend calls these functions first, so a bad argument is reported the
same way everywhere and before any loop or compiled kernel runs. They never
modify their inputs: they return arrays (possibly the same objects) that the
backends may read but must not write.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

Pair = tuple[int, int]

# Builtin dtypes are singletons, so ``a.dtype is FLOAT32`` is a quick exact test.
FLOAT32, FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Length of a convolution or pooling output along one axis.

    ``floor((size + 2 * padding - kernel) / stride) + 1``, the formula of
    Dumoulin & Visin (2016), "A guide to convolution arithmetic".
    """
    return (size + 2 * padding - kernel) // stride + 1


def as_float_array(name: str, a, ndim: int | None = None) -> np.ndarray:
    """Return ``a`` as a float32 or float64 array, checking its kind and size.

    Integers and booleans are promoted to float64, so ``conv2d`` on an integer
    image computes exactly what the reader expects. Anything that is not a
    real number (strings, objects, complex) is a ``TypeError``.
    """
    if type(a) is np.ndarray and (a.dtype is FLOAT32 or a.dtype is FLOAT64):
        arr = a  # the common case: already a float array, nothing to convert
    else:
        arr = _as_float(name, a)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def _as_float(name: str, a) -> np.ndarray:
    """Convert to a float32 or float64 array: integers and booleans (and other floats) to float64."""
    arr = np.asarray(a)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def as_pair(name: str, value, minimum: int) -> Pair:
    """Turn an int or an (h, w) pair into a checked pair of ints >= minimum."""
    # Quick paths for what layers pass on every call (plain ints, pairs of plain ints); bool is not int here.
    if type(value) is int and value >= minimum:
        return value, value
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        if value[0] >= minimum and value[1] >= minimum:
            return value
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def result_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """float32 only when every input is float32, float64 otherwise."""
    for a in arrays:
        if a is not None and a.dtype is not FLOAT32:
            return np.result_type(*[a.dtype for a in arrays if a is not None])
    return FLOAT32  # the common case, without the cost of np.result_type


class Conv2dArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    stride: Pair
    padding: Pair
    out_shape: tuple[int, int, int, int]
    dtype: np.dtype


def check_conv2d(x, w, b=None, stride=1, padding=0) -> Conv2dArgs:
    """Check ``conv2d`` arguments; x (N, C, H, W), w (F, C, KH, KW), b (F,)."""
    x = as_float_array("x", x, ndim=4)
    w = as_float_array("w", w, ndim=4)
    if b is not None:
        b = as_float_array("b", b, ndim=1)
    stride = as_pair("stride", stride, minimum=1)
    padding = as_pair("padding", padding, minimum=0)
    n, c, h, wd = x.shape
    f, wc, kh, kw = w.shape
    if wc != c:
        raise ValueError(
            f"channel mismatch: x has {c} channels (shape {x.shape}) "
            f"but w expects {wc} (shape {w.shape})"
        )
    if b is not None and b.shape[0] != f:
        raise ValueError(f"b must have length {f} (one per filter in w {w.shape}), got shape {b.shape}")
    hp, wp = h + 2 * padding[0], wd + 2 * padding[1]
    if kh > hp or kw > wp:
        raise ValueError(
            f"kernel {kh}x{kw} is larger than the padded input {hp}x{wp} "
            f"(x shape {x.shape}, padding {padding})"
        )
    out_shape = (n, f, output_size(h, kh, stride[0], padding[0]), output_size(wd, kw, stride[1], padding[1]))
    return Conv2dArgs(x, w, b, stride, padding, out_shape, result_dtype(x, w, b))


class Pool2dArgs(NamedTuple):
    x: np.ndarray
    kernel_size: Pair
    stride: Pair
    out_shape: tuple[int, int, int, int]


def check_pool2d(x, kernel_size, stride=None) -> Pool2dArgs:
    """Check pooling arguments; x (N, C, H, W), stride defaults to kernel_size."""
    x = as_float_array("x", x, ndim=4)
    kernel_size = as_pair("kernel_size", kernel_size, minimum=1)
    stride = kernel_size if stride is None else as_pair("stride", stride, minimum=1)
    n, c, h, w = x.shape
    if kernel_size[0] > h or kernel_size[1] > w:
        raise ValueError(f"pooling window {kernel_size} is larger than the input {h}x{w} (x shape {x.shape})")
    out_shape = (n, c, output_size(h, kernel_size[0], stride[0]), output_size(w, kernel_size[1], stride[1]))
    return Pool2dArgs(x, kernel_size, stride, out_shape)


class LinearArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    dtype: np.dtype


def check_linear(x, w, b=None) -> LinearArgs:
    """Check ``linear`` arguments; x (N, in), w (out, in), b (out,)."""
    x = as_float_array("x", x, ndim=2)
    w = as_float_array("w", w, ndim=2)
    if b is not None:
        b = as_float_array("b", b, ndim=1)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features (shape {x.shape}) but w expects {w.shape[1]} (shape {w.shape})")
    if b is not None and b.shape[0] != w.shape[0]:
        raise ValueError(f"b must have length {w.shape[0]} (one per output of w {w.shape}), got shape {b.shape}")
    return LinearArgs(x, w, b, result_dtype(x, w, b))


def check_elementwise(x) -> np.ndarray:
    """Check the input of ``relu``: any shape of real numbers, not empty."""
    return as_float_array("x", x)


def check_softmax(x, axis: int) -> tuple[np.ndarray, int]:
    """Check ``softmax`` arguments and return the axis as a non-negative int."""
    x = as_float_array("x", x)
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for x with shape {x.shape}")
    return x, int(axis) % x.ndim
