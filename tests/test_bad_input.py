"""Bad input raises ValueError or TypeError naming the problem, on every backend."""
import numpy as np
import pytest

import cnnlab

backends = pytest.mark.parametrize("ops", [cnnlab.backend(n) for n in cnnlab.BACKENDS], ids=cnnlab.BACKENDS)

X = np.ones((2, 3, 6, 6))
W = np.ones((4, 3, 3, 3))

CONV_CASES = {
    "x with 3 dims": (dict(x=np.ones((3, 6, 6))), ValueError, r"x must have 4 dimensions, got shape \(3, 6, 6\)"),
    "w with 2 dims": (dict(w=np.ones((4, 27))), ValueError, r"w must have 4 dimensions, got shape \(4, 27\)"),
    "channel mismatch": (dict(w=np.ones((4, 2, 3, 3))), ValueError, r"x has 3 channels .* w expects 2"),
    "bias length": (dict(b=np.ones(5)), ValueError, r"b must have length 4 .* got shape \(5,\)"),
    "bias 2-d": (dict(b=np.ones((4, 1))), ValueError, r"b must have 1 dimensions"),
    "kernel larger than padded input": (dict(w=np.ones((4, 3, 9, 3)), padding=1), ValueError, r"kernel 9x3 is larger than the padded input 8x8"),
    "stride 0": (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    "negative stride pair": (dict(stride=(1, -2)), ValueError, r"stride must be >= 1, got \(1, -2\)"),
    "negative padding": (dict(padding=-1), ValueError, r"padding must be >= 0, got -1"),
    "float stride": (dict(stride=1.5), TypeError, r"stride must be an int or a pair of ints, got 1.5"),
    "stride triple": (dict(stride=(1, 1, 1)), TypeError, r"stride must be an int or a pair of ints"),
    "bool padding": (dict(padding=True), TypeError, r"padding must be an int or a pair of ints, got True"),
    "string input": (dict(x=np.full((2, 3, 6, 6), "a")), TypeError, r"x must hold real numbers, got dtype <U1"),
    "object weights": (dict(w=np.empty((4, 3, 3, 3), dtype=object)), TypeError, r"w must hold real numbers, got dtype object"),
    "complex input": (dict(x=np.ones((2, 3, 6, 6), complex)), TypeError, r"x must hold real numbers, got dtype complex128"),
    "empty batch": (dict(x=np.ones((0, 3, 6, 6))), ValueError, r"x must not be empty, got shape \(0, 3, 6, 6\)"),
    "empty filters": (dict(w=np.ones((0, 3, 3, 3))), ValueError, r"w must not be empty"),
}


@backends
@pytest.mark.parametrize("change, error, message", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_rejects(ops, change, error, message):
    args = dict(x=X, w=W, b=None, stride=1, padding=0) | change
    with pytest.raises(error, match=message):
        ops.conv2d(**args)


POOL_CASES = {
    "x with 2 dims": (dict(x=np.ones((6, 6))), ValueError, r"x must have 4 dimensions, got shape \(6, 6\)"),
    "window larger than input": (dict(kernel_size=7), ValueError, r"pooling window \(7, 7\) is larger than the input 6x6"),
    "window 0": (dict(kernel_size=0), ValueError, r"kernel_size must be >= 1, got 0"),
    "stride 0": (dict(stride=(0, 1)), ValueError, r"stride must be >= 1, got \(0, 1\)"),
    "string window": (dict(kernel_size="2"), TypeError, r"kernel_size must be an int or a pair of ints, got '2'"),
    "empty": (dict(x=np.ones((1, 0, 6, 6))), ValueError, r"x must not be empty"),
}


@backends
@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("change, error, message", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pooling_rejects(ops, pool, change, error, message):
    args = dict(x=X, kernel_size=2, stride=None) | change
    with pytest.raises(error, match=message):
        getattr(ops, pool)(**args)


LINEAR_CASES = {
    "x with 3 dims": (dict(x=np.ones((2, 3, 4))), ValueError, r"x must have 2 dimensions, got shape \(2, 3, 4\)"),
    "feature mismatch": (dict(w=np.ones((5, 3))), ValueError, r"x has 4 features .* w expects 3"),
    "bias length": (dict(b=np.ones(4)), ValueError, r"b must have length 5 .* got shape \(4,\)"),
    "string weights": (dict(w=np.full((5, 4), "w")), TypeError, r"w must hold real numbers"),
    "empty": (dict(x=np.ones((0, 4))), ValueError, r"x must not be empty"),
}


@backends
@pytest.mark.parametrize("change, error, message", LINEAR_CASES.values(), ids=LINEAR_CASES.keys())
def test_linear_rejects(ops, change, error, message):
    args = dict(x=np.ones((2, 4)), w=np.ones((5, 4)), b=None) | change
    with pytest.raises(error, match=message):
        ops.linear(**args)


@backends
def test_relu_and_softmax_reject(ops):
    with pytest.raises(TypeError, match="x must hold real numbers, got dtype <U"):
        ops.relu(np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"x must not be empty, got shape \(0,\)"):
        ops.relu(np.array([]))
    with pytest.raises(ValueError, match=r"axis 2 is out of range for x with shape \(2, 3\)"):
        ops.softmax(np.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match=r"axis must be an int, got 1.0"):
        ops.softmax(np.ones((2, 3)), axis=1.0)
    with pytest.raises(ValueError, match="x must not be empty"):
        ops.softmax(np.ones((2, 0)))


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'torch'; choose one of \('python', 'numpy', 'numba'\)"):
        cnnlab.backend("torch")
