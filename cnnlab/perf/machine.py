"""The machine profile: this computer's ceilings, measured once, shared by every page.

A roofline needs two ceilings, and a book about speed needs them to be the
same on every page. This module measures them on the machine at hand, never
from a table of CPU models:

- the **compute peak**: a loop of fused multiply-adds (FMA) on SIMD vectors,
  with enough independent accumulators to hide the FMA's latency, run on
  every core at once (:mod:`cnnlab.perf.fma_peak`).
- the **theoretical peak** the CPU's flags suggest: cores x clock x FLOPs per
  cycle, assuming two FMA units as wide as the widest vectors the flags
  list. It is shown beside the measured peak, because the two disagree on
  some CPUs, and then the measured one is right.
- **memory bandwidth**, STREAM-style (McCalpin 1995): copy and triad on
  arrays several times larger than the last-level cache, on every core
  (:mod:`cnnlab.perf.stream`).
- **cache bandwidth**: the same triad on arrays that fit in each core's L2
  cache, the roof for kernels whose data stays in cache.
- the **matmul ceiling**: NumPy's float32 matrix product (BLAS), the most
  tuned kernel the reader has.

Every ceiling is the best of several samples: noise only ever slows a
measurement down. :func:`profile` measures once and caches the result in a
JSON file keyed by the machine (CPU model, cores, library versions), in
``$CNNLAB_CACHE_DIR`` or the user's cache folder; the book's build sets
``CNNLAB_CACHE_DIR`` so that all its pages read one profile.
``python -m cnnlab machine`` prints it (``--remeasure`` measures again).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from cnnlab import threads
from cnnlab.host import cache_dir, cpu_name, read_cpuinfo
from cnnlab.perf import bench
from cnnlab.perf.fma_peak import fma_peak_gflops
from cnnlab.perf.stream import stream_bandwidth_gbs

__all__ = ["MachineProfile", "profile", "measure", "cache_dir", "machine_key"]

SCHEMA_VERSION = 2
FMA_UNITS_ASSUMED = 2
"""FMA units per core that the theoretical estimate assumes (most recent x86 cores)."""
AGREE_WITHIN = 0.15
"""Measured and theoretical peaks "agree" when they differ by less than this share."""


def _cache_bytes(level: int) -> int | None:
    """Size in bytes of the CPU's cache of ``level`` (2 or 3) from Linux's sysfs."""
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    try:
        for index in root.glob("index*"):
            if (index / "level").read_text().strip() == str(level):
                text = (index / "size").read_text().strip().upper()
                scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1], 1)
                return int(text.rstrip("KMG")) * scale
    except (OSError, ValueError):
        pass
    return None


@dataclass(frozen=True)
class MachineProfile:
    """This machine's ceilings; see the module docstring for how each is measured.

    Rates are GFLOP/s (float32) and bandwidths GB/s (10**9 bytes per second).
    """

    cpu: str
    cores: int
    clock_ghz: float | None
    flags_vector_bits: int
    theoretical_peak_gflops: float | None
    peak_gflops: float
    peak_source: str
    peak_vector_bits: int
    peak_gflops_one_core: float
    matmul_gflops: float
    copy_gbs: float
    triad_gbs: float
    cache_gbs: float
    memory_array_mib: float
    cache_array_kib: float
    l2_bytes: int
    last_level_cache_bytes: int
    load_average: float | None
    measured_at: str
    key: str

    @property
    def bandwidth_gbs(self) -> float:
        """The memory roof: the best of STREAM's copy and triad."""
        return max(self.copy_gbs, self.triad_gbs)

    @property
    def busy(self) -> bool:
        """Whether other work kept more than every core busy while this was measured."""
        return self.load_average is not None and self.load_average > self.cores

    @property
    def peak_flops_per_cycle(self) -> float | None:
        """Measured FLOPs per cycle per core, if the clock is known."""
        if not self.clock_ghz:
            return None
        return self.peak_gflops / self.cores / self.clock_ghz

    @property
    def ridge_point(self) -> float:
        """FLOP per byte where the memory roof meets the compute peak."""
        return self.peak_gflops / self.bandwidth_gbs

    @property
    def peaks_agree(self) -> bool | None:
        """Whether the measured peak is within 15% of the theoretical one.

        None if the theoretical peak is unknown.
        """
        if self.theoretical_peak_gflops is None:
            return None
        return abs(self.peak_gflops / self.theoretical_peak_gflops - 1) < AGREE_WITHIN

    @property
    def peak_verdict(self) -> str:
        """One sentence on measured against theoretical peak, for the book's prose."""
        if self.theoretical_peak_gflops is None:
            return (
                "This system does not report the clock, so there is no theoretical "
                "peak to compare."
            )
        ratio = self.peak_gflops / self.theoretical_peak_gflops
        of_estimate = f"{ratio:.0%} of the estimate from the CPU's flags"
        if self.busy and ratio < 1 - AGREE_WITHIN:
            return (
                f"The measured peak is only {of_estimate}, "
                "but other programs kept every core busy while it was measured; run "
                "`python -m cnnlab machine --remeasure` on a quiet machine."
            )
        if self.peaks_agree:
            return f"The measured peak is {of_estimate}: they agree."
        return (
            f"The measured peak is only {of_estimate}, so this "
            "CPU does fewer FLOPs per cycle than its flags suggest (AMD Zen 4, for "
            "one, runs a 512-bit FMA as two 256-bit halves); the book uses the "
            "measured one."
            if ratio < 1
            else f"The measured peak is {of_estimate}: the "
            "cores run above the nominal clock the system reports (they boost); the "
            "book uses the measured one."
        )

    def as_dict(self) -> dict[str, Any]:
        """Every field by name, as stored in the cache file."""
        return asdict(self)

    def __repr__(self) -> str:
        def rate(value: float | None, unit: str) -> str:
            return "unknown" if value is None else f"{value:,.1f} {unit}"

        clock = (
            "unknown clock" if self.clock_ghz is None else f"{self.clock_ghz:.2f} GHz"
        )
        rows = [
            ("CPU", f"{self.cpu}, {self.cores} cores, {clock}"),
            (
                "peak, measured",
                f"{rate(self.peak_gflops, 'GFLOP/s')} ({self.peak_source}, "
                f"{self.peak_vector_bits}-bit vectors)",
            ),
            ("peak, one core", rate(self.peak_gflops_one_core, "GFLOP/s")),
            (
                "peak, from flags",
                f"{rate(self.theoretical_peak_gflops, 'GFLOP/s')} "
                f"({FMA_UNITS_ASSUMED} x {self.flags_vector_bits}-bit FMA units "
                "assumed)",
            ),
            ("matmul (BLAS)", rate(self.matmul_gflops, "GFLOP/s")),
            (
                "memory, copy",
                f"{rate(self.copy_gbs, 'GB/s')} "
                f"({self.memory_array_mib:,.0f} MiB arrays)",
            ),
            ("memory, triad", rate(self.triad_gbs, "GB/s")),
            (
                "cache (L2), triad",
                f"{rate(self.cache_gbs, 'GB/s')} "
                f"({self.cache_array_kib:,.0f} KiB arrays)",
            ),
            ("ridge point", f"{self.ridge_point:.1f} FLOP/byte"),
        ]
        if self.busy:
            rows.append(
                (
                    "note",
                    f"load average {self.load_average:.1f} on {self.cores} cores "
                    "while measuring: remeasure when quiet",
                )
            )
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _flags_vector_bits(flags: set[str]) -> int:
    """The widest SIMD vectors the CPU's flags list, in bits."""
    if "avx512f" in flags:
        return 512
    if "avx" in flags:
        return 256
    return 128


def machine_key() -> tuple[str, dict[str, Any]]:
    """A short hash naming this machine and its libraries, and what it hashes.

    A profile measured with other library versions, another CPU or another
    number of cores is not this machine's.
    """
    cpuinfo = read_cpuinfo()
    versions: dict[str, str | None] = {}
    for package in ("numpy", "numba", "cnnlab"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    parts = {
        "cpu": cpu_name(cpuinfo),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "schema": SCHEMA_VERSION,
        **versions,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
    return digest, parts


def measure(quick: bool = False) -> MachineProfile:
    """Measure every ceiling now; ``quick`` makes it shorter and noisier.

    A ceiling bounds every rate the machine reaches, and a busy machine only
    ever makes a measurement slower. So each ceiling is the best rate any of
    its measurements reached: the peak is at least the FMA loop's best on all
    cores, on one core, and the matrix product's best, and the memory
    bandwidth the best of STREAM's copy and triad on all cores and NumPy's
    copy on one. The FMA loop runs at the start and again at the end, so a
    burst of load from another program is less likely to hit both.
    """
    cpuinfo = read_cpuinfo()
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    mhz = cpuinfo.get("cpu MHz")
    clock = float(mhz) / 1000 if mhz else None
    bits = _flags_vector_bits(set(cpuinfo.get("flags", "").split()))
    flops_per_cycle = FMA_UNITS_ASSUMED * (bits // 32) * 2
    repeat, seconds = (3, 0.02) if quick else (7, 0.05)
    fma_first, peak_bits = fma_peak_gflops(cores, seconds=seconds, repeat=repeat)
    one_core, _ = fma_peak_gflops(1, seconds=seconds, repeat=repeat)
    llc = _cache_bytes(3) or _cache_bytes(2) or 32 * 2**20
    l2 = _cache_bytes(2) or 2**20
    memory_bytes = 2**20 if quick else max(4 * llc, 2**27)
    # three arrays of this size fit in the L2 caches of all cores together
    cache_bytes = l2 * cores // 4
    copy_gbs, triad_gbs = stream_bandwidth_gbs(memory_bytes, repeat=repeat)
    copy_gbs = max(
        copy_gbs, bench.copy_bandwidth_gbs(n_bytes=memory_bytes, repeat=repeat)
    )
    _, cache_gbs = stream_bandwidth_gbs(
        cache_bytes, reps=max(1, 2**26 // cache_bytes), repeat=repeat
    )
    # the ceiling of BLAS on every core, not the policy's one
    with threads.blas_threads():
        matmul = bench.matmul_gflops(n=512 if quick else 2048, repeat=repeat)
    fma_last, last_bits = fma_peak_gflops(cores, seconds=seconds, repeat=repeat)
    if fma_last > fma_first:
        peak_bits = last_bits
    fma = max(fma_first, fma_last)
    peak = max(fma, one_core, matmul)
    source = (
        "FMA loop, all cores"
        if peak == fma
        else (
            "FMA loop, one core"
            if peak == one_core
            else "BLAS matmul (above the FMA loop)"
        )
    )
    key, _ = machine_key()
    return MachineProfile(
        cpu=cpu_name(cpuinfo),
        cores=cores,
        clock_ghz=clock,
        flags_vector_bits=bits,
        theoretical_peak_gflops=None
        if clock is None
        else cores * clock * flops_per_cycle,
        peak_gflops=peak,
        peak_source=source,
        peak_vector_bits=peak_bits,
        peak_gflops_one_core=one_core,
        matmul_gflops=matmul,
        copy_gbs=copy_gbs,
        triad_gbs=triad_gbs,
        cache_gbs=cache_gbs,
        memory_array_mib=memory_bytes / 2**20,
        cache_array_kib=cache_bytes / 2**10,
        l2_bytes=l2,
        last_level_cache_bytes=llc,
        load_average=load,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        key=key,
    )


def _profile_path() -> Path:
    key, _ = machine_key()
    return cache_dir() / f"machine-{key}.json"


def _load(path: Path) -> MachineProfile | None:
    try:
        data = json.loads(path.read_text())
        names = {f.name for f in fields(MachineProfile)}
        if set(data) != names:
            return None
        return MachineProfile(**data)
    except (OSError, ValueError, TypeError):
        return None


def profile(remeasure: bool = False) -> MachineProfile:
    """This machine's profile: from the cache, or measured and cached the first time.

    ``remeasure=True`` measures again and replaces the cached profile (the
    cache file is this module's own, so nothing of the user's is lost).
    """
    path = _profile_path()
    if not remeasure:
        cached = _load(path)
        if cached is not None:
            return cached
    result = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    # write-then-rename: a page that reads while another measures sees the old file or
    # the new one
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(result.as_dict(), indent=1))
    partial.replace(path)
    return result
