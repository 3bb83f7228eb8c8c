"""Reading a kernel's hottest loop from its assembly: on a hand-written loop whose
counts are known, and on a loop Numba vectorizes."""
import numba
import numpy as np
import pytest

from cnnlab.perf import asm

LOOP = """
foo:
\tmovq\t%rdi, %rax
.LBB0_1:
\tvmovups\t(%rcx,%r11,4), %ymm2
\tvbroadcastss\t8(%rdx), %ymm3
\tvfmadd231ps\t%ymm3, %ymm2, %ymm0
\tvfmadd231ps\t96(%rsp), %ymm2, %ymm1
\tvmulps\t%ymm2, %ymm2, %ymm4
\tvaddps\t(%r12,%r11,4), %ymm4, %ymm4
\tvmovups\t%ymm4, (%r12,%r11,4)
\tleaq\t8(%r11), %r11
\taddq\t$8, %r11
\tcmpq\t%r11, %rbx
\tjne\t.LBB0_1
# %bb.2:
\tvfmadd231ss\t%xmm3, %xmm2, %xmm0
\tretq
"""


def test_the_hot_loop_runs_from_its_label_to_the_jump_back():
    loop = asm.hot_loop(LOOP)
    assert loop.startswith(".LBB0_1:") and loop.rstrip().endswith("jne\t.LBB0_1")
    assert "retq" not in loop


def test_the_mix_counts_each_kind():
    mix = asm.loop_mix(asm.hot_loop(LOOP))
    assert mix == asm.LoopMix(
        vector_bits=256, multiply_adds=3, fused=2, loads=4, stack_loads=1, stores=1
    )


def test_no_packed_arithmetic_no_hot_loop():
    assert asm.hot_loop("f:\n\tvaddss\t%xmm1, %xmm0, %xmm0\n\tretq\n") == ""


def test_a_loop_numba_vectorizes_is_found():
    @numba.njit(fastmath={"contract"})
    def axpy(a, x, y):
        for i in range(x.shape[0]):
            y[i] += a * x[i]

    x = np.ones(64, np.float32)
    axpy(np.float32(2), x, x.copy())
    mix = asm.loop_mix(asm.hot_loop(axpy.inspect_asm(axpy.signatures[0])))
    if mix.vector_bits == 0:
        pytest.skip("LLVM did not vectorize on this CPU")
    assert mix.vector_bits >= 128 and mix.multiply_adds >= 1
    assert mix.loads >= 1 and mix.stores >= 1


def test_the_hot_loop_can_be_looked_for_in_one_function():
    other = '"pkg::other[T=Job]":\n.LBB9_1:\n\tvfmadd231ps\t%ymm1, %ymm2, %ymm3\n\tjne\t.LBB9_1\n'
    both = LOOP + other
    assert asm.loop_mix(asm.hot_loop(both)).multiply_adds == 3
    assert asm.loop_mix(asm.hot_loop(both, "pkg::other")).multiply_adds == 1
    assert asm.hot_loop(both, "missing") == ""
