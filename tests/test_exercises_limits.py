"""Checkers of chapter 8: a correct answer passes, each common mistake gets its hint."""

import pytest
from helpers import failed_with, hinted, lenient  # noqa: F401 - lenient is a fixture

from cnnlab.exercises import (
    check_conv2d_intensity,
    check_roofline_time,
    check_speedup_ceiling,
)
from cnnlab.perf import bench, roofline

pytestmark = pytest.mark.usefixtures("lenient")


# --- Exercise 8.1: arithmetic intensity of a convolution ------------------------------


def out_hw(x_shape, w_shape, stride, padding):
    return tuple((x_shape[k] + 2 * padding - w_shape[k]) // stride + 1 for k in (2, 3))


def intensity(
    x_shape,
    w_shape,
    stride=1,
    padding=0,
    itemsize=4,
    *,
    flops_per_mac=2,
    count_out=True,
    count_w=True,
    bytes_per_number=None,
    padded=False,
    ignore_stride=False,
    ignore_padding=False,
):
    """A student's conv2d_intensity; the keyword-only options make one mistake each."""
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    oh, ow = out_hw(
        x_shape,
        w_shape,
        1 if ignore_stride else stride,
        0 if ignore_padding else padding,
    )
    flops = flops_per_mac * n * f * oh * ow * c * kh * kw
    x_numbers = (
        n * c * (h + 2 * padding) * (w + 2 * padding) if padded else n * c * h * w
    )
    numbers = x_numbers + count_w * f * c * kh * kw + count_out * n * f * oh * ow
    return flops / (
        (itemsize if bytes_per_number is None else bytes_per_number) * numbers
    )


def intensity_with(**mistake):
    return lambda *args, **kwargs: intensity(*args, **kwargs, **mistake)


def test_intensity_correct_passes():
    report = check_conv2d_intensity(intensity)
    assert report.passed and report.status == "passed", report.message


def test_intensity_agrees_with_cnnlab_roofline():
    x, w, out = (8, 64, 56, 56), (64, 64, 3, 3), (8, 64, 56, 56)
    expected = roofline.arithmetic_intensity(
        bench.conv2d_flops(x, w, padding=1), roofline.conv2d_bytes(x, w, out)
    )
    assert intensity(x, w, 1, 1, 4) == pytest.approx(expected)


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (dict(flops_per_mac=1), "a multiply-add is two floating-point operations"),
        (dict(count_out=False), "you left out the output"),
        (dict(count_w=False), "you left out the weights"),
        (dict(bytes_per_number=1), "number of elements, not the number of bytes"),
        (dict(bytes_per_number=4), "use the itemsize argument"),
        (dict(padded=True), "you counted the padded input"),
        (dict(ignore_stride=True), "the output size is wrong"),
        (dict(ignore_padding=True), "the output size is wrong"),
    ],
)
def test_intensity_mistakes_get_their_hint(mistake, phrase):
    hinted(check_conv2d_intensity(intensity_with(**mistake)), phrase)


def test_intensity_elements_hint_on_the_first_case():
    # Forgetting bytes is caught at once, on the worked example.
    failed_with(
        check_conv2d_intensity(intensity_with(bytes_per_number=1)), "case 1 of 5"
    )


def test_intensity_other_wrong_answer_gets_the_formula():
    hinted(
        check_conv2d_intensity(lambda *args, **kwargs: 1.0),
        "intensity = FLOPs / bytes moved",
    )


# --- Exercise 8.2: the least time of a kernel -----------------------------------------


def least_time(
    flops,
    bytes_moved,
    peak,
    bandwidth,
    *,
    combine=max,
    flop_unit=1e9,
    byte_unit=1e9,
    scale=1.0,
):
    """A student's roofline_time; the keyword-only options make one mistake each."""
    return scale * combine(
        flops / (peak * flop_unit), bytes_moved / (bandwidth * byte_unit)
    )


def least_time_with(**mistake):
    return lambda *args: least_time(*args, **mistake)


def test_roofline_time_correct_passes():
    report = check_roofline_time(least_time)
    assert report.passed, report.message


def test_roofline_time_matches_cnnlab_roofline():
    flops, nbytes, peak, bandwidth = 10**7, 12 * 10**7, 200.0, 50.0
    rate = roofline.attainable_gflops(flops / nbytes, peak, bandwidth)
    assert least_time(flops, nbytes, peak, bandwidth) == pytest.approx(
        flops / (rate * 1e9)
    )


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (dict(combine=min), "the SLOWER of the two limits decides"),
        (dict(combine=lambda a, b: a + b), "not their sum"),
        (dict(flop_unit=2**30, byte_unit=2**30), "2**30 bytes is a GiB"),
        (dict(byte_unit=2**30), "2**30 bytes is a GiB"),
        (dict(flop_unit=1, byte_unit=1), "divide flops by peak_gflops * 1e9"),
        (dict(scale=1e3), "return seconds, not milliseconds"),
    ],
)
def test_roofline_time_mistakes_get_their_hint(mistake, phrase):
    hinted(check_roofline_time(least_time_with(**mistake)), phrase)


def test_roofline_time_ignoring_memory_is_caught_on_the_memory_bound_case():
    failed_with(
        check_roofline_time(
            lambda flops, nbytes, peak, bandwidth: flops / (peak * 1e9)
        ),
        "case 2 of 4",
        "the SLOWER of the two limits decides",
    )


def test_roofline_time_returning_the_rate_is_caught():
    def rate(flops, nbytes, peak, bandwidth):
        return min(peak, bandwidth * flops / nbytes)

    failed_with(check_roofline_time(rate), "you returned the attainable rate")


# --- Exercise 8.3: the speed-up ceiling over Python -----------------------------------


def ceiling(
    flops,
    bytes_moved,
    python_ns,
    peak,
    bandwidth,
    *,
    flops_per_mac=2,
    combine=max,
    byte_unit=1e9,
    ns=1e-9,
    invert=False,
):
    """A student's speedup_ceiling; the keyword-only options make one mistake each."""
    python_seconds = flops / flops_per_mac * python_ns * ns
    best = combine(flops / (peak * 1e9), bytes_moved / (bandwidth * byte_unit))
    return best / python_seconds if invert else python_seconds / best


def ceiling_with(**mistake):
    return lambda *args: ceiling(*args, **mistake)


def test_speedup_ceiling_correct_passes():
    report = check_speedup_ceiling(ceiling)
    assert report.passed, report.message


@pytest.mark.parametrize(
    "mistake, phrase",
    [
        (dict(flops_per_mac=1), "a multiply-add is 2 FLOPs"),
        (dict(combine=min), "this kernel is compute-bound here"),
        (dict(combine=lambda a, b: a + b), "not their sum"),
        (dict(byte_unit=2**30), "2**30 bytes is a GiB"),
        (dict(invert=True), "upside down"),
        (dict(ns=1.0), "1 ns = 1e-9 s"),
    ],
)
def test_speedup_ceiling_mistakes_get_their_hint(mistake, phrase):
    hinted(check_speedup_ceiling(ceiling_with(**mistake)), phrase)


def test_speedup_ceiling_peak_only_is_caught_on_the_memory_bound_case():
    def peak_only(flops, nbytes, python_ns, peak, bandwidth):
        return (flops / 2 * python_ns * 1e-9) / (flops / (peak * 1e9))

    failed_with(
        check_speedup_ceiling(peak_only),
        "case 2 of 4",
        "memory-bound here",
        "ridge point",
    )


# --- every checker: None, exceptions, not implemented, strict mode --------------------

CHECKERS = [check_conv2d_intensity, check_roofline_time, check_speedup_ceiling]


@pytest.mark.parametrize("check", CHECKERS)
def test_not_implemented(check):
    def starter(*args, **kwargs):
        raise NotImplementedError

    report = check(starter)
    assert not report.passed and report.status == "not implemented"
    assert "not implemented" in report.message


@pytest.mark.parametrize("check", CHECKERS)
def test_none_is_reported(check):
    failed_with(check(lambda *args, **kwargs: None), "returned None", "`return`")


@pytest.mark.parametrize("check", CHECKERS)
def test_exception_is_reported(check):
    def broken(*args, **kwargs):
        return 1 / 0

    failed_with(check(broken), "ZeroDivisionError", "in your code")


@pytest.mark.parametrize("check", CHECKERS)
def test_not_a_number_is_reported(check):
    failed_with(check(lambda *args, **kwargs: "fast"), "a number was expected")


@pytest.mark.parametrize("check", CHECKERS)
def test_strict_mode_raises(check, monkeypatch):
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "1")
    with pytest.raises(AssertionError):
        check(lambda *args, **kwargs: -1.0)


def test_checkers_are_exported():
    from cnnlab.teaching.checkers import ch08_how_close_to_the_limit as chapter

    assert {
        "check_conv2d_intensity",
        "check_roofline_time",
        "check_speedup_ceiling",
    } <= set(chapter.__all__)
