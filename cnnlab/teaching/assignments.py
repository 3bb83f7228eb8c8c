"""The book's exercises as a teacher assigns them: chapter, number, level, points.

One block per chapter in :data:`CHAPTERS` is the one place where an exercise's
points are set. Each exercise is known by the call its check cell makes,
``check_pad2d(pad2d)``: the checker in :mod:`cnnlab.exercises` and the
student's function(s) it is given. ``tests/test_assignments.py`` holds this
table to the notebooks: the same exercises, in the same order, with the same
levels and check calls.

Warm-ups are worth :data:`LEVEL_POINTS` ``["warm-up"]`` and so on, unless a
chapter's block says otherwise. Both the class grader
(:mod:`cnnlab.teaching.classroom`) and the nbgrader export
(:mod:`cnnlab.teaching.nbgrader`) read the points from here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

LEVEL_POINTS = {"warm-up": 1, "practice": 2, "challenge": 3}
"""The points of an exercise of each level, unless its chapter sets others."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``number`` "2.1", its level, and the call of its check cell."""

    number: str
    level: str
    check_call: str
    points: int = 0  # 0: the level's points (LEVEL_POINTS)

    def __post_init__(self) -> None:
        if self.level not in LEVEL_POINTS:
            raise ValueError(
                f"exercise {self.number}: level {self.level!r} is not one of "
                f"{', '.join(LEVEL_POINTS)}"
            )
        if self.points == 0:
            object.__setattr__(self, "points", LEVEL_POINTS[self.level])
        checker, functions = parse_check_call(self.check_call)
        object.__setattr__(self, "checker", checker)
        object.__setattr__(self, "functions", functions)

    checker: str = field(init=False, default="")
    """The checker's name in :mod:`cnnlab.exercises`, e.g. ``check_pad2d``."""
    functions: tuple[str, ...] = field(init=False, default=())
    """The names the check cell passes it: the student's function(s)."""

    @property
    def column(self) -> str:
        """The exercise's column in a grades table: ``ex2.1``."""
        return f"ex{self.number}"


@dataclass(frozen=True)
class Chapter:
    """A chapter's notebook and its exercises, in the order the notebook has them."""

    number: int
    notebook: str
    exercises: tuple[Exercise, ...]

    @property
    def points(self) -> int:
        """The most a submission can score."""
        return sum(exercise.points for exercise in self.exercises)


def parse_check_call(source: str) -> tuple[str, tuple[str, ...]]:
    """``check_x(f, g)`` -> ("check_x", ("f", "g")); ValueError for anything else.

    The grader reads only this shape of call: a checker's name applied to
    plain names, nothing computed.
    """
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"not a check call: {source!r} ({error.msg})") from None
    call = tree.body
    if (
        not isinstance(call, ast.Call)
        or not isinstance(call.func, ast.Name)
        or not call.func.id.startswith("check_")
        or call.keywords
        or not call.args
        or not all(isinstance(arg, ast.Name) for arg in call.args)
    ):
        raise ValueError(
            f"not a check call: {source!r}; expected check_name(function, ...)"
        )
    return call.func.id, tuple(arg.id for arg in call.args)  # type: ignore[attr-defined]


def _chapter(number: int, notebook: str, *exercises: Exercise) -> Chapter:
    return Chapter(number, notebook, exercises)


E = Exercise
CHAPTERS: dict[int, Chapter] = {
    chapter.number: chapter
    for chapter in (
        _chapter(
            1,
            "01-what-is-a-cnn",
            E("1.1", "warm-up", "check_output_size(output_size)"),
            E("1.2", "practice", "check_conv2d_flops(conv2d_flops)"),
            E("1.3", "practice", "check_softmax(softmax)"),
            E("1.4", "challenge", "check_receptive_field(receptive_field)"),
        ),
        _chapter(
            2,
            "02-convolution-in-python",
            E("2.1", "warm-up", "check_pad2d(pad2d)"),
            E("2.2", "practice", "check_conv2d(conv2d_2d)"),
            E("2.3", "challenge", "check_conv2d_dilated(conv2d_dilated)"),
        ),
        _chapter(
            3,
            "03-measuring-performance",
            E("3.1", "warm-up", "check_relative_spread(relative_spread)"),
            E("3.2", "practice", "check_arithmetic_intensity(arithmetic_intensity)"),
            E("3.3", "challenge", "check_flops_without_padding(flops_without_padding)"),
        ),
        _chapter(
            4,
            "04-vectorizing-with-numpy",
            E("4.1", "warm-up", "check_max_pool2d(max_pool2d)"),
            E("4.2", "practice", "check_conv2d_layer(conv2d_tensordot_taps)"),
            E("4.3", "challenge", "check_conv2d_dilated_fast(conv2d_dilated_fast)"),
        ),
        _chapter(
            5,
            "05-compiling-with-numba",
            E("5.1", "warm-up", "check_relu(relu_numba)"),
            E("5.2", "practice", "check_conv2d_bias_relu(conv2d_bias_relu)"),
            E("5.3", "challenge", "check_conv1x1_fast(conv1x1_fast, conv1x1_given)"),
        ),
        _chapter(
            6,
            "06-layers-three-ways",
            E("6.1", "warm-up", "check_log_softmax(log_softmax)"),
            E("6.2", "practice", "check_fold_batchnorm(fold_batchnorm)"),
            E("6.3", "practice", "check_avg_pool2d(avg_pool2d)"),
            E("6.4", "challenge", "check_avg_pool_relu(avg_pool_relu)"),
        ),
        _chapter(
            7,
            "07-the-whole-network",
            E("7.1", "warm-up", "check_flat_features(flat_features)"),
            E("7.2", "practice", "check_lenet_parameters(count_parameters)"),
            E("7.3", "challenge", "check_lenet_forward(lenet_forward)"),
        ),
        _chapter(
            8,
            "08-how-close-to-the-limit",
            E("8.1", "warm-up", "check_conv2d_intensity(conv2d_intensity)"),
            E("8.2", "practice", "check_roofline_time(roofline_time)"),
            E("8.3", "challenge", "check_speedup_ceiling(speedup_ceiling)"),
        ),
        _chapter(
            9,
            "09-the-fastest-path",
            E("9.1", "warm-up", "check_tap_offsets(tap_offsets)"),
            E("9.2", "practice", "check_conv2d_padded_width(conv2d_padded_width)"),
            E("9.3", "challenge", "check_winograd_f23(winograd_f23)"),
        ),
        _chapter(
            10,
            "10-backpropagation-by-hand",
            E("10.1", "warm-up", "check_relu_backward(relu_backward)"),
            E("10.2", "practice", "check_linear_backward(linear_backward)"),
            E("10.3", "practice", "check_softmax_cross_entropy(softmax_cross_entropy)"),
            E("10.4", "challenge", "check_max_pool2d_backward(max_pool2d_backward)"),
        ),
        _chapter(
            11,
            "11-training-on-digits",
            E("11.1", "warm-up", "check_confusion_matrix(confusion_matrix)"),
            E("11.2", "practice", "check_sgd_momentum_step(sgd_momentum_step)"),
        ),
        _chapter(
            12,
            "12-python-against-mojo",
            E("12.1", "warm-up", "check_simd_lanes(simd_lanes)"),
            E("12.2", "practice", "check_simd_width_experiment(simd_width_experiment)"),
            E("12.3", "challenge", "check_filters_experiment(filters_experiment)"),
        ),
    )
}
del E


def chapter_of(check_calls: list[str]) -> Chapter | None:
    """The chapter whose check calls a notebook's check cells match most; None if none.

    ``check_calls`` are the sources of the notebook's ``check`` cells. A tie
    (a notebook mixing chapters) gives None too.
    """
    calls = set()
    for source in check_calls:
        try:
            calls.add(parse_check_call(source))
        except ValueError:
            continue  # a check cell the student rewrote: it identifies nothing
    counts = {
        number: sum(
            (exercise.checker, exercise.functions) in calls
            for exercise in chapter.exercises
        )
        for number, chapter in CHAPTERS.items()
    }
    best = max(counts.values())
    winners = [number for number, count in counts.items() if count == best]
    if best == 0 or len(winners) > 1:
        return None
    return CHAPTERS[winners[0]]
