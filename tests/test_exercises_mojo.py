"""Checkers of chapter 12: the warm-up grades like the others; the Mojo experiments
build the variant, check its values, race it, and never fail a wrong prediction."""

import numpy as np
import pytest
from helpers import hint, lenient  # noqa: F401 - lenient is a fixture

from cnnlab import mojo
from cnnlab.teaching.checkers import ch12_python_against_mojo as ch12

pytestmark = pytest.mark.usefixtures("lenient")
needs_mojo = pytest.mark.skipif(not mojo.available(), reason=mojo.REASON or "mojo")


def test_all_checkers_are_exported():
    import cnnlab.exercises as exercises

    assert set(ch12.__all__) == {
        "check_simd_lanes",
        "check_simd_width_experiment",
        "check_filters_experiment",
    }
    for name in ch12.__all__:
        assert getattr(exercises, name) is getattr(ch12, name)


def test_simd_lanes_passes_the_right_answer():
    assert ch12.check_simd_lanes(lambda bits, dtype: bits // (8 * np.dtype(dtype).itemsize))


def test_simd_lanes_explains_bits_against_bytes():
    report = ch12.check_simd_lanes(lambda bits, dtype: bits // np.dtype(dtype).itemsize)
    assert "bits" in hint(report) and "bytes" in hint(report)


def test_simd_lanes_explains_a_float32_only_answer():
    report = ch12.check_simd_lanes(lambda bits, dtype: bits // 32)
    assert "float64" in hint(report)


def _returns(*choice):
    return lambda: choice


def test_an_experiment_not_done_yet_says_what_to_return():
    def simd_width_experiment():
        raise NotImplementedError

    report = ch12.check_simd_width_experiment(simd_width_experiment)
    assert report.status == "not implemented" and "WIDTH" in report.message


@pytest.mark.parametrize("returned", [4, (4,), [4, "slower"], (4, "slower", 1), None])
def test_an_experiment_wants_a_pair(returned):
    report = ch12.check_filters_experiment(lambda: returned)
    assert report.status == "failed" and "return a pair" in report.message


def test_without_mojo_the_experiments_are_skipped(monkeypatch):
    monkeypatch.setattr(mojo, "REASON", "Mojo has no Windows wheels (use WSL)")
    report = ch12.check_filters_experiment(_returns(2, "slower"))
    assert report.passed and report.status == "skipped"
    assert "Windows" in report.message


@needs_mojo
@pytest.mark.parametrize("prediction", ["quicker", "Faster", 1])
def test_a_prediction_outside_the_three_words_fails(prediction):
    report = ch12.check_simd_width_experiment(_returns(4, prediction))
    assert not report.passed and "faster" in report.message


@needs_mojo
def test_the_built_value_is_not_an_experiment():
    report = ch12.check_simd_width_experiment(_returns(8, "faster"))
    assert not report.passed and "as built" in report.message


@needs_mojo
def test_a_value_the_kernel_cannot_take_is_refused_before_building():
    report = ch12.check_simd_width_experiment(_returns(7, "faster"))
    assert not report.passed and "WIDTH" in report.message


@needs_mojo
@pytest.mark.parametrize("prediction", ch12.PREDICTIONS)
def test_the_experiment_passes_whatever_was_predicted(prediction):
    # WIDTH = 4: the value of the chapter's solution, so the build is shared
    report = ch12.check_simd_width_experiment(_returns(4, prediction))
    assert report.passed, report.message
    assert "agrees with the NumPy backend" in report.message
    held = "Your prediction held." in report.message
    assert held == (f":\n{prediction} (" in report.message)
    assert max(len(line) for line in report.message.splitlines()) <= 100
