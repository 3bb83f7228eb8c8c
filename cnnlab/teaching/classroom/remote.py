"""A student's notebook in its own kernel, under time, memory and output limits.

:class:`LimitedKernel` runs a notebook's cells one at a time in a fresh
kernel, in the submission's own working folder, with a time limit per cell
and for the whole notebook, a memory limit on the kernel's process, and a
limit on the output it may send. Whatever the student's code does (loop,
``os._exit``, fill the memory, print megabytes), the grader gets a status
and goes on.

The checkers call the student's functions in this kernel through
:class:`~cnnlab.teaching.classroom.calls.RemoteFunction`; the checker and its
expected answers stay in the grader's process, which the student's code never
runs in.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import types
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

POLL_SLICE_S = 1.0


async def get_msg_in_slices(
    self: AsyncZMQSocketChannel, timeout: float | None = None
) -> dict[str, Any]:
    """``AsyncZMQSocketChannel.get_msg``, polling again every second until ``timeout``.

    A wake-up that ZMQ misses would otherwise wait for the whole cell timeout
    (jupyter/nbclient#312). The book's build uses it too (book/_ext).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL_SLICE_S
        if deadline is not None:
            left = min(POLL_SLICE_S, deadline - time.monotonic())
        if left <= 0:
            raise Empty
        if await self.socket.poll(int(left * 1000)):
            return await self._recv()


KERNEL_SIDE = "cnnlab.teaching.classroom.in_kernel"


class KernelGone(RuntimeError):
    """The kernel died, hung past an interrupt, or the notebook ran out of time."""


class LimitedKernel(NotebookClient):
    """An nbclient that runs one cell at a time under the grader's limits.

    ``cell_timeout`` and ``notebook_timeout`` are seconds of wall-clock time,
    ``memory_bytes`` caps the kernel's address space, ``output_bytes`` the
    output all its cells may send: past it, outputs are dropped.
    """

    def __init__(
        self,
        nb: NotebookNode,
        workdir: Path,
        cell_timeout: float,
        notebook_timeout: float,
        memory_bytes: int,
        output_bytes: int,
    ) -> None:
        # A copy with one more cell at the end, where the grader's own calls run
        # (nbclient stores each executed cell back into the notebook).
        nb = copy.deepcopy(nb)
        nb.cells.append(new_code_cell(""))
        self.scratch_index = len(nb.cells) - 1
        super().__init__(
            nb,
            kernel_name="python3",
            resources={"metadata": {"path": str(workdir)}},
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": "CellTimeout",
                "evalue": f"the cell ran for more than {cell_timeout:g} s",
            },
            record_timing=False,
            startup_timeout=60,
            shutdown_kernel="immediate",
        )
        self.workdir = workdir
        self.cell_timeout = cell_timeout
        self.deadline = time.monotonic() + notebook_timeout
        self.memory_bytes = memory_bytes
        self.output_bytes = output_bytes
        self.output_sent = 0
        self.output_overflow = False
        self.timeout_func = self._cell_seconds
        self.timed_out = False
        self._sockets = ""

    def _cell_seconds(self, cell: NotebookNode) -> int:
        left = self.deadline - time.monotonic()
        return max(1, int(min(self.cell_timeout, left) + 0.999))

    def start(self) -> None:
        """Start the kernel and cap its memory.

        The kernel talks over Unix sockets in a folder of its own: with TCP,
        kernels starting at the same moment on one machine (the workers of a
        class) can pick the same free port.
        """
        self.km = self.create_kernel_manager()
        self._sockets = tempfile.mkdtemp(prefix="cnnlab-kernel-")
        self.km.transport = "ipc"
        self.km.ip = os.path.join(self._sockets, "kernel")
        self.start_new_kernel(cwd=str(self.workdir))
        self.start_new_kernel_client()
        for channel in (self.kc.shell_channel, self.kc.iopub_channel):  # type: ignore[union-attr]
            channel.get_msg = types.MethodType(get_msg_in_slices, channel)
        # The grader's side of each call, loaded before any of the student's code
        self.execute_cell(new_code_cell(f"import {KERNEL_SIDE}"), self.scratch_index)
        process = self._process()
        if process is not None:  # Linux: the cap applies to the kernel alone
            limit = (self.memory_bytes, self.memory_bytes)
            resource.prlimit(process.pid, resource.RLIMIT_AS, limit)

    def stop(self) -> None:
        """Shut the kernel down, however it is."""
        try:
            self._cleanup_kernel()
        except Exception:  # noqa: BLE001 - a dead or hung kernel is expected here
            process = self._process()
            if process is not None and process.poll() is None:
                process.kill()
        finally:
            if self._sockets:
                shutil.rmtree(self._sockets, ignore_errors=True)

    def _process(self) -> subprocess.Popen | None:
        """The kernel's process (jupyter_client's local provisioner holds it)."""
        provisioner = getattr(self.km, "provisioner", None)
        return getattr(provisioner, "process", None)

    @property
    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def output(
        self,
        outs: list[NotebookNode],
        msg: dict[str, Any],
        display_id: str | None,
        cell_index: int,
    ) -> NotebookNode | None:
        self.output_sent += len(json.dumps(msg.get("content", {})))
        if self.output_sent <= self.output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        # Dropped, not interrupted: by now the kernel may be running the next cell.
        # A cell that prints without end meets the cell's time limit.
        self.output_overflow = True
        return None

    async def _async_handle_timeout(
        self, timeout: int, cell: NotebookNode | None = None
    ) -> None | dict[str, Any]:
        self.timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def run(self, cell: NotebookNode, index: int) -> str | None:
        """Execute one code cell; what went wrong (it raised, it ran out of time)."""
        if self.out_of_time:
            raise KernelGone("the notebook ran out of time")
        self.timed_out = False
        limit = self._get_timeout(cell)
        try:
            self.execute_cell(cell, index, store_history=False)
        except DeadKernelError:
            raise KernelGone(
                "the kernel died (crashed, or ran out of memory)"
            ) from None
        except CellTimeoutError:
            raise KernelGone("a cell did not stop when interrupted") from None
        if self.timed_out:
            if not self._responds():
                raise KernelGone("a cell did not stop when interrupted")
            return f"ran past its time limit ({limit} s) and was stopped"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"raised {output.get('ename', 'an error')}"
        return None

    def _responds(self, seconds: float = 10.0) -> bool:
        """True if the kernel runs an empty cell within ``seconds``."""
        previous = self.timeout_func
        self.timeout_func = lambda cell: int(seconds)
        probe = new_code_cell("pass")
        try:
            self.execute_cell(probe, self.scratch_index, store_history=False)
        except (DeadKernelError, CellTimeoutError):
            return False
        finally:
            self.timeout_func = previous
        return not any(
            o.get("ename") == "CellTimeout" for o in probe.get("outputs", [])
        )
