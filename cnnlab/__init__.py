"""cnnlab: the helper package of the cnnlab book.

The same CNN operators exist on three backends, one per rung of the book's
ladder: ``python`` (plain loops, the reference), ``numpy`` (vectorized) and
``numba`` (JIT-compiled). Each backend module exposes ``conv2d``,
``max_pool2d``, ``avg_pool2d``, ``relu``, ``linear`` and ``softmax`` with the
same signatures, so code can loop over :data:`BACKENDS`::

    import cnnlab
    for name in cnnlab.BACKENDS:
        y = cnnlab.backend(name).conv2d(x, w, padding=1)
"""
from __future__ import annotations

import importlib
from types import ModuleType

# The thread policy must reach the environment before NumPy loads (see cnnlab.threads).
from . import threads

threads._record_import_time()

from .checks import output_size  # noqa: E402

__version__ = "0.1.0"

BACKENDS = ("python", "numpy", "numba")

__all__ = ["BACKENDS", "backend", "output_size", "__version__"]


def backend(name: str) -> ModuleType:
    """Return the operator module of one backend: "python", "numpy" or "numba".

    Backends are imported on first use, so ``import cnnlab`` stays quick and
    does not load Numba until it is needed.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    return importlib.import_module(f".backend_{name}", __name__)
