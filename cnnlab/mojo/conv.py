"""The Mojo rungs of conv2d, called from Python on NumPy arrays.

Each rung is a Mojo function (``kernels/*.mojo``) that reads x, w and b and
writes ``out`` through their addresses: no copies, no conversions. The
functions here are the Python side of that contract. They check everything
the Mojo side trusts (dtype, layout, shapes, stride) before handing it over,
because a wrong address or size in Mojo is a crash, not an exception.

* :data:`RUNGS` maps each rung's name to its entry with the signature
  ``kernel(x, w, b, stride, padding, out) -> None`` of the numba backend's
  kernels: x (N, C, H, W), w (F, C, KH, KW), b (F,) and out (N, F, OH, OW),
  all float32 and C-contiguous; stride 1.
* :func:`rungs` gives the same entries for a variant built with other
  compile-time constants: ``rungs(WIDTH=16)["simd"]``.
* :func:`conv2d` validates any arguments, as every cnnlab backend does, and
  returns a new array.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from cnnlab.mojo.build import check_overrides, load_bindings
from cnnlab.validation import FLOAT32, Pair, PairLike, validate_conv2d

__all__ = [
    "RUNGS",
    "rungs",
    "constants",
    "conv2d",
    "conv2d_loops",
    "conv2d_simd",
    "conv2d_parallel",
    "conv2d_direct",
    "default_workers",
]


def default_workers() -> int:
    """Threads for the parallel rungs: the cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_kernel_args(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    stride: Pair,
    padding: Pair,
    out: np.ndarray,
) -> None:
    """ValueError/TypeError unless the arrays are what the Mojo side assumes."""
    if tuple(stride) != (1, 1):
        raise ValueError(f"the Mojo kernels take stride 1 only, got {stride}")
    for name, a, ndim in (("x", x, 4), ("w", w, 4), ("b", b, 1), ("out", out, 4)):
        if not isinstance(a, np.ndarray) or a.dtype != FLOAT32:
            raise TypeError(f"{name} must be a float32 array for the Mojo kernels")
        if a.ndim != ndim or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous with {ndim} dimensions")
    n, c, h, wd = x.shape
    f, kh, kw = w.shape[0], w.shape[2], w.shape[3]
    ph, pw = padding
    expected = (n, f, h + 2 * ph - kh + 1, wd + 2 * pw - kw + 1)
    if (
        w.shape[1] != c
        or b.shape != (f,)
        or out.shape != expected
        or min(expected) < 1
        or min(ph, pw) < 0
    ):
        raise ValueError(
            f"shapes do not fit: x {x.shape}, w {w.shape}, b {b.shape}, "
            f"padding {padding}, out {out.shape} (expected {expected})"
        )
    if not out.flags.writeable:
        raise ValueError("out must be writeable")


def _entry(
    name: str, overrides: tuple[tuple[str, int], ...] = ()
) -> Callable[..., None]:
    """The Python entry of the rung ``name`` of the bindings built with ``overrides``.

    The module is built (or loaded from the cache) on the first call.
    """

    def kernel(
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray,
        stride: Pair,
        padding: Pair,
        out: np.ndarray,
        workers: int | None = None,
    ) -> None:
        _check_kernel_args(x, w, b, stride, padding, out)
        threads = default_workers() if workers is None else max(1, int(workers))
        args = (
            x.ctypes.data,
            w.ctypes.data,
            b.ctypes.data,
            out.ctypes.data,
            *x.shape,
            w.shape[0],
            *w.shape[2:],
            *padding,
            threads,
        )
        getattr(load_bindings(**dict(overrides)), name)(args)

    kernel.__name__ = kernel.__qualname__ = name
    built = "".join(f", {k}={v}" for k, v in overrides)
    kernel.__doc__ = (
        f"out (N, F, OH, OW) <- the Mojo rung {name}{built} of x (N, C, H, W) "
        "and w (F, C, KH, KW), plus b (F,); float32, stride 1."
    )
    return kernel


conv2d_loops = _entry("conv2d_loops")
conv2d_simd = _entry("conv2d_simd")
conv2d_parallel = _entry("conv2d_parallel")
conv2d_direct = _entry("conv2d_direct")

RUNGS: dict[str, Callable[..., None]] = {
    "loops": conv2d_loops,
    "simd": conv2d_simd,
    "parallel": conv2d_parallel,
    "direct": conv2d_direct,
}
"""The Mojo ladder, slowest first: name -> kernel(x, w, b, stride, padding, out)."""


@functools.cache
def _variant(overrides: tuple[tuple[str, int], ...]) -> dict[str, Callable[..., None]]:
    return {rung: _entry(f"conv2d_{rung}", overrides) for rung in RUNGS}


def rungs(**overrides: int) -> dict[str, Callable[..., None]]:
    """:data:`RUNGS` of the kernels built with other compile-time constants.

    ``rungs(WIDTH=16)["simd"]`` is the SIMD rung with 16-wide vectors; see
    :data:`cnnlab.mojo.build.CONSTANTS` for the names and allowed values
    (ValueError otherwise). Each is built on its first call, then cached.
    """
    checked = tuple(check_overrides(overrides).items())
    return RUNGS if not checked else _variant(checked)


def constants(**overrides: int) -> dict[str, int]:
    """The compile-time constants of the kernels (with ``overrides``), as built.

    Read back from the compiled module, e.g. ``{"WIDTH": 8, "FILTERS": 4,
    "VECTORS": 2}``; building it first if needed.
    """
    return dict(load_bindings(**overrides).constants())


def conv2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: PairLike = 1,
    padding: PairLike = 0,
    rung: str = "direct",
) -> np.ndarray:
    """2-D cross-correlation on a Mojo rung: x (N, C, H, W) -> (N, F, OH, OW).

    w is (F, C, KH, KW) and b (F,). float32 only, stride 1: anything else is
    a TypeError or ValueError before any Mojo code runs.
    """
    if rung not in RUNGS:
        raise ValueError(f"unknown rung {rung!r}; choose from {', '.join(RUNGS)}")
    args = validate_conv2d(x, w, b, stride, padding)
    if args.dtype != FLOAT32:
        raise TypeError(f"the Mojo kernels compute in float32, got {args.dtype}")
    if args.stride != (1, 1):
        raise ValueError(f"the Mojo kernels take stride 1 only, got {args.stride}")
    xc = np.ascontiguousarray(args.x)
    wc = np.ascontiguousarray(args.w)
    f = wc.shape[0]
    bc = np.zeros(f, FLOAT32) if args.b is None else np.ascontiguousarray(args.b)
    out = np.empty(args.out_shape, FLOAT32)
    RUNGS[rung](xc, wc, bc, args.stride, args.padding, out)
    return out
