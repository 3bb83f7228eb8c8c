"""Speed exercises: correct first, then faster than a reference by a set factor.

:func:`check_faster_than` grades the student's function for correctness, then
times it against a reference in the same run, in interleaved rounds, and judges
the ratio, so the verdict does not depend on how fast or busy the machine is.
Every timed call gets new inputs, and its result is checked: a function that
remembers its answers gains nothing, and one that is fast because it is wrong
fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cnnlab.perf.bench import Timing
from cnnlab.teaching.checkers.cases import FLOAT32, SEED
from cnnlab.teaching.grading import (
    Case,
    Diagnosis,
    Guard,
    Report,
    argument_names,
    call,
    finish,
    grade,
    judge_result,
    plain_copy,
)

__all__ = ["check_faster_than"]


def _fresh(value: object, rng: np.random.Generator) -> object:
    """An input like ``value`` with new values: same shape, dtype and spread.

    Floats are redrawn from a normal distribution with the array's mean and
    standard deviation, integers and booleans shuffled, so each timed call
    does new work that a cache of earlier answers cannot serve. Scalars are
    kept.
    """
    if not isinstance(value, np.ndarray) or value.size == 0:
        return value
    if value.dtype.kind == "f":
        with np.errstate(all="ignore"):
            centre, spread = float(value.mean()), float(value.std())
        if not (np.isfinite(centre + spread) and spread > 0):
            centre, spread = 0.0, 1.0
        shape: tuple[int, ...] = value.shape
        return (centre + spread * rng.standard_normal(shape)).astype(value.dtype)
    return rng.permutation(value.ravel()).reshape(value.shape)


def _race(
    student_fn: Callable,
    reference_fn: Callable,
    args: tuple,
    rounds: int,
    exercise: str,
    error_hints: dict,
    time_limit_s: float,
    seed: int = SEED,
) -> tuple[Timing, Timing] | Report:
    """Time both functions, one call each per round on new inputs; check every result.

    Each call runs as in :func:`cnnlab.teaching.grading.grade`: under the time
    limit, with its exceptions reported and any change to NumPy undone. The
    order of the two alternates between rounds, so drift and noise land on
    both. Returns the two timings, or the failed report of the first call that
    raised, hung or gave a wrong answer.
    """
    rng = np.random.default_rng(seed)
    names = argument_names(student_fn, len(args))
    guard = Guard()
    samples: dict[str, list[float]] = {"yours": [], "reference": []}
    for number in range(rounds + 1):  # round 0 warms both up and is not counted
        fresh = tuple(_fresh(a, rng) for a in args)
        order = ["yours", "reference"] if number % 2 else ["reference", "yours"]
        outcomes = {}
        for who in order:
            fn = student_fn if who == "yours" else reference_fn
            copies = tuple(plain_copy(a) for a in fresh)
            outcome = call(fn, copies, {}, time_limit_s, error_hints, guard)
            if outcome.error or outcome.not_implemented:
                whose = "" if who == "yours" else " (in the reference function)"
                problem = outcome.error or "it raised NotImplementedError."
                message = (
                    f"✗ {exercise}: timing run {number + 1} of {rounds + 1}, on new "
                    f"inputs, failed{whose}: {problem}"
                )
                return finish(Report(exercise, False, "failed", message))
            outcomes[who] = outcome
            if number:
                samples[who].append(outcome.seconds)
        case = Case(
            f"timing run {number + 1}, on new inputs",
            fresh,
            np.asarray(outcomes["reference"].result),
            **FLOAT32,
        )
        wrong = judge_result(
            outcomes["yours"].result, case, (), names, time_limit_s, guard
        )
        if wrong:
            message = (
                f"✗ {exercise}: correct on the graded cases, but timing run "
                f"{number + 1} of {rounds + 1} failed: {wrong}\n\nEach timing run "
                "calls your function on new inputs, and every answer must be right: "
                "compute it, do not remember it."
            )
            return finish(Report(exercise, False, "failed", message))
    return Timing(samples["yours"]), Timing(samples["reference"])


def check_faster_than(
    student_fn: Any,
    reference_fn: Callable,
    args: tuple,
    min_speedup: float,
    exercise: str = "speed",
    cases: list[Case] | None = None,
    diagnoses: Sequence[Diagnosis] = (),
    error_hints: dict | None = None,
    advice: str = "Correct, but not fast enough yet: look at the innermost loop.",
    repeat: int = 7,
    time_limit_s: float = 10.0,
) -> Report:
    """Check that ``student_fn`` is correct and ``min_speedup`` times as fast.

    Correctness is graded on ``cases`` (if given) and then on ``args`` itself.
    Both functions are then timed in the same run, in interleaved rounds, so
    the verdict is a ratio of ``reference_fn(*args)``'s time to the student's and
    does not depend on how busy the machine is. Each round draws new inputs like
    ``args`` (:func:`_fresh`) and checks the student's answer against the
    reference's; ``repeat`` sets the number of rounds (three calls of each
    function per unit).
    """
    expected = np.asarray(reference_fn(*args))
    timed = Case("the timed input", args, expected, **FLOAT32)
    correctness = grade(
        exercise,
        student_fn,
        [*(cases or []), timed],
        list(diagnoses),
        error_hints,
        time_limit_s,
    )
    if not correctness.passed:
        return correctness
    raced = _race(
        student_fn,
        reference_fn,
        args,
        3 * repeat,
        exercise,
        error_hints or {},
        time_limit_s,
    )
    if isinstance(raced, Report):
        return raced
    yours, reference = raced
    speedup = reference.median / yours.median if yours.median > 0 else float("inf")
    # two lines, each short enough for the printed page
    verdict = (
        f"{exercise}: correct on all {len(cases or []) + 1} cases and "
        f"{3 * repeat + 1} timing runs.\n"
        f"Yours took {yours}, the reference {reference}: "
        f"{speedup:.1f}x faster (the goal is {min_speedup:g}x)."
    )
    if speedup >= min_speedup:
        return Report(exercise, True, "passed", "✓ " + verdict, yours.median)
    return finish(
        Report(exercise, False, "failed", f"✗ {verdict} {advice}", yours.median)
    )
