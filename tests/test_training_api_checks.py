"""Every public function of cnnlab.nn checks arguments like fit.

Bad arguments give a ValueError or TypeError naming the argument and its value
before any work; training that makes the loss or a weight NaN or inf stops with
a FloatingPointError naming the epoch and the learning rate; nothing returns a
normal-looking result for an input it cannot handle.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlab
from cnnlab import data
from cnnlab import nn
from cnnlab.nn import (
    Conv2d,
    Flatten,
    Linear,
    ReLU,
    Sequential,
    Softmax,
    he_normal,
    lenet,
)

N = 12  # examples in the small data set below: each fit is a few milliseconds


def small_model(seed=0):
    return lenet(image_size=8, filters=(2, 2), seed=seed)


def small_data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, n)


def snapshot(model):
    return {name: value.copy() for name, value in model.parameters().items()}


def assert_unchanged(model, before):
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


not_finite = st.sampled_from([math.inf, -math.inf, math.nan])
not_an_int = st.one_of(
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
    st.just([4]),
)


# --- SGD and fit: learning rate, momentum, weight decay -------------------------------


@given(lr=st.one_of(not_finite, st.floats(max_value=0.0)))
def test_any_non_finite_or_non_positive_lr_is_refused_up_front(lr):
    model = small_model()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"^lr must be"):
        nn.SGD(model.parameters(), lr=lr)
    with pytest.raises(ValueError, match=r"^lr must be"):
        nn.fit(
            model, (*small_data(), *small_data()), epochs=1, lr=lr, progress=False
        )
    assert_unchanged(model, before)


@given(
    momentum=st.one_of(
        not_finite, st.floats(max_value=-1e-300), st.floats(min_value=1.0)
    ),
    weight_decay=st.one_of(not_finite, st.floats(max_value=-1e-300)),
)
def test_momentum_and_weight_decay_outside_their_range_are_refused(
    momentum, weight_decay
):
    params = {"w": np.ones(2)}
    with pytest.raises(ValueError, match="^momentum"):
        nn.SGD(params, lr=0.1, momentum=momentum)
    with pytest.raises(ValueError, match="^weight_decay"):
        nn.SGD(params, lr=0.1, weight_decay=weight_decay)


def test_sgd_needs_a_dict_of_arrays():
    with pytest.raises(ValueError, match="params must hold at least one array"):
        nn.SGD({}, lr=0.1)
    with pytest.raises(TypeError, match="params must be a dict"):
        nn.SGD([np.ones(2)], lr=0.1)


@settings(max_examples=15)
@given(
    lr=st.floats(min_value=1e2, max_value=1e38),
    epochs=st.integers(1, 2),
    one_step=st.booleans(),
)
def test_fit_never_returns_a_history_with_weights_or_losses_that_are_not_finite(
    lr, epochs, one_step
):
    """With one step per epoch, the loss of an epoch is measured before its update."""
    model = small_model()
    x, y = small_data()
    with np.errstate(all="ignore"):
        try:
            history = nn.fit(
                model,
                (x, y, x, y),
                epochs=epochs,
                batch_size=N if one_step else 4,
                lr=lr,
                momentum=0.0,
                progress=False,
            )
        except FloatingPointError as err:
            assert re.search(r"^epoch \d of \d: .*lr=", str(err)), err
            return
    assert all(math.isfinite(h["loss"]) for h in history)
    assert all(np.isfinite(p).all() for p in model.parameters().values())


def test_lr_inf_in_one_step_issue_example():
    model = small_model()
    x, y = small_data()
    with pytest.raises(ValueError, match="lr must be a finite number, got inf"):
        nn.fit(
            model, (x, y, x, y), epochs=1, batch_size=N, lr=math.inf, progress=False
        )
    with np.errstate(all="ignore"):
        # One step per epoch: the loss of epoch 1 is measured before its update, so
        # only the check of the weights after the epoch catches a step that overflows.
        with pytest.raises(
            FloatingPointError, match=r"epoch 1 of 1: the last step .* \(lr=3e\+38\)"
        ):
            nn.fit(
                model,
                (x, y, x, y),
                epochs=1,
                batch_size=N,
                lr=3e38,
                momentum=0.0,
                progress=False,
            )
        with pytest.raises(
            FloatingPointError, match=r"epoch 2 of 2: the loss .* \(lr=1e\+30\)"
        ):
            nn.fit(
                small_model(),
                (x, y, x, y),
                epochs=2,
                batch_size=N,
                lr=1e30,
                momentum=0.0,
                progress=False,
            )


def test_train_step_refuses_a_loss_that_is_not_finite_and_keeps_the_weights():
    model = small_model()
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    x, y = small_data()
    x[3, 0, 2, 2] = np.nan
    before = snapshot(model)
    with pytest.raises(FloatingPointError, match="the batch x holds NaN or inf"):
        nn.train_step(model, optimizer, x, y)
    assert_unchanged(model, before)


# --- train_epoch ----------------------------------------------------------------------


@given(batch_size=st.integers(max_value=0))
def test_any_batch_size_below_one_is_refused(batch_size):
    model = small_model()
    x, y = small_data()
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=rf"batch_size must be >= 1, got {batch_size}"):
        nn.train_epoch(model, optimizer, x, y, batch_size, np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch_size"):
        nn.predict(model, x, batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        nn.fit(model, (x, y, x, y), epochs=1, batch_size=batch_size, progress=False)


@given(batch_size=not_an_int)
def test_a_batch_size_that_is_not_an_int_is_refused(batch_size):
    model = small_model()
    x, y = small_data()
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        nn.train_epoch(model, optimizer, x, y, batch_size, np.random.default_rng(0))


@given(n=st.integers(0, 3), extra=st.integers(-2, 2))
def test_train_epoch_needs_one_label_per_example_and_some_examples(n, extra):
    model = small_model()
    x, _ = small_data(n)
    y = np.zeros(max(n + extra, 0), np.int64)
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    before = snapshot(model)
    if n > 0 and extra == 0:
        nn.train_epoch(model, optimizer, x, y, 2, np.random.default_rng(0))
        return
    with pytest.raises(ValueError, match=r"y must have shape|at least one example"):
        nn.train_epoch(model, optimizer, x, y, 2, np.random.default_rng(0))
    assert_unchanged(model, before)


def test_train_epoch_checks_every_argument_before_training():
    model = small_model()
    x, y = small_data()
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    before = snapshot(model)
    bad_x = x.copy()
    bad_x[5, 0, 1, 1] = np.inf
    cases = [
        (dict(rng=0), TypeError, "rng must be a np.random.Generator"),
        (
            dict(optimizer=nn.SGD(small_model().parameters(), lr=0.1)),
            ValueError,
            "this model's parameters",
        ),
        (dict(optimizer=object()), TypeError, "optimizer must be"),
        (dict(model=lambda v: v), TypeError, "model must be"),
        (
            dict(x=bad_x),
            ValueError,
            r"x must hold finite numbers, got inf at index \(5, 0, 1, 1\)",
        ),
        (dict(y=y.astype(float)), TypeError, "y must hold integer labels"),
        (dict(y=np.full(N, 10)), ValueError, r"labels in \[0, 10\)"),
        (dict(y=np.full(N, -1)), ValueError, r"labels in \[0, 10\)"),
        (
            dict(x=x[:, :, :5]),
            ValueError,
            r"x of shape \(12, 1, 5, 8\) does not fit the model",
        ),
    ]
    for change, error, words in cases:
        args = (
            dict(model=model, optimizer=optimizer, x=x, y=y, batch_size=4, rng=rng)
            | change
        )
        with pytest.raises(error, match=words):
            nn.train_epoch(**args)
    assert_unchanged(model, before)
    x_copy, y_copy = x.copy(), y.copy()
    nn.train_epoch(model, optimizer, x, y, 5, rng)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)


# --- predict and accuracy -------------------------------------------------------------


@settings(max_examples=10)
@given(n=st.integers(0, 7), batch_size=st.integers(1, 8))
def test_predict_on_the_first_k_examples_is_the_first_k_predictions(n, batch_size):
    """Zero examples give an empty int64 result, as PyTorch does for an empty batch."""
    model = small_model()
    x, _ = small_data(7)
    everything = nn.predict(model, x)
    some = nn.predict(model, x[:n], batch_size)
    assert some.dtype == np.int64 and some.shape == (n,)
    np.testing.assert_array_equal(some, everything[:n])


def test_predict_checks_the_shape_even_of_zero_examples():
    model = small_model()
    with pytest.raises(
        ValueError, match=r"x of shape \(0, 2, 8, 8\) does not fit the model"
    ):
        nn.predict(model, np.zeros((0, 2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="got a scalar"):
        nn.predict(model, np.float32(1.0))
    with pytest.raises(ValueError, match=r"logits .* have shape \(1, 4, 2, 2\)"):
        nn.predict(Sequential(Conv2d(1, 4, 3)), np.zeros((1, 1, 4, 4)))


label_shapes = st.lists(st.integers(0, 8), min_size=0, max_size=3).map(tuple)


@given(shape=label_shapes)
def test_accuracy_needs_exactly_one_label_per_example(shape):
    model = small_model()
    x, y = small_data(6)
    labels = np.zeros(shape, np.int64)
    if shape == (6,):
        assert 0 <= nn.accuracy(model, x, labels) <= 1
        return
    with pytest.raises(
        ValueError,
        match=rf"y must have shape \(6,\).*got shape {re.escape(str(shape))}",
    ):
        nn.accuracy(model, x, labels)


def test_accuracy_issue_examples_and_other_labels():
    model = small_model()
    x, y = small_data()
    with pytest.raises(
        ValueError, match=r"y must have shape \(12,\), .* got shape \(12, 1\)"
    ):
        nn.accuracy(model, x, y[:, None])
    with pytest.raises(
        ValueError, match=r"y must have shape \(12,\), .* got shape \(1,\)"
    ):
        nn.accuracy(model, x, y[:1])
    with pytest.raises(ValueError, match="at least one example"):
        nn.accuracy(model, x[:0], y[:0])
    with pytest.raises(TypeError, match="integer labels"):
        nn.accuracy(model, x, y.astype(np.float64))
    with pytest.raises(ValueError, match=r"labels in \[0, 10\) .* got \[10\]"):
        nn.accuracy(model, x, np.where(np.arange(N) == 3, 10, y))


# --- fit checks everything before the first epoch -------------------------------------


def test_fit_checks_the_validation_data_and_the_rest_before_training():
    model = small_model()
    x, y = small_data()
    before = snapshot(model)
    bad = [
        (dict(data=(x, y, x[:, :, :4], y)), ValueError, "x_val of shape"),
        (
            dict(data=(x, y, x, y + 10)),
            ValueError,
            r"y_val must hold labels in \[0, 10\)",
        ),
        (
            dict(data=(x * np.nan, y, x, y)),
            ValueError,
            "x_train must hold finite numbers",
        ),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
        (dict(seed=1.5), TypeError, "seed must be an int"),
        (dict(progress="yes"), TypeError, "progress must be True or False"),
        (dict(momentum=math.nan), ValueError, "momentum must be a finite number"),
    ]
    for change, error, words in bad:
        args = dict(model=model, data=(x, y, x, y), epochs=1, progress=False) | change
        with pytest.raises(error, match=words):
            nn.fit(**args)
    assert_unchanged(model, before)


# --- layers, Sequential, lenet, he_normal, seeds ----------------------------


@given(fan_in=st.integers(max_value=0))
def test_he_normal_needs_a_positive_fan_in(fan_in):
    with pytest.raises(ValueError, match=f"fan_in must be >= 1, got {fan_in}"):
        he_normal((2, 2), fan_in)


@given(
    seed=st.one_of(
        st.integers(max_value=-1), st.floats(), st.text(max_size=2), st.booleans()
    )
)
def test_seeds_are_ints_ge_0_generators_or_none(seed):
    error = (
        ValueError
        if isinstance(seed, int) and not isinstance(seed, bool)
        else TypeError
    )
    with pytest.raises(error, match="^rng must"):
        he_normal((2,), 1, seed)
    with pytest.raises(error, match="^rng must"):
        Linear(2, 2, rng=seed)
    with pytest.raises(error, match="^seed must"):
        lenet(image_size=8, seed=seed)


def test_he_normal_shapes():
    assert he_normal((0, 3), 1).shape == (0, 3)
    with pytest.raises(ValueError, match=r"shape must hold sizes >= 0, got \(-1, 2\)"):
        he_normal((-1, 2), 1)
    with pytest.raises(TypeError, match="shape must be a tuple of ints"):
        he_normal((2.0, 2), 1)
    assert he_normal((2,), 1, np.random.default_rng(3)).shape == (2,)
    np.testing.assert_array_equal(he_normal((3,), 2, None).shape, (3,))


@given(big=st.integers(2**24, 2**80))
def test_layers_too_large_for_memory_are_refused_before_allocating(big):
    with pytest.raises(ValueError, match=r"in_channels .* memory"):
        Conv2d(big, big, 3)
    with pytest.raises(ValueError, match=r"in_features .* memory"):
        Linear(big, big)


def test_lenet_too_large_for_memory_names_the_image_size():
    with pytest.raises(ValueError, match="image_size 1000000 .* memory"):
        lenet(image_size=10**6)


def test_sequential_checks_its_arguments():
    relu = ReLU()
    with pytest.raises(ValueError, match="layer 2 is the same object as layer 0"):
        Sequential(relu, Flatten(), relu)
    with pytest.raises(TypeError, match="input_shape must be a tuple of ints, got 5"):
        Sequential(ReLU(), input_shape=5)
    with pytest.raises(ValueError, match="input_shape must hold sizes >= 0"):
        Sequential(ReLU(), input_shape=(-1, 3))
    with pytest.raises(TypeError, match="backend must be a str"):
        Sequential(ReLU(), backend=5)
    with pytest.raises(TypeError, match="input_shape must be a tuple of ints"):
        Sequential(ReLU()).output_shapes("abc")
    with pytest.raises(TypeError, match="input_shape must be a tuple of ints"):
        small_model().summary(8)


def test_backward_of_flatten_and_softmax_needs_numbers():
    ops = cnnlab.backend("numpy")
    for layer, x in ((Flatten(), np.ones((2, 3, 1))), (Softmax(), np.ones((2, 3)))):
        layer.forward(x, ops)
        with pytest.raises(TypeError, match="dy must hold real numbers"):
            layer.backward(np.full((2, 3), "a"), ops)


# --- data sets ------------------------------------------------------------------------


@given(noise=st.one_of(not_finite, st.floats(max_value=-1e-300)))
def test_synthetic_shapes_noise_must_be_finite_and_non_negative(noise):
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        data.synthetic_shapes(3, noise=noise)


def test_data_set_sizes_and_seeds_are_checked():
    with pytest.raises(TypeError, match="noise must be a number"):
        data.synthetic_shapes(3, noise="a")
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        data.synthetic_shapes(3, seed=-1)
    with pytest.raises(ValueError, match="n 1000000000 and image_size 1000 .* memory"):
        data.synthetic_shapes(10**9, 1000)
    assert data.synthetic_shapes(np.int64(3))[0].shape == (3, 1, 16, 16)
    with pytest.raises(ValueError, match="size 1000000 .* memory"):
        data.sample_image(10**6)
    with pytest.raises(TypeError, match="size must be an int, got 2.5"):
        data.sample_image(2.5)
