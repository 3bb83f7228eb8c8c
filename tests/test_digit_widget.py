"""The draw-a-digit widget and its static figure: toggling cells changes the image; Predict updates the chart."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnlab import data
from cnnlab.viz import plots
from cnnlab.viz import widgets  # noqa: E402
from cnnlab.nn import lenet  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the widget draws, with its arguments."""
    calls = []
    original = plots.digit_probabilities_figure

    def record(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(plots, "digit_probabilities_figure", record)
    return calls


class FixedModel:
    """A stand-in network that records its input and returns fixed probabilities."""

    def __init__(self):
        self.inputs = []
        self.probs = np.linspace(1, 10, 10, dtype=np.float32) / 55

    def __call__(self, x):
        self.inputs.append(x)
        return self.probs[None].repeat(len(x), axis=0)


def test_digit_probabilities_figure():
    image = np.zeros((8, 8))
    image[1:7, 3] = 1
    probs = np.array([0.02, 0.8, 0.05, 0.03, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01])
    fig = plots.digit_probabilities_figure(image, probs)
    assert isinstance(fig, Figure)
    ax_img, ax_bar = fig.axes[:2]
    np.testing.assert_array_equal(ax_img.images[0].get_array(), image)
    heights = [bar.get_height() for bar in ax_bar.patches]
    np.testing.assert_allclose(heights, probs)
    assert ax_bar.patches[1].get_facecolor() != ax_bar.patches[0].get_facecolor()  # the winner stands out
    assert "Predicted: 1 (80%)" in fig._suptitle.get_text()
    assert ax_bar.get_xlabel() == "class" and ax_bar.get_ylabel() == "probability"
    assert "80%" in [t.get_text() for t in ax_bar.texts]


def test_digit_probabilities_figure_rejects_bad_shapes():
    with pytest.raises(ValueError, match="image must be 2-D"):
        plots.digit_probabilities_figure(np.zeros(64), np.ones(10) / 10)
    with pytest.raises(ValueError, match="one probability per class"):
        plots.digit_probabilities_figure(np.zeros((8, 8)), np.ones((2, 5)))


def test_toggling_cells_changes_the_image(drawn):
    canvas = widgets.digit_canvas(FixedModel())
    assert isinstance(canvas, widgets.DigitCanvas)
    assert canvas.image.shape == (8, 8) and canvas.image.dtype == np.float32 and not canvas.image.any()
    canvas.cells[2][5].value = True
    canvas.cells[3][5].value = True
    expected = np.zeros((8, 8), np.float32)
    expected[2:4, 5] = 1
    np.testing.assert_array_equal(canvas.image, expected)
    assert canvas.cells[2][5].button_style == "info"
    assert "2 cells drawn" in canvas.status.value
    canvas.cells[2][5].value = False
    assert canvas.image.sum() == 1 and canvas.cells[2][5].button_style == ""
    canvas.clear()
    assert not canvas.image.any()
    assert drawn == []  # drawing alone does not predict


def test_predict_updates_the_bar_chart(drawn):
    model = FixedModel()
    canvas = widgets.digit_canvas(model, mean=0.25, std=0.5)
    assert canvas.probs is None
    canvas.cells[0][0].value = True
    canvas.predict_button.click()
    np.testing.assert_array_equal(canvas.probs, model.probs)
    x = model.inputs[-1]
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == pytest.approx((1 - 0.25) / 0.5) and x[0, 0, 1, 1] == pytest.approx(-0.5)
    assert len(drawn) == 1
    np.testing.assert_array_equal(drawn[0][0], canvas.image)
    np.testing.assert_array_equal(drawn[0][1], model.probs)
    assert "Predicted 9" in canvas.status.value
    canvas.cells[4][4].value = True
    canvas.predict()
    assert len(drawn) == 2 and drawn[1][0][4, 4] == 1
    assert plt.get_fignums() == []  # every drawn figure was closed after display


def test_a_trained_network_reads_a_drawn_digit():
    """A real network trained for a few epochs recognises a real test digit drawn on the grid."""
    from cnnlab.nn import train

    splits = data.digits_split()
    model = lenet(image_size=8, filters=(8, 16), seed=0, backend="numba")
    train.fit(model, splits, epochs=3, lr=0.02, progress=False)
    x, _ = data.load_digits_images()
    canvas = widgets.digit_canvas(model, *data.digits_mean_std())
    canvas.set_image(x[0, 0])  # a zero
    np.testing.assert_array_equal(canvas.image, (x[0, 0] > 0.5).astype(np.float32))
    probs = canvas.predict()
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1, abs=1e-5)
    assert probs.argmax() == 0
    with pytest.raises(ValueError, match=r"image must have shape \(8, 8\)"):
        canvas.set_image(np.zeros((4, 4)))


def test_bad_normalisation():
    with pytest.raises(ValueError, match="std must be > 0"):
        widgets.digit_canvas(FixedModel(), std=0)
