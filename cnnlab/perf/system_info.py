"""What a measurement was taken on: the CPU, its cores and the libraries' versions.

A timing means nothing without the machine it was taken on, so every chart
is captioned with :func:`machine_label` and every saved result carries
:func:`machine_info`. Numba is imported only by :func:`machine_info`, to ask
its thread count and threading layer; a caption needs only its version,
which the package metadata gives.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import numpy as np

from cnnlab.host import cpu_name, read_cpuinfo

__all__ = ["machine_info", "machine_label", "read_cpuinfo", "cpu_name"]

CPU_FLAGS_OF_INTEREST = ("avx", "avx2", "fma", "avx512f")


def _blas_name() -> str | None:
    """Name and version of the BLAS NumPy was built against, if it says."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy has no mode="dicts"; the layout is not a stable API
        return None


def _numba_details() -> dict[str, Any]:
    """Numba's version, thread count and (if already chosen) threading layer."""
    try:
        import numba
    except ImportError:
        return {"numba": None, "numba_threads": None, "numba_threading_layer": None}
    try:
        layer = numba.threading_layer()
    except ValueError:  # chosen on the first call of a parallel function
        layer = None
    return {
        "numba": numba.__version__,
        # numba.config sets its attributes at import time, so mypy cannot see them
        "numba_threads": numba.config.NUMBA_NUM_THREADS,  # type: ignore[attr-defined]
        "numba_threading_layer": layer,
    }


def machine_info() -> dict[str, Any]:
    """What a measurement was taken on.

    Returns
    -------
    dict
        ``cpu`` (model name), ``cpu_mhz`` (clock the OS reports, or None),
        ``cpu_flags`` (those of avx, avx2, fma, avx512f the CPU has),
        ``logical_cores``, ``os``, ``python``, ``numpy``, ``blas``, ``numba``,
        ``numba_threads``, ``numba_threading_layer`` (None until a parallel
        Numba function has run) and ``omp_num_threads`` (the environment
        variable, or None).
    """
    cpuinfo = read_cpuinfo()
    flags = set(cpuinfo.get("flags", "").split())
    mhz = cpuinfo.get("cpu MHz")
    return {
        "cpu": cpu_name(cpuinfo),
        "cpu_mhz": float(mhz) if mhz else None,
        "cpu_flags": [flag for flag in CPU_FLAGS_OF_INTEREST if flag in flags],
        "logical_cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas_name(),
        **_numba_details(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def machine_label() -> str:
    """One short line for chart captions: CPU, cores, NumPy and Numba versions.

    For example "AMD EPYC · 2 cores · NumPy 2.4 · Numba 0.68".
    """
    try:
        # no need to import Numba for a caption
        numba_version = metadata.version("numba")
    except metadata.PackageNotFoundError:
        numba_version = None
    parts = [
        cpu_name(read_cpuinfo()),
        f"{os.cpu_count()} cores",
        f"NumPy {_major_minor(np.__version__)}",
    ]
    if numba_version:
        parts.append(f"Numba {_major_minor(numba_version)}")
    return " · ".join(parts)
