"""The digit pad: the network written into the page, read by JavaScript in Chromium."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from cnnlab import data
from cnnlab.nn import AvgPool2d, Conv2d, Flatten, Linear, ReLU, Sequential, Softmax, lenet
from cnnlab.viz import digit_pad

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def trained():
    """A digits network after a few steps of training, and test digits in gray levels 0-16."""
    from cnnlab.nn import train

    x_train, y_train, x_test, y_test = data.digits_split()
    model = lenet(image_size=8, filters=(8, 16), seed=0, backend="numba")
    train.fit(model, (x_train, y_train, x_test, y_test), epochs=2, progress=False)
    mean, std = data.digits_mean_std()
    pixels = np.rint((x_test[:6, 0] * std + mean) * data.MAX_PIXEL)
    return model, mean, std, pixels, y_test[:6]


def spec_of(pad):
    match = re.search(r'class="cnnlab-pad-data">(.*?)</script>', pad._repr_html_(), re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_the_spec_holds_every_layer_and_its_exact_weights(trained):
    model, mean, std, pixels, labels = trained
    pad = digit_pad.digit_pad(model, mean, std, pixels, labels)
    spec = spec_of(pad)
    assert [layer["type"] for layer in spec["layers"]] == [
        "conv", "relu", "maxpool", "conv", "relu", "maxpool", "flatten", "linear", "softmax"]
    conv = spec["layers"][0]
    assert conv["shape"] == [8, 1, 3, 3] and conv["padding"] == [1, 1] and conv["stride"] == [1, 1]
    np.testing.assert_array_equal(np.array(conv["w"], np.float32).reshape(8, 1, 3, 3), model.layers[0].params["w"])
    assert spec["layers"][2]["size"] == [2, 2]
    assert spec["mean"] == mean and spec["std"] == std and spec["max_pixel"] == data.MAX_PIXEL
    assert [e["label"] for e in spec["examples"]] == list(labels)
    assert "http" not in pad._repr_html_()


def test_without_scripts_the_pad_is_a_still_figure(trained):
    model, mean, std, pixels, labels = trained
    text = digit_pad.digit_pad(model, mean, std, pixels, labels)._repr_html_()
    still = re.search(r'<div class="cnnlab-pad-still"><img src="data:image/png;base64,[^"]+" alt="([^"]+)">', text)
    assert still and f"labelled {labels[0]}" in still.group(1)
    assert '<div class="cnnlab-pad-live" hidden>' in text


def test_the_python_twin_reads_pixels_as_the_model_reads_normalised_images(trained):
    model, mean, std, pixels, labels = trained
    pad = digit_pad.digit_pad(model, mean, std, pixels, labels)
    x = ((pixels / data.MAX_PIXEL - mean) / std)[:, None].astype(np.float32)
    np.testing.assert_allclose(pad.probabilities(pixels), model(x), rtol=1e-6)


def test_bad_models_and_examples_are_refused(trained):
    model, mean, std, pixels, labels = trained
    with pytest.raises(ValueError, match="8x8 digits of one channel.*\\(1, 16, 16\\)"):
        digit_pad.digit_pad(lenet(image_size=16), mean, std, pixels, labels)
    with pytest.raises(ValueError, match="AvgPool2d"):
        digit_pad.network_spec(Sequential(Conv2d(1, 2, 3, padding=1), AvgPool2d(2), Flatten(),
                                          Linear(32, 10), Softmax(), input_shape=(1, 8, 8)))
    with pytest.raises(ValueError, match="ends with Softmax"):
        digit_pad.network_spec(Sequential(Flatten(), Linear(64, 10), ReLU(), input_shape=(1, 8, 8)))
    with pytest.raises(ValueError, match="std must be > 0"):
        digit_pad.digit_pad(model, mean, 0.0, pixels, labels)
    with pytest.raises(ValueError, match="examples must be \\(N, 8, 8\\)"):
        digit_pad.digit_pad(model, mean, std, pixels[:, :4], labels)
    with pytest.raises(ValueError, match="5 labels for 6 examples"):
        digit_pad.digit_pad(model, mean, std, pixels, labels[:5])
    with pytest.raises(ValueError, match="gray levels 0 to 16"):
        digit_pad.digit_pad(model, mean, std, pixels * 2, labels)


@pytest.fixture(scope="module")
def chromium_page():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        # nothing may be fetched: the pad is self-contained
        page.route("**/*", lambda route: route.abort("internetdisconnected"))
        yield page
        browser.close()


def test_the_pages_forward_pass_gives_cnnlabs_probabilities(trained, chromium_page):
    model, mean, std, pixels, labels = trained
    pad = digit_pad.digit_pad(model, mean, std, pixels, labels)
    errors = []
    chromium_page.on("pageerror", lambda e: errors.append(str(e)))
    chromium_page.set_content(f"<html><body>{pad._repr_html_()}</body></html>")
    root = chromium_page.locator(".cnnlab-pad")
    got = np.array([root.evaluate("(el, px) => el.cnnlabDigitPad.forward(px)", [float(v) for v in p.ravel()])
                    for p in pixels])
    np.testing.assert_allclose(got, pad.probabilities(pixels), atol=1e-5)
    # a test digit's button shows cnnlab's probabilities for it
    chromium_page.get_by_role("button", name=f"test digit {labels[1]}").first.click()
    shown = np.array(root.evaluate("el => el.cnnlabLastProbabilities"))
    np.testing.assert_allclose(shown, pad.probabilities(pixels[1])[0], atol=1e-5)
    assert not errors


def test_a_drawn_stroke_is_prepared_like_the_data_sets_digits(trained, chromium_page):
    model, mean, std, pixels, labels = trained
    pad = digit_pad.digit_pad(model, mean, std, pixels, labels)
    chromium_page.set_content(f"<html><body>{pad._repr_html_()}</body></html>")
    box = chromium_page.locator("canvas.cnnlab-pad-draw").bounding_box()
    x, top = box["x"] + box["width"] / 2, box["y"] + 0.15 * box["height"]
    chromium_page.mouse.move(x, top)
    chromium_page.mouse.down()
    for k in range(1, 21):  # a vertical stroke: a 1
        chromium_page.mouse.move(x, top + k * 0.035 * box["height"])
    chromium_page.mouse.up()
    root = chromium_page.locator(".cnnlab-pad")
    drawn = np.array(root.evaluate("el => el.cnnlabLastPixels")).reshape(8, 8)
    # scaled to fill the bitmap's height, centred, counted in 4x4 blocks: gray levels 0-16
    assert drawn.min() == 0 and drawn.max() <= 16
    assert (drawn[:, 3:5].sum(axis=1) >= 12).all(), drawn  # ink in every row, in the middle columns
    assert drawn[:, :2].sum() == 0 and drawn[:, 6:].sum() == 0, drawn
    shown = np.array(root.evaluate("el => el.cnnlabLastProbabilities"))
    np.testing.assert_allclose(shown, pad.probabilities(drawn)[0], atol=1e-5)
    verdict = chromium_page.locator(".cnnlab-pad-verdict").text_content()
    assert verdict.startswith(f"The network reads {int(shown.argmax())} ")
