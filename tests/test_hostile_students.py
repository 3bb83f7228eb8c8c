"""Checkers cannot be fooled by odd return values, nor beaten by the code they run.

Each class of attack from issue 13 has a hostile student here: a result whose
``==`` always says True, a function that rebinds NumPy's functions, a speed
check gamed by a cache, code that raises or hangs while it is timed, a huge
broadcast view, and exceptions that are not Exceptions.
"""
import builtins
import functools
import sys
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnlab.exercises as exercises
from cnnlab.teaching import checkers
from cnnlab.teaching import grading, judging
from cnnlab.exercises import check_relu
from cnnlab.teaching.checkers.speed import check_faster_than
from cnnlab.teaching.grading import Case, grade, plain_number
from helpers import failed_with, lenient  # noqa: F401 - lenient is a fixture

pytestmark = pytest.mark.usefixtures("lenient")

CASES = [Case("small", (np.array([1.0, -2.0, 3.0]),), np.array([2.0, -4.0, 6.0]))]
COUNT = [Case("count", (3,), 9)]
RATIO = [Case("ratio", (1.0,), 0.5, rtol=1e-6)]


class AlwaysEqual(np.ndarray):
    """An array that says it equals anything, and lies about itself when asked."""

    def __eq__(self, other):
        return np.ones(np.shape(other), bool)

    __ne__ = __eq__

    def __array__(self, *args, **kwargs):
        return np.full(self.shape, 2.0)

    def view(self, *args, **kwargs):
        return self

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return True


class EqualInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__

    def __index__(self):
        return 9

    def __int__(self):
        return 9


class EqualFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__

    def __float__(self):
        return 0.5


class EqualInt64(np.int64):
    def __eq__(self, other):
        return True

    __hash__ = np.int64.__hash__

    def __array__(self, *args, **kwargs):
        return np.array(9)

    def item(self, *args):
        return 9


class PretendArray:
    """Claims to be an ndarray (isinstance believes it) and converts to the answer."""

    @property
    def __class__(self):
        return np.ndarray

    def __array__(self, *args, **kwargs):
        return np.array([2.0, -4.0, 6.0])


def expected_of_current_case():
    """The expected answer, read from the checker's frame.

    No check in the same process can stop this cheat (the README says so).

    The hostile students below use it only for the answer's shape or type, to
    show that the values themselves are compared on plain copies.
    """
    frame = sys._getframe(1)
    while frame is not None:
        case = frame.f_locals.get("case")
        if isinstance(case, Case):
            return case.expected
        frame = frame.f_back
    raise LookupError("no case on the stack")


# ----------------------------------------------------------------- odd return values
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6), st.floats(1.0, 1e3))
def test_an_always_equal_subclass_with_wrong_values_fails(values, offset):
    x = np.array(values)
    cases = [Case("values", (x,), 2 * x)]
    wrong = (2 * x + offset).view(AlwaysEqual)
    failed_with(grade("double", lambda v: wrong, cases), "the values are wrong")


@given(st.integers(-10**6, 10**6).filter(lambda n: n != 9))
def test_an_always_equal_int_is_graded_by_the_int_it_holds(n):
    failed_with(grade("square", lambda v: EqualInt(n), COUNT), f"got {n}")
    failed_with(grade("square", lambda v: EqualInt64(n), COUNT), f"got {n}")


def test_subclasses_holding_the_right_value_pass_and_floats_are_read_exactly():
    assert grade("square", lambda v: EqualInt(9), COUNT).passed
    assert grade("half", lambda v: EqualFloat(0.5), RATIO).passed
    failed_with(grade("half", lambda v: EqualFloat(0.25), RATIO), "got 0.25")


@given(st.integers(-(2**70), 2**70))
def test_plain_number_reads_an_int_subclass_exactly(n):
    value = plain_number(EqualInt(n))
    assert type(value) is int and value == n


def test_an_object_pretending_to_be_an_array_is_not_one():
    failed_with(grade("double", lambda v: PretendArray(), CASES),
                "but a NumPy array was expected")


def test_a_result_that_cannot_even_be_described_is_reported():
    class Nameless(type):
        @property
        def __name__(cls):
            raise RuntimeError("no name")

    class Odd(metaclass=Nameless):
        pass

    failed_with(grade("double", lambda v: Odd(), CASES), "its result could not be read")


def test_a_huge_broadcast_view_is_described_without_being_copied():
    huge = np.broadcast_to(np.float64(0), (10**6, 10**6))
    report = failed_with(grade("double", lambda v: huge, CASES),
                         "the result has shape (1000000, 1000000) "
                         "(1000000000000 elements)")
    assert len(report.message) < 500
    fits = np.broadcast_to(np.float32(1), (20_000, 10_000))  # 800 MB if it were copied
    tracemalloc.start()
    try:
        failed_with(grade("double", lambda v: fits, CASES), "(200000000 elements)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, f"the report allocated {peak} bytes"


def test_a_large_wrong_shape_is_summarized_without_copying_it():
    view = np.broadcast_to(np.arange(3.0), (300, 3))
    failed_with(grade("double", lambda v: view, CASES),
                "shape (300, 3), but shape (3,) was expected",
                "first values [0.0, 1.0, 2.0")


# ------------------------------------------------ code that changes what checkers use
NUMPY_FUNCTIONS = sorted(name for name in dir(np) if not name.startswith("_")
                         and callable(getattr(np, name)) and name != "testing")
BUILTINS = ["abs", "isinstance", "len", "bool", "type", "issubclass", "repr", "str",
            "float", "int", "next", "sorted", "set"]


@given(st.sampled_from(NUMPY_FUNCTIONS))
def test_rebinding_any_numpy_function_fails_and_is_undone(name):
    original = getattr(np, name)

    def patcher(v):
        setattr(np, name, lambda *args, **kwargs: True)
        return 2 * v

    failed_with(grade("double", patcher, CASES), f"your function changed numpy.{name}")
    assert getattr(np, name) is original


@pytest.mark.parametrize("name", BUILTINS)
def test_rebinding_a_builtin_fails_and_is_undone(name):
    original = getattr(builtins, name)

    def patcher(v):
        setattr(builtins, name, lambda *args, **kwargs: True)
        return 2 * v

    try:
        failed_with(grade("double", patcher, CASES),
                    f"your function changed builtins.{name}")
    finally:
        fixed = getattr(builtins, name) is original
        setattr(builtins, name, original)
    assert fixed


def test_patching_the_checker_itself_fails_and_is_undone():
    originals = judging._compare, grading.Report.__bool__

    def patcher(v):
        judging._compare = lambda *args, **kwargs: None
        grading.Report.__bool__ = lambda self: True
        return v

    failed_with(grade("double", patcher, CASES), "cnnlab.teaching.grading.Report.__bool__",
                "cnnlab.teaching.judging._compare")
    assert (judging._compare, grading.Report.__bool__) == originals


def test_a_new_name_that_shadows_a_builtin_inside_numpy_is_removed():
    def shadow(v):
        np._core.numeric.abs = lambda value: 0.0
        return v

    failed_with(grade("double", shadow, CASES), "numpy._core.numeric.abs")
    assert not hasattr(np._core.numeric, "abs")


def test_rebinding_before_the_check_is_caught_and_undone():
    original = np.allclose
    np.allclose = lambda *args, **kwargs: True
    try:
        report = failed_with(check_relu(lambda x: x), "numpy.allclose changed after",
                             "run the check again")
        assert np.allclose is original and not report.passed
    finally:
        np.allclose = original
    assert check_relu(lambda x: np.maximum(x, 0)).passed


# ------------------------------------------------ exceptions that are not Exceptions
class Quit(BaseException):
    pass


@pytest.mark.parametrize("kind", [Quit, GeneratorExit, SystemExit])
def test_any_base_exception_is_reported(kind):
    def raises(v):
        raise kind("stop")

    failed_with(grade("double", raises, CASES), f"it raised {kind.__name__}")


def test_keyboard_interrupt_still_stops_the_run():
    def interrupted(v):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade("double", interrupted, CASES)


def test_an_exception_whose_message_fails_is_reported():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no")

    failed_with(grade("double", lambda v: (_ for _ in ()).throw(Unprintable()), CASES),
                "it raised Unprintable: (its message could not be read)")


def test_swallowing_the_time_limit_once_does_not_hang_the_checker():
    def stubborn(v):
        try:
            while True:
                pass
        except BaseException:  # noqa: BLE001 - the student swallows the timeout...
            pass
        while True:  # ...and loops on: the alarm fires again
            pass

    start = time.perf_counter()
    report = grade("double", stubborn, CASES, time_limit_s=0.2)
    assert "was stopped" in report.message and time.perf_counter() - start < 5


# ----------------------------------------------------------------- speed checks
def _sum_loops(v):
    return np.array([sum(v.tolist())] * 10)


X = np.random.default_rng(0).standard_normal(20_000)


def test_a_memoized_slow_function_does_not_pass_a_speed_check():
    @functools.lru_cache(maxsize=None)
    def cached(key):
        return _sum_loops(np.frombuffer(key))

    report = check_faster_than(lambda v: cached(v.tobytes()), _sum_loops, (X,), 5.0,
                               "sum10", repeat=2)
    failed_with(report, "Correct, but not fast enough yet")


def test_a_function_that_remembers_its_first_answer_fails_a_timing_run():
    remembered = []

    def first_answer(v):
        if not remembered:
            remembered.append(_sum_loops(v))
        return remembered[0]

    report = check_faster_than(first_answer, _sum_loops, (X,), 1.0, "sum10", repeat=2)
    failed_with(report, "timing run 1 of 7 failed: the values are wrong",
                "compute it, do not remember it")


def _fails_after(calls: int, how):
    count = []

    def fn(v):
        count.append(1)
        if len(count) > calls:
            how()
        return v * 2

    return fn


def _loop_forever():
    while True:
        pass


def _raise_base():
    raise Quit("late")


@pytest.mark.parametrize("how, phrase", [
    (lambda: 1 / 0, "it raised ZeroDivisionError"), (_raise_base, "it raised Quit"),
    (_loop_forever, "it ran for more than 0.3 s and was stopped")])
def test_a_function_that_fails_while_timed_is_reported(how, phrase):
    report = check_faster_than(_fails_after(2, how), lambda v: v * 2, (np.ones(100),),
                               1.0, "double", repeat=2, time_limit_s=0.3)
    failed_with(report, "timing run 2 of 7, on new inputs, failed", phrase)


def test_faking_the_clock_while_timed_fails_and_is_undone():
    real = time.perf_counter

    def fast_clock(v):
        time.perf_counter = lambda: 0.0
        return v * 2

    report = check_faster_than(_fails_after(2, lambda: fast_clock(None)),
                               lambda v: v * 2,
                               (np.ones(100),), 1.0, "double", repeat=2)
    failed_with(report, "your function changed time.perf_counter")
    assert time.perf_counter is real


# ------------------------------------------------ every checker, each hostile student
def _checkers():
    given_conv1x1 = functools.partial(np.einsum, "fc,nchw->nfhw")
    found = []
    for name in checkers.__all__:
        if not name.startswith("check_") or name == "check_faster_than":
            continue
        check = getattr(exercises, name)
        if name == "check_conv1x1_fast":
            check = functools.partial(check, given_fn=lambda x, w: given_conv1x1(w, x))
            check.__name__ = name
        found.append(check)
    return found


def _wrong_but_equal(*args, **kwargs):
    """Knows the answer's shape or type, not its values; returns what claims to be it."""
    expected = expected_of_current_case()
    if isinstance(expected, np.ndarray):
        wrong = (np.asarray(expected, dtype=np.float64) + 1000.0).astype(expected.dtype)
        return wrong.view(AlwaysEqual)
    if isinstance(expected, (int, np.integer)):
        return EqualInt(int(expected) + 1)
    return EqualFloat(2 * float(expected) + 1.0)


def _rebinds_numpy(*args, **kwargs):
    np.allclose = np.isclose = np.array_equal = lambda *a, **k: True
    return expected_of_current_case()


@pytest.mark.parametrize("check", _checkers(), ids=lambda c: c.__name__)
def test_every_checker_compares_plain_copies(check):
    failed_with(check(_wrong_but_equal))


@pytest.mark.parametrize("check", _checkers(), ids=lambda c: c.__name__)
def test_every_checker_undoes_and_fails_a_numpy_patch(check):
    originals = np.allclose, np.isclose, np.array_equal
    failed_with(check(_rebinds_numpy), "your function changed numpy.")
    assert (np.allclose, np.isclose, np.array_equal) == originals


@pytest.mark.parametrize("check", _checkers(), ids=lambda c: c.__name__)
def test_every_checker_reports_a_base_exception(check):
    def quits(*args, **kwargs):
        raise Quit("bye")

    failed_with(check(quits), "it raised Quit")


def test_a_jupyter_kernel_rebinding_input_between_cells_is_not_a_student():
    # ipykernel sets builtins.input on every execute request, after cnnlab was imported
    import builtins

    from cnnlab.teaching import grading
    from cnnlab.exercises import check_relu

    original = builtins.input
    builtins.input = lambda prompt="": ""
    try:
        report = check_relu(lambda x: np.maximum(x, 0))
        assert report, str(report)
        assert builtins.input is not original  # the kernel's own input is left alone
    finally:
        builtins.input = original
        grading._PRISTINE.undo(accept=grading._CHANGED_BY_THE_ENVIRONMENT)


def test_a_rebound_builtin_other_than_input_is_still_caught_and_undone():
    import builtins

    from cnnlab.exercises import check_relu

    original = builtins.len
    builtins.len = lambda obj: 0
    try:
        report = check_relu(lambda x: np.maximum(x, 0))
        assert not report and "builtins.len" in str(report)
        assert builtins.len is original
    finally:
        builtins.len = original
