"""The backends: one room per rung of the book's ladder.

``python`` (plain loops, the reference), ``numpy`` (vectorized) and ``numba``
(JIT-compiled) each hold the same forward *and* backward operators, with the
same signatures and PyTorch's semantics. The contract they meet is written
down in :mod:`cnnlab.backends.protocol`. No backend imports another: what they
share (zero padding, the strided windows) is in :mod:`cnnlab.backends.windows`,
and every argument check in :mod:`cnnlab.validation`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

BACKENDS = ("python", "numpy", "numba")


def backend(name: str) -> ModuleType:
    """Return the operator module of one backend: "python", "numpy" or "numba".

    Backends are imported on first use, so ``import cnnlab`` stays quick and
    does not load Numba until it is needed.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    return importlib.import_module(f"{__name__}.{name}")
