"""Numba JIT forward operators: the loops of the Python reference, compiled.

Each public function checks its arguments with :mod:`cnnlab.validation`, prepares
contiguous arrays of the result dtype, and only then calls a compiled kernel of
:mod:`cnnlab.backends.numba.kernels`, so a bad argument never reaches compiled
code. The loops are ordered so the innermost one walks a contiguous row, which lets
LLVM vectorize it, and an outer loop runs in parallel (Lam et al. 2015, "Numba: a
LLVM-based Python JIT compiler"). Which convolution kernel runs is measured on the
reader's machine by :mod:`cnnlab.backends.numba.tuner` (kernels by name in
:mod:`cnnlab.backends.numba.conv_kernels`); the rest, and whether a kernel runs on
all threads, is decided in :mod:`cnnlab.backends.numba.chooser`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import NamedTuple

import numba
import numba.np.ufunc.parallel as _numba_parallel
import numpy as np
from numpy.typing import ArrayLike

from cnnlab.backends.numba import chooser, tuner
from cnnlab.backends.numba.conv_kernels import CONV_KERNELS
from cnnlab.backends.numba.kernels import dense, pool
from cnnlab.validation import (
    Pair,
    PairLike,
    validate_conv2d,
    validate_elementwise,
    validate_linear,
    validate_pool2d,
    validate_softmax,
)

# Numba starts its threads on the first parallel call. Prefer OpenMP: for
# kernels that last tens of microseconds it starts and joins threads fastest
# (TBB and Numba's own workqueue are the fallbacks if it is missing). A user's
# own NUMBA_THREADING_LAYER or NUMBA_THREADING_LAYER_PRIORITY wins.
if not {"NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY"} & set(os.environ):
    # numba.config sets its attributes at run time, so mypy does not see this one.
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]  # type: ignore[attr-defined]


def _thread_count() -> int:
    """numba.get_num_threads(), without its two locks once Numba's threads run.

    get_num_threads starts the threads if they are not running yet, under a lock
    shared with other processes, on every call; conv2d asks on every call, and an
    image filter takes only tens of microseconds. Once they run, the count (this
    thread's, as set_num_threads left it) is one call into the threading layer.
    """
    if _numba_parallel._is_initialized:
        # set when the threads start, so mypy does not see it
        return _numba_parallel._get_num_threads()  # type: ignore[attr-defined]
    return numba.get_num_threads()


def conv_key(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> str:
    """The tuner's key of a convolution: everything its fastest kernel depends on."""
    threads = _thread_count()
    return _conv_key(x.dtype.char, x.shape, w.shape, stride, padding, threads)


@functools.lru_cache(maxsize=1024)
def _conv_key(dtype: str, x_shape, w_shape, stride, padding, threads: int) -> str:
    # cached: asked on every call, and the same few shapes come back in a network
    return (
        f"conv2d {np.dtype(dtype).name} x={'x'.join(map(str, x_shape))} "
        f"w={'x'.join(map(str, w_shape))} stride={stride[0]}x{stride[1]} "
        f"padding={padding[0]}x{padding[1]} threads={threads}"
    )


class _Race:
    """Runs each candidate kernel on one call's arrays, into one scratch output."""

    def __init__(self, x, w, b, stride: Pair, padding: Pair, out_shape) -> None:
        self.args = (x, w, b, stride, padding)
        self.out_shape = out_shape
        self.scratch: np.ndarray | None = None

    def __call__(self, name: str) -> None:
        if self.scratch is None:  # allocated only if a race runs
            self.scratch = np.empty(self.out_shape, self.args[0].dtype)
        CONV_KERNELS[name](*self.args, self.scratch)


def _choose_conv(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    stride: Pair,
    padding: Pair,
    out_shape,
    values_fit_winograd: bool = True,
    check_values: bool = True,
) -> tuner.Choice:
    """The kernel for this convolution: raced once per key, or from the static table.

    Winograd's check of the values (three reductions over x) runs only when
    Winograd is the kernel chosen; if the values could overflow it, the choice is
    made again without it. ``check_values=False`` gives the choice for the shapes
    alone, as conv2d remembers it.
    """
    shapes = (x.shape, w.shape, stride, values_fit_winograd)
    static = chooser.choose_conv_kernel(*shapes)
    candidates = chooser.conv_candidates(*shapes)
    if static not in candidates:  # a kernel forced on the static table (tests)
        return tuner.Choice(static, "static")
    work = math.prod(out_shape) * w[0].size
    key = functools.partial(conv_key, x, w, stride, padding)
    race = _Race(x, w, b, stride, padding, out_shape)
    choice = tuner.choose(key, candidates, static, work, race)
    if (
        check_values
        and choice.name == "winograd"
        and not chooser.winograd_stays_finite(x, w, b)
    ):
        return _choose_conv(x, w, b, stride, padding, out_shape, False)
    return choice


def _conv_arrays(x, w, b, dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """x, w and b (zeros if None) as C-contiguous arrays of ``dtype``."""
    xc = np.ascontiguousarray(x, dtype=dtype)
    wc = np.ascontiguousarray(w, dtype=dtype)
    bias = np.zeros(wc.shape[0], dtype) if b is None else np.ascontiguousarray(b, dtype)
    return xc, wc, bias


class _Plan(NamedTuple):
    """What a conv2d call decided that a call with the same key would decide again."""

    # the checked stride, padding, output shape and dtype, which hold for the key
    settings: tuple[Pair, Pair, tuple[int, int, int, int], np.dtype]
    state: tuple  # the tuner's state, thread count, static table when it was chosen
    choice: tuner.Choice


# Plans by (types, shapes and dtypes of x, w and b, stride, padding): everything the
# checks and the choice depend on besides the tuner's state. A network calls the same
# layers again and again, and then pays a lookup instead of the checks and the choice.
_PLANS: dict[tuple, _Plan] = {}


def _plain(setting: object) -> bool:
    """An int or a pair of ints, and not a bool (which equals 1 but is refused)."""
    if type(setting) is tuple and len(setting) == 2:
        return type(setting[0]) is int and type(setting[1]) is int
    return type(setting) is int


def _plan_key(x, w, b, stride, padding) -> tuple | None:
    """The plan's key, or None where a plan could hide a check (arrays that are not
    float, a stride or padding that is not plain ints)."""
    arrays = (x, w) if b is None else (x, w, b)
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype.char not in "fd":
            return None
    if not (_plain(stride) and _plain(padding)):
        return None
    bias = b is None or (b.shape, b.dtype)
    return (x.shape, x.dtype, w.shape, w.dtype, bias, stride, padding)


def _state() -> tuple:
    # the static table too: tests force a kernel by replacing its chooser
    static = (chooser.choose_conv_kernel, chooser.THRESHOLDS)
    return (tuner.state(), _thread_count(), *static)


def conv2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: PairLike = 1,
    padding: PairLike = 0,
) -> np.ndarray:
    """2-D cross-correlation: x (N, C, H, W), w (F, C, KH, KW) -> (N, F, OH, OW).

    The kernel is the fastest on this machine for these shapes, measured once and
    cached (:mod:`cnnlab.backends.numba.tuner`; :func:`conv2d_kernel` says which).
    By value only where Winograd would be: NaN, inf and huge values take another.
    """
    key = _plan_key(x, w, b, stride, padding)
    plan = None if key is None else _PLANS.get(key)
    state = _state()
    if plan is None or plan.state != state:
        args = validate_conv2d(x, w, b, stride, padding)
        stride, padding, out_shape, dtype = args[3:]
        xc, wc, bias = _conv_arrays(args.x, args.w, args.b, dtype)
        choice = _choose_conv(
            xc, wc, bias, stride, padding, out_shape, check_values=False
        )
        if key is not None:
            _PLANS[key] = _Plan(args[3:], state, choice)
    else:
        # the key says x, w and b are float arrays of the shapes checked before
        stride, padding, out_shape, dtype = plan.settings
        xc, wc, bias = _conv_arrays(x, w, b, dtype)
        choice = plan.choice
    # the plan holds the choice for the shapes; Winograd also depends on the values
    if choice.name == "winograd":
        choice = _choose_conv(xc, wc, bias, stride, padding, out_shape)
    out = np.empty(out_shape, dtype)
    CONV_KERNELS[choice.name](xc, wc, bias, stride, padding, out)
    return out


def conv2d_kernel(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: PairLike = 1,
    padding: PairLike = 0,
) -> tuner.Choice:
    """Which kernel :func:`conv2d` runs for these arguments, and how it was chosen.

    Tunes the call first if it is big enough and new to this machine.
    """
    args = validate_conv2d(x, w, b, stride, padding)
    xc, wc, bias = _conv_arrays(args.x, args.w, args.b, args.dtype)
    return _choose_conv(xc, wc, bias, args.stride, args.padding, args.out_shape)


POOL_KERNELS: dict[str, tuple[Callable[..., None], Callable[..., None]]] = {
    "nchw": (pool.pool2d_nchw, pool.pool2d_nchw_serial),
    "max_2x2_nchw": (pool.max_pool2d_2x2_nchw, pool.max_pool2d_2x2_nchw_serial),
    "nhwc": (pool.pool2d_nhwc, pool.pool2d_nhwc_serial),
    "max_2x2_nhwc": (pool.max_pool2d_2x2_nhwc, pool.max_pool2d_2x2_nhwc_serial),
}
"""Each pooling kernel's (threaded, serial) twins, by the chooser's names."""


def _pool(x: ArrayLike, kernel_size: PairLike, stride, take_max: bool) -> np.ndarray:
    args = validate_pool2d(x, kernel_size, stride)
    xa, (kh, kw), (sh, sw) = args.x, args.kernel_size, args.stride
    name = chooser.choose_pool_kernel(xa, args.kernel_size, args.stride, take_max)
    threaded, serial = POOL_KERNELS[name]
    kernel = threaded if chooser.use_threads(xa.size) else serial
    channels_last = name.endswith("nhwc")
    if channels_last:  # the kernel reads x (N, H, W, C) and writes out likewise
        n, c, oh, ow = args.out_shape
        data, out = xa.transpose(0, 2, 3, 1), np.empty((n, oh, ow, c), xa.dtype)
    else:
        data, out = np.ascontiguousarray(xa), np.empty(args.out_shape, xa.dtype)
    if name.startswith("max_2x2"):
        kernel(data, out)
    else:
        # a mean divides in the data's dtype, as PyTorch does
        divisor = xa.dtype.type(kh * kw)
        kernel(data, kh, kw, sh, sw, take_max, divisor, out)
    return out.transpose(0, 3, 1, 2) if channels_last else out


def max_pool2d(
    x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Maximum over each window; x (N, C, H, W), floor mode, no padding.

    The result has x's memory layout when x is channels_last (as in PyTorch),
    and is C-contiguous otherwise.
    """
    return _pool(x, kernel_size, stride, True)


def avg_pool2d(
    x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Mean over each window; x (N, C, H, W), floor mode, no padding.

    The result's memory layout is as in :func:`max_pool2d`.
    """
    return _pool(x, kernel_size, stride, False)


def relu(x: ArrayLike) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    xa = validate_elementwise(x)
    out = np.empty(xa.shape, xa.dtype)
    dense.relu_flat(np.ascontiguousarray(xa).reshape(-1), out.reshape(-1))
    return out


def linear(x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in) -> (N, out)."""
    args = validate_linear(x, w, b)
    dtype = args.dtype
    bias = (
        np.zeros(args.w.shape[0], dtype)
        if args.b is None
        else np.ascontiguousarray(args.b, dtype=dtype)
    )
    out = np.empty((args.x.shape[0], args.w.shape[0]), dtype)
    threads = chooser.use_threads(out.size * args.w.shape[1])
    kernel = dense.linear_rows if threads else dense.linear_rows_serial
    kernel(
        np.ascontiguousarray(args.x, dtype=dtype),
        np.ascontiguousarray(args.w, dtype=dtype),
        bias,
        out,
    )
    return out


def softmax(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum: no overflow."""
    xa, axis = validate_softmax(x, axis)
    moved = np.ascontiguousarray(np.moveaxis(xa, axis, -1))
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.empty_like(rows)
    threads = chooser.use_threads(rows.size)
    (dense.softmax_rows if threads else dense.softmax_rows_serial)(rows, out)
    return np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, axis))
