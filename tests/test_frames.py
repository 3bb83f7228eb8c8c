"""Responsive figures: every setting drawn ahead, shown by a page with no Python."""
import base64
import html
import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab import data
from cnnlab.viz import explorers, frames, plots


def square(size, shade):
    """A figure of one gray square: its pixels depend only on ``shade``."""
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow(np.full((2, 2), shade), cmap="gray", vmin=0, vmax=3)
    ax.set_title(f"size {size}")
    return fig


def payload(figure):
    text = figure._repr_html_()
    match = re.search(r'<script type="application/json" class="cnnlab-frames-data">(.*?)</script>', text, re.S)
    return text, json.loads(match.group(1))


def test_every_valid_setting_has_its_frame_and_alt():
    controls = [frames.Control("size", [1, 2, 3]), frames.Control("shade", [0, 1, 2], kind="slider")]
    figure = frames.ResponsiveFigure(
        square, controls, alt=lambda size, shade: f"size {size}, shade {shade}",
        valid=lambda size, shade: shade < size,
    )
    assert figure.keys == [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]
    _, data_ = payload(figure)
    assert set(data_["frames"]) == {"0,0", "1,0", "1,1", "2,0", "2,1", "2,2"}
    assert data_["alts"]["2,1"] == "size 3, shade 1"
    for key in figure.keys:
        setting = figure.setting(key)
        shown = base64.b64decode(data_["images"][data_["frames"][",".join(map(str, key))]])
        assert shown == figure.frame(**setting)
        assert shown[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not a valid setting"):
        figure.frame(size=1, shade=2)


def test_identical_frames_are_stored_once():
    figure = frames.ResponsiveFigure(
        lambda size, shade: square(0, shade), [frames.Control("size", [1, 2]), frames.Control("shade", [0, 1])],
        alt="a square",
    )
    assert len(figure.keys) == 4 and len(figure.images) == 2


def test_the_first_frame_is_a_plain_image_and_the_controls_wait_for_the_script():
    figure = frames.ResponsiveFigure(square, [frames.Control("size", [1, 2]), frames.Control("shade", [2, 0])],
                                     alt='a "gray" square')
    text, data_ = payload(figure)
    first = re.search(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]*)" data-key="0,0"', text)
    assert first, text[:300]
    assert base64.b64decode(first.group(1)) == figure.frame(size=1, shade=2)
    assert html.unescape(first.group(2)) == 'a "gray" square'
    assert '<div class="cnnlab-frames-controls" hidden>' in text
    assert "http" not in text.replace(first.group(1), "")  # nothing is fetched
    assert data_["mime"] == "image/png"


def test_frames_are_the_same_bytes_when_drawn_again():
    controls = [frames.Control("size", [1]), frames.Control("shade", [0, 1, 2])]
    one = frames.ResponsiveFigure(square, controls, alt="x")
    two = frames.ResponsiveFigure(square, controls, alt="x", image_format="jpeg")
    three = frames.ResponsiveFigure(square, controls, alt="x", image_format="jpeg")
    assert one.images != two.images and two.images == three.images
    assert two.images[0][:2] == b"\xff\xd8"


def test_bad_controls_are_refused_before_anything_is_drawn():
    def never(**setting):
        raise AssertionError("drawn")

    with pytest.raises(ValueError, match="kind must be"):
        frames.Control("size", [1], kind="knob")
    with pytest.raises(ValueError, match="has no values"):
        frames.Control("size", [])
    with pytest.raises(ValueError, match="2 labels for 3 values"):
        frames.Control("size", [1, 2, 3], labels=["a", "b"])
    with pytest.raises(ValueError, match="repeat"):
        frames.ResponsiveFigure(never, [frames.Control("a", [1]), frames.Control("a", [2])], alt="x")
    with pytest.raises(ValueError, match="at least one control"):
        frames.ResponsiveFigure(never, [], alt="x")
    with pytest.raises(ValueError, match="too many to draw ahead"):
        frames.ResponsiveFigure(never, [frames.Control("a", range(100)), frames.Control("b", range(100))], alt="x")
    with pytest.raises(ValueError, match="no setting"):
        frames.ResponsiveFigure(never, [frames.Control("a", [1])], alt="x", valid=lambda a: False)
    with pytest.raises(ValueError, match="image_format"):
        frames.ResponsiveFigure(never, [frames.Control("a", [1])], alt="x", image_format="gif")


def test_a_figure_too_heavy_for_a_page_is_refused(monkeypatch):
    monkeypatch.setattr(frames, "MAX_BYTES", 2000)
    with pytest.raises(ValueError, match="MB of HTML"):
        frames.ResponsiveFigure(square, [frames.Control("size", [1]), frames.Control("shade", [0, 1, 2])], alt="x")


def test_the_kernel_explorer_frames_are_the_figures_plots_draws():
    image = data.sample_image(24)
    figure = explorers.kernel_explorer(image)
    presets = data.kernel_presets()
    assert len(figure.keys) == 2 * len(presets)
    turned = np.rot90(presets["vertical edge"], -1)
    # a quarter turn of the vertical-edge kernel is the horizontal-edge one
    np.testing.assert_array_equal(turned, presets["horizontal edge"])
    expected = plots.kernel_explorer_figure(image, turned, title="Kernel: vertical edge, turned")
    assert figure.frame(preset="vertical edge", turned=1) == frames.encode_figure(expected, 60, "jpeg")
    assert "rows of weights: 1 1 1 / 0 0 0 / -1 -1 -1" in figure.alts[(0, 1)]


def test_the_stepper_has_a_frame_for_each_window_position():
    x, w = np.arange(16.0).reshape(4, 4), data.classic_example()[1]
    # positions: stride 1 pad 0: 2 x 2, pad 1: 4 x 4; stride 2 pad 0: 1 x 1, pad 1: 2 x 2
    figure = explorers.sliding_window_stepper(x, w, strides=(1, 2), paddings=(0, 1), most_frames=22)
    counts = {}
    for key in figure.keys:
        setting = figure.setting(key)
        pair = (setting["stride"], setting["padding"])
        counts[pair] = counts.get(pair, 0) + 1
    # 25 frames in all: the pair with the most positions past stride 1 is dropped
    assert counts == {(1, 0): 4, (1, 1): 16, (2, 0): 1}
    expected = plots.sliding_window_figure(x, w, 5, 1, 1)
    assert figure.frame(stride=1, padding=1, position=5) == frames.encode_figure(expected, 60, "png")
    assert "position (1, 1)" in figure.alts[(0, 1, 5)]

