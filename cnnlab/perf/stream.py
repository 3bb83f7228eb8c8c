"""Memory and cache bandwidth, STREAM-style (McCalpin 1995): copy and triad.

The kernels are parallel Numba loops on float32 arrays, every core streaming
its own block. On arrays several times larger than the last-level cache they
measure main memory; on arrays that fit in each core's L2 cache, the cache.
:mod:`cnnlab.perf.machine` keeps both in the machine profile.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnlab.perf import bench
from cnnlab.validation import validate_int

__all__ = ["stream_bandwidth_gbs"]


def _stream_kernels() -> tuple[Callable[..., None], Callable[..., None]]:
    """STREAM's copy and triad as parallel Numba loops, ``reps`` passes in one call.

    Each thread owns one contiguous block and makes all ``reps`` passes over
    it inside one parallel loop: starting a parallel loop costs microseconds,
    as long as a pass over an array that fits in a core's L2 cache, so a
    loop per pass would measure the start-up, not the cache.
    """
    from numba import njit, prange

    # Views from 0 (not range(lo, hi)): Numba then proves every index
    # non-negative and the loop vectorizes.
    @njit(parallel=True, cache=True)
    def copy(dst, src, reps, blocks):
        for k in prange(blocks):
            lo, hi = k * dst.size // blocks, (k + 1) * dst.size // blocks
            d, s = dst[lo:hi], src[lo:hi]
            for _ in range(reps):
                for i in range(d.size):
                    d[i] = s[i]

    @njit(parallel=True, cache=True)
    def triad(a, b, c, scalar, reps, blocks):
        for k in prange(blocks):
            lo, hi = k * a.size // blocks, (k + 1) * a.size // blocks
            x, y, z = a[lo:hi], b[lo:hi], c[lo:hi]
            for _ in range(reps):
                for i in range(x.size):
                    x[i] = y[i] + scalar * z[i]

    return copy, triad


def stream_bandwidth_gbs(
    n_bytes: int, reps: int = 1, repeat: int = 7
) -> tuple[float, float]:
    """(copy, triad) GB/s on float32 arrays of ``n_bytes`` each, best of ``repeat``.

    Copy counts 2 bytes moved per byte copied and triad 3, as STREAM does
    (the write-allocate read is not counted). ``reps`` passes run inside one
    call, so small, cache-resident arrays are timed over many passes.
    """
    n = max(1024, validate_int("n_bytes", n_bytes, 4096) // 4 // 1024 * 1024)
    import numba

    copy, triad = _stream_kernels()
    a, b, c = (
        np.zeros(n, np.float32),
        np.ones(n, np.float32),
        np.full(n, 2.0, np.float32),
    )
    blocks = numba.get_num_threads()
    copy_t = bench.time_it(copy, a, b, reps, blocks, repeat=repeat, min_time=0.0)
    triad_t = bench.time_it(
        triad, a, b, c, np.float32(3.0), reps, blocks, repeat=repeat, min_time=0.0
    )
    return 2 * 4 * n * reps / copy_t.min / 1e9, 3 * 4 * n * reps / triad_t.min / 1e9
