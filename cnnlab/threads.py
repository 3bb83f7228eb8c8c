"""The project's one thread policy: BLAS on one thread, idle pools spin briefly.

Three libraries keep pools of threads here: OpenBLAS (NumPy's matrix
products), GNU OpenMP (Numba's parallel loops, and PyTorch's) and, when it is
installed, PyTorch's own. A parallel call is as slow as its slowest thread,
and on a machine with few cores that thread often waits for a core: one that
another program holds, or one that an idle thread of the *other* library is
spinning on (busy-waiting, so that its next call finds it awake: libgomp's
threads for a few milliseconds by default, OpenBLAS's longer). A kernel
that should take a fraction of a millisecond then takes milliseconds.

The policy has three parts:

- ``OPENBLAS_NUM_THREADS=1``: NumPy's matrix products run on the calling
  thread, and the parallel work is left to Numba's explicit ``prange`` loops,
  which the book teaches. On a shared machine with few cores, a two-thread
  GEMM waits, call after call, for its second thread to be scheduled, and
  the small products of the book's layers gain nothing from it; chapter 8
  measures one thread against all of them on the reader's machine. On an
  idle machine more threads gain at most the core count, on large products
  only; the book's matmul ceiling is measured with every core, through
  :func:`blas_threads`.
- ``GOMP_SPINCOUNT=100000``: OpenMP threads spin about a millisecond (libgomp
  counts roughly 100,000 spins to the millisecond), long enough to bridge
  back-to-back calls of one library, short enough to free the core for the
  next. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) would make every
  parallel call wake its threads, which costs more than a short kernel.
- ``OPENBLAS_THREAD_TIMEOUT=4``: when BLAS does get more threads (the user's
  own ``OPENBLAS_NUM_THREADS``, or :func:`blas_threads`), they spin only
  2**4 cycles, the least OpenBLAS allows.

The libraries read these variables once, when they load, so they must be in
the environment before NumPy or Numba is imported. ``import cnnlab`` sets
them (keeping any value the user set), which is why a chapter imports
``cnnlab`` before NumPy. :func:`status` tells whether the policy is in force.
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass

__all__ = ["POLICY", "apply", "status", "ThreadStatus", "blas_threads"]

POLICY: dict[str, str] = {
    "OPENBLAS_NUM_THREADS": "1",
    "GOMP_SPINCOUNT": "100000",
    "OPENBLAS_THREAD_TIMEOUT": "4",
}
"""Environment variable -> value of the thread policy."""

_LIBRARIES_THAT_READ_IT = ("numpy", "numba", "torch")


def apply() -> list[str]:
    """Put :data:`POLICY` into ``os.environ`` where the user has not set a value.

    Returns the names of the libraries that were loaded before a value had
    to be set, which the new value can no longer reach (an empty list when
    all is well, or when the environment had the values from the start).
    """
    missing = [name for name in POLICY if name not in os.environ]
    for name in missing:
        os.environ[name] = POLICY[name]
    return [lib for lib in _LIBRARIES_THAT_READ_IT if missing and lib in sys.modules]


@dataclass(frozen=True)
class ThreadStatus:
    """The thread settings this process runs with, and whether they are the policy's."""

    settings: dict[str, str | None]
    loaded_too_early: tuple[str, ...]

    @property
    def in_force(self) -> bool:
        """True when every variable has the policy's value and nothing loaded first."""
        return not self.loaded_too_early and all(
            self.settings[name] == value for name, value in POLICY.items()
        )

    def __repr__(self) -> str:
        lines = [f"{name}={value}" for name, value in self.settings.items()]
        if self.loaded_too_early:
            lines.append(
                f"not in force: {', '.join(self.loaded_too_early)} loaded before "
                "cnnlab; restart the kernel and import cnnlab first"
            )
        else:
            lines.append(
                "in force" if self.in_force else "overridden by your environment"
            )
        return "\n".join(lines)


_LOADED_BEFORE_CNNLAB: tuple[str, ...] = ()


def _record_import_time() -> None:
    """Called once by ``cnnlab/__init__.py``, before it imports NumPy."""
    global _LOADED_BEFORE_CNNLAB
    _LOADED_BEFORE_CNNLAB = tuple(apply())


def status() -> ThreadStatus:
    """The policy's variables as this process sees them, and what loaded before them."""
    return ThreadStatus(
        {name: os.environ.get(name) for name in POLICY}, _LOADED_BEFORE_CNNLAB
    )


def blas_threads(count: int | None = None) -> AbstractContextManager:
    """A ``with`` block in which BLAS runs on ``count`` threads (None: every core).

    For measuring what BLAS can do with all cores, such as the matmul ceiling
    of :mod:`cnnlab.perf.machine`; after the block the policy's one thread is
    back. Uses threadpoolctl, which scikit-learn installs.
    """
    from threadpoolctl import threadpool_limits

    if count is None:
        count = os.cpu_count() or 1
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int or None, got {count!r}")
    return threadpool_limits(limits=count, user_api="blas")
