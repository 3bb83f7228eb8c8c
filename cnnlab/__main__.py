"""Command line: ``python -m cnnlab bench [options]`` (see ``python -m cnnlab bench --help``)."""
from __future__ import annotations

import argparse
import os
import sys

from . import benchsuite


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnnlab", description="Tools of the cnnlab book.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser("bench", help="time every backend on standard CNN workloads and chart the results")
    benchsuite.add_arguments(bench)
    return parser


def _restart_with_quiet_threads(argv: list[str]) -> None:
    """Run this command again in a fresh Python whose idle thread pools spin only briefly (QUIET_THREADS).

    The libraries read these settings only when they load, and ``import
    cnnlab`` has loaded NumPy (and so OpenBLAS) before this module runs.
    Settings already in the environment are kept.
    """
    missing = {name: value for name, value in benchsuite.QUIET_THREADS.items() if name not in os.environ}
    if missing:
        os.execve(sys.executable, [sys.executable, "-m", "cnnlab", *argv], {**os.environ, **missing})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # run as a program, not called from Python
        _restart_with_quiet_threads(sys.argv[1:])
    return benchsuite.main(args)


if __name__ == "__main__":
    sys.exit(main())
