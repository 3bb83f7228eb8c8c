"""Checkers for the exercises of chapters 4-5 (NumPy and Numba): pooling, the full conv
layer, speed.

Correctness comes first, on a graded series of cases with hints, as in
:mod:`cnnlab.teaching.checkers.basics`. Speed exercises then time the student's
function against a reference in the same run, in interleaved rounds, and
judge the ratio, so the verdict does not depend on how fast or busy the
machine is. Every timed call gets new inputs, and its result is checked: a
function that remembers its answers gains nothing, and one that is fast
because it is wrong fails.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnlab import backend
from cnnlab.perf.bench import Timing
from cnnlab.teaching.checkers.basics import (
    CONV2D_HINTS,
    DILATED_INDEX_HINT,
    INDEX_ERROR_HINT,
    dilated_cases,
    dilated_hints,
    hint_off_by_one,
)
from cnnlab.teaching.grading import (
    Case,
    Guard,
    Report,
    _copy,
    argument_names,
    call,
    finish,
    grade,
    judge_result,
)

__all__ = [
    "check_max_pool2d",
    "check_conv2d_layer",
    "check_conv2d_dilated_fast",
    "check_conv1x1_fast",
    "check_conv2d_bias_relu",
    "check_faster_than",
    "conv2d_layer_cases",
]

_reference = backend("numpy")
_rng_seed = 2026
_FLOAT32 = dict(rtol=1e-4, atol=1e-5)
SHAPE_ERROR_HINT = (
    "if the message is about shapes that do not match, print the shapes of your slices: with "
    "stride S, the slice for tap (di, dj) is xp[:, :, di : di + S*(OH - 1) + 1 : S, ...] and has "
    "shape (N, C, OH, OW)."
)


# ----------------------------------------------------------------- chapter 4
def pool_cases(reference_fn) -> list[Case]:
    rng = np.random.default_rng(_rng_seed)
    tiny = np.arange(16.0).reshape(1, 1, 4, 4)
    specs = [
        ("the 4x4 example, 2x2 windows", tiny, 2),
        (
            "odd size 5x7 (floor mode drops the rest)",
            rng.standard_normal((1, 2, 5, 7)),
            2,
        ),
        (
            "3x3 windows on a float32 batch",
            rng.standard_normal((3, 4, 9, 9)).astype(np.float32),
            3,
        ),
        ("random (4, 3, 12, 10)", rng.standard_normal((4, 3, 12, 10)), 2),
    ]
    return [Case(name, (x, k), reference_fn(x, k)) for name, x, k in specs]


def check_max_pool2d(student_fn) -> Report:
    """``student_fn(x, k)``: k x k max pooling with stride k on x (N, C, H, W), floor
    mode.
    """

    def hint_mean(expected, result, case):
        if result.shape == expected.shape and np.allclose(
            result, _reference.avg_pool2d(*case.args)
        ):
            return "you computed the average of each window; max pooling takes the maximum."
        return None

    def hint_overlap(expected, result, case):
        x, k = case.args
        if result.shape == _reference.max_pool2d(x, k, 1).shape:
            return (
                f"your windows overlap (stride 1). Pooling windows step by the window size: take every "
                f"{k}-th window, e.g. sliding_window_view(x, ({k}, {k}), axis=(2, 3))[:, :, ::{k}, ::{k}]."
            )
        return None

    def hint_wrong_axes(expected, result, case):
        x, k = case.args
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::k, ::k]
        if np.array_equal(result, windows.max(axis=(2, 3))):
            return (
                "you took the maximum over the window positions (axes 2 and 3 of the window view). The window "
                "contents are the last two axes: .max(axis=(-2, -1))."
            )
        return None

    def hint_started_at_zero(expected, result, case):
        if result.shape == expected.shape and np.allclose(
            result, np.maximum(expected, 0)
        ):
            return (
                "a window of negative numbers has a negative maximum, but you got 0: start each window's "
                "maximum from its first value (or -np.inf), not from 0."
            )
        return None

    return grade(
        "max_pool2d",
        student_fn,
        pool_cases(_reference.max_pool2d),
        [
            hint_wrong_axes,
            hint_overlap,
            hint_off_by_one,
            hint_mean,
            hint_started_at_zero,
        ],
    )


def conv2d_layer_cases() -> list[Case]:
    """Cases for ``conv2d(x, w, b=None, stride=1, padding=0)`` on (N, C, H, W) float32
    arrays.
    """
    rng = np.random.default_rng(_rng_seed)

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    seed = np.arange(1, 26, dtype=np.float32).reshape(1, 1, 5, 5)
    edge = np.array([[1.0, 0.0, -1.0]] * 3, dtype=np.float32).reshape(1, 1, 3, 3)
    specs = [
        ("the 5x5 worked example as (1, 1, 5, 5)", seed, edge, None, 1, 0),
        ("3 input channels", normal(1, 3, 6, 7), normal(1, 3, 3, 3), None, 1, 0),
        (
            "4 filters with a bias",
            normal(1, 3, 6, 7),
            normal(4, 3, 3, 3),
            normal(4),
            1,
            0,
        ),
        ("a batch of 2", normal(2, 3, 6, 7), normal(4, 3, 3, 3), normal(4), 1, 0),
        ("stride 2", normal(2, 3, 9, 10), normal(4, 3, 3, 3), normal(4), 2, 0),
        ("padding 1", normal(2, 3, 9, 10), normal(4, 3, 3, 3), normal(4), 1, 1),
        (
            "stride 3, padding 2 and a 3x2 kernel",
            normal(2, 3, 8, 9),
            normal(5, 3, 3, 2),
            normal(5),
            3,
            2,
        ),
        (
            "random (3, 8, 12, 10), 6 filters of 5x3, stride 2, padding 2",
            normal(3, 8, 12, 10),
            normal(6, 8, 5, 3),
            normal(6),
            2,
            2,
        ),
    ]
    return [
        Case(
            name,
            (x, w, b),
            _reference.conv2d(x, w, b, stride=s, padding=p),
            dict(stride=s, padding=p),
            **_FLOAT32,
        )
        for name, x, w, b, s, p in specs
    ]


def hint_forgot_bias(expected, result, case):
    x, w, b = case.args
    if b is not None and np.allclose(result, expected - b[:, None, None], **_FLOAT32):
        return "you forgot the bias: add b[f] to every value of filter f's map, e.g. out += b[:, None, None]."
    return None


def hint_batch_filter_axes(expected, result, case):
    if result.ndim == 4 and np.allclose(
        result.transpose(1, 0, 2, 3), expected, **_FLOAT32
    ):
        return (
            "the first two axes are swapped: the output is (N, F, OH, OW). np.tensordot(w_tap, tap, "
            "axes=([1], [1])) gives (F, N, OH, OW); transpose(1, 0, 2, 3) puts the batch first."
        )
    return None


def check_conv2d_layer(student_fn) -> Report:
    """``student_fn(x, w, b=None, stride=1, padding=0)``: x (N, C, H, W), w (F, C, KH,
    KW) -> (N, F, OH, OW).
    """
    hints = [hint_forgot_bias, hint_batch_filter_axes, *CONV2D_HINTS]
    return grade(
        "conv2d_layer",
        student_fn,
        conv2d_layer_cases(),
        hints,
        {IndexError: INDEX_ERROR_HINT, ValueError: SHAPE_ERROR_HINT},
    )


def _conv2d_dilated_loops(image, kernel, dilation):
    """Plain Python loops, as in chapter 2: the reference the vectorized version races
    against.
    """
    image, kernel = image.tolist(), kernel.tolist()
    kh, kw = len(kernel), len(kernel[0])
    out_h, out_w = len(image) - (kh - 1) * dilation, len(image[0]) - (kw - 1) * dilation
    return np.array(
        [
            [
                sum(
                    image[i + di * dilation][j + dj * dilation] * kernel[di][dj]
                    for di in range(kh)
                    for dj in range(kw)
                )
                for j in range(out_w)
            ]
            for i in range(out_h)
        ]
    )


def check_conv2d_dilated_fast(student_fn, min_speedup: float = 10) -> Report:
    """``student_fn(image, kernel, dilation)``, vectorized: correct, and ``min_speedup``
    x faster than loops.
    """
    rng = np.random.default_rng(_rng_seed)
    args = (rng.standard_normal((64, 64)), rng.standard_normal((3, 3)), 2)
    return check_faster_than(
        student_fn,
        _conv2d_dilated_loops,
        args,
        min_speedup,
        "conv2d_dilated_fast",
        cases=dilated_cases(),
        diagnoses=dilated_hints(),
        error_hints={IndexError: DILATED_INDEX_HINT},
        advice="Correct, but not fast enough yet: is there still a Python loop over pixels? "
        "Loop over the kernel taps only, each one a whole-array slice.",
    )


# ----------------------------------------------------------------- chapter 5
def check_conv1x1_fast(student_fn, given_fn, min_speedup: float = 3) -> Report:
    """``student_fn(x, w)``, a 1x1 convolution x (N, C, H, W), w (F, C) -> (N, F, H, W),
    beating ``given_fn``.

    ``given_fn`` is the exercise's slow kernel, compiled by Numba like the student's;
    both are timed in one run.
    """
    rng = np.random.default_rng(_rng_seed)

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    specs = [
        (
            "2 channels of 2x2 pixels; filter 0 adds the channels, filter 1 is 2 x channel 0 - channel 1",
            np.arange(1, 9, dtype=np.float32).reshape(1, 2, 2, 2),
            np.array([[1, 1], [2, -1]], np.float32),
        ),
        ("3 channels, 4 filters", normal(1, 3, 4, 5), normal(4, 3)),
        (
            "a batch of 2, 8 channels, 5 filters, 6x7 pixels",
            normal(2, 8, 6, 7),
            normal(5, 8),
        ),
    ]
    cases = [
        Case(name, (x, w), np.einsum("fc,nchw->nfhw", w, x), **_FLOAT32)
        for name, x, w in specs
    ]

    def hint_weights_transposed(expected, result, case):
        x, w = case.args
        if w.shape[0] == w.shape[1] and np.allclose(
            result, np.einsum("cf,nchw->nfhw", w, x), **_FLOAT32
        ):
            return "w has shape (F, C): the weight of channel c in filter f is w[f, c], not w[c, f]."
        return None

    args = (normal(2, 64, 32, 32), normal(64, 64))
    return check_faster_than(
        student_fn,
        given_fn,
        args,
        min_speedup,
        "conv1x1_fast",
        cases=cases,
        diagnoses=[hint_weights_transposed],
        advice="Correct, but not fast enough yet: make the innermost loop run along a row of "
        "the image (j), with the weight read once before it, so that each step reads the "
        "next float in memory and does not depend on the previous step.",
    )


def _conv2d_valid(x, w) -> np.ndarray:
    """Cross-correlation without padding, stride 1: x (N, C, H, W), w (F, C, KH, KW) ->
    (N, F, OH, OW).
    """
    windows = sliding_window_view(x, w.shape[2:], axis=(2, 3))  # (N, C, OH, OW, KH, KW)
    return np.einsum("nchwij,fcij->nfhw", windows, w).astype(x.dtype)


def check_conv2d_bias_relu(student_fn) -> Report:
    """``student_fn(x, w, b)``: relu(conv2d(x, w) + b), no padding, stride 1, in x's
    dtype.

    x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, H - KH + 1, W - KW + 1).
    """
    rng = np.random.default_rng(_rng_seed)

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    example_w = np.stack([np.ones((1, 3, 3)), -np.ones((1, 3, 3)) / 9]).astype(
        np.float32
    )
    specs = [
        (
            "the 4x4 example: filter 0 sums each 3x3 window, filter 1 is minus its mean; "
            "biases -60 and 8",
            np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4),
            example_w,
            np.array([-60, 8], np.float32),
        ),
        (
            "2 images, 3 channels, 4 filters of 3x3",
            normal(2, 3, 6, 7),
            normal(4, 3, 3, 3),
            normal(4),
        ),
        (
            "a 2x3 kernel on 7x9 images",
            normal(1, 2, 7, 9),
            normal(3, 2, 2, 3),
            normal(3),
        ),
        (
            "a batch of 2, 8 channels, 5 filters",
            normal(2, 8, 12, 10),
            normal(5, 8, 3, 3),
            normal(5),
        ),
    ]
    cases = [
        Case(
            name,
            (x, w, b),
            np.maximum(_conv2d_valid(x, w) + b[:, None, None], 0),
            **_FLOAT32,
        )
        for name, x, w, b in specs
    ]

    def sums(case):
        x, w, b = case.args
        return _conv2d_valid(x, w), b[:, None, None]

    def hint_padded(expected, result, case):
        x, w, _ = case.args
        if result.shape == (x.shape[0], w.shape[0], *x.shape[2:]):
            return (
                "there is no padding in this exercise: the output has (H - KH + 1) rows of "
                "(W - KW + 1) columns."
            )
        return None

    def hint_no_relu(expected, result, case):
        conv, b = sums(case)
        if np.allclose(result, conv + b, **_FLOAT32):
            return (
                "negative outputs remain: clamp each output to max(0, value) once its sum is "
                "complete, after the last tap."
            )
        return None

    def hint_no_bias(expected, result, case):
        conv, _ = sums(case)
        if np.allclose(result, np.maximum(conv, 0), **_FLOAT32):
            return "the bias is missing: start each output row from b[f] instead of 0."
        return None

    def hint_relu_before_bias(expected, result, case):
        conv, b = sums(case)
        if np.allclose(result, np.maximum(conv, 0) + b, **_FLOAT32):
            return (
                "you applied ReLU before adding the bias; the layer computes relu(conv + b): "
                "the bias is part of the sum, ReLU comes last."
            )
        return None

    def hint_bias_per_tap(expected, result, case):
        conv, b = sums(case)
        taps = np.prod(case.args[1].shape[1:])
        if np.allclose(result, np.maximum(conv + taps * b, 0), **_FLOAT32):
            return (
                f"you added the bias once per tap ({taps} times per output): add it once, "
                "outside the loops over channels and taps, e.g. by starting the row from b[f]."
            )
        return None

    def hint_relu_on_partial_sums(expected, result, case):
        if result.shape == expected.shape and np.all(result >= expected - 1e-4):
            return (
                "some outputs are too large, none too small: did you clamp to 0 inside the tap "
                "loops? A partial sum can be negative and still end positive; ReLU must wait "
                "until the last tap has been added."
            )
        return None

    return grade(
        "conv2d_bias_relu",
        student_fn,
        cases,
        [
            hint_padded,
            hint_no_relu,
            hint_no_bias,
            hint_relu_before_bias,
            hint_bias_per_tap,
            hint_relu_on_partial_sums,
        ],
    )


# ----------------------------------------------------------------- speed, for chapters
# 4 and 5
def _fresh(value, rng: np.random.Generator):
    """An input like ``value`` with new values: same shape, dtype and spread; scalars
    kept.

    Floats are redrawn from a normal distribution with the array's mean and
    standard deviation, integers and booleans shuffled, so each timed call
    does new work that a cache of earlier answers cannot serve.
    """
    if not isinstance(value, np.ndarray) or value.size == 0:
        return value
    if value.dtype.kind == "f":
        with np.errstate(all="ignore"):
            centre, spread = float(value.mean()), float(value.std())
        centre, spread = (
            (centre, spread)
            if np.isfinite(centre + spread) and spread > 0
            else (0.0, 1.0)
        )
        return (centre + spread * rng.standard_normal(value.shape)).astype(value.dtype)
    return rng.permutation(value.ravel()).reshape(value.shape)


def _race(
    student_fn,
    reference_fn,
    args: tuple,
    rounds: int,
    exercise: str,
    error_hints: dict,
    time_limit_s: float,
    seed: int = 2026,
) -> tuple[Timing, Timing] | Report:
    """Time both functions, one call each per round on new inputs, and check every
    result.

    Each call runs as in :func:`cnnlab.teaching.grading.grade`: under the time limit,
    with its exceptions reported and any change to NumPy undone. The order
    of the two alternates between rounds, so drift and noise land on both.
    Returns the two timings, or the failed report of the first call that
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
            outcome = call(
                fn, tuple(_copy(a) for a in fresh), {}, time_limit_s, error_hints, guard
            )
            if outcome.error or outcome.not_implemented:
                whose = "" if who == "yours" else " (in the reference function)"
                problem = outcome.error or "it raised NotImplementedError."
                return finish(
                    Report(
                        exercise,
                        False,
                        "failed",
                        f"✗ {exercise}: timing run {number + 1} of {rounds + 1}, on new "
                        f"inputs, failed{whose}: {problem}",
                    )
                )
            outcomes[who] = outcome
            if number:
                samples[who].append(outcome.seconds)
        case = Case(
            f"timing run {number + 1}, on new inputs",
            fresh,
            np.asarray(outcomes["reference"].result),
            **_FLOAT32,
        )
        problem = judge_result(
            outcomes["yours"].result, case, (), names, time_limit_s, guard
        )
        if problem:
            message = (
                f"✗ {exercise}: correct on the graded cases, but timing run {number + 1} of "
                f"{rounds + 1} failed: {problem}\n\nEach timing run calls your function on new "
                "inputs, and every answer must be right: compute it, do not remember it."
            )
            return finish(Report(exercise, False, "failed", message))
    return Timing(samples["yours"]), Timing(samples["reference"])


def check_faster_than(
    student_fn,
    reference_fn,
    args: tuple,
    min_speedup: float,
    exercise: str = "speed",
    cases: list[Case] | None = None,
    diagnoses=(),
    error_hints: dict | None = None,
    advice: str = "Correct, but not fast enough yet: look at the innermost loop.",
    repeat: int = 7,
    time_limit_s: float = 10.0,
) -> Report:
    """Check ``student_fn`` is correct and beats ``reference_fn(*args)`` by
    ``min_speedup``.

    Correctness is graded on ``cases`` (if given) and then on ``args`` itself.
    Both functions are then timed in the same run, in interleaved rounds, so
    the verdict is a ratio and does not depend on how busy the machine is.
    Each round draws new inputs like ``args`` (:func:`_fresh`) and checks the
    student's answer against the reference's; ``repeat`` sets the number of
    rounds (three calls of each function per unit).
    """
    expected = np.asarray(reference_fn(*args))
    timed = Case("the timed input", args, expected, **_FLOAT32)
    correctness = grade(
        exercise,
        student_fn,
        [*(cases or []), timed],
        diagnoses,
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
        f"{exercise}: correct on all {len(cases or []) + 1} cases and {3 * repeat + 1} timing runs.\n"
        f"Yours took {yours}, the reference {reference}: "
        f"{speedup:.1f}x faster (the goal is {min_speedup:g}x)."
    )
    if speedup >= min_speedup:
        return Report(exercise, True, "passed", "✓ " + verdict, yours.median)
    return finish(
        Report(exercise, False, "failed", f"✗ {verdict} {advice}", yours.median)
    )
