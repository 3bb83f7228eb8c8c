"""Running the suite: each case checked, then timed on every implementation.

:func:`run_case` checks and times one case; :func:`run_suite` runs a list of
them and gathers the results with the machine they ran on and the roofs of
its profile (:func:`ceilings`). :func:`book_results` is the book's own run:
one quick run of :data:`~cnnlab.perf.suite.cases.BOOK_CASES` per machine,
cached next to the machine profile, so that every page that quotes a
benchmark (the landing page, chapter 8) quotes the same one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, SupportsIndex

import numpy as np
from tqdm.auto import tqdm

import cnnlab
from cnnlab import threads
from cnnlab.perf import bench, machine, roofline
from cnnlab.perf.suite.cases import BOOK_CASES, CASES, TINY_CASES, BenchCase
from cnnlab.perf.suite.implementations import (
    PARTIAL,
    choose_implementations,
    default_implementations,
    label,
    skipped_pairs,
    supports,
)
from cnnlab.perf.suite.output_dir import check_out_dir
from cnnlab.perf.suite.report import write_results
from cnnlab.perf.suite.torch_reference import TORCH, load_torch, torch_available
from cnnlab.perf.suite.workloads import REFERENCE, WORKLOADS

__all__ = [
    "available_backends",
    "default_implementations",
    "run_case",
    "run_suite",
    "ceilings",
    "book_results",
    "SCHEMA_VERSION",
    "MAX_REPEAT",
]

SCHEMA_VERSION = 2
FULL_REPEAT, QUICK_REPEAT = 7, 3
MAX_REPEAT = 1000
"""More rounds than anyone waits for: a larger --repeat is a typo."""


def available_backends() -> list[str]:
    """cnnlab's backends, plus "torch" when PyTorch is installed."""
    return [*cnnlab.BACKENDS, *([TORCH] if torch_available() else [])]


def _numba_conv_kernel(work: Any) -> dict[str, str]:
    """The kernel the numba backend runs on a conv2d case, and how it was chosen.

    Asking tunes the case first if it is new to this machine, so the race
    never falls inside the timings.
    """
    # imported here: it loads Numba, which --help and the other cases do not need
    from cnnlab.backends.numba.forward import conv2d_kernel

    choice = conv2d_kernel(work.x, work.w, work.b, work.stride, work.padding)
    return {"kernel": choice.name, "kernel_source": choice.source}


def _fewer_multiplications(
    implementation: str, case: BenchCase, kernel: dict[str, str]
) -> bool:
    """Whether the implementation may do fewer multiplications than direct.

    PyTorch's convolutions may use Winograd or FFT algorithms, and the numba
    backend's tuner may choose Winograd F(4x4,3x3): their rate is then
    "direct-equivalent" (the direct algorithm's FLOPs over the time) and may
    pass the compute roof.
    """
    if case.kind != "conv2d" or case.w_shape is None:
        return False
    if implementation == TORCH or implementation == "numba-winograd":
        return True
    return implementation == "numba" and kernel.get("kernel") == "winograd"


def _implementation_result(
    implementation: str,
    timing: bench.Timing,
    flops: int,
    fraction: float,
    case: BenchCase,
    kernel: dict[str, str],
) -> dict[str, Any]:
    """Times of the whole case, and the rate.

    A part's times are divided by the fraction of the FLOPs it did.
    """
    median = timing.median / fraction
    return {
        "label": label(implementation),
        "direct_equivalent": _fewer_multiplications(implementation, case, kernel),
        "median_s": median,
        "q1_s": timing.q1 / fraction,
        "q3_s": timing.q3 / fraction,
        "spread": timing.spread,
        "gflops": flops / median / 1e9,
        "extrapolated": fraction < 1,
        "fraction": fraction,
        "measured_median_s": timing.median,
        "samples": len(timing.samples),
        "calls_per_sample": timing.number,
        **(kernel if implementation == "numba" else {}),
    }


def run_case(
    case: BenchCase, backends: Sequence[str], repeat: int, min_time: float
) -> dict[str, Any]:
    """Check and time one case on each implementation; its entry of the results.

    ``backends`` are names from :data:`~cnnlab.perf.suite.implementations.KNOWN`;
    those that cannot compute this case (:func:`supports`) are left out, so
    ``implementations`` holds only the others. ValueError if none is left.
    """
    backends = [name for name in backends if supports(name, case)]
    if not backends:
        raise ValueError(f"none of the implementations computes {case.name}")
    work = WORKLOADS[case.kind](case, np.random.default_rng(0))
    kernel = (
        _numba_conv_kernel(work)
        if case.kind == "conv2d" and "numba" in backends
        else {}
    )
    fractions = {name: (work.fraction if name in PARTIAL else 1.0) for name in backends}
    candidates = {name: work.run(name, part=fractions[name] < 1) for name in backends}
    expected = work.run(REFERENCE)()
    expected_part = work.run(REFERENCE, part=True)()
    for name, call in candidates.items():
        work.check(name, call(), expected_part if fractions[name] < 1 else expected)

    timings = bench.compare(dict(candidates), repeat=repeat, min_time=min_time)
    implementations = {
        name: _implementation_result(
            name, timing, work.flops, fractions[name], case, kernel
        )
        for name, timing in timings.items()
    }
    if "python" in implementations:
        baseline = implementations["python"]["median_s"]
        for result in implementations.values():
            result["speedup_vs_python"] = baseline / result["median_s"]
    return {
        "name": case.name,
        "description": case.description,
        "kind": case.kind,
        "shapes": work.shapes,
        "flops": work.flops,
        "bytes": work.bytes,
        "intensity": roofline.arithmetic_intensity(work.flops, work.bytes),
        "implementations": implementations,
    }


def ceilings(profile: machine.MachineProfile | None = None) -> dict[str, Any]:
    """The roofs of the machine profile, as stored in the results.

    The profile is the one every chapter reads (:func:`cnnlab.perf.machine.profile`):
    the compute roof is the measured FMA peak, the memory roof the STREAM
    bandwidth, the cache roof the L2 triad, and the BLAS matmul rate is a
    practical line under the compute roof (see :class:`roofline.Roofs`).
    """
    profile = machine.profile() if profile is None else profile
    roofs = roofline.Roofs.from_profile(profile)
    return {
        "peak_gflops": roofs.peak_gflops,
        "bandwidth_gbs": roofs.bandwidth_gbs,
        "cache_gbs": roofs.cache_gbs,
        "cache_bytes": roofs.cache_bytes,
        "matmul_gflops": roofs.matmul_gflops,
        "ridge_point": roofs.ridge_point,
        "profile_key": profile.key,
        "profile_measured_at": profile.measured_at,
    }


def _machine(backends: Sequence[str]) -> dict[str, Any]:
    """What the run ran on, with the thread settings and PyTorch's if it ran."""
    info = bench.machine_info()
    info.update({name.lower(): os.environ.get(name) for name in threads.POLICY})
    if TORCH in backends:
        torch = load_torch()
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return info


def _choose(what: str, names: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    """``names`` without repeats (all of ``known`` if None), each one of ``known``."""
    if names is None:
        return list(known)
    names = list(dict.fromkeys(names))
    if not names:
        raise ValueError(f"no {what} chosen; choose from {', '.join(known)}")
    for name in names:
        if name not in known:
            raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(known)}")
    return names


def _check_repeat(repeat: object) -> int:
    """``repeat`` as an int from 1 to :data:`MAX_REPEAT`, else ValueError naming it."""
    if isinstance(repeat, bool) or not isinstance(repeat, SupportsIndex):
        raise ValueError(f"repeat must be a positive int, got {repeat!r}")
    rounds = operator.index(repeat)
    if not 1 <= rounds <= MAX_REPEAT:
        raise ValueError(f"repeat must be from 1 to {MAX_REPEAT}, got {repeat!r}")
    return rounds


def run_suite(
    cases: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    repeat: int | None = None,
    quick: bool = False,
    out_dir: str | os.PathLike[str] | None = "bench-results",
    progress: bool = True,
    tiny: bool = False,
    profile: machine.MachineProfile | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run the benchmark suite and return its results.

    Parameters
    ----------
    cases : list of str, optional
        Names from :data:`CASES`; default all.
    backends : list of str, optional
        Implementations: backends, "torch", "mojo" or single rungs such as
        "mojo-simd" and "numba-winograd" (see
        :mod:`cnnlab.perf.suite.implementations`); default
        :func:`default_implementations`. A case that one cannot compute lacks
        its row (``settings["skipped"]`` lists them); ValueError if none of
        them computes any of the cases.
    repeat : int, optional
        Rounds of :func:`bench.compare`; default 7, or 3 with ``quick``.
    quick : bool
        Fewer rounds and shorter samples; the shapes stay.
    out_dir : path or None
        Where to write ``results.json``, ``speedup.png`` and ``roofline.png``;
        None writes nothing. Files there that an earlier run did not write
        are never replaced, unless ``force`` (see :func:`write_results`).
    progress : bool
        Show a progress bar over the cases.
    tiny : bool
        Use :data:`TINY_CASES`, shrunk versions of every case, so a test
        runs everything in seconds.
    profile : MachineProfile, optional
        The ceilings; default :func:`cnnlab.perf.machine.profile` (measured once
        per machine and cached).
    force : bool
        Replace files in ``out_dir`` even if this command did not write them.

    Timings of different libraries interleaved in one process are only fair
    when idle thread pools soon sleep, as :mod:`cnnlab.threads` arranges
    when ``cnnlab`` is imported before NumPy.

    Returns
    -------
    dict
        ``schema_version``, ``created``, ``machine``, ``settings``,
        ``ceilings`` and ``cases`` (one dict per case, see :func:`run_case`).
    """
    catalog = TINY_CASES if tiny else CASES
    cases = _choose("case", cases, list(catalog))
    backends = choose_implementations(backends)
    repeat = (
        (QUICK_REPEAT if quick else FULL_REPEAT)
        if repeat is None
        else _check_repeat(repeat)
    )
    min_time = 0.001 if tiny else 0.01 if quick else 0.05
    skipped = skipped_pairs([catalog[name] for name in cases], backends)
    if all(len(skipped.get(name, ())) == len(backends) for name in cases):
        raise ValueError(
            f"none of {', '.join(backends)} computes any of {', '.join(cases)}"
        )
    if out_dir is not None:
        check_out_dir(out_dir, force)

    roofs = ceilings(profile)
    results_cases = []
    bar = tqdm(cases, desc="bench", unit="case", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        if len(skipped.get(name, ())) < len(backends):
            results_cases.append(run_case(catalog[name], backends, repeat, min_time))
    results = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(backends),
        "settings": {
            "quick": quick,
            "tiny": tiny,
            "repeat": repeat,
            "min_time_s": min_time,
            "cases": cases,
            "backends": backends,
            "skipped": skipped,
        },
        "ceilings": roofs,
        "cases": results_cases,
    }
    if out_dir is not None:
        write_results(results, out_dir, force)
    return results


def _book_run_path() -> Path:
    """The cache file of the book's run on this machine and these settings."""
    key, _ = machine.machine_key()
    settings = {
        "cases": BOOK_CASES,
        "backends": available_backends(),
        "quick": True,
        "schema": SCHEMA_VERSION,
    }
    text = json.dumps(settings, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return machine.cache_dir() / f"bench-{key}-{digest}.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (POSIX).

    Two pages of the book built at once then run the suite once, not twice.
    """
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): at worst, both run it
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def book_results(rerun: bool = False) -> dict[str, Any]:
    """The book's benchmark run: :data:`BOOK_CASES`, quick, on every backend here.

    Run once per machine the first time it is asked for, then read from a
    JSON file next to the machine profile (in
    :func:`cnnlab.perf.machine.cache_dir`), so that every page of a build
    quotes the same medians and speed-ups. ``rerun=True`` runs it again. The
    result has the layout of :func:`run_suite`'s.
    """
    path = _book_run_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        if not rerun:
            try:
                cached = json.loads(path.read_text())
                if cached.get("schema_version") == SCHEMA_VERSION:
                    return cached
            except (OSError, ValueError):
                pass
        results = run_suite(
            list(BOOK_CASES),
            available_backends(),
            quick=True,
            out_dir=None,
            progress=False,
        )
        # write-then-rename: a reader sees the old file or the new one, never half
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(results, indent=1))
        partial.replace(path)
    return results
