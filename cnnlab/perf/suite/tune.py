"""``python -m cnnlab tune``: the autotuner's choices for the suite's convolutions.

The numba backend races its kernels the first time it meets a convolution
(:mod:`cnnlab.backends.numba.tuner`). :func:`tune_cases` makes it meet each
convolution case of :data:`~cnnlab.perf.suite.cases.CASES` now, on the case's
own arrays, and :func:`tuning_table` shows the winner of each race, the median
time of every kernel that ran in it, and what the static table would have
chosen. Chapter 9 prints this table for the reader's machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.perf import bench
from cnnlab.perf.suite.cases import CASES
from cnnlab.perf.suite.cli import comma_separated
from cnnlab.perf.suite.workloads import ConvWorkload
from cnnlab.viz import tables

__all__ = ["TunedCase", "tune_cases", "tuning_table", "add_arguments", "main"]

CONV_CASES = tuple(name for name, case in CASES.items() if case.kind == "conv2d")
"""The standard cases the tuner has a choice in: the convolutions."""


@dataclass(frozen=True)
class TunedCase:
    """One case's tuning: the kernel chosen, how, each candidate's median time."""

    case: str
    kernel: str
    source: str
    times_s: dict[str, float]
    static: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return dict(self.__dict__)


def tune_cases(
    names: Sequence[str] | None = None, retune: bool = False
) -> list[TunedCase]:
    """Tune the numba backend on each convolution case in ``names`` (default: all).

    With ``retune``, cases tuned before are raced again. ``seconds`` is the time
    the choice took, race included.
    """
    from cnnlab.backends.numba import chooser, forward, tuner

    works = {}
    for name in names or CONV_CASES:
        case = CASES[name]
        if case.kind != "conv2d" or case.w_shape is None:
            raise ValueError(f"case {name!r} is not a convolution: {case.kind}")
        works[name] = ConvWorkload(case, np.random.default_rng(0))
    if retune:
        tuner.forget([_key(work) for work in works.values()])
    _compile_kernels(list(works.values()))
    tuned = []
    for name, work in works.items():
        x, w, b, stride, padding = work.x, work.w, work.b, work.stride, work.padding
        start = time.perf_counter()
        choice = forward.conv2d_kernel(x, w, b, stride, padding)
        seconds = time.perf_counter() - start
        static = chooser.choose_conv_kernel(x.shape, w.shape, stride)
        tuned.append(
            TunedCase(name, choice.name, choice.source, choice.times_s, static, seconds)
        )
    return tuned


def _key(work: ConvWorkload) -> str:
    from cnnlab.backends.numba import forward

    return forward.conv_key(work.x, work.w, work.stride, work.padding)


def _compile_kernels(works: Sequence[ConvWorkload]) -> None:
    """Compile the kernels of the cases that will be raced, on all cores at once.

    From an empty Numba cache, compiling takes longer than the races; this way
    it is shared among the cores (:mod:`cnnlab.backends.numba.precompile`).
    """
    from cnnlab.backends.numba import precompile, tuner

    if not tuner.enabled():
        return
    known = tuner.cached_entries()
    calls = [
        precompile.ConvCall(
            work.x.shape, work.w.shape, work.stride, work.padding, work.x.dtype.str
        )
        for work in works
        if _key(work) not in known
    ]
    precompile.compile_conv_kernels(calls)


def _others(row: TunedCase) -> str:
    """How much slower each other candidate ran: "direct 1.5x, blocked 1.8x"."""
    best = row.times_s.get(row.kernel)
    if not best:
        return ""
    return ", ".join(
        f"{name} {time_s / best:.2g}x"
        for name, time_s in row.times_s.items()
        if name != row.kernel
    )


def tuning_table(tuned: Sequence[TunedCase]) -> tables.Table:
    """One row per case: the kernel chosen, its median, how, and the others' times.

    The last column divides each other candidate's median by the chosen one's; a
    kernel marked * is not the one the static table would run.
    """
    rows = [
        [
            row.case,
            row.kernel + (" *" if row.kernel != row.static else ""),
            bench.format_time(row.times_s[row.kernel]) if row.times_s else "",
            row.source,
            _others(row),
        ]
        for row in tuned
    ]
    notes = [
        "how: tuned = raced now, cached = raced earlier on this machine,",
        "static = the chooser's table decided (small call, or CNNLAB_AUTOTUNE=0)",
    ]
    if any(row.kernel != row.static for row in tuned):
        notes.append("* not the kernel the static table would run")
    return tables.Table(
        ["case", "kernel", "median", "how", "the others took (x its time)"],
        rows,
        notes=notes,
        values={row.case: row.as_dict() for row in tuned},
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m cnnlab tune``."""
    parser.add_argument(
        "--cases",
        type=comma_separated("case", CONV_CASES),
        default=list(CONV_CASES),
        help=f"comma-separated cases (default: all of {', '.join(CONV_CASES)})",
    )
    parser.add_argument(
        "--retune",
        action="store_true",
        help="race the kernels again, even for cases tuned before on this machine",
    )


def main(args: argparse.Namespace) -> int:
    """Tune the chosen cases and print the table; returns the exit code."""
    from cnnlab.backends.numba import tuner

    if not tuner.enabled():
        print("CNNLAB_AUTOTUNE=0: the static table decides; nothing is tuned.")
    start = time.perf_counter()
    tuned = tune_cases(args.cases, retune=args.retune)
    print(tuning_table(tuned))
    print(f"{time.perf_counter() - start:.1f} s; choices kept in {tuner.cache_path()}")
    return 0
