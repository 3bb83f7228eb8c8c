"""Timing and machine information, shared by every chapter of the book.

A timing on a shared machine is a sample from a noisy distribution, so this
module never reports one number from one call. :func:`time_it` warms a
function up, runs it enough times per sample that the clock's resolution does
not matter, and keeps every sample; :class:`Timing` summarizes them by the
median and the interquartile spread. :func:`compare` times several candidates
in interleaved rounds in one process, so a burst of noise hits all of them
alike (the advice of Rougier, "From Python to Numpy", and of Python's own
``timeit``).

The rest turns times into rates: :func:`conv2d_flops` counts the arithmetic of
a convolution, :func:`matmul_gflops` and :func:`copy_bandwidth_gbs` measure
the machine's practical ceilings, and :func:`machine_info` (from
:mod:`cnnlab.perf.system_info`) records what the numbers were measured on.
Importing this module loads neither Numba nor any compiled kernel, so
``import cnnlab.perf.bench`` stays quick.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from cnnlab.perf.system_info import machine_info, machine_label
from cnnlab.validation import as_pair, output_size, validate_int, validate_number

__all__ = [
    "Timing",
    "time_it",
    "compare",
    "conv2d_flops",
    "gflops",
    "format_time",
    "machine_info",
    "machine_label",
    "matmul_gflops",
    "copy_bandwidth_gbs",
]


def _check_seconds(name: str, value: object) -> float:
    """A number of seconds >= 0, checked by :func:`validate_number`.

    A value that is no number at all is a ValueError too, not a TypeError: the
    timing functions have always raised ValueError for a bad time.
    """
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return validate_number(name, value, 0.0)


@dataclass(frozen=True)
class Timing:
    """Seconds per call, one entry per sample.

    Parameters
    ----------
    samples : list of float
        Seconds per call; each sample is the mean over ``number`` calls.
    number : int, optional
        Calls per sample, chosen by :func:`time_it` so a sample outlasts the
        clock's resolution.
    """

    samples: list[float]
    number: int = 1

    def __post_init__(self) -> None:
        if len(self.samples) == 0:
            raise ValueError("a Timing needs at least one sample, got none")
        for s in self.samples:
            _check_seconds("every sample", s)

    @property
    def median(self) -> float:
        """The typical time per call: half the samples were faster."""
        return float(np.median(self.samples))

    @property
    def min(self) -> float:
        """The fastest sample: the run least disturbed by noise."""
        return float(np.min(self.samples))

    @property
    def q1(self) -> float:
        """First quartile (25th percentile, linear interpolation)."""
        return float(np.percentile(self.samples, 25))

    @property
    def q3(self) -> float:
        """Third quartile (75th percentile, linear interpolation)."""
        return float(np.percentile(self.samples, 75))

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median, a fraction (0.04 is 4%)."""
        median = self.median
        return (self.q3 - self.q1) / median if median > 0 else 0.0

    def __str__(self) -> str:
        return f"{format_time(self.median)} ± {self.spread:.0%}"

    def __repr__(self) -> str:
        return f"<Timing {self} ({len(self.samples)} samples of {self.number} calls)>"


def _seconds_for(fn: Callable, args: tuple, kwargs: dict, number: int) -> float:
    """Wall-clock seconds for ``number`` back-to-back calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(number):
        fn(*args, **kwargs)
    return time.perf_counter() - start


def _calls_per_sample(fn: Callable, args: tuple, kwargs: dict, min_time: float) -> int:
    """Smallest of 1, 2, 5, 10, 20, 50, ... calls that together last >= min_time.

    The same search as ``timeit.Timer.autorange``; its calls also warm up.
    """
    number = 1
    while True:
        for factor in (1, 2, 5):
            if _seconds_for(fn, args, kwargs, number * factor) >= min_time:
                return number * factor
        number *= 10


def _check_timing_args(repeat: object, warmup: object, min_time: object) -> None:
    validate_int("repeat", repeat, 1)
    validate_int("warmup", warmup, 0)
    _check_seconds("min_time", min_time)


def time_it(
    fn: Callable[..., object],
    *args: Any,
    repeat: int = 7,
    warmup: int = 1,
    min_time: float = 0.02,
    **kwargs: Any,
) -> Timing:
    """Time ``fn(*args, **kwargs)`` and return seconds per call.

    Parameters
    ----------
    fn : callable
        The function to time; extra positional and keyword arguments are
        passed to it on every call.
    repeat : int
        Number of samples (>= 1).
    warmup : int
        Untimed calls first (>= 0), so a JIT compile or a cold cache is not
        counted.
    min_time : float
        Each sample repeats the call until it lasts at least this many
        seconds, so the timer's resolution is negligible.

    Returns
    -------
    Timing
        ``repeat`` samples of seconds per call.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    _check_timing_args(repeat, warmup, min_time)
    for _ in range(warmup):
        fn(*args, **kwargs)
    number = _calls_per_sample(fn, args, kwargs, min_time)
    samples = [_seconds_for(fn, args, kwargs, number) / number for _ in range(repeat)]
    return Timing(samples, number)


def compare(
    candidates: dict[str, Callable[..., object]],
    *args: Any,
    repeat: int = 5,
    warmup: int = 1,
    min_time: float = 0.02,
    **kwargs: Any,
) -> dict[str, Timing]:
    """Time several functions on the same arguments, fairly.

    Every candidate is warmed up and calibrated first. Then round ``r`` takes
    one sample of each candidate, starting with candidate ``r`` (mod the
    number of candidates) and rotating, so slow drift and bursts of noise
    from other processes spread evenly instead of landing on one candidate.

    Parameters
    ----------
    candidates : dict of str to callable
        Name -> function; each is called as ``fn(*args, **kwargs)``.
    repeat, warmup, min_time
        As in :func:`time_it`; ``repeat`` is the number of rounds.

    Returns
    -------
    dict of str to Timing
        One :class:`Timing` per candidate, in the order of ``candidates``.
    """
    if not isinstance(candidates, dict) or not candidates:
        raise ValueError(
            "candidates must be a non-empty dict of name -> function, "
            f"got {candidates!r}"
        )
    for name, fn in candidates.items():
        if not callable(fn):
            raise TypeError(f"candidate {name!r} must be callable, got {fn!r}")
    _check_timing_args(repeat, warmup, min_time)
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            candidates[name](*args, **kwargs)
    calls = {
        name: _calls_per_sample(candidates[name], args, kwargs, min_time)
        for name in names
    }
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        start = r % len(names)
        for name in names[start:] + names[:start]:
            seconds = _seconds_for(candidates[name], args, kwargs, calls[name])
            samples[name].append(seconds / calls[name])
    return {name: Timing(samples[name], calls[name]) for name in names}


def conv2d_flops(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> int:
    """Floating-point operations of ``conv2d`` on these shapes, bias excluded.

    Each output element is a sum of ``C * KH * KW`` products; one multiply and
    one add each, hence ``2 * N * F * OH * OW * C * KH * KW``.

    Parameters
    ----------
    x_shape : sequence of int
        Input shape (N, C, H, W).
    w_shape : sequence of int
        Weight shape (F, C, KH, KW).
    stride, padding : int or (int, int)
        As in ``conv2d``.
    """
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(
            f"x_shape and w_shape must have 4 entries, got {x_shape!r} and {w_shape!r}"
        )
    n, c, h, w = (validate_int("x_shape entry", v, 1) for v in x_shape)
    f, wc, kh, kw = (validate_int("w_shape entry", v, 1) for v in w_shape)
    if wc != c:
        raise ValueError(
            f"channel mismatch: x_shape {tuple(x_shape)} has {c} channels, "
            f"w_shape {tuple(w_shape)} has {wc}"
        )
    (sh, sw), (ph, pw) = as_pair("stride", stride, 1), as_pair("padding", padding, 0)
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"kernel {kh}x{kw} does not fit input {h}x{w} with padding {(ph, pw)}"
        )
    return 2 * n * f * oh * ow * c * kh * kw


def gflops(flops: float, seconds: float | Timing) -> float:
    """Rate in GFLOP/s (10**9 floating-point operations per second).

    ``seconds`` may be a :class:`Timing`, whose median is used.
    """
    if isinstance(seconds, Timing):
        seconds = seconds.median
    seconds = validate_number(
        "seconds", seconds, 0.0, math.inf, low_open=True, high_open=True
    )
    validate_number("flops", flops, 0.0)
    return flops / seconds / 1e9


def format_time(seconds: float) -> str:
    """Three significant digits in a readable unit: "812 ns", "1.23 ms", "4.5 s"."""
    seconds = _check_seconds("seconds", seconds)
    units = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
    index = max(
        [i for i, (scale, _) in enumerate(units) if seconds >= scale], default=0
    )
    # 999.7 ns rounds to "1e+03 ns": step up a unit when rounding reaches 1000
    if index < len(units) - 1 and float(f"{seconds / units[index][0]:.3g}") >= 1000:
        index += 1
    scale, unit = units[index]
    value = seconds / scale
    return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"


def matmul_gflops(
    n: int = 1024, dtype: DTypeLike = np.float32, repeat: int = 5
) -> float:
    """GFLOP/s of an (n, n) @ (n, n) product in NumPy's BLAS: the practical ceiling.

    A large matrix product is the most tuned kernel on any machine, so no
    convolution built on the same hardware should expect to beat it. Uses
    the fastest sample: noise only ever adds time, and a ceiling is the
    best the machine can do.
    """
    n = validate_int("n", n, 1)
    repeat = validate_int("repeat", repeat, 1)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    timing = time_it(np.matmul, a, b, out=out, repeat=repeat)
    return gflops(2 * n**3, timing.min)


def copy_bandwidth_gbs(n_bytes: int = 2**26, repeat: int = 5) -> float:
    """GB/s of copying a large array: the memory bandwidth a streaming kernel gets.

    Counts each byte twice, once read and once written, as the STREAM "copy"
    benchmark does (McCalpin 1995). The default 64 MiB is far larger than
    any CPU cache, so this measures main memory. Uses the fastest sample.
    """
    n_bytes = validate_int("n_bytes", n_bytes, 8)
    repeat = validate_int("repeat", repeat, 1)
    src = np.ones(n_bytes // 8, np.float64)
    dst = np.empty_like(src)
    timing = time_it(np.copyto, dst, src, repeat=repeat)
    return 2 * src.nbytes / timing.min / 1e9
