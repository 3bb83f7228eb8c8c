"""``python -m cnnlab bench``: the suite's options, their checks, and the command.

Every argument is checked while it is parsed (argparse exits with code 2 and
names the bad value), so nothing is timed and nothing written when one is
wrong. :func:`add_arguments` declares the options on a parser that
:mod:`cnnlab.__main__` makes; :func:`main` runs the command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence

import cnnlab
from cnnlab import threads
from cnnlab.perf.suite.cases import CASES, TINY_CASES
from cnnlab.perf.suite.implementations import (
    KNOWN,
    MOJO_RUNGS,
    NUMBA_KERNELS,
    choose_implementations,
    skipped_pairs,
    unavailable,
)
from cnnlab.perf.suite.output_dir import check_out_dir
from cnnlab.perf.suite.report import summary_table, write_results
from cnnlab.perf.suite.run import FULL_REPEAT, MAX_REPEAT, QUICK_REPEAT, run_suite
from cnnlab.perf.suite.torch_reference import TORCH

__all__ = ["add_arguments", "main", "comma_separated", "DESCRIPTION"]


def comma_separated(what: str, known: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated list of names from ``known``."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"no {what} given in {text!r}")
        for name in names:
            if name not in known:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {name!r}; choose from {', '.join(known)}"
                )
            reason = unavailable(name) if what == "backend" else ""
            if reason:
                raise argparse.ArgumentTypeError(reason)
        return names

    return parse


def _repeat(text: str) -> int:
    """An argparse type for --repeat: a whole number from 1 to :data:`MAX_REPEAT`."""
    digits = text.strip()
    if (
        not (digits.isascii() and digits.isdecimal())
        or not 1 <= int(digits) <= MAX_REPEAT
    ):
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_REPEAT}, got {text!r}"
        )
    return int(digits)


def _out_dir(text: str) -> str:
    """An argparse type for --out: refuses a file or a path that cannot be written."""
    try:
        # files of an earlier run are judged later, with --force
        check_out_dir(text, force=True)
    except OSError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--out ")) from None
    return text


DESCRIPTION = f"""\
Time cnnlab's backends on standard CNN workloads (float32), in one process,
in interleaved rounds, after checking every backend's output against NumPy's.
Writes results.json, speedup.png and roofline.png to --out (never replacing
files it did not write, unless --force), and prints a summary table. The
roofline's ceilings come from the machine profile (python -m cnnlab machine).

The python backend is too slow to run whole: it is timed on a part of each
case (a strip of output rows, a few filters or images) that does a known
fraction of the FLOPs, and its time is extrapolated by dividing by that
fraction. The results mark it "extrapolated" and the chart hatches its bars.
If PyTorch is installed, it is timed too, as "torch (reference)".

Idle thread pools are told to spin only briefly before they sleep
({", ".join(f"{k}={v}" for k, v in threads.POLICY.items())}, unless already
set: cnnlab's thread policy), so libraries that take turns on a few cores do
not slow each other down, while back-to-back calls still find their threads awake.
"""


def _epilog() -> str:
    """The cases with their descriptions, the backends, and an example."""
    width = max(len(name) for name in CASES)
    lines = ["cases:"] + [
        f"  {case.name.ljust(width)}  {case.description}" for case in CASES.values()
    ]
    lines += [
        "",
        f"backends: {', '.join(cnnlab.BACKENDS)}, and {TORCH} when PyTorch is "
        "installed",
        "mojo (its direct rung), when the mojo package is installed: float32",
        "  convolutions of stride 1 only; other cases lack its row",
        "single rungs, on the convolutions they compute:",
        "  " + ", ".join(f"mojo-{rung}" for rung in MOJO_RUNGS),
        "  " + ", ".join(f"numba-{kernel}" for kernel in NUMBA_KERNELS),
        "",
        "example: python -m cnnlab bench --quick --cases conv-56,maxpool "
        "--backends numpy,numba",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m cnnlab bench``."""
    parser.description = DESCRIPTION
    parser.epilog = _epilog()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer rounds ({QUICK_REPEAT} instead of {FULL_REPEAT}) and shorter "
        "samples; the same shapes.",
    )
    parser.add_argument(
        "--cases",
        type=comma_separated("case", list(CASES)),
        default=None,
        metavar="LIST",
        help=f"comma-separated cases to run (default: all): {', '.join(CASES)}",
    )
    parser.add_argument(
        "--backends",
        type=comma_separated("backend", KNOWN),
        default=None,
        metavar="LIST",
        help="comma-separated implementations to time (default: the backends, "
        f"{TORCH} and mojo where available): {', '.join(KNOWN)}",
    )
    parser.add_argument(
        "--out",
        type=_out_dir,
        default="bench-results",
        metavar="DIR",
        help="directory for results.json, speedup.png and roofline.png "
        "(default: bench-results)",
    )
    parser.add_argument(
        "--repeat",
        type=_repeat,
        default=None,
        metavar="N",
        help=f"rounds of timing per case (default: {FULL_REPEAT}, or {QUICK_REPEAT} "
        "with --quick)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace results.json, speedup.png or roofline.png in --out even if "
        "this command did not write them",
    )
    # shrunk cases, for tests
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)


def _error(message: str) -> None:
    print(f"python -m cnnlab bench: error: {message}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Run ``python -m cnnlab bench`` with parsed arguments; returns the exit code.

    Every argument is checked before any case runs (exit code 2). The table
    is printed before the files are written, and if writing fails after
    all (the disk filled up meanwhile), the results go to a file in the
    temporary folder instead of being lost (exit code 1).
    """
    try:
        check_out_dir(args.out, args.force)
    except OSError as error:
        _error(str(error))
        return 2
    catalog = TINY_CASES if args.tiny else CASES
    cases = args.cases or list(catalog)
    backends = choose_implementations(args.backends)
    skipped = skipped_pairs([catalog[name] for name in cases], backends)
    if all(len(skipped.get(name, ())) == len(backends) for name in cases):
        _error(f"none of {', '.join(backends)} computes any of {', '.join(cases)}")
        return 2
    results = run_suite(
        args.cases, args.backends, args.repeat, args.quick, out_dir=None, tiny=args.tiny
    )
    print(summary_table(results))
    try:
        write_results(results, args.out, args.force)
    except OSError as error:
        _error(f"could not write the results to {args.out!r}: {error}")
        handle, rescue = tempfile.mkstemp(prefix="cnnlab-bench-", suffix=".json")
        with os.fdopen(handle, "w") as file:
            json.dump(results, file, indent=2)
        print(f"The results are saved in {rescue}", file=sys.stderr)
        return 1
    print(f"\nWrote results.json, speedup.png and roofline.png to {args.out}")
    return 0
