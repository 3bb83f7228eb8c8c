"""The project's one thread policy: idle thread pools spin briefly, then sleep.

Three libraries keep pools of threads here: OpenBLAS (NumPy's matrix
products), GNU OpenMP (Numba's parallel loops, and PyTorch's) and, when it is
installed, PyTorch's own. An idle thread of a pool spins (busy-waits) for a
while, so that the next parallel call finds it awake: libgomp's for about
3 ms by default, OpenBLAS's longer. On a machine with few cores, the next
library's kernel then runs with a core taken by a spinning thread of the
previous library, and a kernel of a few hundred microseconds can take ten
times longer (chapter 8 measures it).

Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) cures that, but then every
parallel call must wake its threads, which costs more than a short kernel.
So the policy is a short spin:

- ``GOMP_SPINCOUNT=100000``: OpenMP threads spin about a millisecond (libgomp
  counts roughly 100,000 spins to the millisecond), long enough to bridge
  back-to-back calls of one library, short enough to free the core for the
  next;
- ``OPENBLAS_THREAD_TIMEOUT=4``: OpenBLAS threads spin only 2**4 cycles, the
  least it allows.

The libraries read these variables once, when they load, so they must be in
the environment before NumPy or Numba is imported. ``import cnnlab`` sets
them (keeping any value the user set), which is why a chapter imports
``cnnlab`` before NumPy. :func:`status` tells whether the policy is in force.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

__all__ = ["POLICY", "apply", "status", "ThreadStatus"]

POLICY: dict[str, str] = {"GOMP_SPINCOUNT": "100000", "OPENBLAS_THREAD_TIMEOUT": "4"}
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
        """True when every variable has the policy's value and no library loaded before it."""
        return not self.loaded_too_early and all(
            self.settings[name] == value for name, value in POLICY.items()
        )

    def __repr__(self) -> str:
        lines = [f"{name}={value}" for name, value in self.settings.items()]
        if self.loaded_too_early:
            lines.append(
                f"not in force: {', '.join(self.loaded_too_early)} loaded before cnnlab; "
                "restart the kernel and import cnnlab first"
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
