"""The pure-Python backward operators agree with NumPy's (which test_backward.py checks against finite differences)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnlab
from cnnlab.backends import numpy as numpy_backend
from cnnlab.backends import python as python_backend
from cnnlab.validation import output_size


@st.composite
def conv_cases(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, h + 2 * ph)), draw(st.integers(1, w + 2 * pw))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw))
    dy = rng.standard_normal((n, f, output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)))
    return dy, x, wt, (sh, sw), (ph, pw)


@given(case=conv_cases())
def test_conv2d_backward(case):
    dy, x, w, stride, padding = case
    for ours, theirs in zip(python_backend.conv2d_backward(dy, x, w, stride, padding),
                            numpy_backend.conv2d_backward(dy, x, w, stride, padding)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("pool", ["max_pool2d_backward", "avg_pool2d_backward"])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), ((2, 3), (1, 2)), (1, 1)])
@pytest.mark.parametrize("ties", [False, True])
def test_pool2d_backward(pool, kernel, stride, ties):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 8))
    if ties:
        x = np.round(x)  # many windows hold their maximum twice
    out = getattr(cnnlab.backend("numpy"), pool.replace("_backward", ""))(x, kernel, stride)
    dy = rng.standard_normal(out.shape)
    np.testing.assert_allclose(getattr(python_backend, pool)(dy, x, kernel, stride),
                               getattr(numpy_backend, pool)(dy, x, kernel, stride), rtol=1e-12, atol=1e-12)


def test_relu_linear_and_loss():
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    x[0, 0, :2] = 0.0
    np.testing.assert_array_equal(python_backend.relu_backward(dy, x), numpy_backend.relu_backward(dy, x))
    xl, wl, dl = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal((4, 3))
    for ours, theirs in zip(python_backend.linear_backward(dl, xl, wl), numpy_backend.linear_backward(dl, xl, wl)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    logits, labels = rng.standard_normal((5, 4)) * 30, np.array([0, 3, 1, 1, 2])
    loss, dlogits = python_backend.softmax_cross_entropy(logits, labels)
    ref_loss, ref_dlogits = numpy_backend.softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(ref_loss, rel=1e-12) and np.isfinite(loss)
    np.testing.assert_allclose(dlogits, ref_dlogits, rtol=1e-10, atol=1e-15)


def test_float32_in_float32_out_and_the_same_checks():
    x, w = np.ones((1, 2, 4, 4), np.float32), np.ones((3, 2, 3, 3), np.float32)
    dy = np.ones((1, 3, 2, 2), np.float32)
    assert all(a.dtype == np.float32 for a in python_backend.conv2d_backward(dy, x, w))
    assert python_backend.max_pool2d_backward(np.ones((1, 2, 2, 2), np.float32), x, 2).dtype == np.float32
    loss, dlogits = python_backend.softmax_cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert loss.dtype == dlogits.dtype == np.float32
    with pytest.raises(ValueError, match="dy must have the conv2d output shape"):
        python_backend.conv2d_backward(np.ones((1, 3, 3, 3)), x, w)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        python_backend.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))


def test_every_backend_has_the_backward_operators():
    names = ["conv2d_backward", "max_pool2d_backward", "avg_pool2d_backward", "relu_backward", "linear_backward",
             "softmax_cross_entropy"]
    for backend in cnnlab.BACKENDS:
        for name in names:
            assert callable(getattr(cnnlab.backend(backend), name)), (backend, name)
