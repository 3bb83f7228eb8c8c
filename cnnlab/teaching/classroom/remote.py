"""A student's notebook in its own kernel, under limits; its functions called from here.

:class:`LimitedKernel` runs a notebook's cells one at a time in a fresh
kernel, in the submission's own working folder, with a time limit per cell
and for the whole notebook, a memory limit on the kernel's process, and a
limit on the output it may send. Whatever the student's code does (loop,
``os._exit``, fill the memory, print megabytes), the grader gets a status
and goes on.

:class:`RemoteFunction` is a student's function as the checkers see it: a
callable that runs the function in the kernel
(:mod:`~cnnlab.teaching.classroom.in_kernel`) and returns what it returned,
as plain arrays and numbers. The checker and its expected answers stay in
this process, which the student's code never runs in.
"""

from __future__ import annotations

import copy
import inspect
import json
import pickle
import resource
import signal
import subprocess
import time
import types
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from cnnlab.teaching.safe_call import Remote

KERNEL_SIDE = "cnnlab.teaching.classroom.in_kernel"
MAX_RESPONSE_BYTES = 256 << 20
"""A student's answer bigger than this is not read (the checkers' are far smaller)."""


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


class KernelGone(RuntimeError):
    """The kernel died, hung past an interrupt, or the notebook ran out of time."""


class _Pickler(pickle.Pickler):
    """Pickles a module (a backend handed to a student's function) by its name."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.ModuleType):
            return __import__("importlib").import_module, (obj.__name__,)
        return NotImplemented


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

    def _cell_seconds(self, cell: NotebookNode) -> int:
        left = self.deadline - time.monotonic()
        return max(1, int(min(self.cell_timeout, left) + 0.999))

    def start(self) -> None:
        """Start the kernel and cap its memory."""
        self.km = self.create_kernel_manager()
        self.start_new_kernel(cwd=str(self.workdir))
        self.start_new_kernel_client()
        for channel in (self.kc.shell_channel, self.kc.iopub_channel):  # type: ignore[union-attr]
            channel.get_msg = types.MethodType(get_msg_in_slices, channel)
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

    def function(self, name: str, call_timeout: float) -> RemoteFunction:
        """The kernel's function ``name``, callable from here."""
        return RemoteFunction(self, name, call_timeout)


class RemoteFunction(Remote):
    """A function of the student's kernel, called from the grader's process.

    Arguments go to the kernel pickled (they are the checker's), answers come
    back as plain arrays and numbers. A call that raised in the kernel raises
    the same kind of exception here (a built-in one, or an Exception of the
    same name) with the student's line in its message. Arrays the function
    changed in place are changed here too, so the checker sees that it
    modified its inputs.

    A call runs at most the time left on the checker's alarm (the
    :func:`~cnnlab.teaching.safe_call.time_limit` around it), else
    ``call_timeout``; past it the kernel is interrupted and the checker's
    alarm reports the loop, as it does in a notebook.
    """

    def __init__(self, kernel: LimitedKernel, name: str, call_timeout: float) -> None:
        self.kernel = kernel
        self.__name__ = self.__qualname__ = name
        self.call_timeout = call_timeout
        self.calls = 0
        self.transport_seconds = 0.0
        described = self._request(None, call_timeout)
        self.missing = described.get("missing")
        parameters = [
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for p in described.get("parameters", [])
            if isinstance(p, str) and p.isidentifier()
        ]
        try:
            self.__signature__ = inspect.Signature(parameters)
        except ValueError:  # e.g. a parameter after *args: keep no signature
            pass
        self.transport_seconds = self._transport_floor()

    def _transport_floor(self) -> float:
        """The least time of a call that does nothing: the cost of asking the kernel."""
        times = []
        for _ in range(3):
            start = time.perf_counter()
            self._request(None, self.call_timeout)
            times.append(time.perf_counter() - start)
        return min(times)

    def seconds_of(self, elapsed: float) -> float:
        """The time of the call itself: the elapsed time less the transport's floor."""
        return max(elapsed - self.transport_seconds, 1e-9)

    def _request(
        self, arguments: tuple[tuple, dict] | None, timeout: float
    ) -> dict[str, Any]:
        kernel = self.kernel
        self.calls += 1
        request = kernel.workdir / f".cnnlab-request-{self.calls}.pkl"
        response = kernel.workdir / f".cnnlab-response-{self.calls}.npz"
        if arguments is not None:
            with open(request, "wb") as file:
                _Pickler(file, protocol=pickle.HIGHEST_PROTOCOL).dump(arguments)
        source = (
            f"__import__({KERNEL_SIDE!r}, fromlist=['serve']).serve("
            f"{self.__name__!r}, {str(request) if arguments else ''!r}, "
            f"{str(response)!r})"
        )
        cell = new_code_cell(source)
        previous_timeout = kernel.timeout_func
        kernel.timeout_func = lambda cell: max(1, int(timeout + 0.999))
        try:
            error = kernel.run(cell, kernel.scratch_index)
        finally:
            kernel.timeout_func = previous_timeout
            request.unlink(missing_ok=True)
        if error is not None and not response.exists():
            if kernel.timed_out:
                raise TimeoutError(f"the call ran for more than {timeout:g} s")
            raise KernelGone(f"the grader's call failed in the kernel: it {error}")
        try:
            return _read_response(response)
        finally:
            response.unlink(missing_ok=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.missing is not None:
            raise NameError(
                f"the notebook defines no function {self.__name__!r} (found "
                f"{self.missing})"
            )
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        timeout = left + 0.5 if left > 0 else self.call_timeout
        # The checker's alarm waits until the kernel has been interrupted and has
        # answered; then it fires, and the checker reports the time limit.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            answer = self._request((args, kwargs), timeout)
        except TimeoutError:
            answer = None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if answer is None:
            # No alarm of the checker's was left to fire: report the time here.
            from cnnlab.teaching.safe_call import ExerciseTimeout

            raise ExerciseTimeout
        _copy_back(answer.get("inputs"), [list(args), kwargs])
        if "error" in answer:
            raise _exception(answer["error"])
        return answer.get("result")


def _read_response(path: Path) -> dict[str, Any]:
    """The kernel's answer: its fields, with the result and inputs as plain data."""
    if path.stat().st_size > MAX_RESPONSE_BYTES:
        return {"result": _unreadable("answer_over_256_MB")}
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
        tree = json.loads(arrays.pop("meta").tobytes())
        answer = {
            key: tree[key] for key in ("missing", "parameters", "error") if key in tree
        }
        for key in ("result", "inputs"):
            if key in tree:
                answer[key] = _decode(tree[key], arrays)
    except Exception:  # noqa: BLE001 - the kernel may have written anything
        return {"result": _unreadable("unreadable_answer")}
    return answer


class _Unreadable:
    """Stands for what cannot come back as plain data; named after the value's type."""


def _unreadable(type_name: str) -> _Unreadable:
    # The checker's feedback names the type ("it returned a generator"), as in a
    # notebook, so the stand-in's class carries the student's type's name.
    name = type_name if type_name.isidentifier() else "object"
    return type(name, (_Unreadable,), {})()


def _decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value :func:`~cnnlab.teaching.classroom.in_kernel.serve` encoded."""
    if tree is None or type(tree) in (bool, int, float):
        return tree
    if not isinstance(tree, dict) or not tree:
        raise ValueError("not an encoded value")
    kind, value = next(iter(tree.items()))
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "str":
        return str(value)
    if kind == "array":
        array = arrays[f"a{int(value)}"]
        return array[()] if tree.get("scalar") else array
    if kind in ("tuple", "list"):
        items = [_decode(item, arrays) for item in value]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {str(key): _decode(item, arrays) for key, item in value.items()}
    if kind == "other":
        return _unreadable(str(value))
    raise ValueError(f"unknown kind {kind!r}")


def _copy_back(after: Any, before: list) -> None:
    """Write the kernel's view of array arguments after the call into ours."""
    if not isinstance(after, list) or len(after) != 2:
        return
    pairs = list(zip(after[0], before[0], strict=False))
    pairs += (
        [(after[1].get(k), v) for k, v in before[1].items()]
        if isinstance(after[1], dict)
        else []
    )
    for new, old in pairs:
        if (
            isinstance(old, np.ndarray)
            and isinstance(new, np.ndarray)
            and new.shape == old.shape
            and old.flags.writeable
        ):
            np.copyto(old, new, casting="unsafe")


def _exception(error: dict[str, Any]) -> BaseException:
    """The student's exception, rebuilt here: a built-in kind, or one of its name."""
    name = str(error.get("type", "Exception"))
    message = f"{error.get('message', '')}{error.get('line', '')}"
    if error.get("not_implemented"):
        return NotImplementedError(message)
    builtin = getattr(__import__("builtins"), name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except Exception:  # noqa: BLE001 - some built-ins take other arguments
            pass
    kind: Callable[[str], BaseException] = type(name, (Exception,), {})
    return kind(message)
