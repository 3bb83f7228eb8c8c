"""Sizes that cannot be computed: a ValueError naming the argument, before any work.

Strides, paddings and window sizes beyond int64 cannot reach a compiled
kernel; paddings or filter counts whose padded copy, output or im2col matrix
could not fit in memory are refused by ``cnnlab.validation`` on every backend,
forward and backward. Huge but computable strides give the right answer.
"""

import signal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlab
import reference
from cnnlab import validation
from cnnlab.backends.numba import backward as numba_backward
from cnnlab.backends import numpy as numpy_backend
from cnnlab.backends import python as python_backend

BACKENDS = {name: cnnlab.backend(name) for name in cnnlab.BACKENDS}
GRADS = {"python": python_backend, "numpy": numpy_backend, "numba": numba_backward}
OPS = list(BACKENDS.values()) + list(GRADS.values())
IDS = [f"{name} forward" for name in BACKENDS] + [f"{name} backward" for name in GRADS]
every_backend = pytest.mark.parametrize("ops", OPS, ids=IDS)

BEYOND_INT64 = st.integers(2**63, 2**200)
X, W = np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3))


@pytest.fixture(autouse=True)
def no_hang():
    """A check that lets a huge size through would loop for hours: fail after 60 s."""

    def give_up(*_):
        raise TimeoutError("no answer after 60 s")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def conv(ops, x=X, w=W, stride=1, padding=0):
    """conv2d, or conv2d_backward with a dy of the right shape when there is one."""
    if hasattr(ops, "conv2d"):
        return ops.conv2d(x, w, stride=stride, padding=padding)
    return ops.conv2d_backward(np.ones((1, 1, 1, 1)), x, w, stride, padding)


def pool(ops, kernel_size, stride):
    if hasattr(ops, "max_pool2d"):
        return ops.max_pool2d(X, kernel_size, stride)
    return ops.max_pool2d_backward(np.ones((1, 1, 1, 1)), X, kernel_size, stride)


@every_backend
@settings(max_examples=15)
@given(
    value=BEYOND_INT64,
    which=st.sampled_from(["stride", "padding"]),
    as_pair=st.booleans(),
)
def test_conv2d_arguments_beyond_int64_are_refused(ops, value, which, as_pair):
    arg = (1, value) if as_pair else value
    with pytest.raises(
        ValueError,
        match=rf"{which} must fit in int64 \(at most 2\*\*63 - 1\), got .*{value}",
    ):
        conv(ops, **{which: arg})


@every_backend
@settings(max_examples=15)
@given(value=BEYOND_INT64, which=st.sampled_from(["kernel_size", "stride"]))
def test_pooling_arguments_beyond_int64_are_refused(ops, value, which):
    args = {"kernel_size": 2, "stride": None, which: value}
    with pytest.raises(ValueError, match=rf"{which} must fit in int64 .*got {value}"):
        pool(ops, **args)


@every_backend
@settings(max_examples=15)
@given(padding=st.integers(2**31, 2**63 - 1), one_axis=st.booleans())
def test_a_padding_too_large_for_memory_is_refused(ops, padding, one_axis):
    arg = (0, padding) if one_axis else padding
    side = 4 + 2 * padding
    with pytest.raises(
        ValueError,
        match=rf"padding \({0 if one_axis else padding}, {padding}\) would make "
        rf"a padded input of shape \(1, 1, {4 if one_axis else side}, {side}\)"
        r".*more than this machine's memory",
    ):
        conv(ops, padding=arg)


@every_backend
@settings(max_examples=10)
@given(stride=st.integers(5, 2**63 - 1), kernel=st.integers(1, 4))
def test_huge_strides_that_fit_give_one_output_per_axis(ops, stride, kernel):
    """stride=10**30 was a numba typing error; strides up to 2**63 - 1 now compute."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, kernel, kernel))
    if hasattr(ops, "conv2d"):
        np.testing.assert_allclose(
            ops.conv2d(x, w, stride=stride),
            reference.conv2d(x, w, None, (stride, stride), (0, 0)),
        )
        assert ops.max_pool2d(x, kernel, stride).shape == (1, 1, 1, 1)
    else:
        dx, dw, db = ops.conv2d_backward(np.ones((1, 1, 1, 1)), x, w, stride, 0)
        np.testing.assert_allclose(dw, x[:, :, :kernel, :kernel])
        assert (
            ops.max_pool2d_backward(np.ones((1, 1, 1, 1)), x, kernel, stride).sum() == 1
        )


def test_the_issue_examples():
    python, numba = BACKENDS["python"], BACKENDS["numba"]
    with pytest.raises(
        ValueError, match=r"padding must fit in int64 .*got 9223372036854775808"
    ):
        python.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)), padding=2**63)
    with pytest.raises(ValueError, match=r"stride must fit in int64 .*got 10{30}"):
        numba.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=10**30)


def too_many_filters():
    """x and w of 8 MB each, whose output (2**20 filters x 2**20 pixels) is 8 TB."""
    return np.zeros((1, 1, 1024, 1024)), np.zeros((2**20, 1, 1, 1))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_an_output_too_large_for_memory_is_refused(ops):
    x, w = too_many_filters()
    with pytest.raises(
        ValueError,
        match=r"x \(1, 1, 1024, 1024\), w \(1048576, 1, 1, 1\), stride \(1, 1\) and "
        r"padding \(0, 0\) would make an output of shape "
        r"\(1, 1048576, 1024, 1024\), 1.1e\+12 elements",
    ):
        ops.conv2d(x, w)
    with pytest.raises(
        ValueError, match=r"x \(1048576, 1\) and w \(1048576, 1\) would make an output"
    ):
        ops.linear(np.zeros((2**20, 1)), np.zeros((2**20, 1)))


def test_im2col_too_large_for_memory_is_refused_where_it_is_built():
    """numpy builds a (C*KH*KW, N*OH*OW) matrix; other backends are not bound by it."""
    x = np.broadcast_to(
        np.float32(0), (1, 64, 2048, 2048)
    )  # 1 GiB of data, without allocating it
    w = np.zeros((1, 64, 64, 64), np.float32)
    cols = 64 * 64 * 64 * 1985 * 1985
    if cols * 4 <= validation.memory_bytes():
        pytest.skip("this machine could hold the im2col matrix")
    for ops in (BACKENDS["numpy"], numpy_backend):
        with pytest.raises(
            ValueError,
            match=r"would make an im2col matrix of shape \(262144, 3940225\)",
        ):
            conv(ops, x, w)
    assert validation.validate_conv2d(x, w).out_shape == (1, 1, 1985, 1985)


@given(shape=st.lists(st.integers(0, 2**40), min_size=1, max_size=5))
def test_check_fits_in_memory_is_exact_for_any_size(shape):
    exact = 1
    for side in shape:
        exact *= side
    if exact * 8 > validation.memory_bytes():
        with pytest.raises(ValueError, match="more than this machine's memory"):
            validation.validate_fits_in_memory("an array", tuple(shape), np.float64, "test")
    else:
        validation.validate_fits_in_memory("an array", tuple(shape), np.float64, "test")
