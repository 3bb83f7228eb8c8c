"""The machine profile: this computer's ceilings, measured once and shared by every
page.

A roofline needs two ceilings, and a book about speed needs them to be the
same on every page. This module measures them on the machine at hand, never
from a table of CPU models:

- the **compute peak**: a loop of fused multiply-adds (FMA) on SIMD vectors,
  with enough independent accumulators to hide the FMA's latency, run on
  every core at once. It is written in LLVM's own language and compiled with
  llvmlite (which Numba is built on), so the vector width is the one we ask
  for and no compiler heuristic can change it. We try 256-bit and 512-bit
  vectors and keep the faster: a CPU that splits 512-bit FMAs into two
  halves (AMD Zen 4) shows it by not getting faster.
- the **theoretical peak** the CPU's flags suggest: cores x clock x FLOPs per
  cycle, assuming two FMA units as wide as the widest vectors the flags
  list. It is shown beside the measured peak, because the two disagree on
  some CPUs, and then the measured one is right.
- **memory bandwidth**, STREAM-style (McCalpin 1995): copy and triad on
  arrays several times larger than the last-level cache, on every core.
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

import ctypes
import hashlib
import json
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import threads
from cnnlab.perf import bench

__all__ = ["MachineProfile", "profile", "measure", "cache_dir", "fma_peak_gflops"]

SCHEMA_VERSION = 2
FMA_UNITS_ASSUMED = 2
"""FMA units per core that the theoretical estimate assumes (true of most recent x86
cores).
"""
AGREE_WITHIN = 0.15
"""Measured and theoretical peaks "agree" when they differ by less than this fraction.
"""


def cache_dir() -> Path:
    """Where profiles are cached: ``$CNNLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/cnnlab``
    or ``~/.cache/cnnlab``.
    """
    if os.environ.get("CNNLAB_CACHE_DIR"):
        return Path(os.environ["CNNLAB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnlab"


# --------------------------------------------------------------------------- the
# compute peak


def _fma_loop_ir(width: int, chains: int) -> str:
    """LLVM IR of ``float fma_loop(i64 n, float a, float b)``: ``n`` rounds of
    ``chains`` vector FMAs.

    Each chain is its own accumulator, so ``chains`` FMAs are independent and
    can be in flight at once; with fewer chains than (FMA units x latency)
    the loop would measure latency, not throughput.
    """
    v = f"<{width} x float>"
    fma = f"@llvm.fma.v{width}f32"
    lines = [
        f"declare {v} {fma}({v}, {v}, {v})",
        "define float @fma_loop(i64 %n, float %a, float %b) {",
        "entry:",
        f"  %a1 = insertelement {v} undef, float %a, i32 0",
        f"  %va = shufflevector {v} %a1, {v} undef, <{width} x i32> zeroinitializer",
        f"  %b1 = insertelement {v} undef, float %b, i32 0",
        f"  %vb = shufflevector {v} %b1, {v} undef, <{width} x i32> zeroinitializer",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [0, %entry], [%next, %loop]",
    ]
    lines += [
        f"  %acc{c} = phi {v} [%vb, %entry], [%new{c}, %loop]" for c in range(chains)
    ]
    lines += [
        f"  %new{c} = call {v} {fma}({v} %acc{c}, {v} %va, {v} %vb)"
        for c in range(chains)
    ]
    lines += [
        "  %next = add i64 %i, 1",
        "  %done = icmp sge i64 %next, %n",
        "  br i1 %done, label %exit, label %loop",
        "exit:",
    ]
    total = "%new0"  # sum the chains so that none of them is dead code
    for c in range(1, chains):
        lines.append(f"  %sum{c} = fadd {v} {total}, %new{c}")
        total = f"%sum{c}"
    lines += [f"  %r = extractelement {v} {total}, i32 0", "  ret float %r", "}"]
    return "\n".join(lines)


# (vector width in floats, independent accumulators): 12 x 256-bit fills half the
# 16 AVX2 registers; 512-bit vectors get fewer chains so that they fit too
_FMA_SHAPES = ((8, 12), (16, 8), (16, 12))
_COMPILED: dict[tuple[int, int], Any] = {}


def _compiled_fma_loop(width: int, chains: int):
    """A ctypes function for :func:`_fma_loop_ir`, compiled for this CPU (cached per
    process).
    """
    if (width, chains) not in _COMPILED:
        import llvmlite.binding as llvm
        import numba  # noqa: F401  (initializes LLVM's native target once, as Numba does)

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        machine = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(),
            features=llvm.get_host_cpu_features().flatten(),
            opt=2,
        )
        module = llvm.parse_assembly(_fma_loop_ir(width, chains))
        module.verify()
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        signature = ctypes.CFUNCTYPE(
            ctypes.c_float, ctypes.c_int64, ctypes.c_float, ctypes.c_float
        )
        # keep the engine alive as long as the function: it owns the machine code
        _COMPILED[(width, chains)] = (
            engine,
            signature(engine.get_function_address("fma_loop")),
        )
    return _COMPILED[(width, chains)][1]


def _run_on_threads(fn, args: tuple, threads: int) -> float:
    """Seconds for ``threads`` concurrent calls of ``fn(*args)``; ctypes releases the
    GIL.
    """
    workers = [threading.Thread(target=fn, args=args) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def fma_peak_gflops(
    threads: int | None = None, seconds: float = 0.05, repeat: int = 5
) -> tuple[float, int]:
    """The measured compute peak: float32 GFLOP/s of independent vector FMAs on
    ``threads`` cores.

    Returns ``(gflops, vector_bits)``: the best rate over the vector widths
    tried, and the width that reached it. Each sample runs about ``seconds``.
    """
    threads = (
        os.cpu_count() or 1
        if threads is None
        else bench._check_int("threads", threads, 1)
    )
    repeat = bench._check_int("repeat", repeat, 1)
    best, best_bits = 0.0, 0
    for width, chains in _FMA_SHAPES:
        fn = _compiled_fma_loop(width, chains)
        flops_per_round = 2 * width * chains
        rounds = 1000
        while _run_on_threads(fn, (rounds, 0.999, 1e-3), 1) < seconds / 4:
            rounds *= 4
        for _ in range(repeat):
            elapsed = _run_on_threads(fn, (rounds, 0.999, 1e-3), threads)
            rate = threads * rounds * flops_per_round / elapsed / 1e9
            if (
                rate > best * 1.02
            ):  # a wider vector must win clearly to count as the width used
                best_bits = 32 * width
            best = max(best, rate)
    return best, best_bits


# --------------------------------------------------------------------------- bandwidth


def _cache_bytes(level: int) -> int | None:
    """Size in bytes of the CPU's cache of ``level`` (2 or 3) from Linux's sysfs, or
    None.
    """
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


def _stream_kernels():
    """STREAM's copy and triad as parallel Numba loops, with ``reps`` passes inside one
    call.

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
    """(copy, triad) GB/s on float32 arrays of ``n_bytes`` each, best of ``repeat``
    samples.

    Copy counts 2 bytes moved per byte copied and triad 3, as STREAM does
    (the write-allocate read is not counted). ``reps`` passes run inside one
    call, so small, cache-resident arrays are timed over many passes.
    """
    n = max(1024, bench._check_int("n_bytes", n_bytes, 4096) // 4 // 1024 * 1024)
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


# --------------------------------------------------------------------------- the
# profile


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
        """Whether the measured peak is within 15% of the theoretical one (None if
        unknown).
        """
        if self.theoretical_peak_gflops is None:
            return None
        return abs(self.peak_gflops / self.theoretical_peak_gflops - 1) < AGREE_WITHIN

    @property
    def peak_verdict(self) -> str:
        """One sentence on measured against theoretical peak, for the book's prose."""
        if self.theoretical_peak_gflops is None:
            return "This system does not report the clock, so there is no theoretical peak to compare."
        ratio = self.peak_gflops / self.theoretical_peak_gflops
        if self.busy and ratio < 1 - AGREE_WITHIN:
            return (
                f"The measured peak is only {ratio:.0%} of the estimate from the CPU's flags, "
                "but other programs kept every core busy while it was measured; run "
                "`python -m cnnlab machine --remeasure` on a quiet machine."
            )
        if self.peaks_agree:
            return f"The measured peak is {ratio:.0%} of the estimate from the CPU's flags: they agree."
        return (
            f"The measured peak is only {ratio:.0%} of the estimate from the CPU's flags, so this "
            "CPU does fewer FLOPs per cycle than its flags suggest (AMD Zen 4, for one, runs a "
            "512-bit FMA as two 256-bit halves); the book uses the measured one."
            if ratio < 1
            else f"The measured peak is {ratio:.0%} of the estimate from the CPU's flags: the "
            "cores run above the nominal clock the system reports (they boost); the book uses "
            "the measured one."
        )

    def as_dict(self) -> dict[str, Any]:
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
                f"({FMA_UNITS_ASSUMED} x {self.flags_vector_bits}-bit FMA units assumed)",
            ),
            ("matmul (BLAS)", rate(self.matmul_gflops, "GFLOP/s")),
            (
                "memory, copy",
                f"{rate(self.copy_gbs, 'GB/s')} ({self.memory_array_mib:,.0f} MiB arrays)",
            ),
            ("memory, triad", rate(self.triad_gbs, "GB/s")),
            (
                "cache (L2), triad",
                f"{rate(self.cache_gbs, 'GB/s')} ({self.cache_array_kib:,.0f} KiB arrays)",
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
    if "avx512f" in flags:
        return 512
    if "avx" in flags:
        return 256
    return 128


def _machine_key() -> tuple[str, dict[str, Any]]:
    cpuinfo = bench._read_cpuinfo()
    versions = {}
    for package in ("numpy", "numba", "cnnlab"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    parts = {
        "cpu": bench._cpu_name(cpuinfo),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "schema": SCHEMA_VERSION,
        **versions,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
    return digest, parts


def measure(quick: bool = False) -> MachineProfile:
    """Measure every ceiling now (a few seconds; ``quick`` makes it shorter and
    noisier).

    A ceiling bounds every rate the machine reaches, and a busy machine only
    ever makes a measurement slower. So each ceiling is the best rate any of
    its measurements reached: the peak is at least the FMA loop's best on all
    cores, on one core, and the matrix product's best, and the memory
    bandwidth the best of STREAM's copy and triad on all cores and NumPy's
    copy on one. The FMA loop runs at the start and again at the end, so a
    burst of load from another program is less likely to hit both.
    """
    cpuinfo = bench._read_cpuinfo()
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
    key, _ = _machine_key()
    return MachineProfile(
        cpu=bench._cpu_name(cpuinfo),
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
    key, _ = _machine_key()
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
    """This machine's profile: read from the cache, or measured and cached the first
    time.

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
