"""The grading engine survives anything a student's function does, and says what happened."""
import numpy as np
import pytest

from cnnlab.teaching.grading import Case, Report, grade
from helpers import lenient  # noqa: F401 - lenient is a fixture

pytestmark = pytest.mark.usefixtures("lenient")


CASES = [Case("small", (np.array([1.0, -2.0, 3.0]),), np.array([2.0, -4.0, 6.0])),
         Case("float32", (np.array([[0.5, 1.5]], np.float32),), np.array([[1.0, 3.0]], np.float32))]


def double(x):
    return 2 * x


def test_correct_function_passes_with_time():
    report = grade("double", double, CASES)
    assert report.passed and report.status == "passed" and bool(report)
    assert "✓ double: passed all 2 cases in" in report.message and report.message.endswith("ms.")
    assert report.seconds >= 0


def test_report_repr_is_the_feedback():
    report = grade("double", double, CASES)
    assert repr(report) == report.message
    failed = Report("x", False, "failed", "✗ x: something")
    assert repr(failed) == "✗ x: something" and not failed


def test_exception_reported_with_students_own_line():
    def broken(x):
        y = x * 2
        return y / undefined_name  # noqa: F821

    report = grade("double", broken, CASES)
    assert report.status == "failed"
    assert "case 1 of 2 (small) failed: it raised NameError" in report.message
    assert "in your code, line" in report.message and "return y / undefined_name" in report.message


def test_error_hint_for_an_exception_type():
    def out_of_range(x):
        return np.array([x[i + 1] for i in range(len(x))])

    report = grade("double", out_of_range, CASES, error_hints={IndexError: "check the end of your range()."})
    assert "raised IndexError" in report.message and "Hint: check the end of your range()." in report.message


def test_none_is_reported():
    def forgot_return(x):
        2 * x

    report = grade("double", forgot_return, CASES)
    assert "it returned None. Did you forget the `return` statement?" in report.message


def test_list_is_reported():
    report = grade("double", lambda x: (2 * x).tolist(), CASES)
    assert "it returned a list, but a NumPy array was expected" in report.message


def test_wrong_dtype_is_reported_with_a_hint():
    report = grade("double", lambda x: (2 * x).astype(np.float64), CASES)
    assert "case 2 of 2 (float32)" in report.message
    assert "the values are right, but the dtype is float64; expected float32" in report.message
    assert "Hint: create the output with the input's dtype" in report.message


def test_integer_output_gets_the_rounding_hint():
    def integer_output(x):
        out = np.zeros(x.shape, dtype=int)
        out[...] = 2 * x
        return out

    cases = [Case("halves", (np.array([0.25, 0.75]),), np.array([0.5, 1.5]))]
    report = grade("double", integer_output, cases)
    assert "the values are wrong" in report.message
    assert "dtype int64, so every value was rounded to a whole number" in report.message


def test_wrong_shape_is_reported_with_input_expected_and_actual():
    report = grade("double", lambda x: np.concatenate([2 * x, [0.0]]), CASES)
    message = report.message
    assert "the result has shape (4,), but shape (3,) was expected" in message
    assert "Input:\n  x:\n    [ 1. -2.  3.]" in message
    assert "Expected:\n    [ 2. -4.  6.]" in message and "Got:\n    [ 2. -4.  6.  0.]" in message


def test_large_arrays_are_summarized():
    big = np.arange(1000.0)
    report = grade("double", lambda x: x, [Case("big", (big,), 2 * big)])
    assert "array of shape (1000,), dtype float64, first values" in report.message


def test_infinite_loop_is_stopped_by_the_time_limit():
    def forever(x):
        while True:
            pass

    report = grade("double", forever, CASES, time_limit_s=0.2)
    assert "it ran for more than 0.2 s and was stopped. Is there a loop that never ends?" in report.message


def test_time_limit_cannot_be_swallowed_by_except_exception():
    def stubborn(x):
        try:
            while True:
                pass
        except Exception:
            return 2 * x

    report = grade("double", stubborn, CASES, time_limit_s=0.2)
    assert "was stopped" in report.message


def test_modifying_the_input_is_caught():
    def in_place(x):
        x *= 2
        return x

    report = grade("double", in_place, CASES)
    assert "it modified its input (x)" in report.message


def test_modifying_a_keyword_input_is_caught():
    def in_place(x, scale):
        scale[0] = 0.0
        return x * 2

    cases = [Case("kw", (np.ones(2),), np.full(2, 2.0), kwargs={"scale": np.ones(1)})]
    assert "it modified its input (scale)" in grade("double", in_place, cases).message


def test_not_implemented_is_friendly():
    def stub(x):
        """Double x."""
        raise NotImplementedError

    report = grade("double", stub, CASES)
    assert report.status == "not implemented" and not report.passed
    assert "not implemented yet" in report.message


def test_not_a_function():
    report = grade("double", None, CASES)
    assert "expected a function, got NoneType" in report.message


def test_system_exit_is_caught():
    def quits(x):
        raise SystemExit(3)

    assert "it raised SystemExit" in grade("double", quits, CASES).message


def test_a_hint_that_crashes_is_skipped():
    def bad_hint(expected, result, case):
        raise RuntimeError("hint bug")

    def good_hint(expected, result, case):
        return "the good hint"

    report = grade("double", lambda x: 3 * x, CASES, [bad_hint, good_hint])
    assert "Hint: the good hint" in report.message


def test_scalar_results():
    cases = [Case("count", (3,), 9)]
    assert grade("square", lambda n: n * n, cases).passed
    as_float = grade("square", lambda n: n * n / 1, cases)
    assert "it returned 9.0, a float; expected the whole number 9" in as_float.message
    assert "expected 9, got 8" in grade("square", lambda n: n * n - 1, cases).message
    assert "but a number was expected" in grade("square", lambda n: "9", cases).message
    assert "but a number was expected" in grade("square", lambda n: True, cases).message
    assert grade("square", lambda n: np.array(n * n), cases).passed  # a 0-d array is a number
    ratio = [Case("ratio", (1.0,), 0.5, rtol=1e-6)]
    assert grade("half", lambda v: v / 2, ratio).passed
    assert not grade("half", lambda v: v / 3, ratio).passed


def test_strict_mode_raises_on_failure_and_on_not_implemented(monkeypatch):
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "1")
    assert grade("double", double, CASES).passed
    with pytest.raises(AssertionError, match="case 1 of 2"):
        grade("double", lambda x: 3 * x, CASES)

    def stub(x):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="not implemented yet"):
        grade("double", stub, CASES)


def test_strict_mode_zero_means_off(monkeypatch):
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "0")
    assert not grade("double", lambda x: 3 * x, CASES).passed


def test_inputs_are_named_as_in_the_students_signature():
    report = grade("double", lambda values: 3 * values, CASES)
    assert "Input:\n  values:\n" in report.message
    unnamed = grade("double", lambda *args: 3 * args[0], CASES)
    assert "Input:\n  argument 1:\n" in unnamed.message


def test_long_error_messages_are_shortened():
    def verbose(x):
        raise ValueError("x" * 5000)

    message = grade("double", verbose, CASES).message
    assert "raised ValueError: xxx" in message and " ..." in message and len(message) < 1500
