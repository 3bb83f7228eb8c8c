"""Argument checking: the one place that validates, for every backend and every room.

Each backend calls these functions first, so a bad argument is reported the same
way everywhere and before any loop or compiled kernel runs. The scalar checks at the
top (:func:`validate_int`, :func:`validate_number`, :func:`validate_axis`) serve the
layers, training, timing and data rooms too. They never modify their inputs: they
return arrays (possibly the same objects) that the backends may read but must not
write.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

Pair = tuple[int, int]
PairLike = int | tuple[int, int]
"""What stride, padding and kernel_size accept: one int for both axes, or (h, w)."""

# Builtin dtypes are singletons, so ``a.dtype is FLOAT32`` is a quick exact test.
FLOAT32, FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)

INT64_MAX = 2**63 - 1
"""Largest stride, padding or kernel size: the compiled kernels index with int64."""


def is_int(value: object) -> bool:
    """True for Python and NumPy integers; bool is not an int here."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def validate_int(name: str, value: object, minimum: int | None = None) -> int:
    """An int (not a bool) of at least ``minimum``; else an error that names it."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:  # type: ignore[operator]
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def validate_number(
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in [low, high] (open at either end on request).

    inf and NaN are never accepted: a learning rate of inf turns every weight
    into NaN on the first step, and NaN fails every comparison.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    number = float(value)
    above = low < number if low_open else low <= number
    below = number < high if high_open else number <= high
    if not (above and below):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(
            f"{name} must be in {left}{low:g}, {high:g}{right}, got {value!r}"
        )
    return number


def validate_axis(axis: object, ndim: int, shape: tuple[int, ...]) -> int:
    """An axis of an array with ``ndim`` dimensions, as a non-negative int."""
    if not is_int(axis):
        raise TypeError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:  # type: ignore[operator]
        raise ValueError(f"axis {axis} is out of range for x with shape {shape}")
    return int(axis) % ndim  # type: ignore[call-overload]


@functools.cache
def memory_bytes() -> int:
    """This machine's physical memory in bytes: no array larger than this can be held.

    Where the operating system does not say, 2**47 bytes (128 TiB, the user
    address space of x86-64 Linux) stands in.
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**47


def validate_fits_in_memory(
    what: str, shape: tuple[int, ...], dtype: np.dtype, cause: str
) -> None:
    """Raise ValueError if an array of ``shape`` and ``dtype`` could not be held.

    Sizes are Python ints, so the product is exact however large the
    arguments are. ``cause`` names the arguments that make the array so large.
    """
    elements = math.prod(shape)
    itemsize = np.dtype(dtype).itemsize
    if elements * itemsize > memory_bytes():
        raise ValueError(
            f"{cause} would make {what} of shape {tuple(shape)}, "
            f"{elements:.3g} elements of {itemsize} bytes: more than this machine's "
            f"memory ({memory_bytes() / 2**30:.3g} GiB) could hold"
        )


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Length of a convolution or pooling output along one axis.

    ``floor((size + 2 * padding - kernel) / stride) + 1``, the formula of
    Dumoulin & Visin (2016), "A guide to convolution arithmetic".
    """
    return (size + 2 * padding - kernel) // stride + 1


def as_float_array(name: str, a: ArrayLike, ndim: int | None = None) -> np.ndarray:
    """Return ``a`` as a float32 or float64 array, checking its kind and size.

    Integers and booleans are promoted to float64, so ``conv2d`` on an integer
    image computes exactly what the reader expects. Anything that is not a
    real number (strings, objects, complex) is a ``TypeError``.
    """
    if type(a) is np.ndarray and (a.dtype is FLOAT32 or a.dtype is FLOAT64):
        arr = a  # the common case: already a float array, nothing to convert
    else:
        arr = np.asarray(a)
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        elif arr.dtype.kind != "f":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        elif arr.dtype not in (np.float32, np.float64):  # float16, longdouble
            arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def as_pair(name: str, value: object, minimum: int) -> Pair:
    """An int or an (h, w) pair as a checked pair of ints in [minimum, 2**63 - 1]."""
    # Quick paths for what layers pass on every call (plain ints, pairs of plain
    # ints); bool is not int here.
    if type(value) is int and minimum <= value <= INT64_MAX:
        return value, value
    if type(value) is tuple and len(value) == 2:
        h, w = value
        if type(h) is int and type(w) is int:
            if minimum <= h <= INT64_MAX and minimum <= w <= INT64_MAX:
                return h, w
    items = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(items) != 2 or not all(is_int(v) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if max(items) > INT64_MAX:
        raise ValueError(f"{name} must fit in int64 (at most 2**63 - 1), got {value!r}")
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


def validate_conv2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: PairLike = 1,
    padding: PairLike = 0,
    im2col: bool = False,
) -> Conv2dArgs:
    """Check ``conv2d`` arguments; x (N, C, H, W), w (F, C, KH, KW), b (F,).

    Besides shapes, every size the convolution will allocate must fit in
    memory: the padded copy of x that most kernels make, the output, and,
    with ``im2col=True`` (the backends that build it), the im2col matrix of
    ``C*KH*KW`` rows by ``N*OH*OW`` columns. A huge padding or a huge number
    of filters is then a ValueError here, before any loop or allocation.
    """
    stride = as_pair("stride", stride, minimum=1)
    padding = as_pair("padding", padding, minimum=0)
    xa, wa = as_float_array("x", x, ndim=4), as_float_array("w", w, ndim=4)
    ba = None if b is None else as_float_array("b", b, ndim=1)
    n, c, h, wd = xa.shape
    f, wc, kh, kw = wa.shape
    if wc != c:
        raise ValueError(
            f"channel mismatch: x has {c} channels (shape {xa.shape}) "
            f"but w expects {wc} (shape {wa.shape})"
        )
    if ba is not None and ba.shape[0] != f:
        raise ValueError(
            f"b must have length {f} (one per filter in w {wa.shape}), "
            f"got shape {ba.shape}"
        )
    dtype = result_dtype(xa, wa, ba)
    hp, wp = h + 2 * padding[0], wd + 2 * padding[1]
    if padding != (0, 0):
        cause = f"padding {padding}"
        validate_fits_in_memory("a padded input", (n, c, hp, wp), dtype, cause)
    if kh > hp or kw > wp:
        raise ValueError(
            f"kernel {kh}x{kw} is larger than the padded input {hp}x{wp} "
            f"(x shape {xa.shape}, padding {padding})"
        )
    oh = output_size(h, kh, stride[0], padding[0])
    ow = output_size(wd, kw, stride[1], padding[1])
    cause = f"x {xa.shape}, w {wa.shape}, stride {stride} and padding {padding}"
    validate_fits_in_memory("an output", (n, f, oh, ow), dtype, cause)
    if im2col:
        cols = (c * kh * kw, n * oh * ow)
        validate_fits_in_memory("an im2col matrix", cols, dtype, cause)
    return Conv2dArgs(xa, wa, ba, stride, padding, (n, f, oh, ow), dtype)


class Pool2dArgs(NamedTuple):
    x: np.ndarray
    kernel_size: Pair
    stride: Pair
    out_shape: tuple[int, int, int, int]
    dtype: np.dtype


def validate_pool2d(
    x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> Pool2dArgs:
    """Check pooling arguments; x (N, C, H, W), stride defaults to kernel_size.

    Pooling pads nothing and its output is never larger than x, so sizes
    need no check beyond int64 for the window and stride.
    """
    kernel = as_pair("kernel_size", kernel_size, minimum=1)
    steps = kernel if stride is None else as_pair("stride", stride, minimum=1)
    xa = as_float_array("x", x, ndim=4)
    n, c, h, w = xa.shape
    if kernel[0] > h or kernel[1] > w:
        raise ValueError(
            f"pooling window {kernel} is larger than the input {h}x{w} "
            f"(x shape {xa.shape})"
        )
    oh, ow = output_size(h, kernel[0], steps[0]), output_size(w, kernel[1], steps[1])
    return Pool2dArgs(xa, kernel, steps, (n, c, oh, ow), xa.dtype)


class LinearArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    dtype: np.dtype


def validate_linear(
    x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None
) -> LinearArgs:
    """Check ``linear`` arguments; x (N, in), w (out, in), b (out,)."""
    xa, wa = as_float_array("x", x, ndim=2), as_float_array("w", w, ndim=2)
    ba = None if b is None else as_float_array("b", b, ndim=1)
    if xa.shape[1] != wa.shape[1]:
        raise ValueError(
            f"x has {xa.shape[1]} features (shape {xa.shape}) "
            f"but w expects {wa.shape[1]} (shape {wa.shape})"
        )
    if ba is not None and ba.shape[0] != wa.shape[0]:
        raise ValueError(
            f"b must have length {wa.shape[0]} (one per output of w {wa.shape}), "
            f"got shape {ba.shape}"
        )
    dtype = result_dtype(xa, wa, ba)
    cause = f"x {xa.shape} and w {wa.shape}"
    validate_fits_in_memory("an output", (xa.shape[0], wa.shape[0]), dtype, cause)
    return LinearArgs(xa, wa, ba, dtype)


def validate_elementwise(x: ArrayLike) -> np.ndarray:
    """Check the input of ``relu``: any shape of real numbers, not empty."""
    return as_float_array("x", x)


def validate_softmax(x: ArrayLike, axis: int) -> tuple[np.ndarray, int]:
    """Check ``softmax`` arguments and return the axis as a non-negative int."""
    xa = as_float_array("x", x)
    return xa, validate_axis(axis, xa.ndim, xa.shape)


# ---------------------------------------------------------------------------
# The backward operators: the forward checks, then dy against the forward output.
# Each returns dy and the forward arguments, whose dtype now counts dy too.


def validate_gradient_shape(
    dy: ArrayLike, expected: tuple[int, ...], operator: str, **inputs: object
) -> np.ndarray:
    """Check that dy has the shape of the forward output for these inputs."""
    dya = as_float_array("dy", dy)
    if dya.shape != tuple(expected):
        described = ", ".join(f"{name} {value}" for name, value in inputs.items())
        raise ValueError(
            f"dy must have the {operator} output shape {tuple(expected)} "
            f"for {described}, got shape {dya.shape}"
        )
    return dya


def validate_conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    stride: PairLike = 1,
    padding: PairLike = 0,
    im2col: bool = False,
) -> tuple[np.ndarray, Conv2dArgs]:
    """Check ``conv2d_backward`` arguments; dy must be (N, F, OH, OW).

    The sizes are the forward pass's (:func:`validate_conv2d`): the gradient of
    x is padded like x, and that of w as large as w.
    """
    fwd = validate_conv2d(x, w, None, stride, padding, im2col)
    shapes = {"x": fwd.x.shape, "w": fwd.w.shape}
    shapes.update(stride=fwd.stride, padding=fwd.padding)
    dya = validate_gradient_shape(dy, fwd.out_shape, "conv2d", **shapes)
    return dya, fwd._replace(dtype=result_dtype(dya, fwd.x, fwd.w))


def validate_pool2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel_size: PairLike,
    stride: PairLike | None = None,
) -> tuple[np.ndarray, Pool2dArgs]:
    """Check pooling backward arguments; dy must be (N, C, OH, OW)."""
    fwd = validate_pool2d(x, kernel_size, stride)
    window = {"kernel_size": fwd.kernel_size, "stride": fwd.stride}
    dya = validate_gradient_shape(dy, fwd.out_shape, "pooling", x=fwd.x.shape, **window)
    return dya, fwd._replace(dtype=result_dtype(dya, fwd.x))


def validate_relu_backward(
    dy: ArrayLike, x: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Check ``relu_backward`` arguments; dy must have the shape of x."""
    xa = validate_elementwise(x)
    dya = validate_gradient_shape(dy, xa.shape, "relu", x=xa.shape)
    return dya, xa, result_dtype(dya, xa)


def validate_linear_backward(
    dy: ArrayLike, x: ArrayLike, w: ArrayLike
) -> tuple[np.ndarray, LinearArgs]:
    """Check ``linear_backward`` arguments; dy must be (N, out)."""
    fwd = validate_linear(x, w)
    out_shape = (fwd.x.shape[0], fwd.w.shape[0])
    dya = validate_gradient_shape(dy, out_shape, "linear", x=fwd.x.shape, w=fwd.w.shape)
    return dya, fwd._replace(dtype=result_dtype(dya, fwd.x, fwd.w))


def validate_softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Check logits (N, K) and integer labels (N,) with every label in [0, K)."""
    logits_a = as_float_array("logits", logits, ndim=2)
    n_rows, n_classes = logits_a.shape
    labels_a = np.asarray(labels)
    if labels_a.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {labels_a.dtype}")
    if labels_a.shape != (n_rows,):
        raise ValueError(
            f"labels must have shape ({n_rows},), one per row of logits "
            f"{logits_a.shape}, got shape {labels_a.shape}"
        )
    if labels_a.min() < 0 or labels_a.max() >= n_classes:
        bad = labels_a[(labels_a < 0) | (labels_a >= n_classes)]
        raise ValueError(
            f"labels must be in [0, {n_classes}) for logits {logits_a.shape}, "
            f"got {bad[:5].tolist()}"
            + (f" and {bad.size - 5} more" if bad.size > 5 else "")
        )
    return logits_a, labels_a.astype(np.intp, copy=False)
