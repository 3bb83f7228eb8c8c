"""Checkers for the exercises of chapter 12: SIMD lanes, and two Mojo experiments.

The warm-up asks how many numbers one vector register holds. In the two
experiments the student rebuilds a Mojo kernel with another SIMD width, or
another number of filters per pass, and predicts whether it will run faster or
slower than the kernel as built. The checker builds that variant, compares its
values with the NumPy backend's, races it against the built kernel in
interleaved rounds, and says whether the prediction held. A variant that
computes wrong values fails; a prediction that the machine contradicts does
not: it is what the experiment is for, and the feedback says what happened.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.teaching.grading import Case, Diagnosis, Report, finish, grade
from cnnlab.teaching.guard import Guard
from cnnlab.teaching.judging import describe
from cnnlab.teaching.safe_call import call

__all__ = [
    "check_simd_lanes",
    "check_simd_width_experiment",
    "check_filters_experiment",
]

PREDICTIONS = ("faster", "slower", "about the same")
"""What a student may predict of a variant against the kernel as built."""
SAME_WITHIN = 1.1
"""Medians within this factor of each other count as "about the same"."""
TIME_LIMIT_S = 10.0
"""How long the student's function may take to return its choice."""


# ----------------------------------------------------------------- SIMD lanes
def _simd_lanes(vector_bits: int, dtype: Any) -> int:
    """Numbers of ``dtype`` in one vector register of ``vector_bits`` bits."""
    return vector_bits // (8 * np.dtype(dtype).itemsize)


def _simd_lanes_hints() -> list[Diagnosis]:
    def hint_bytes(expected, result, case):
        bits, dtype = case.args
        if result == bits // np.dtype(dtype).itemsize:
            return (
                "the register's size is in bits and an item's size in bytes: "
                "divide by 8 * itemsize (a float32 is 4 bytes, 32 bits)."
            )
        return None

    def hint_dtype(expected, result, case):
        bits, _ = case.args
        if result == bits // 32:
            return (
                "every case gave the float32 answer: a float64 takes twice the "
                "room, a float16 half (np.dtype(dtype).itemsize)."
            )
        return None

    return [hint_bytes, hint_dtype]


def check_simd_lanes(student_fn: Any) -> Report:
    """``student_fn(vector_bits, dtype) -> int``: the lanes of one vector register."""
    specs = [
        ("AVX2 (256 bits), float32", 256, "float32"),
        ("AVX2 (256 bits), float64", 256, "float64"),
        ("AVX-512 (512 bits), float32", 512, "float32"),
        ("NEON (128 bits), float32", 128, "float32"),
        ("AVX-512 (512 bits), float16", 512, "float16"),
    ]
    cases = [
        Case(name, (bits, dtype), _simd_lanes(bits, dtype), rtol=0, atol=0)
        for name, bits, dtype in specs
    ]
    return grade("simd_lanes", student_fn, cases, _simd_lanes_hints())


# ----------------------------------------------------------------- experiments
# The layer the experiments time: chapter 9's layer with one image, so that a
# round of the slower rungs stays short.
EXPERIMENT_X, EXPERIMENT_W = (1, 64, 56, 56), (64, 64, 3, 3)


def _choice(exercise: str, student_fn: Any, constant: str) -> tuple[Any, Report | None]:
    """Call ``student_fn()`` as every checker calls a student's function.

    Returns its (value, prediction), or the report that ends the check: not
    implemented yet, an exception, a change to NumPy, or not a pair.
    """
    if not callable(student_fn):
        got = type(student_fn).__name__
        return None, Report(
            exercise, False, "failed", f"✗ {exercise}: expected a function, got {got}."
        )
    outcome = call(student_fn, (), {}, TIME_LIMIT_S, {}, Guard())
    if outcome.not_implemented:
        message = (
            f"… {exercise}: not implemented yet.\nReturn your {constant} and your "
            "prediction instead of `raise NotImplementedError`."
        )
        return None, Report(exercise, False, "not implemented", message)
    if outcome.error:
        return None, Report(exercise, False, "failed", f"✗ {exercise}: {outcome.error}")
    result = outcome.result
    if type(result) is not tuple or len(result) != 2:
        message = (
            f"✗ {exercise}: return a pair, ({constant.lower()}, prediction); "
            f"got {describe(result)}."
        )
        return None, Report(exercise, False, "failed", message)
    return result, None


def _experiment(exercise: str, rung: str, constant: str, student_fn: Any) -> Report:
    """Build ``rung`` with the student's ``constant``, check it, race it, judge."""
    from cnnlab import mojo

    choice, ended = _choice(exercise, student_fn, constant)
    if ended is not None:
        return finish(ended)
    value, prediction = choice
    if not mojo.available():
        message = f"– {exercise}: skipped, Mojo cannot run here:\n{mojo.REASON}."
        return finish(Report(exercise, True, "skipped", message))
    from cnnlab.mojo import conv

    default = conv.constants()[constant]
    if prediction not in PREDICTIONS:
        choices = ", ".join(repr(p) for p in PREDICTIONS)
        message = (
            f"✗ {exercise}: the prediction must be one of {choices},\n"
            f"not {describe(prediction)}."
        )
        return finish(Report(exercise, False, "failed", message))
    try:
        variant = conv.rungs(**{constant: value})[rung]
    except (TypeError, ValueError) as error:
        return finish(Report(exercise, False, "failed", f"✗ {exercise}: {error}"))
    if value == default:
        message = (
            f"✗ {exercise}: {constant} = {value} is the kernel as built; "
            "pick another value to compare with it."
        )
        return finish(Report(exercise, False, "failed", message))
    return finish(_race(exercise, rung, constant, value, default, variant, prediction))


def _race(exercise, rung, constant, value, default, variant, prediction) -> Report:
    from cnnlab.backends import numpy as numpy_backend
    from cnnlab.mojo import conv
    from cnnlab.perf import bench

    rng = np.random.default_rng(12)
    x = rng.standard_normal(EXPERIMENT_X, dtype=np.float32)
    w = rng.standard_normal(EXPERIMENT_W, dtype=np.float32) * np.float32(0.05)
    b = rng.standard_normal(EXPERIMENT_W[0], dtype=np.float32)
    expected = numpy_backend.conv2d(x, w, b, padding=1)
    out_built, out_variant = np.empty_like(expected), np.empty_like(expected)
    built = conv.RUNGS[rung]
    variant(x, w, b, (1, 1), (1, 1), out_variant)
    scale = np.abs(expected).max()
    if not np.allclose(out_variant, expected, rtol=1e-4, atol=1e-4 * scale):
        worst = float(np.abs(out_variant - expected).max())
        message = (
            f"✗ {exercise}: with {constant} = {value} the {rung} rung disagrees with "
            f"the NumPy backend\n(largest difference {worst:.3g})."
        )
        return Report(exercise, False, "failed", message)
    times = bench.compare(
        {
            "built": lambda: built(x, w, b, (1, 1), (1, 1), out_built),
            "variant": lambda: variant(x, w, b, (1, 1), (1, 1), out_variant),
        },
        repeat=9,
    )
    ratio = times["built"].median / times["variant"].median
    if ratio > SAME_WITHIN:
        outcome = "faster"
    elif ratio < 1 / SAME_WITHIN:
        outcome = "slower"
    else:
        outcome = "about the same"
    verdict = (
        "Your prediction held."
        if prediction == outcome
        else f"You predicted {prediction!r}: the machine disagrees, so look for why."
    )
    # one short line each: the feedback is read in a notebook's output
    message = (
        f"✓ {exercise}: {constant} = {value} agrees with the NumPy backend.\n"
        f"It ran in {bench.format_time(times['variant'].median)} against "
        f"{bench.format_time(times['built'].median)} for {constant} = {default} "
        f"(medians of 9 interleaved rounds):\n{outcome} ({ratio:.2f}x the speed). "
        f"{verdict}"
    )
    return Report(exercise, True, "passed", message)


def check_simd_width_experiment(student_fn: Any) -> Report:
    """``student_fn() -> (width, prediction)``: rung 2 rebuilt with ``WIDTH = width``.

    ``prediction`` is "faster", "slower" or "about the same".
    """
    return _experiment("simd_width_experiment", "simd", "WIDTH", student_fn)


def check_filters_experiment(student_fn: Any) -> Report:
    """``student_fn() -> (filters, prediction)``: rung 4 with ``FILTERS = filters``.

    ``prediction`` is "faster", "slower" or "about the same".
    """
    return _experiment("filters_experiment", "direct", "FILTERS", student_fn)
