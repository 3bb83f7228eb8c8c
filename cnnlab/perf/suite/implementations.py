"""What the suite can time: cnnlab's backends, PyTorch, and single rungs.

A backend runs every case. The rungs run one convolution kernel by name, so a
chapter can set a ladder beside the backends in one interleaved table:

- ``mojo-loops``, ``mojo-simd``, ``mojo-parallel``, ``mojo-direct``: the rungs of
  :data:`cnnlab.mojo.conv.RUNGS`; ``mojo`` is the fastest, direct. They take
  float32 convolutions of stride 1 only, and need the mojo package;
- ``numba-general``, ``numba-direct``, ``numba-blocked``, ``numba-winograd``,
  ``numba-filter``: one kernel of
  :data:`cnnlab.backends.numba.conv_kernels.CONV_KERNELS`, on every case it
  computes, including those where the tuner would not race it because it cannot
  win there (the general loops at stride 1): a ladder shows every rung.

A case an implementation cannot run (:func:`supports`) simply lacks its row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import cnnlab
from cnnlab.perf.suite.cases import BenchCase
from cnnlab.perf.suite.torch_reference import TORCH, torch_available

__all__ = [
    "MOJO",
    "MOJO_RUNGS",
    "NUMBA_KERNELS",
    "KNOWN",
    "PARTIAL",
    "label",
    "unavailable",
    "available_implementations",
    "default_implementations",
    "choose_implementations",
    "skipped_pairs",
    "supports",
    "conv_kernel",
    "conv_call",
    "is_rung",
]

MOJO = "mojo"
MOJO_RUNGS = ("loops", "simd", "parallel", "direct")
NUMBA_KERNELS = ("general", "direct", "blocked", "winograd", "filter")
KNOWN = (
    *cnnlab.BACKENDS,
    TORCH,
    MOJO,
    *(f"mojo-{rung}" for rung in MOJO_RUNGS),
    *(f"numba-{kernel}" for kernel in NUMBA_KERNELS),
)
"""Every implementation name the suite knows, backends first."""
PARTIAL = ("python", "mojo-loops")
"""Too slow to run whole: timed on the case's part and extrapolated by FLOPs."""


def _rung(name: str) -> tuple[str, str] | None:
    """("mojo", rung) or ("numba", kernel) for a rung's name, else None."""
    if name == MOJO:
        return MOJO, "direct"
    family, _, rung = name.partition("-")
    if (family, rung) in {(MOJO, r) for r in MOJO_RUNGS} | {
        ("numba", k) for k in NUMBA_KERNELS
    }:
        return family, rung
    return None


def is_rung(name: str) -> bool:
    """Whether ``name`` runs one kernel (a Mojo rung or a Numba kernel)."""
    return _rung(name) is not None


def label(name: str) -> str:
    """How an implementation is named in tables and charts.

    "mojo (direct)" for a Mojo rung; "numba kernel (winograd)" for a Numba
    kernel run alone, since "numba (winograd)" is the numba backend's row when
    its chooser picked winograd; "torch (reference)".
    """
    rung = _rung(name)
    if rung is None:
        return "torch (reference)" if name == TORCH else name
    family, which = rung
    return f"mojo ({which})" if family == MOJO else f"numba kernel ({which})"


def unavailable(name: str) -> str:
    """Why ``name`` cannot run here, in one line; "" if it can."""
    if name not in KNOWN:
        return f"unknown implementation {name!r}; choose from {', '.join(KNOWN)}"
    if name == TORCH and not torch_available():
        return "backend 'torch' needs PyTorch, which is not installed"
    rung = _rung(name)
    if rung is not None and rung[0] == MOJO:
        from cnnlab import mojo

        if not mojo.available():
            return f"{name!r} cannot run here: {mojo.REASON}"
    return ""


def available_implementations() -> list[str]:
    """Every name in :data:`KNOWN` that can run on this machine."""
    return [name for name in KNOWN if not unavailable(name)]


def default_implementations() -> list[str]:
    """What a run times when not told: the backends, torch and mojo if they can run.

    The single rungs run only when named.
    """
    defaults = [*cnnlab.BACKENDS, TORCH, MOJO]
    return [name for name in defaults if not unavailable(name)]


def choose_implementations(names: Sequence[str] | None) -> list[str]:
    """``names`` without repeats (the default ones if None).

    ValueError, in one line, for a name that is unknown or cannot run here.
    """
    if names is None:
        return default_implementations()
    names = list(dict.fromkeys(names))
    if not names:
        raise ValueError(f"no backend chosen; choose from {', '.join(KNOWN)}")
    for name in names:
        reason = unavailable(name)
        if reason:
            raise ValueError(reason)
    return names


def skipped_pairs(
    cases: Sequence[BenchCase], implementations: Sequence[str]
) -> dict[str, list[str]]:
    """For each case, the implementations that cannot compute it (only non-empty)."""
    skipped = {
        case.name: [name for name in implementations if not supports(name, case)]
        for case in cases
    }
    return {name: names for name, names in skipped.items() if names}


def supports(name: str, case: BenchCase) -> bool:
    """Whether ``name`` can compute ``case``: backends and torch compute all."""
    rung = _rung(name)
    if rung is None:
        return True
    if case.kind != "conv2d" or case.w_shape is None:
        return False
    family, which = rung
    stride = (case.stride, case.stride)
    if family == MOJO:
        return stride == (1, 1)
    if which == "general":
        return True
    if which == "direct":
        return stride == (1, 1)
    # blocked, winograd and filter compute 3x3 windows at stride 1
    return stride == (1, 1) and tuple(case.w_shape[2:]) == (3, 3)


def conv_kernel(name: str) -> Callable[..., None]:
    """The rung's ``kernel(x, w, b, stride, padding, out) -> None``.

    x (N, C, H, W) and w (F, C, KH, KW) C-contiguous, b (F,), out
    (N, F, OH, OW) written in place.
    """
    rung = _rung(name)
    if rung is None:
        raise ValueError(f"{name!r} is not a rung: {label(name)}")
    family, which = rung
    if family == MOJO:
        from cnnlab.mojo.conv import RUNGS

        return RUNGS[which]
    # imported here: it loads Numba, which --help and other cases do not need
    from cnnlab.backends.numba.conv_kernels import CONV_KERNELS

    return CONV_KERNELS[which]


def conv_call(
    name: str,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    out_shape: tuple[int, int, int, int],
) -> Callable[[], np.ndarray]:
    """A call that runs the rung ``name`` on x (N, C, H, W) into a new out."""
    kernel = conv_kernel(name)
    x, w, b = (np.ascontiguousarray(a) for a in (x, w, b))

    def call() -> np.ndarray:
        out = np.empty(out_shape, x.dtype)
        kernel(x, w, b, stride, padding, out)
        return out

    return call
