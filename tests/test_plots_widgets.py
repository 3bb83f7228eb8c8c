"""Figures, widgets and sample data: what they draw and how the widgets react to their controls."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import cnnlab  # noqa: E402
from cnnlab.perf import bench
from cnnlab import data
from cnnlab.viz import charts, plots
from cnnlab.viz import widgets  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def reference_filter(x, w, stride=1, padding=0):
    return cnnlab.backend("python").conv2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]


# --- data ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [128, 50, 7])
def test_sample_image_is_a_small_gray_square(size):
    image = data.sample_image(size)
    assert image.shape == (size, size) and image.dtype == np.float32
    assert 0 <= image.min() < image.max() <= 1


def test_sample_image_rejects_bad_size():
    with pytest.raises(ValueError):
        data.sample_image(0)


def test_classic_example():
    x, w = data.classic_example()
    assert x.dtype == w.dtype == np.float64
    np.testing.assert_array_equal(x[0], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(x[4], [21, 22, 23, 24, 25])
    np.testing.assert_array_equal(w, [[1, 0, -1]] * 3)
    np.testing.assert_array_equal(reference_filter(x, w), np.full((3, 3), -6.0))


def test_kernel_presets_are_fresh_copies():
    presets = data.kernel_presets()
    assert {"vertical edge", "horizontal edge", "Sobel x", "Sobel y", "blur", "sharpen", "emboss", "identity"} <= set(
        presets
    )
    assert all(k.shape == (3, 3) for k in presets.values())
    presets["identity"][1, 1] = 99
    assert data.kernel_presets()["identity"][1, 1] == 1


# --- plots --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, label", [(3.0, "3"), (-1, "-1"), (-0.0, "0"), (1 / 9, "0.111"), (-1.714, "-1.71"), (1234.5, "1234")]
)
def test_format_value(value, label):
    assert plots.format_value(value) == label


def test_filter_image_matches_the_python_backend():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((9, 8)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(plots.filter_image(x, w, stride=2, padding=1), reference_filter(x, w, 2, 1))


@pytest.mark.parametrize("preset", ["vertical edge", "blur"])
def test_kernel_explorer_figure(preset):
    image, kernel = data.sample_image(32), data.kernel_presets()[preset]
    fig = plots.kernel_explorer_figure(image, kernel, title="my title")
    ax_in, ax_k, ax_out, colorbar = fig.axes
    assert fig.get_suptitle() == "my title"
    assert ax_in.get_title() == "Input (32 x 32)"
    assert ax_k.get_title() == "Kernel (3 x 3)"
    assert ax_out.get_title() == "Output (30 x 30)"
    assert [t.get_text() for t in ax_k.texts] == [plots.format_value(v) for v in kernel.ravel()]
    np.testing.assert_allclose(ax_out.images[0].get_array(), reference_filter(image, kernel), rtol=1e-5, atol=1e-6)


def highlighted_output(fig):
    """(i, j) and text of the bold value in the output panel of a sliding-window figure."""
    ax_out = fig.axes[2]
    (bold,) = [t for t in ax_out.texts if t.get_fontweight() == "bold"]
    j, i = bold.get_position()
    return (round(i), round(j)), bold.get_text()


@pytest.mark.parametrize(
    "position, stride, padding, ij",
    [(0, 1, 0, (0, 0)), (4, 1, 0, (1, 1)), ((2, 1), 1, 1, (2, 1)), (7, 2, 1, (2, 1)), (24, 1, 1, (4, 4))],
)
def test_sliding_window_figure_highlights_the_produced_value(position, stride, padding, ij):
    x = np.arange(1.0, 26.0).reshape(5, 5) ** 1.5  # not the classic example: every output differs
    w = np.array([[1.0, 2, 0], [0, -1, 3], [1, 1, -2]])
    expected = reference_filter(x, w, stride, padding)
    fig = plots.sliding_window_figure(x, w, position, stride=stride, padding=padding)
    assert len(fig.axes) == 3
    assert all(ax.get_title() for ax in fig.axes) and fig.get_suptitle()
    (i, j), text = highlighted_output(fig)
    assert (i, j) == ij
    assert text == plots.format_value(expected[i, j])
    assert fig.get_supxlabel().endswith(f"= {plots.format_value(expected[i, j])}")
    # The receptive field outline sits at the window's top-left corner in the padded input.
    outlines = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert [(p.get_x(), p.get_y()) for p in outlines] == [(j * stride - 0.5, i * stride - 0.5)]
    # Cells after the current one in raster order are still empty.
    assert len(fig.axes[2].texts) == i * expected.shape[1] + j + 1


def test_sliding_window_figure_classic_example_text():
    x, w = data.classic_example()
    fig = plots.sliding_window_figure(x, w, 0)
    assert fig.get_supxlabel().splitlines()[0] == "out[0, 0] = 1·1 + 2·0 + 3·(-1)"
    assert highlighted_output(fig) == ((0, 0), "-6")


@pytest.mark.parametrize("position", [9, -1, (3, 0), (0, 3)])
def test_sliding_window_figure_rejects_positions_outside_the_output(position):
    x, w = data.classic_example()
    with pytest.raises(ValueError):
        plots.sliding_window_figure(x, w, position)


def test_speedup_chart_time_only():
    fig = charts.speedup_chart({"slow": 1e-2, "fast": 1e-3}, baseline="slow", machine="test machine")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_title() and ax.get_xlabel()
    assert fig.get_suptitle() == "Speed-up over slow"
    assert fig.get_supxlabel() == "Machine: test machine"
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["10 ms  (baseline)", "1 ms  (10x)"]


def test_speedup_chart_with_timings_and_flops():
    timings = {"a": bench.Timing([2e-3, 2.2e-3, 1.9e-3]), "b": bench.Timing([1e-4, 1.1e-4, 0.9e-4])}
    fig = charts.speedup_chart(timings, baseline="a", flops=10**6, title="t")
    ax_time, ax_rate = fig.axes
    assert fig.get_suptitle() == "t"
    assert ax_rate.get_xscale() == "log" and "GFLOP/s" in ax_rate.get_xlabel()
    assert [t.get_text() for t in ax_rate.texts] == ["0.5 GFLOP/s", "10 GFLOP/s"]
    assert ax_time.texts[1].get_text().endswith("(20x)")
    assert fig.get_supxlabel() == f"Machine: {bench.machine_label()}"


def test_speedup_chart_reads_any_timing_with_quartiles():
    """The landing page draws timings read back from a results file, not Timings."""
    from types import SimpleNamespace

    read_back = {"a": SimpleNamespace(median=2e-3, q1=1.9e-3, q3=2.2e-3),
                 "b": SimpleNamespace(median=1e-4, q1=0.9e-4, q3=1.1e-4)}
    fig = charts.speedup_chart(read_back, baseline="a", flops=10**6, machine="m")
    ax_time, _ = fig.axes
    assert ax_time.texts[1].get_text().endswith("(20x)")
    assert len(ax_time.containers) == 2  # the bars and the quartile whiskers


def test_speedup_chart_needs_its_baseline():
    with pytest.raises(ValueError):
        charts.speedup_chart({"a": 1.0}, baseline="b")


def _tick_boxes_overlap(fig, ax) -> bool:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    return any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))


@pytest.mark.parametrize("median, spread", [(6e-4, 0.1), (2.2e-4, 0.02), (3e-5, 0.05), (2.0, 0.3)])
def test_timing_distribution_puts_single_readings_on_top_and_ticks_apart(median, spread):
    rng = np.random.default_rng(0)
    timing = bench.Timing(list(median * (1 + spread * rng.exponential(size=100))), 5)
    readings = median * (1 + rng.exponential(size=50))
    fig = charts.timing_distribution(readings, timing, title="t")
    ax_strip, ax_hist = fig.axes
    labels = [t.get_text() for t in ax_strip.get_yticklabels()]
    top = labels[0] if ax_strip.get_ylim()[0] > ax_strip.get_ylim()[1] else labels[-1]
    assert "single" in top  # the first row, the single readings, is drawn on top
    assert fig.get_suptitle() == "t" and ax_hist.get_title().startswith("100 samples of 5")
    for ax in (ax_strip, ax_hist):
        texts = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert len(texts) >= 2 and all(text[-1] == "s" for text in texts), texts
        assert not _tick_boxes_overlap(fig, ax)


def test_image_grid():
    images = [np.eye(4) * k for k in range(1, 6)]
    fig = plots.image_grid(images, titles=list("abcde"), cols=3, title="maps")
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    assert fig.get_suptitle() == "maps"
    assert len(plots.image_grid(np.zeros((3, 4, 4))).axes) == 3
    with pytest.raises(ValueError):
        plots.image_grid(images, titles=["too few"])


# --- widgets ------------------------------------------------------------------------------------


def count_calls(monkeypatch, name):
    """Wrap plots.<name> so the test can see how often and with what a widget drew."""
    calls = []
    original = getattr(plots, name)

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(plots, name, recording)
    return calls


def test_kernel_explorer_preset_fills_the_grid_and_redraws_once(monkeypatch):
    calls = count_calls(monkeypatch, "kernel_explorer_figure")
    explorer = widgets.kernel_explorer(data.sample_image(24))
    assert isinstance(explorer, widgets.KernelExplorer)
    np.testing.assert_array_equal(explorer.kernel, data.kernel_presets()["vertical edge"])
    explorer.preset.value = "Sobel y"
    np.testing.assert_array_equal(explorer.kernel, data.kernel_presets()["Sobel y"])
    assert len(calls) == 2  # one draw when built, one per preset: filling nine cells is one redraw
    np.testing.assert_array_equal(calls[-1][0][1], data.kernel_presets()["Sobel y"])
    assert plt.get_fignums() == []  # every drawn figure was closed after display


def test_kernel_explorer_editing_a_cell_redraws_with_the_new_kernel(monkeypatch):
    calls = count_calls(monkeypatch, "kernel_explorer_figure")
    explorer = widgets.kernel_explorer(data.sample_image(24))
    explorer.preset.value = "identity"
    np.testing.assert_allclose(explorer.result, explorer.image[1:-1, 1:-1])
    explorer.cells[0][0].value = -1.0
    expected_kernel = data.kernel_presets()["identity"]
    expected_kernel[0, 0] = -1
    np.testing.assert_array_equal(calls[-1][0][1], expected_kernel)
    assert calls[-1][1]["title"] == "Kernel: your own kernel"
    np.testing.assert_allclose(
        explorer.result, reference_filter(explorer.image, expected_kernel), rtol=1e-5, atol=1e-6
    )


def test_sliding_window_stepper_range_follows_stride_and_padding(monkeypatch):
    calls = count_calls(monkeypatch, "sliding_window_figure")
    stepper = widgets.sliding_window_stepper()
    assert stepper.position.max == 8 and stepper.output_shape == (3, 3)
    stepper.position.value = 8
    stepper.padding.value = 1
    assert stepper.output_shape == (5, 5) and stepper.position.max == stepper.play.max == 24
    stepper.stride.value = 2
    assert stepper.output_shape == (3, 3) and stepper.position.max == 8
    stepper.stride.value = 3
    assert stepper.output_shape == (2, 2) and stepper.position.max == 3
    assert stepper.position.value == 3  # pulled into the smaller range
    assert "2 x 2" in stepper.shape_label.value
    args, kwargs = calls[-1]
    assert args[2] == 3 and kwargs == {"stride": 3, "padding": 1}
    stepper.position.value = 1
    assert calls[-1][0][2] == 1


def test_sliding_window_stepper_rejects_a_kernel_larger_than_the_input():
    with pytest.raises(ValueError):
        widgets.sliding_window_stepper(np.ones((2, 2)), np.ones((3, 3)))
