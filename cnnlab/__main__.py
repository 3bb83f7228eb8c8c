"""Command line: ``python -m cnnlab bench|tune|machine [options]``.

``python -m cnnlab COMMAND --help`` describes each command.
"""

from __future__ import annotations

import argparse
import json
import sys

from cnnlab.perf.suite import cli as bench_cli
from cnnlab.perf.suite import tune


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m cnnlab`` and its commands."""
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab", description="Tools of the cnnlab book."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser(
        "bench",
        help="time every backend on standard CNN workloads and chart the results",
    )
    bench_cli.add_arguments(bench)
    tuning = commands.add_parser(
        "tune",
        help="race the numba kernels on the bench's convolutions; print the choices",
        description="Tune the numba backend on the standard convolution cases: race "
        "every kernel that applies, keep the fastest in this machine's tuning file "
        "(see cnnlab.backends.numba.tuner), and print what was chosen.",
    )
    tune.add_arguments(tuning)
    machine = commands.add_parser(
        "machine",
        help="print this machine's measured ceilings (peak, bandwidth, matmul)",
        description="Print the machine profile every chapter reads: measured once per "
        "machine and cached (see cnnlab.perf.machine).",
    )
    machine.add_argument(
        "--remeasure",
        action="store_true",
        help="measure again and replace the cached profile",
    )
    machine.add_argument(
        "--json", action="store_true", help="print the profile as JSON"
    )
    return parser


def _machine_command(args: argparse.Namespace) -> int:
    """Print the machine profile (measured first if it is not cached)."""
    from cnnlab.perf import machine

    result = machine.profile(remeasure=args.remeasure)
    if args.json:
        print(json.dumps(result.as_dict(), indent=1))
    else:
        print(result)
        print(result.peak_verdict)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m cnnlab`` on ``argv`` (default: the command line).

    Returns the exit code.
    """
    args = build_parser().parse_args(argv)
    if args.command == "machine":
        return _machine_command(args)
    if args.command == "tune":
        return tune.main(args)
    return bench_cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
