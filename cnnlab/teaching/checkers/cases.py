"""What every checker builds its graded cases from.

The answers come from :data:`REFERENCE`, cnnlab's NumPy backend; random inputs
come from generators seeded with :data:`SEED`, so a student sees the same cases
on every run; float32 answers are compared with the looser :data:`FLOAT32`
tolerance. :func:`matches` is the comparison the hints use to recognize a
mistake: it recomputes the answer with that mistake and asks whether the
student's result is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, TypedDict

import numpy as np

from cnnlab import backend
from cnnlab.teaching.grading import Case

REFERENCE: ModuleType = backend("numpy")
SEED = 2026
BACKPROP_SEED = 2027  # chapters 10 and 11 draw their cases from their own seed

# The worked example of chapters 1 and 2: the image 1..25 and a vertical-edge kernel.
SEED_IMAGE = np.arange(1, 26, dtype=np.float64).reshape(5, 5)
EDGE_KERNEL = np.array([[1.0, 0.0, -1.0]] * 3)

Shape4 = tuple[int, int, int, int]  # x (N, C, H, W) or w (F, C, KH, KW)


class Tolerance(TypedDict, total=False):
    """The ``rtol`` and ``atol`` of a :class:`~cnnlab.teaching.grading.Case`."""

    rtol: float
    atol: float


# float32 sums round differently in every implementation
FLOAT32: Tolerance = {"rtol": 1e-4, "atol": 1e-5}


def tolerance_for(x: np.ndarray) -> Tolerance:
    """:data:`FLOAT32` for a float32 input, else the default tolerance of a Case."""
    return FLOAT32 if x.dtype == np.float32 else {}


def float32_normals(seed: int = SEED) -> Callable[..., np.ndarray]:
    """``normal(*shape)``: float32 standard normal arrays from one seeded generator."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    return normal


def matches(
    result: Any,
    candidate: Any,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    equal_nan: bool = False,
) -> bool:
    """Whether ``result`` has the shape and, closely, the values of ``candidate``.

    ``rtol``, ``atol`` and ``equal_nan`` are those of :func:`numpy.allclose`.
    """
    result, candidate = np.asarray(result), np.asarray(candidate)
    return result.shape == candidate.shape and bool(
        np.allclose(result, candidate, rtol, atol, equal_nan)
    )


def layer_shape_cases(
    specs: list[tuple[Shape4, Shape4, int, int]], answer: Callable[..., Any]
) -> list[Case]:
    """Cases for ``fn(x_shape, w_shape, stride, padding)``, one for each spec.

    Each case is named by its four arguments and expects ``answer(*spec)``.
    """
    return [
        Case(
            f"x {xs}, w {ws}, stride {s}, padding {p}",
            (xs, ws, s, p),
            answer(xs, ws, s, p),
        )
        for xs, ws, s, p in specs
    ]
