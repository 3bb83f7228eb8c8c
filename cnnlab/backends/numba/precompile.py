"""Compile the convolution kernels a tuning will race, on every core at once.

Numba compiles a kernel the first time it is called, on one core, and keeps the
machine code in its cache on disk (``cache=True``). A first tuning calls every
candidate kernel of every convolution, so from an empty cache it spends most of
its time compiling, one kernel after another, while the other cores wait.
:func:`compile_conv_kernels` hands the kernels to worker processes, one kernel
per task; each worker calls its kernels once on arrays of zeros of the real
shapes, which compiles them into the shared cache. The calling process then
loads them from disk, and races them with the workers gone, on an idle machine.

A worker is ``python -m cnnlab.backends.numba.precompile``, fed one task per
line on its standard input, not a :mod:`multiprocessing` child: those import
the caller's main module again, which runs a script that calls this without an
``if __name__ == "__main__":`` guard a second time, in every worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np

from cnnlab.backends.numba import chooser

__all__ = ["ConvCall", "compile_conv_kernels"]


class ConvCall(NamedTuple):
    """A convolution's shapes and types: what a kernel is compiled for."""

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dtype: str


def _tasks(calls: Sequence[ConvCall]) -> dict[str, list[ConvCall]]:
    """The calls each candidate kernel races in, by kernel name."""
    tasks: dict[str, list[ConvCall]] = {}
    for call in calls:
        for name in chooser.conv_candidates(call.x_shape, call.w_shape, call.stride):
            tasks.setdefault(name, []).append(call)
    return tasks


def _run_kernel(name: str, calls: Sequence[ConvCall], threads: int) -> None:
    """In a worker: call kernel ``name`` once on zeros of each call's shapes."""
    from cnnlab.backends.numba.conv_kernels import CONV_KERNELS
    from cnnlab.validation import output_size

    # the thread count decides which variant (serial or parallel) a kernel runs
    numba.set_num_threads(threads)
    for call in calls:
        x = np.zeros(call.x_shape, call.dtype)
        w = np.zeros(call.w_shape, call.dtype)
        b = np.zeros(call.w_shape[0], call.dtype)
        (n, _, h, width), (f, _, kh, kw) = call.x_shape, call.w_shape
        oh = output_size(h, kh, call.stride[0], call.padding[0])
        ow = output_size(width, kw, call.stride[1], call.padding[1])
        out = np.empty((n, f, oh, ow), call.dtype)
        CONV_KERNELS[name](x, w, b, call.stride, call.padding, out)


def compile_conv_kernels(
    calls: Sequence[ConvCall], processes: int | None = None
) -> None:
    """Compile every candidate kernel of ``calls``, ``processes`` at a time.

    This process is one of them: it takes kernels from the back of the list
    while the workers take them from the front, so it needs to load only the
    others' kernels from disk. ``processes`` defaults to the machine's cores;
    with one, nothing is done here (the kernels compile when first called, as
    without this step). The kernel of a worker that fails is compiled here.
    """
    tasks = deque(_tasks(calls).items())
    processes = min(processes or os.cpu_count() or 1, len(tasks))
    if processes < 2:
        return
    threads = numba.get_num_threads()
    lock = threading.Lock()

    def take(front: bool) -> tuple[str, list[ConvCall]] | None:
        with lock:
            if not tasks:
                return None
            return tasks.popleft() if front else tasks.pop()

    def feed_a_worker() -> None:
        command = [sys.executable, "-m", __name__]
        try:
            worker = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        except OSError:
            return
        with worker:
            stdin, stdout = worker.stdin, worker.stdout
            while stdin and stdout and (task := take(front=True)) is not None:
                name, task_calls = task
                line = json.dumps(
                    {"kernel": name, "calls": task_calls, "threads": threads}
                )
                try:
                    stdin.write(line + "\n")
                    stdin.flush()
                    done = stdout.readline()
                except OSError:
                    done = ""
                if done != f"{DONE} {name}\n":  # it died: the rest are the caller's
                    with lock:
                        tasks.appendleft(task)
                    break

    feeders = [threading.Thread(target=feed_a_worker) for _ in range(processes - 1)]
    for feeder in feeders:
        feeder.start()
    while (task := take(front=False)) is not None:
        _run_kernel(*task, threads)
    for feeder in feeders:
        feeder.join()
    while (task := take(front=False)) is not None:  # those of a worker that died
        _run_kernel(*task, threads)


DONE = "compiled"
"""What a worker writes, with the kernel's name, when a task is done."""


def _serve() -> None:
    """A worker: run the task of each line of standard input, say when done."""
    for line in sys.stdin:
        task = json.loads(line)
        calls = [
            ConvCall(tuple(x), tuple(w), tuple(stride), tuple(padding), dtype)
            for x, w, stride, padding, dtype in task["calls"]
        ]
        _run_kernel(task["kernel"], calls, task["threads"])
        print(DONE, task["kernel"], flush=True)


if __name__ == "__main__":
    _serve()
