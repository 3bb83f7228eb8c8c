"""The computer at hand: its CPU's name, and where cnnlab keeps what it measured on it.

Measurements belong to one machine, so every cache file cnnlab writes (the machine
profile of :mod:`cnnlab.perf.machine`, the book's benchmark run, the autotuner's
choices in :mod:`cnnlab.backends.numba.tuner`) lives in :func:`cache_dir` under a
name keyed by the CPU model. This module imports nothing of cnnlab, so the
operators and the measuring tools can both use it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["cache_dir", "read_cpuinfo", "cpu_name"]


def cache_dir() -> Path:
    """Where cnnlab caches measurements: ``$CNNLAB_CACHE_DIR``.

    Else ``$XDG_CACHE_HOME/cnnlab``, or ``~/.cache/cnnlab``.
    """
    if os.environ.get("CNNLAB_CACHE_DIR"):
        return Path(os.environ["CNNLAB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnlab"


def read_cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo (Linux), else {}."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read().split("\n\n")[0]
    except OSError:
        return {}
    entries = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in entries}


def cpu_name(cpuinfo: dict[str, str]) -> str:
    """The CPU's model name from :func:`read_cpuinfo`'s entries, or what Python says."""
    return (
        cpuinfo.get("model name")
        or platform.processor()
        or platform.machine()
        or "unknown CPU"
    )
