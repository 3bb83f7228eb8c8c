"""The measured compute peak: a loop of vector FMAs written in LLVM IR.

The loop does fused multiply-adds (FMA) on SIMD vectors, with enough
independent accumulators to hide the FMA's latency, on every core at once.
It is written in LLVM's own language and compiled with llvmlite (which Numba
is built on), so the vector width is the one we ask for and no compiler
heuristic can change it. We try 256-bit and 512-bit vectors and keep the
faster: a CPU that splits 512-bit FMAs into two halves (AMD Zen 4) shows it
by not getting faster. :mod:`cnnlab.perf.machine` keeps the result in the
machine profile.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from cnnlab.validation import validate_int

__all__ = ["fma_peak_gflops"]

FmaLoop = Callable[[int, float, float], float]


def _fma_loop_ir(width: int, chains: int) -> str:
    """LLVM IR of ``float fma_loop(i64 n, float a, float b)``: n rounds of FMAs.

    Each round is ``chains`` FMAs on vectors of ``width`` floats.

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
# (execution engine, function) per shape: the engine owns the machine code
_COMPILED: dict[tuple[int, int], tuple[Any, FmaLoop]] = {}


def _compiled_fma_loop(width: int, chains: int) -> FmaLoop:
    """:func:`_fma_loop_ir` as a ctypes function, compiled for this CPU.

    Compiled once per process and shape.
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


def _run_on_threads(fn: FmaLoop, args: tuple, threads: int) -> float:
    """Seconds for ``threads`` concurrent calls of ``fn(*args)``.

    Plain Python threads suffice: ctypes releases the GIL during the call.
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
    """The measured compute peak: float32 GFLOP/s of vector FMAs on ``threads`` cores.

    Returns ``(gflops, vector_bits)``: the best rate over the vector widths
    tried, and the width that reached it. Each sample runs about ``seconds``.
    """
    threads = (
        os.cpu_count() or 1 if threads is None else validate_int("threads", threads, 1)
    )
    repeat = validate_int("repeat", repeat, 1)
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
            # a wider vector must win clearly to count as the width used
            if rate > best * 1.02:
                best_bits = 32 * width
            best = max(best, rate)
    return best, best_bits
