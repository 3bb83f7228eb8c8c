"""What a compiled kernel's hottest loop does, read from its x86-64 assembly.

A kernel's speed is decided in its innermost loop: how wide its vectors are,
how many multiply-adds it starts per pass, and how many loads and stores feed
them. :func:`hot_loop` finds that loop in the assembly text of a function (from
Numba's ``inspect_asm`` or ``mojo build --emit asm``): the basic block with
the most packed multiply-adds that jumps back to itself. :func:`loop_mix`
counts its instructions by kind. AT&T syntax: the destination comes last, and
a memory operand is written ``offset(%base,%index,scale)``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["LoopMix", "hot_loop", "loop_mix"]

_LABEL = re.compile(r"^(\.?[\w.$]+):", re.M)
# a function's symbol: a plain name or, as Mojo writes them, a quoted one
_SYMBOL = re.compile(r'^(?!\.L)("[^\n]*"|[A-Za-z_][\w.$]*):', re.M)
_INSTRUCTION = re.compile(r"^\s+([a-z]\w*)\s*(.*)$")
_PACKED_MATH = re.compile(r"^v(?:fn?m(?:add|sub)\w*|mul|add)p[sd]$")
_MULTIPLY_ADD = re.compile(r"^v(?:fn?m(?:add|sub)\w*|mul)p[sd]$")
_MEMORY = re.compile(r"-?\w*\(%\w+")
_BITS = {"xmm": 128, "ymm": 256, "zmm": 512}


class LoopMix(NamedTuple):
    """The instructions of one pass through a loop, by kind."""

    vector_bits: int  # the widest register its packed arithmetic uses
    multiply_adds: int  # packed fused multiply-adds and multiplies
    fused: int  # of which fused multiply-adds
    loads: int  # instructions that read memory (a memory operand as source)
    stack_loads: int  # of which from the stack (%rsp): values spilled there
    stores: int  # instructions that write memory


def _instructions(block: str) -> list[tuple[str, str]]:
    """(mnemonic, operands) of each instruction line, directives left out."""
    found = []
    for line in block.splitlines():
        match = _INSTRUCTION.match(line)
        if match and not line.strip().startswith("."):
            found.append((match.group(1), match.group(2).split("#")[0].strip()))
    return found


def _functions(asm: str, name: str) -> str:
    """The functions of ``asm`` whose symbol contains ``name``, one after another."""
    starts = [(m.group(1), m.start()) for m in _SYMBOL.finditer(asm)]
    bodies = [
        asm[start : starts[k + 1][1] if k + 1 < len(starts) else len(asm)]
        for k, (symbol, start) in enumerate(starts)
        if name in symbol
    ]
    return "\n".join(bodies)


def hot_loop(asm: str, function: str = "") -> str:
    """The loop body with the most packed multiply-adds: from a label to the
    jump back to it; only in the functions whose symbol contains ``function``, if
    given. "" if there is no packed arithmetic."""
    if function:
        asm = _functions(asm, function)
    best, most = "", 0
    labels = [(m.group(1), m.start()) for m in _LABEL.finditer(asm)]
    for k, (name, start) in enumerate(labels):
        end = labels[k + 1][1] if k + 1 < len(labels) else len(asm)
        block = asm[start:end]
        jumps_back = re.search(rf"^\s+j\w+\s+{re.escape(name)}\s*$", block, re.M)
        if not jumps_back:
            continue
        count = sum(bool(_MULTIPLY_ADD.match(op)) for op, _ in _instructions(block))
        if count > most:
            best, most = block[: jumps_back.end()], count
    return best


def loop_mix(loop: str) -> LoopMix:
    """Count the instructions of one pass through ``loop`` (see :func:`hot_loop`)."""
    bits = multiply_adds = fused = loads = stack_loads = stores = 0
    for op, operands in _instructions(loop):
        parts = [p.strip() for p in re.split(r",(?![^(]*\))", operands) if p.strip()]
        if _PACKED_MATH.match(op):
            registers = re.findall(r"%([xyz]mm)", operands)
            bits = max([bits, *(_BITS[r] for r in registers)])
        if _MULTIPLY_ADD.match(op):
            multiply_adds += 1
            fused += op.startswith("vf")
        if not parts:
            continue
        if op.startswith(("vmov", "mov")) and _MEMORY.match(parts[-1]):
            stores += 1
        elif any(_MEMORY.match(p) for p in parts[:-1]) and not op.startswith("lea"):
            loads += 1
            stack_loads += any("(%rsp" in p for p in parts[:-1])
    return LoopMix(bits, multiply_adds, fused, loads, stack_loads, stores)
