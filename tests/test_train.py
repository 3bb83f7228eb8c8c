"""Training: backward through a Sequential, SGD, fit, weights on disk, and the synthetic shapes."""
import importlib.util

import numpy as np
import pytest

import cnnlab
from cnnlab import data
from cnnlab import nn
from cnnlab.nn import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Softmax, lenet
from helpers import numerical_gradient


TRAINABLE = ("numpy", "numba", "python")


def tiny_net(backend="numpy", dtype=np.float64, seed=1):
    """Every layer type, small enough to perturb each parameter: (N, 2, 6, 6) -> (N, 3)."""
    rng = np.random.default_rng(seed)
    net = Sequential(
        Conv2d(2, 3, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Conv2d(3, 4, (2, 3), stride=(1, 2), padding=(0, 1), rng=rng),
        ReLU(),
        AvgPool2d(2, stride=1),
        Flatten(),
        Linear(4, 3, rng=rng),  # 6x6 -> 6x6 -> 3x3 -> 2x2 -> 1x1
        Softmax(),
        backend=backend,
    )
    for layer in net.layers:
        for name, value in layer.params.items():
            layer.params[name] = (value + rng.normal(0, 0.1, value.shape)).astype(dtype)  # non-zero biases too
    return net


# --- backward through a Sequential --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", TRAINABLE)
def test_sequential_backward_is_the_gradient_of_the_loss(backend):
    net = tiny_net(backend)
    rng = np.random.default_rng(2)
    x, labels = rng.standard_normal((3, 2, 6, 6)), np.array([0, 2, 1])

    def loss():
        return net.ops.softmax_cross_entropy(net.logits(x), labels)[0]

    _, dlogits = net.ops.softmax_cross_entropy(net.logits(x), labels)
    dx = net.backward(dlogits)
    grads = {name: value.copy() for name, value in net.gradients().items()}
    assert list(grads) == list(net.parameters())
    for name, param in net.parameters().items():
        assert grads[name].shape == param.shape and grads[name].dtype == np.float64
        np.testing.assert_allclose(grads[name], numerical_gradient(loss, param, eps=1e-6), rtol=1e-5, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x, eps=1e-6), rtol=1e-5, atol=1e-7)


def test_backward_through_the_final_softmax():
    net = tiny_net()
    rng = np.random.default_rng(3)
    x, r = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((2, 3))

    def loss():
        return np.sum(net(x) * r)  # any loss on the probabilities

    net(x)
    dx = net.backward(r)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x, eps=1e-6), rtol=1e-5, atol=1e-8)
    w = net.layers[0].params["w"]
    np.testing.assert_allclose(net.layers[0].grads["w"], numerical_gradient(loss, w, eps=1e-6), rtol=1e-5, atol=1e-8)


def test_backends_agree_on_float32_gradients():
    x = np.random.default_rng(4).standard_normal((5, 1, 8, 8)).astype(np.float32)
    labels = np.arange(5)
    results = {}
    for backend in TRAINABLE:
        net = lenet(image_size=8, filters=(4, 8), seed=0, backend=backend)
        _, dlogits = net.ops.softmax_cross_entropy(net.logits(x), labels)
        dx = net.backward(dlogits)
        results[backend] = [dx, *net.gradients().values()]
        assert all(g.dtype == np.float32 for g in results[backend])
    for backend in ("numba", "python"):
        for a, b in zip(results[backend], results["numpy"]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_logits_skip_only_a_final_softmax():
    net = tiny_net()
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 6))
    assert net.n_logit_layers == len(net.layers) - 1
    np.testing.assert_allclose(cnnlab.backend("numpy").softmax(net.logits(x)), net(x), rtol=1e-12)
    no_softmax = Sequential(Flatten(), Linear(72, 3))
    assert no_softmax.n_logit_layers == 2
    np.testing.assert_array_equal(no_softmax.logits(x), no_softmax(x))
    assert Sequential(Softmax()).n_logit_layers == 1  # a lone Softmax is the whole network


def test_backward_errors():
    net = tiny_net()
    with pytest.raises(RuntimeError, match="forward pass first"):
        net.backward(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="backward needs the input of a forward pass"):
        Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1)), cnnlab.backend("numpy"))
    with pytest.raises(RuntimeError, match="no gradients yet for 0.w, 0.b"):
        net.gradients()
    x = np.zeros((2, 2, 6, 6))
    net.logits(x)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) of the output of layer 7 Linear\(4 -> 3.*got \(2, 4\)"):
        net.backward(np.zeros((2, 4)))
    net(x)
    with pytest.raises(ValueError, match=r"layer 8 Softmax"):
        net.backward(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="Flatten.*output shape"):
        flatten = Flatten()
        flatten.forward(np.zeros((2, 3, 4)), None)
        flatten.backward(np.zeros((2, 11)), None)


def test_a_failed_forward_leaves_nothing_to_differentiate():
    net = tiny_net()
    net.logits(np.zeros((1, 2, 6, 6)))
    with pytest.raises(ValueError):
        net.logits(np.zeros((1, 3, 6, 6)))
    net.layers[2].forward = None  # a layer that breaks halfway through a pass
    with pytest.raises(TypeError):
        net.logits(np.zeros((1, 2, 6, 6)))
    with pytest.raises(RuntimeError, match="forward pass first"):
        net.backward(np.zeros((1, 3)))


def test_backward_does_not_modify_inputs_or_parameters():
    net = tiny_net("numba", np.float32)
    x = np.random.default_rng(6).standard_normal((2, 2, 6, 6)).astype(np.float32)
    params = {name: value.copy() for name, value in net.parameters().items()}
    x_copy = x.copy()
    net.backward(np.ones_like(net.logits(x)))
    np.testing.assert_array_equal(x, x_copy)
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(value, params[name])


# --- SGD ----------------------------------------------------------------------------------------------------------


def test_sgd_is_momentum_plus_weight_decay_in_place():
    p = {"w": np.array([1.0, -2.0]), "b": np.array([0.5])}
    w, b = p["w"], p["b"]
    opt = nn.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)
    g1 = {"w": np.array([0.5, 0.5]), "b": np.array([-1.0])}
    g2 = {"w": np.array([0.0, 1.0]), "b": np.array([2.0])}
    v_w = g1["w"] + 0.01 * np.array([1.0, -2.0])
    w_expected = np.array([1.0, -2.0]) - 0.1 * v_w
    opt.step(g1)
    np.testing.assert_allclose(w, w_expected)
    v_w = 0.9 * v_w + g2["w"] + 0.01 * w_expected
    w_expected = w_expected - 0.1 * v_w
    opt.step(g2)
    np.testing.assert_allclose(w, w_expected)
    np.testing.assert_allclose(opt.velocity["w"], v_w)
    assert p["w"] is w and p["b"] is b  # updated in place


def test_sgd_on_a_packed_model_updates_the_whole_buffer_like_the_formula():
    model = lenet(image_size=8, filters=(4, 8), seed=0)
    params = model.parameters()
    base = params["0.w"].base
    assert base is not None and all(p.base is base for p in params.values())  # Sequential packed them
    separate = {name: p.copy() for name, p in params.items()}
    rng = np.random.default_rng(10)
    packed_opt = nn.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3)
    separate_opt = nn.SGD(separate, lr=0.05, momentum=0.9, weight_decay=1e-3)
    assert packed_opt._flat is base and separate_opt._flat is None
    for _ in range(3):
        grads = {name: rng.standard_normal(p.shape).astype(np.float32) for name, p in params.items()}
        packed_opt.step(grads)
        separate_opt.step(grads)
    for name, p in model.parameters().items():
        assert p is params[name] and p.base is base  # still the model's arrays, updated in place
        np.testing.assert_allclose(p, separate[name], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(packed_opt.velocity[name], separate_opt.velocity[name], rtol=1e-6, atol=1e-7)
    # A subset, or another order, of the packed arrays is not the whole buffer: the per-array path is used.
    assert nn.SGD({"0.w": params["0.w"]}, lr=0.1)._flat is None
    assert nn.SGD(dict(reversed(list(params.items()))), lr=0.1)._flat is None


def test_plain_sgd_and_its_arguments():
    p = {"w": np.ones(3, np.float32)}
    nn.SGD(p, lr=0.5, momentum=0.0).step({"w": np.full(3, 2.0, np.float32)})
    np.testing.assert_array_equal(p["w"], np.zeros(3))
    assert p["w"].dtype == np.float32
    for kwargs, error in [(dict(lr=0), ValueError), (dict(lr=-1), ValueError), (dict(lr="0.1"), TypeError),
                          (dict(lr=0.1, momentum=1.0), ValueError), (dict(lr=0.1, weight_decay=-1e-4), ValueError)]:
        with pytest.raises(error):
            nn.SGD(p, **kwargs)
    with pytest.raises(TypeError, match="parameter 'w'"):
        nn.SGD({"w": [1.0]}, lr=0.1)
    opt = nn.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match=r"missing \['w'\], unexpected \['v'\]"):
        opt.step({"v": np.zeros(3)})
    with pytest.raises(ValueError, match=r"'w' has shape \(2,\), but the parameter has \(3,\)"):
        opt.step({"w": np.zeros(2)})


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is optional")
def test_sgd_matches_torch():
    import torch

    rng = np.random.default_rng(7)
    start, grads = rng.standard_normal((2, 5)), rng.standard_normal((3, 2, 5))
    ours = {"w": start.copy()}
    opt = nn.SGD(ours, lr=0.05, momentum=0.9, weight_decay=1e-3)
    theirs = torch.tensor(start.copy(), requires_grad=True)
    torch_opt = torch.optim.SGD([theirs], lr=0.05, momentum=0.9, weight_decay=1e-3)
    for g in grads:
        opt.step({"w": g})
        theirs.grad = torch.tensor(g)
        torch_opt.step()
    np.testing.assert_allclose(ours["w"], theirs.detach().numpy(), rtol=1e-12)


# --- fit ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_digits():
    x_train, y_train, x_test, y_test = data.digits_split()
    return x_train[:200], y_train[:200], x_test[:100], y_test[:100]


def test_fit_history_and_learning(small_digits):
    model = lenet(image_size=8, filters=(4, 8), seed=0, backend="numba")
    history = nn.fit(model, small_digits, epochs=4, batch_size=16, lr=0.05, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for h in history:
        assert set(h) == {"epoch", "loss", "train_accuracy", "val_accuracy", "seconds", "eval_seconds"}
        assert 0 <= h["train_accuracy"] <= 1 and 0 <= h["val_accuracy"] <= 1
        assert h["seconds"] > 0 and h["eval_seconds"] > 0
    assert history[-1]["loss"] < history[0]["loss"] < np.log(10) + 1
    assert history[-1]["train_accuracy"] > 0.5
    assert history[-1]["val_accuracy"] == nn.accuracy(model, *small_digits[2:])


def test_fit_is_deterministic_for_a_seed(small_digits):
    def run(seed, backend="numba"):
        model = lenet(image_size=8, filters=(4, 8), seed=0, backend=backend)
        history = nn.fit(model, small_digits, epochs=2, batch_size=32, seed=seed, progress=False)
        return [h["loss"] for h in history], model.parameters()

    losses, params = run(0)
    again, params_again = run(0)
    assert losses == again
    for name in params:
        np.testing.assert_array_equal(params[name], params_again[name])
    assert run(1)[0] != losses  # another shuffle
    numpy_losses, _ = run(0, "numpy")
    np.testing.assert_allclose(numpy_losses, losses, rtol=1e-4)


def test_fit_progress_bar(small_digits, capsys):
    model = lenet(image_size=8, filters=(2, 2), seed=0)
    nn.fit(model, small_digits, epochs=1, batch_size=100, progress=True)
    assert "training on numpy" in capsys.readouterr().err


def test_fit_rejects_bad_arguments(small_digits):
    model = lenet(image_size=8, filters=(2, 2))
    x, y, xv, yv = small_digits
    for data, error in [((x, y, xv), TypeError), ((x, y.astype(float), xv, yv), TypeError),
                        ((x, y[:10], xv, yv), ValueError), ((x, y, xv[:0], yv[:0]), ValueError)]:
        with pytest.raises(error):
            nn.fit(model, data, epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        nn.fit(model, small_digits, epochs=0, progress=False)
    with pytest.raises(TypeError, match="batch_size"):
        nn.fit(model, small_digits, epochs=1, batch_size=2.5, progress=False)
    with pytest.raises(TypeError, match="Sequential"):
        nn.fit(lambda x: x, small_digits, epochs=1, progress=False)
    with pytest.raises(FloatingPointError, match="smaller learning rate"), np.errstate(all="ignore"):
        nn.fit(model, small_digits, epochs=1, lr=1e30, momentum=0.0, progress=False)


def test_train_epoch_weighs_the_short_last_batch(small_digits):
    x, y = small_digits[0][:10], small_digits[1][:10]
    model = lenet(image_size=8, filters=(2, 2), seed=0)
    losses = []

    class Recorder(nn.SGD):
        def step(self, grads):
            pass  # keep the weights, so every batch is scored by the same model

    opt = Recorder(model.parameters(), lr=0.1)
    mean = nn.train_epoch(model, opt, x, y, batch_size=4, rng=np.random.default_rng(0))
    order = np.random.default_rng(0).permutation(10)
    for batch in (order[:4], order[4:8], order[8:]):
        losses.append(model.ops.softmax_cross_entropy(model.logits(x[batch]), y[batch])[0] * len(batch))
    assert mean == pytest.approx(sum(losses) / 10, rel=1e-6)


def test_predict_and_accuracy():
    model = lenet(image_size=8, filters=(2, 2), seed=0)
    x = np.random.default_rng(8).standard_normal((7, 1, 8, 8)).astype(np.float32)
    expected = model(x).argmax(axis=1)
    np.testing.assert_array_equal(nn.predict(model, x, batch_size=3), expected)
    assert nn.predict(model, x).dtype == np.int64
    assert nn.accuracy(model, x, expected) == 1.0
    assert nn.accuracy(model, x, (expected + 1) % 10) == 0.0


# --- weights on disk ----------------------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    model = lenet(image_size=8, filters=(8, 16), seed=0)
    path = nn.save_weights(model, tmp_path / "digits")
    assert path == tmp_path / "digits.npz" and path.exists()
    other = lenet(image_size=8, filters=(8, 16), seed=1, backend="numba")
    arrays = other.parameters()
    nn.load_weights(other, path)
    assert other.parameters()["0.w"] is arrays["0.w"]  # loaded in place
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(other.parameters()[name], value)
        assert other.parameters()[name].dtype == np.float32
    x = np.random.default_rng(9).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(other(x), model(x), rtol=1e-5)


def test_load_names_the_layer_key_and_both_shapes(tmp_path):
    path = nn.save_weights(lenet(image_size=8, filters=(8, 16)), tmp_path / "w.npz")
    target = lenet(image_size=8, filters=(6, 16))
    before = {name: value.copy() for name, value in target.parameters().items()}
    with pytest.raises(ValueError) as info:
        nn.load_weights(target, path)
    text = str(info.value)
    assert "w.npz do not fit this model" in text
    assert "0.w: layer 0 Conv2d(1 -> 6" in text
    assert "has shape (6, 1, 3, 3), but the file has shape (8, 1, 3, 3)" in text
    assert "0.b:" in text and "3.w: layer 3 Conv2d(6 -> 16" in text and "(16, 8, 3, 3)" in text
    assert "7.w" not in text  # the linear layer fits
    for name, value in target.parameters().items():
        np.testing.assert_array_equal(value, before[name])  # nothing loaded


def test_load_reports_missing_and_unexpected_keys(tmp_path):
    model = lenet(image_size=8, filters=(2, 2))
    params = model.parameters()
    kept = {k: v for k, v in params.items() if k != "7.b"}
    np.savez(tmp_path / "a.npz", **kept, **{"9.w": np.ones(2), "1.w": np.ones(1)})
    with pytest.raises(ValueError) as info:
        nn.load_weights(model, tmp_path / "a.npz")
    text = str(info.value)
    assert "7.b: missing from the file; layer 7 Linear(8 -> 10" in text and "needs shape (10,)" in text
    assert "9.w: in the file (shape (2,)), but the model has no layer 9 (it has layers 0 to 8)" in text
    assert "1.w: in the file (shape (1,)), but layer 1 ReLU() has no parameter 'w'" in text


def test_load_rejects_a_file_of_text(tmp_path):
    model = lenet(image_size=8, filters=(2, 2))
    params = {k: v for k, v in model.parameters().items()}
    params["0.b"] = np.array(["a", "b"])
    np.savez(tmp_path / "t.npz", **params)
    with pytest.raises(ValueError, match="0.b: the file holds dtype <U1, not numbers"):
        nn.load_weights(model, tmp_path / "t.npz")


# --- data -----------------------------------------------------------------------------------------------------------


def test_digits_mean_std_are_those_of_the_split():
    x, _ = data.load_digits_images()
    mean, std = data.digits_mean_std()
    x_train = data.digits_split()[0]
    assert isinstance(mean, float) and 0 < mean < 1 and 0 < std < 1
    # A training image, de-normalised, is a digit of the raw set.
    raw = x_train[0] * std + mean
    assert np.min(np.abs(x - raw).reshape(len(x), -1).max(axis=1)) < 1e-5


@pytest.mark.parametrize("size", [8, 13, 32])
def test_synthetic_shapes(size):
    x, y = data.synthetic_shapes(31, size, seed=3)
    assert x.shape == (31, 1, size, size) and x.dtype == np.float32
    assert y.shape == (31,) and y.dtype == np.int64
    assert sorted(np.bincount(y)) == [10, 10, 11]  # balanced classes
    clean, _ = data.synthetic_shapes(31, size, seed=3, noise=0.0)
    assert clean.min() == 0.0 and clean.max() == 1.0
    assert np.all(clean.reshape(31, -1).max(axis=1) == 1.0)  # every image holds a shape
    again = data.synthetic_shapes(31, size, seed=3)
    np.testing.assert_array_equal(x, again[0])
    np.testing.assert_array_equal(y, again[1])
    assert not np.array_equal(x, data.synthetic_shapes(31, size, seed=4)[0])


def test_synthetic_shapes_look_like_their_class():
    x, y = data.synthetic_shapes(60, 32, seed=0, noise=0.0)
    ink = x.reshape(60, -1).sum(axis=1)
    # Outlines of a circle or square hold much more ink than a line of the same size.
    assert np.median(ink[y == 0]) < 0.6 * np.median(ink[y == 1])
    assert np.median(ink[y == 0]) < 0.6 * np.median(ink[y == 2])
    centre = x[:, 0, 12:20, 12:20].reshape(60, -1).sum(axis=1)
    corners = x[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.all(corners == 0)  # shapes stay inside the image
    assert centre.min() >= 0


def test_synthetic_shapes_are_learnable():
    x, y = data.synthetic_shapes(450, 16, seed=0)
    x_val, y_val = data.synthetic_shapes(150, 16, seed=1)
    model = lenet(image_size=16, n_classes=3, filters=(4, 8), seed=0, backend="numba")
    history = nn.fit(model, (x, y, x_val, y_val), epochs=6, batch_size=16, lr=0.02, progress=False)
    assert history[-1]["val_accuracy"] > 0.8


def test_synthetic_shapes_bad_arguments():
    for kwargs in (dict(n=0), dict(n=2.0), dict(n=3, image_size=7), dict(n=3, noise=-1.0)):
        with pytest.raises(ValueError):
            data.synthetic_shapes(**kwargs)
