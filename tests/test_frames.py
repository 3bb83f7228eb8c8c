"""Responsive figures: every setting drawn ahead, shown by a page with no Python."""
import base64
import html
import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlab import data
from cnnlab.perf import suite
from cnnlab.viz import explorers, frames, plots, roofline_plot, training_plots


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



def bench_run():
    """A bench run of two cases on two implementations: what the roofline reads of run_suite's results."""
    def implementation(label, gflops, extrapolated=False):
        return {"label": label, "gflops": gflops, "extrapolated": extrapolated}

    return {
        "settings": {"backends": ["python", "numba"]},
        "ceilings": {"peak_gflops": 100.0, "bandwidth_gbs": 10.0, "cache_gbs": 50.0,
                     "cache_bytes": 2**20, "matmul_gflops": 80.0},
        "cases": [
            # 4 MiB: held to the memory roof, min(100, 10 x 20) = 100 GFLOP/s
            {"name": "conv", "intensity": 20.0, "bytes": 2**22, "implementations": {
                "python": implementation("python", 0.01, extrapolated=True),
                "numba": implementation("numba", 40.0)}},
            # 64 KiB: held to the cache roof, min(100, 50 x 0.25) = 12.5 GFLOP/s
            {"name": "pool", "intensity": 0.25, "bytes": 2**16, "implementations": {
                "python": implementation("python", 0.002),
                "numba": implementation("numba", 5.0)}},
        ],
    }


def test_the_roofline_explorer_highlights_each_case_in_turn():
    run = bench_run()
    figure = explorers.roofline_explorer(run, title="A run")
    assert [figure.setting(key)["case"] for key in figure.keys] == [None, "conv", "pool"]
    assert len(figure.images) == 3 and all(figure.alts[key] for key in figure.keys)
    # the first frame, shown without scripts, is the chart of every case
    every = suite.cases_roofline_chart(run, title="A run")
    assert figure.frame(case=None) == frames.encode_figure(every, 70, "png")
    pool = suite.cases_roofline_chart(run, title="A run", highlight="pool")
    assert figure.frame(case="pool") == frames.encode_figure(pool, 70, "png")
    assert "conv does 20 FLOPs per byte, under the compute roof at 100 GFLOP/s: python at 0.01 " \
        "GFLOP/s (extrapolated), 0.01% of the roof; numba at 40 GFLOP/s, 40% of the roof." in figure.alts[(1,)]
    assert "under the cache roof at 12.5 GFLOP/s" in figure.alts[(2,)]
    assert "Closest to its roof: conv on numba at 40 GFLOP/s" in figure.alts[(0,)]


def test_a_highlighted_case_stands_out_and_the_others_fade():
    figure = suite.cases_roofline_chart(bench_run(), highlight="pool")
    ax = figure.axes[0]
    points = {(line.get_xdata()[0], line.get_ydata()[0]): line for line in ax.lines if len(line.get_xdata()) == 1}
    assert points[20.0, 40.0].get_alpha() == roofline_plot.FADED_ALPHA  # conv, faded
    assert points[0.25, 5.0].get_alpha() is None  # pool, as usual
    labels = {text.get_text(): text.get_color() for text in ax.texts}
    assert labels == {"conv": roofline_plot.FADED_TEXT, "pool": "black"}
    plt.close(figure)
    with pytest.raises(ValueError, match="one of the cases"):
        suite.cases_roofline_chart(bench_run(), highlight="lenet")


def training_runs(seeds=3, epochs=4):
    """What train.fit returns for each seed, with losses and accuracies made up."""
    return {
        seed: [{"epoch": e, "loss": 1.0 / (e + seed), "val_accuracy": 0.8 + 0.04 * e - 0.01 * seed}
               for e in range(1, epochs + 1)]
        for seed in range(seeds)
    }


def test_the_learning_curves_explorer_has_a_frame_per_seed():
    histories = training_runs()
    figure = explorers.learning_curves_explorer(histories, {0: 0.95, 1: 0.9, 2: 0.925})
    assert [figure.setting(key)["seed"] for key in figure.keys] == [0, 1, 2]
    assert len(figure.images) == 3 and all(figure.alts[key] for key in figure.keys)
    title = "Seed 1: validation accuracy 95.0% after epoch 4, test accuracy 90.0%"
    expected = training_plots.learning_curves_figure(histories, 1, title=title)
    assert figure.frame(seed=1) == frames.encode_figure(expected, 70, "png")
    alt = figure.alts[(1,)]
    assert "Seed 1's loss went from 0.5 to 0.2 and its validation accuracy from 83.0% to 95.0%" in alt
    assert "got 90.0% of the test set right (every seed: from 90.0% to 95.0%)" in alt
    with pytest.raises(ValueError, match="no test accuracy for seeds \\[1, 2\\]"):
        explorers.learning_curves_explorer(histories, {0: 0.95})


def test_the_learning_curves_draw_the_highlighted_seed_over_the_others():
    histories = training_runs()
    figure = training_plots.learning_curves_figure(histories, 2)
    ax_loss, ax_acc = figure.axes
    strong = [line for line in ax_loss.lines if line.get_linewidth() == 2]
    assert len(strong) == 1 and list(strong[0].get_ydata()) == [r["loss"] for r in histories[2]]
    assert len(ax_loss.lines) == 3
    assert [text.get_text() for text in ax_acc.get_legend().get_texts()] == ["seed 2", "the other 2 seeds"]
    assert figure._suptitle.get_text() == "Seed 2 of 3, the others in gray"
    plt.close(figure)
    with pytest.raises(ValueError, match="one of the seeds"):
        training_plots.learning_curves_figure(histories, 7)
