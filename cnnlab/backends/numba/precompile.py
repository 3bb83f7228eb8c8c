"""Compile the convolution kernels a tuning will race, on every core at once.

Numba compiles a kernel the first time it is called, on one core, and keeps the
machine code in its cache on disk (``cache=True``). A first tuning calls every
candidate kernel of every convolution, so from an empty cache it spends most of
its time compiling, one kernel after another, while the other cores wait.
:func:`compile_conv_kernels` hands the kernels to worker processes, one kernel
per task; each worker calls its kernels once on arrays of zeros of the real
shapes, which compiles them into the shared cache. The calling process then
loads them from disk, and races them with the workers gone, on an idle machine.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
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

    This process is one of them: it takes the next kernel whenever every
    worker is busy, so it needs to load only the others' kernels from disk.
    ``processes`` defaults to the machine's cores; with one, nothing is done
    here (the kernels compile when first called, as without this step). Workers
    are spawned, not forked: a fork would copy the threads Numba may have
    started. A worker that fails leaves its kernels to compile when raced.
    """
    tasks = list(_tasks(calls).items())
    processes = min(processes or os.cpu_count() or 1, len(tasks))
    if processes < 2:
        return
    threads = numba.get_num_threads()
    workers = processes - 1
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        running: list[Future] = []
        while tasks:
            running = [future for future in running if not future.done()]
            if len(running) < workers:
                try:
                    running.append(pool.submit(_run_kernel, *tasks[0], threads))
                    tasks.pop(0)
                    continue
                except BrokenProcessPool:  # a worker died: do the rest here
                    workers = 0
            _run_kernel(*tasks.pop(), threads)
        wait(running)
