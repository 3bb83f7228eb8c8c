"""The roofline model: is a kernel limited by arithmetic or by memory?

Williams, Waterman & Patterson (2009) bound the speed of a kernel by two
ceilings. The processor cannot compute faster than its peak, ``P`` GFLOP/s,
and it cannot compute faster than memory delivers operands: ``B`` GB/s times
the kernel's *arithmetic intensity* ``I``, the FLOPs it does per byte it
moves. So a kernel reaches at most ``min(P, B * I)``. On a log-log plot the
two bounds draw a roof: a slope for memory-bound kernels, a flat line for
compute-bound ones, meeting at the *ridge point* ``I = P / B``.

Data that stays in the caches arrives faster than main memory can deliver
it, so a kernel whose data fits in the caches is held to a second, higher
slope, the cache roof (the cache-aware roofline of Ilic, Pratas & Sousa
2014). :class:`Roofs` holds the ceilings of one machine and says which roof
a kernel is held to; :func:`Roofs.from_profile` reads them from
:func:`cnnlab.perf.machine.profile`. The chart that draws the roofs, with
measured kernels as points, is :func:`cnnlab.viz.roofline_plot.roofline_chart`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

import numpy as np

from cnnlab.validation import is_int, validate_int, validate_number

if TYPE_CHECKING:
    from cnnlab.perf.machine import MachineProfile

__all__ = [
    "Roofs",
    "arithmetic_intensity",
    "conv2d_bytes",
    "attainable_gflops",
    "ridge_point",
]


def _positive(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0, else an error naming it."""
    return validate_number(name, value, 0.0, math.inf, low_open=True, high_open=True)


def arithmetic_intensity(flops: float, bytes_moved: float) -> float:
    """FLOPs per byte of memory traffic."""
    return validate_number("flops", flops, 0.0) / _positive("bytes_moved", bytes_moved)


def conv2d_bytes(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    out_shape: Sequence[int],
    itemsize: int = 4,
) -> int:
    """The least memory traffic of a convolution, in bytes.

    Read x (N, C, H, W) and w (F, C, KH, KW) once, write the output once.

    A real kernel moves more whenever its working set does not fit in the
    caches, so this gives the highest intensity the convolution can have.
    ``itemsize`` is bytes per number (4 for float32).
    """
    for name, shape in (
        ("x_shape", x_shape),
        ("w_shape", w_shape),
        ("out_shape", out_shape),
    ):
        if len(shape) != 4 or not all(is_int(v) and v >= 1 for v in shape):
            raise ValueError(f"{name} must be 4 positive ints, got {shape!r}")
    return validate_int("itemsize", itemsize, 1) * (
        math.prod(x_shape) + math.prod(w_shape) + math.prod(out_shape)
    )


@overload
def attainable_gflops(
    intensity: float, peak_gflops: float, bandwidth_gbs: float
) -> float: ...


@overload
def attainable_gflops(
    intensity: np.ndarray, peak_gflops: float, bandwidth_gbs: float
) -> np.ndarray: ...


def attainable_gflops(
    intensity: float | np.ndarray, peak_gflops: float, bandwidth_gbs: float
) -> float | np.ndarray:
    """The roof, ``min(peak, bandwidth * intensity)`` GFLOP/s.

    ``intensity`` may be an array; then so is the result.
    """
    peak, bandwidth = (
        _positive("peak_gflops", peak_gflops),
        _positive("bandwidth_gbs", bandwidth_gbs),
    )
    result = np.minimum(peak, bandwidth * np.asarray(intensity, dtype=float))
    return float(result) if result.ndim == 0 else result


def ridge_point(peak_gflops: float, bandwidth_gbs: float) -> float:
    """The intensity (FLOP/byte) where the memory slope meets the compute roof."""
    return _positive("peak_gflops", peak_gflops) / _positive(
        "bandwidth_gbs", bandwidth_gbs
    )


@dataclass(frozen=True)
class Roofs:
    """The ceilings of one machine: compute peak, memory and cache bandwidth, matmul.

    ``peak_gflops`` is the compute roof, ``bandwidth_gbs`` the memory roof's
    slope; ``cache_gbs`` (optional) is the bandwidth of the caches, the slope
    for a kernel whose data, ``bytes_moved``, fits in ``cache_bytes`` (the
    last-level cache). The cache bandwidth is measured in the fastest level
    measured (L2), so for data that only fits in a slower level it is a loose
    bound, but still a bound. ``matmul_gflops`` is a practical line, not a
    roof: what the most tuned kernel reaches.
    """

    peak_gflops: float
    bandwidth_gbs: float
    cache_gbs: float | None = None
    cache_bytes: int | None = None
    matmul_gflops: float | None = None

    @classmethod
    def from_profile(cls, profile: MachineProfile | None = None) -> Roofs:
        """The roofs of :func:`cnnlab.perf.machine.profile` (or of ``profile``)."""
        from cnnlab.perf import machine

        profile = machine.profile() if profile is None else profile
        return cls(
            profile.peak_gflops,
            profile.bandwidth_gbs,
            profile.cache_gbs,
            profile.last_level_cache_bytes,
            profile.matmul_gflops,
        )

    @property
    def ridge_point(self) -> float:
        """FLOP per byte where the memory roof meets the compute roof."""
        return ridge_point(self.peak_gflops, self.bandwidth_gbs)

    def level(self, bytes_moved: float) -> str:
        """Where data of ``bytes_moved`` bytes comes from: "cache" or "memory".

        "cache" if it fits in the caches and a cache roof is known.
        """
        if (
            self.cache_gbs is not None
            and self.cache_bytes is not None
            and bytes_moved <= self.cache_bytes
        ):
            return "cache"
        return "memory"

    def bandwidth(self, level: str) -> float:
        """The bandwidth of "memory" or "cache", GB/s."""
        if level == "memory":
            return self.bandwidth_gbs
        if level == "cache" and self.cache_gbs is not None:
            return self.cache_gbs
        raise ValueError(
            f"level must be 'memory' or 'cache' (when known), got {level!r}"
        )

    def attainable(self, intensity: float, bytes_moved: float) -> float:
        """The roof above a kernel, ``min(peak, bandwidth x intensity)``.

        The bandwidth is that of the level its data of ``bytes_moved`` comes from.
        """
        return attainable_gflops(
            intensity, self.peak_gflops, self.bandwidth(self.level(bytes_moved))
        )

    def bound(self, intensity: float, bytes_moved: float) -> str:
        """What holds a kernel down: "compute", or the level its data comes from."""
        level = self.level(bytes_moved)
        return (
            "compute"
            if intensity >= ridge_point(self.peak_gflops, self.bandwidth(level))
            else level
        )
