"""cnnlab.nn layers and Sequential, lenet, and the digits data set."""
import importlib.util
import types

import numpy as np
import pytest

import cnnlab
from cnnlab import data
from cnnlab.perf import bench
from cnnlab.nn import (
    AvgPool2d,
    Conv2d,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    Softmax,
    he_normal,
    lenet,
)

NUMPY = cnnlab.backend("numpy")


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def small_net(backend="numpy"):
    rng = np.random.default_rng(1)
    return Sequential(
        Conv2d(2, 3, 3, padding=1, rng=rng),
        ReLU(),
        AvgPool2d(2),
        Conv2d(3, 4, (3, 2), stride=(1, 2), rng=rng),
        ReLU(),
        MaxPool2d(2, stride=1),
        Flatten(),
        Linear(4 * 1 * 1, 5, rng=rng),  # 8x8 -> conv 8x8 -> pool 4x4 -> conv 2x2 -> pool 1x1
        Softmax(),
        backend=backend,
    )


# --- layers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, x_shape, expected",
    [
        (Conv2d(3, 8, 5), (2, 3, 28, 28), (2, 8, 24, 24)),
        (Conv2d(3, 8, 3, padding=1), (2, 3, 9, 7), (2, 8, 9, 7)),
        (Conv2d(1, 2, (3, 1), stride=2, padding=(1, 0)), (1, 1, 7, 6), (1, 2, 4, 3)),
        (ReLU(), (2, 3, 4), (2, 3, 4)),
        (MaxPool2d(2), (2, 3, 7, 8), (2, 3, 3, 4)),
        (AvgPool2d(3, stride=1), (1, 2, 5, 5), (1, 2, 3, 3)),
        (Flatten(), (4, 3, 2, 5), (4, 30)),
        (Linear(30, 7), (4, 30), (4, 7)),
        (Softmax(axis=1), (4, 7, 2), (4, 7, 2)),
    ],
    ids=repr,
)
def test_layer_output_shape_matches_forward(layer, x_shape, expected):
    assert layer.output_shape(x_shape) == expected
    out = layer.forward(images(x_shape), NUMPY)
    assert out.shape == expected
    assert out.dtype == np.float32


def test_parameters_are_float32_he_initialised_with_zero_bias():
    conv = Conv2d(16, 64, 3, rng=np.random.default_rng(0))
    w, b = conv.params["w"], conv.params["b"]
    assert w.shape == (64, 16, 3, 3) and w.dtype == np.float32
    assert b.shape == (64,) and b.dtype == np.float32 and not b.any()
    # He et al. (2015): standard deviation sqrt(2 / fan_in), fan_in = 16 * 3 * 3; 9,216 draws, so within 3%.
    assert w.std() == pytest.approx(np.sqrt(2 / 144), rel=0.03)
    assert abs(w.mean()) < 0.01
    linear = Linear(200, 300, rng=np.random.default_rng(0))
    assert linear.params["w"].shape == (300, 200)
    assert linear.params["w"].std() == pytest.approx(np.sqrt(2 / 200), rel=0.03)
    assert not linear.params["b"].any()


def test_he_normal_accepts_a_seed_or_a_generator():
    a = he_normal((3, 4), 4, 7)
    b = he_normal((3, 4), 4, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_layers_without_parameters():
    for layer in (ReLU(), MaxPool2d(2), AvgPool2d(2), Flatten(), Softmax()):
        assert layer.params == {}


def test_layer_keeps_last_input_for_backward():
    conv = Conv2d(1, 2, 3)
    x = images((1, 1, 5, 5))
    conv.forward(x, NUMPY)
    assert conv.last_input is x  # a reference, not a copy


def test_repr_shows_shapes():
    assert repr(Conv2d(1, 6, 5)) == "Conv2d(1 -> 6, 5x5, stride 1, padding 0; w (6, 1, 5, 5), b (6,))"
    assert repr(Linear(256, 10)) == "Linear(256 -> 10; w (10, 256), b (10,))"
    assert repr(MaxPool2d(2)) == "MaxPool2d(2x2, stride 2)"
    assert repr(AvgPool2d((3, 2), stride=1)) == "AvgPool2d(3x2, stride 1)"
    assert repr(Softmax()) == "Softmax(axis=-1)"


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: Conv2d(0, 4, 3), ValueError),
        (lambda: Conv2d(1, 4, 0), ValueError),
        (lambda: Conv2d(1, 4, 3, padding=-1), ValueError),
        (lambda: Conv2d(1.5, 4, 3), TypeError),
        (lambda: Linear(3, True), TypeError),
        (lambda: MaxPool2d(2, stride=0), ValueError),
        (lambda: Softmax(axis=0.5), TypeError),
    ],
)
def test_bad_layer_arguments(make, error):
    with pytest.raises(error):
        make()


@pytest.mark.parametrize(
    "layer, x_shape, words",
    [
        (Conv2d(3, 8, 3), (2, 4, 9, 9), ["Conv2d(3 -> 8", "(N, 3, H, W)", "(2, 4, 9, 9)"]),
        (Conv2d(3, 8, 3), (3, 9, 9), ["Conv2d(3 -> 8", "(3, 9, 9)"]),
        (Conv2d(1, 8, 5), (1, 1, 4, 4), ["5x5", "(1, 1, 4, 4)"]),
        (MaxPool2d(3), (1, 1, 2, 5), ["MaxPool2d", "(1, 1, 2, 5)"]),
        (Linear(30, 7), (4, 31), ["Linear(30 -> 7", "(N, 30)", "(4, 31)"]),
        (Flatten(), (5,), ["Flatten", "(5,)"]),
        (Softmax(axis=2), (4, 7), ["Softmax", "(4, 7)"]),
    ],
)
def test_shape_mismatch_names_layer_and_shapes(layer, x_shape, words):
    for check in (lambda: layer.output_shape(x_shape), lambda: layer.forward(np.zeros(x_shape, np.float32), NUMPY)):
        with pytest.raises(ValueError) as info:
            check()
        for word in words:
            assert word in str(info.value)


# --- Sequential --------------------------------------------------------------------------------------------------


def test_forward_equals_composing_the_operators_by_hand():
    net = small_net()
    x = images((3, 2, 8, 8))
    (w1, b1), (w2, b2), (w3, b3) = ([layer.params["w"], layer.params["b"]] for layer in net.layers if layer.params)
    h = NUMPY.avg_pool2d(NUMPY.relu(NUMPY.conv2d(x, w1, b1, padding=1)), 2)
    h = NUMPY.max_pool2d(NUMPY.relu(NUMPY.conv2d(h, w2, b2, stride=(1, 2))), 2, stride=1)
    expected = NUMPY.softmax(NUMPY.linear(h.reshape(3, -1), w3, b3))
    np.testing.assert_allclose(net(x), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", cnnlab.BACKENDS)
def test_forward_is_the_same_on_every_backend(backend):
    x = images((2, 1, 8, 8))
    expected = lenet(image_size=8, backend="numpy")(x)
    out = lenet(image_size=8, backend=backend)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)


def test_switching_backend_keeps_weights():
    net, x = small_net("numpy"), images((2, 2, 8, 8))
    before = net(x)
    net.backend = "numba"
    assert net.backend == "numba"
    np.testing.assert_allclose(net(x), before, rtol=1e-4, atol=1e-6)


def test_unknown_backend():
    with pytest.raises(ValueError, match="cuda"):
        small_net("cuda")
    net = small_net()
    with pytest.raises(ValueError, match="cuda"):
        net.backend = "cuda"
    assert net.backend == "numpy"


def test_output_shapes_match_forward_all():
    net = small_net()
    x = images((3, 2, 8, 8))
    outputs = net.forward_all(x)
    assert [out.shape for out in outputs] == net.output_shapes(x.shape)
    assert len(outputs) == len(net.layers)
    np.testing.assert_array_equal(outputs[-1], net(x))


def test_forward_timed():
    net = small_net()
    x = images((3, 2, 8, 8))
    out, seconds = net.forward_timed(x)
    np.testing.assert_allclose(out, net(x))
    assert [name for name, _ in seconds] == net.layer_names()
    assert net.layer_names()[:2] == ["0 Conv2d", "1 ReLU"]
    assert all(s >= 0 for _, s in seconds)


def test_mismatch_is_reported_by_layer_before_anything_runs():
    net = lenet(image_size=8)
    x = images((2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"layer 0: Conv2d\(1 -> 6.*\(2, 3, 8, 8\)"):
        net(x)
    assert all(layer.last_input is None for layer in net.layers)
    with pytest.raises(ValueError, match=r"layer 7: Linear\(64 -> 10.*\(N, 64\).*\(2, 144\)"):
        net.output_shapes((2, 1, 12, 12))


def test_inputs_are_not_modified():
    for backend in cnnlab.BACKENDS:
        x = images((2, 1, 8, 8))
        copy = x.copy()
        net = lenet(image_size=8, backend=backend)
        params = {name: value.copy() for name, value in net.parameters().items()}
        net.forward_all(x)
        net.forward_timed(x)
        np.testing.assert_array_equal(x, copy)
        for name, value in net.parameters().items():
            np.testing.assert_array_equal(value, params[name])


def test_parameters_and_count():
    net = lenet(image_size=28)
    params = net.parameters()
    assert list(params) == ["0.w", "0.b", "3.w", "3.b", "7.w", "7.b"]
    assert params["0.w"] is net.layers[0].params["w"]  # the arrays themselves
    # conv 1->6 5x5, conv 6->16 5x5, linear 16*4*4 -> 10
    assert net.n_parameters == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (256 * 10 + 10)


def test_summary_table():
    text = repr(lenet(image_size=28))
    assert "input (N, 1, 28, 28)" in text
    assert "(N, 6, 24, 24)" in text and "(N, 256)" in text and "(N, 10)" in text
    assert "Conv2d(6 -> 16, 5x5" in text
    assert "total parameters: 5,142" in text
    plain = repr(small_net())
    assert "output shape" not in plain and "Softmax(axis=-1)" in plain
    assert "(N," not in plain
    assert "(N, 3, 4, 4)" in small_net().summary((2, 8, 8))


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="layer 1"):
        Sequential(ReLU(), lambda x: x)
    with pytest.raises(ValueError):
        Sequential()


# --- lenet -------------------------------------------------------------------------------------------------------


def test_lenet_28x28_uses_5x5_convolutions():
    net = lenet()
    assert net.layers[0].kernel_size == (5, 5) and net.layers[0].padding == (0, 0)
    assert net.output_shapes((4, 1, 28, 28)) == [
        (4, 6, 24, 24), (4, 6, 24, 24), (4, 6, 12, 12),
        (4, 16, 8, 8), (4, 16, 8, 8), (4, 16, 4, 4),
        (4, 256), (4, 10), (4, 10),
    ]
    probs = net(np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32))
    assert probs.shape == (4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_lenet_8x8_uses_padded_3x3_convolutions():
    net = lenet(in_channels=1, image_size=8)
    assert net.layers[0].kernel_size == (3, 3) and net.layers[0].padding == (1, 1)
    shapes = net.output_shapes((5, 1, 8, 8))
    assert shapes[2] == (5, 6, 4, 4) and shapes[5] == (5, 16, 2, 2) and shapes[-1] == (5, 10)
    assert net(images((5, 1, 8, 8))).shape == (5, 10)


@pytest.mark.parametrize("image_size", [4, 15, 16, 32])
def test_lenet_other_sizes_and_channels(image_size):
    net = lenet(in_channels=3, image_size=image_size, n_classes=4)
    assert net(images((2, 3, image_size, image_size))).shape == (2, 4)


@pytest.mark.parametrize("image_size", [1, 3])
def test_lenet_too_small(image_size):
    with pytest.raises(ValueError, match=f"image_size {image_size} is too small"):
        lenet(image_size=image_size)


def test_lenet_bad_arguments():
    with pytest.raises(ValueError):
        lenet(n_classes=0)
    with pytest.raises(TypeError):
        lenet(image_size=28.0)
    with pytest.raises(ValueError, match="tpu"):
        lenet(backend="tpu")


def test_seeds_are_reproducible():
    a, b, c = lenet(seed=3).parameters(), lenet(seed=3).parameters(), lenet(seed=4).parameters()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["0.w"], c["0.w"])
    assert not np.array_equal(a["0.w"][0], a["0.w"][1]), "filters must differ from one another"


# --- datasets ----------------------------------------------------------------------------------------------------


def test_load_digits_images():
    x, y = data.load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    assert data.load_digits_images(np.float64)[0].dtype == np.float64
    with pytest.raises(TypeError):
        data.load_digits_images(np.int32)


def test_digits_split_is_stratified_fixed_and_normalised_on_train():
    x_train, y_train, x_test, y_test = data.digits_split()
    assert x_train.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    # Stratified: each digit's share of the test set is its share of the whole, up to rounding.
    _, y_all = data.load_digits_images()
    expected = np.bincount(y_all) * 0.25
    assert np.all(np.abs(np.bincount(y_test) - expected) <= 1)
    # Normalised with the training set's statistics only.
    assert abs(float(x_train.mean())) < 1e-5 and float(x_train.std()) == pytest.approx(1.0, abs=1e-4)
    assert abs(float(x_test.mean())) > 1e-4
    # Fixed: the same seed gives the same split, another seed another one.
    again = data.digits_split()
    for a, b in zip((x_train, y_train, x_test, y_test), again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(data.digits_split(seed=1)[3], y_test)


def test_lenet_runs_on_digits():
    x_train, y_train, _, _ = data.digits_split()
    probs = lenet(image_size=8)(x_train[:16])
    assert probs.shape == (16, 10)


def test_lenet_for_digits_with_8_and_16_filters():
    net = lenet(in_channels=1, image_size=8, filters=(8, 16), seed=0)
    assert [repr(layer).split(";")[0] for layer in net.layers if layer.params] == [
        "Conv2d(1 -> 8, 3x3, stride 1, padding 1", "Conv2d(8 -> 16, 3x3, stride 1, padding 1", "Linear(64 -> 10"]
    assert net.output_shapes((2, 1, 8, 8))[5] == (2, 16, 2, 2)
    a, b = lenet(image_size=8, filters=(8, 16), seed=5), lenet(image_size=8, filters=(8, 16), seed=5)
    for (name, value), other in zip(a.parameters().items(), b.parameters().values()):
        np.testing.assert_array_equal(value, other, err_msg=name)
    with pytest.raises(TypeError, match="filters"):
        lenet(filters=8)
    with pytest.raises(ValueError, match=r"filters\[1\]"):
        lenet(filters=(8, 0))


def test_layers_start_without_gradients():
    for layer in (Conv2d(1, 2, 3), Linear(3, 4), ReLU()):
        assert layer.grads == {}


def test_a_shape_that_fitted_once_is_remembered_but_new_shapes_are_checked():
    conv = Conv2d(3, 4, 3)
    conv.forward(images((2, 3, 5, 5)), NUMPY)
    conv.forward(images((2, 3, 5, 5)), NUMPY)
    with pytest.raises(ValueError, match=r"\(2, 2, 5, 5\)"):
        conv.forward(images((2, 2, 5, 5)), NUMPY)
    net = lenet(image_size=8)
    net(images((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="layer 0"):
        net(images((2, 3, 8, 8)))
    assert net(images((3, 1, 8, 8))).shape == (3, 10)


def test_ops_is_the_backend_module():
    net = lenet(image_size=8, backend="numba")
    assert net.ops is cnnlab.backend("numba")
    net.backend = "python"
    assert net.ops is cnnlab.backend("python")


# --- what a layer tells the benchmark: FLOPs, bytes moved, its PyTorch twin


@pytest.mark.parametrize(
    "x_shape, layer",
    [
        ((2, 3, 9, 9), Conv2d(3, 4, 3, rng=0)),
        ((2, 3, 9, 9), Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2), rng=0)),
        ((1, 1, 28, 28), Conv2d(1, 6, 5, rng=0)),
        ((5, 2, 4, 4), Conv2d(2, 1, 4, stride=3, padding=1, rng=0)),
    ],
)
def test_conv2d_flops_match_the_benchmark_count(x_shape, layer):
    expected = bench.conv2d_flops(x_shape, layer.params["w"].shape, layer.stride, layer.padding)
    assert layer.flops(x_shape) == expected


def test_layer_flops_count_only_convolutions_and_linear_layers():
    assert Linear(12, 5, rng=0).flops((3, 12)) == 2 * 3 * 12 * 5
    for layer, shape in [
        (ReLU(), (2, 3, 4, 4)),
        (MaxPool2d(2), (2, 3, 4, 4)),
        (AvgPool2d(2, stride=1), (2, 3, 4, 4)),
        (Flatten(), (2, 3, 4, 4)),
        (Softmax(), (2, 10)),
    ]:
        assert layer.flops(shape) == 0
    with pytest.raises(ValueError, match="expects input"):
        Linear(12, 5, rng=0).flops((3, 11))
    with pytest.raises(ValueError, match="expects input"):
        Conv2d(3, 4, 3, rng=0).flops((2, 2, 9, 9))


def test_layer_bytes_moved_are_input_parameters_and_output():
    conv = Conv2d(3, 4, 3, padding=1, rng=0)
    assert conv.bytes_moved((2, 3, 8, 8), 4) == 4 * (2 * 3 * 8 * 8 + (4 * 3 * 3 * 3 + 4) + 2 * 4 * 8 * 8)
    assert Linear(12, 5, rng=0).bytes_moved((3, 12), 8) == 8 * (3 * 12 + (5 * 12 + 5) + 3 * 5)
    assert MaxPool2d(2).bytes_moved((2, 3, 8, 8), 4) == 4 * (2 * 3 * 8 * 8 + 2 * 3 * 4 * 4)
    assert ReLU().bytes_moved((2, 7), 4) == 4 * 2 * 2 * 7
    assert Flatten().bytes_moved((2, 3, 8, 8), 4) == 0  # a view


def test_lenet_costs_are_the_sum_over_its_layers():
    model = lenet(image_size=28)
    x_shape = (4, 1, 28, 28)
    shapes = [x_shape, *model.output_shapes(x_shape)]
    flops = sum(layer.flops(shape) for layer, shape in zip(model.layers, shapes))
    conv1, conv2 = model.layers[0], model.layers[3]
    expected = (
        bench.conv2d_flops(shapes[0], conv1.params["w"].shape)
        + bench.conv2d_flops(shapes[3], conv2.params["w"].shape)
        + 2 * 4 * model.layers[7].in_features * 10
    )
    assert flops == expected


def test_torch_twin_is_the_functional_call_with_the_layer_settings():
    calls = []

    def recorder(name):
        return lambda *args, **kwargs: calls.append((name, args, kwargs))

    functional = types.SimpleNamespace(
        **{name: recorder(name) for name in ["conv2d", "relu", "max_pool2d", "avg_pool2d", "linear", "softmax"]}
    )
    fake_torch = types.SimpleNamespace(nn=types.SimpleNamespace(functional=functional), flatten=recorder("flatten"))
    w, b = object(), object()
    layers = [
        Conv2d(3, 4, 3, stride=2, padding=(1, 0), rng=0),
        ReLU(),
        MaxPool2d(3, stride=2),
        AvgPool2d((2, 1)),
        Flatten(),
        Linear(6, 2, rng=0),
        Softmax(axis=0),
    ]
    for layer in layers:
        layer.torch_twin(fake_torch, {"w": w, "b": b} if layer.params else {})("t")
    assert calls == [
        ("conv2d", ("t",), {"weight": w, "bias": b, "stride": (2, 2), "padding": (1, 0)}),
        ("relu", ("t",), {}),
        ("max_pool2d", ("t",), {"kernel_size": (3, 3), "stride": (2, 2)}),
        ("avg_pool2d", ("t",), {"kernel_size": (2, 1), "stride": (2, 1)}),
        ("flatten", ("t",), {"start_dim": 1}),
        ("linear", ("t",), {"weight": w, "bias": b}),
        ("softmax", ("t",), {"dim": 0}),
    ]
    with pytest.raises(TypeError, match="no torch equivalent"):
        Layer().torch_twin(fake_torch, {})


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is optional")
def test_torch_twins_compute_what_the_layers_compute():
    import torch

    model = small_net()
    x = images((3, 2, 8, 8))
    t = torch.from_numpy(x)
    for layer in model.layers:
        params = {name: torch.from_numpy(value) for name, value in layer.params.items()}
        t = layer.torch_twin(torch, params)(t)
    np.testing.assert_allclose(t.numpy(), model(x), rtol=1e-5, atol=1e-6)
