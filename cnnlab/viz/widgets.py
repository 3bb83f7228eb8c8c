"""Live versions of the book's figures, built with ipywidgets.

Every widget draws with a plain function of :mod:`cnnlab.viz.plots`, so the
static figure in the published book and the live widget in JupyterLab are the
same picture. Each widget is an ``ipywidgets.VBox`` that keeps its controls
and its current state as attributes and redraws through one ``redraw``
method; changing a control's ``value`` from Python (as the tests do) runs the
same callbacks as clicking in the browser.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

import cnnlab
from cnnlab import data
from cnnlab.perf import bench
from cnnlab.viz import plots

# The pure-Python backend costs 100-200 ns per multiply-add, so this many take a
# fraction of a second per call.
PYTHON_MAX_MULTIPLY_ADDS = 1_000_000


def _show(area: widgets.Output, fig) -> None:
    """Replace what ``area`` shows with ``fig``, then close the figure so pyplot does
    not keep it.
    """
    with area:
        area.clear_output(wait=True)
        display(fig)
    plt.close(fig)


class KernelExplorer(widgets.VBox):
    """Pick or type a 3x3 kernel and see what it does to an image.

    Attributes: ``preset`` (Dropdown), ``cells`` (3x3 list of FloatText),
    ``kernel`` (the grid as an array), ``result`` (the last output image).
    """

    def __init__(self, image=None):
        self.image = data.sample_image() if image is None else np.asarray(image)
        self.presets = data.kernel_presets()
        self.preset = widgets.Dropdown(options=list(self.presets), description="Preset")
        self.cells = [
            [widgets.FloatText(layout=widgets.Layout(width="70px")) for _ in range(3)]
            for _ in range(3)
        ]
        self.figure_area = widgets.Output()
        self.result: np.ndarray | None = None
        # True while a preset fills the grid: one redraw, not nine
        self._filling = False
        grid = widgets.GridBox(
            [cell for row in self.cells for cell in row],
            layout=widgets.Layout(grid_template_columns="repeat(3, 75px)"),
        )
        hint = widgets.Label("Pick a preset or type your own weights into the grid.")
        super().__init__(
            [widgets.HBox([widgets.VBox([self.preset, hint]), grid]), self.figure_area]
        )
        self.preset.observe(self._on_preset, names="value")
        for row in self.cells:
            for cell in row:
                cell.observe(self._on_cell, names="value")
        self.set_kernel(self.presets[self.preset.value])

    @property
    def kernel(self) -> np.ndarray:
        """The kernel currently in the grid, (3, 3) float64."""
        return np.array(
            [[cell.value for cell in row] for row in self.cells], dtype=np.float64
        )

    def set_kernel(self, kernel) -> None:
        """Fill the grid with a (3, 3) kernel and redraw once."""
        self._filling = True
        try:
            for row, values in zip(self.cells, np.asarray(kernel, dtype=np.float64)):
                for cell, value in zip(row, values):
                    cell.value = float(value)
        finally:
            self._filling = False
        self.redraw()

    def _on_preset(self, change) -> None:
        self.set_kernel(self.presets[change["new"]])

    def _on_cell(self, change) -> None:
        if not self._filling:
            self.redraw()

    def redraw(self) -> None:
        kernel = self.kernel
        self.result = plots.filter_image(self.image, kernel)
        is_preset = np.array_equal(kernel, self.presets[self.preset.value])
        name = self.preset.value if is_preset else "your own kernel"
        _show(
            self.figure_area,
            plots.kernel_explorer_figure(self.image, kernel, title=f"Kernel: {name}"),
        )


class SlidingWindowStepper(widgets.VBox):
    """Step a kernel across a small input, one output value at a time.

    Attributes: ``position``, ``stride`` and ``padding`` (IntSliders),
    ``play`` (steps the position automatically), ``output_shape``.
    """

    def __init__(self, x=None, w=None):
        classic_x, classic_w = data.classic_example()
        self.x = classic_x if x is None else np.asarray(x, dtype=np.float64)
        self.w = classic_w if w is None else np.asarray(w, dtype=np.float64)
        if self.x.ndim != 2 or self.w.ndim != 2:
            raise ValueError(
                f"x and w must be 2-D, got shapes {self.x.shape} and {self.w.shape}"
            )
        if self.w.shape[0] > self.x.shape[0] or self.w.shape[1] > self.x.shape[1]:
            raise ValueError(
                f"kernel {self.w.shape} is larger than the input {self.x.shape}"
            )
        self.position = widgets.IntSlider(min=0, max=0, description="position")
        self.play = widgets.Play(
            min=0, max=0, interval=1000, description="step automatically"
        )
        widgets.jslink((self.play, "value"), (self.position, "value"))
        self.stride = widgets.IntSlider(value=1, min=1, max=3, description="stride")
        self.padding = widgets.IntSlider(
            value=0, min=0, max=max(self.w.shape) - 1, description="padding"
        )
        self.shape_label = widgets.Label()
        self.figure_area = widgets.Output()
        # True while the position range changes: one redraw, not two
        self._adjusting = False
        controls = widgets.VBox(
            [widgets.HBox([self.play, self.position]), self.stride, self.padding]
        )
        super().__init__([widgets.HBox([controls, self.shape_label]), self.figure_area])
        self.position.observe(self._on_position, names="value")
        self.stride.observe(self._on_geometry, names="value")
        self.padding.observe(self._on_geometry, names="value")
        self._on_geometry(None)

    @property
    def output_shape(self) -> tuple[int, int]:
        """(OH, OW) for the current stride and padding, from ``cnnlab.output_size``."""
        s, p = self.stride.value, self.padding.value
        return (
            cnnlab.output_size(self.x.shape[0], self.w.shape[0], s, p),
            cnnlab.output_size(self.x.shape[1], self.w.shape[1], s, p),
        )

    def _on_geometry(self, change) -> None:
        oh, ow = self.output_shape
        self._adjusting = True
        try:  # a smaller max also pulls the value down into range
            self.position.max = self.play.max = oh * ow - 1
        finally:
            self._adjusting = False
        self.shape_label.value = (
            f"output {oh} x {ow}: {oh * ow} positions, numbered row by row from 0"
        )
        self.redraw()

    def _on_position(self, change) -> None:
        if not self._adjusting:
            self.redraw()

    def redraw(self) -> None:
        fig = plots.sliding_window_figure(
            self.x,
            self.w,
            self.position.value,
            stride=self.stride.value,
            padding=self.padding.value,
        )
        _show(self.figure_area, fig)


def default_implementations() -> dict[str, Callable]:
    """conv2d of every cnnlab backend, slowest first: {"python": ..., "numpy": ...,
    "numba": ...}.
    """
    return {name: cnnlab.backend(name).conv2d for name in cnnlab.BACKENDS}


class SpeedupExplorer(widgets.VBox):
    """Time conv2d implementations on a layer you choose and chart the speed-ups.

    The layer is a (1, C, S, S) input, C filters of 3x3 and padding 1; each
    implementation is called as ``fn(x, w, padding=1)``. Implementations named
    in ``slow`` are disabled when the layer has more than
    ``PYTHON_MAX_MULTIPLY_ADDS`` multiply-adds. Attributes: ``size``,
    ``channels``, ``checkboxes``, ``button``, ``progress``, ``status``,
    ``timings`` (the last ``bench.compare`` result, or None) with the
    ``flops`` and ``chart_title`` of the layer it was measured on.
    """

    def __init__(
        self,
        implementations: Mapping[str, Callable] | None = None,
        slow: Collection[str] = ("python",),
        repeat: int = 5,
        min_time: float = 0.02,
    ):
        self.implementations = dict(implementations or default_implementations())
        self.slow = set(slow)
        self.repeat, self.min_time = repeat, min_time
        self.size = widgets.Dropdown(
            options=[8, 16, 32, 64, 128], value=32, description="input size"
        )
        self.channels = widgets.Dropdown(
            options=[1, 3, 8, 16, 32], value=8, description="channels"
        )
        self.checkboxes = {
            name: widgets.Checkbox(value=True, description=name)
            for name in self.implementations
        }
        self.layer_label = widgets.HTML()  # HTML wraps long lines, Label cuts them off
        self.button = widgets.Button(
            description="Measure", button_style="primary", icon="stopwatch"
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, description="progress"
        )
        self.status = widgets.HTML(
            "Press Measure to time the implementations on this machine."
        )
        self.figure_area = widgets.Output()
        self.timings = None
        self.chart_title = ""
        self.flops: int | None = None
        super().__init__(
            [
                widgets.HBox([self.size, self.channels]),
                widgets.HBox(list(self.checkboxes.values())),
                self.layer_label,
                widgets.HBox([self.button, self.progress]),
                self.status,
                self.figure_area,
            ]
        )
        self.size.observe(self._on_layer, names="value")
        self.channels.observe(self._on_layer, names="value")
        self.button.on_click(lambda _button: self.measure())
        self._on_layer(None)

    def layer(self) -> tuple[np.ndarray, np.ndarray]:
        """The random input (1, C, S, S) and weights (C, C, 3, 3), float32, seeded."""
        rng = np.random.default_rng(0)
        c, s = self.channels.value, self.size.value
        return (
            rng.standard_normal((1, c, s, s), dtype=np.float32),
            rng.standard_normal((c, c, 3, 3), dtype=np.float32),
        )

    def multiply_adds(self) -> int:
        """Multiply-adds of one call on the chosen layer."""
        c, s = self.channels.value, self.size.value
        return s * s * c * c * 9  # padding 1 keeps the output S x S

    def _on_layer(self, change) -> None:
        macs = self.multiply_adds()
        too_slow = macs > PYTHON_MAX_MULTIPLY_ADDS
        for name in self.slow & set(self.checkboxes):
            box = self.checkboxes[name]
            box.disabled = too_slow
            box.description = f"{name} (too slow at this size)" if too_slow else name
        limit = f"{PYTHON_MAX_MULTIPLY_ADDS:,} multiply-adds (a fraction of a second per call)"
        if too_slow:
            advice = f"pure Python is only timed up to {limit}; pick a smaller size or fewer channels to include it."
        else:
            advice = f"small enough for every implementation (pure Python is only timed up to {limit})."
        self.layer_label.value = (
            f"This layer does {macs:,} multiply-adds per call: {advice}"
        )

    def selected(self) -> list[str]:
        """Names of the ticked implementations that are allowed at this size."""
        return [
            name
            for name, box in self.checkboxes.items()
            if box.value and not box.disabled
        ]

    def measure(self) -> None:
        """Check the selected implementations agree, time them with ``bench.compare``,
        redraw the chart.
        """
        names = self.selected()
        if not names:
            self.status.value = "Tick at least one implementation."
            return
        x, w = self.layer()
        self.button.disabled = True
        self.progress.max, self.progress.value = len(names) + 1, 0
        try:
            reference = None
            # the first call also compiles Numba kernels, so it is not timed
            for name in names:
                self.status.value = f"Warming up {name} and checking its result..."
                y = self.implementations[name](x, w, padding=1)
                if reference is None:
                    reference = y
                np.testing.assert_allclose(
                    y, reference, rtol=1e-4, atol=1e-3, err_msg=f"{name} vs {names[0]}"
                )
                self.progress.value += 1
            self.status.value = "Timing all implementations in interleaved rounds..."
            candidates = {name: self.implementations[name] for name in names}
            self.timings = bench.compare(
                candidates,
                x,
                w,
                padding=1,
                repeat=self.repeat,
                warmup=0,
                min_time=self.min_time,
            )
            self.flops = bench.conv2d_flops(x.shape, w.shape, padding=1)
            c, size = x.shape[1], x.shape[2]
            self.chart_title = (
                f"conv2d: {c} channels in and out, {size} x {size} input, 3 x 3 kernel"
            )
            self.progress.value += 1
            self.status.value = "Median time per call: " + ", ".join(
                f"{n} {t}" for n, t in self.timings.items()
            )
        except Exception as error:
            self.status.value = f"Measurement failed: {error}"
            raise
        finally:
            self.button.disabled = False
        self.redraw()

    def redraw(self) -> None:
        if self.timings is None:
            return
        fig = plots.speedup_chart(
            self.timings,
            baseline=next(iter(self.timings)),
            flops=self.flops,
            title=self.chart_title,
        )
        _show(self.figure_area, fig)


def kernel_explorer(image=None) -> KernelExplorer:
    """Preset dropdown, an editable 3x3 kernel, and input | kernel | output of
    ``plots.kernel_explorer_figure``.
    """
    return KernelExplorer(image)


def sliding_window_stepper(x=None, w=None) -> SlidingWindowStepper:
    """Slider over output positions with stride and padding controls; defaults to
    ``data.classic_example()``.
    """
    return SlidingWindowStepper(x, w)


def speedup_explorer(
    implementations: Mapping[str, Callable] | None = None,
    repeat: int = 5,
    min_time: float = 0.02,
) -> SpeedupExplorer:
    """Pick a layer size and implementations, press Measure, see
    ``plots.speedup_chart``.

    ``implementations`` defaults to :func:`default_implementations`;
    ``repeat`` and ``min_time`` are passed on to ``bench.compare``.
    """
    return SpeedupExplorer(implementations, repeat=repeat, min_time=min_time)


class DigitCanvas(widgets.VBox):
    """Draw a digit on a grid of toggle cells, press Predict, see the class
    probabilities.

    ``model`` is a trained network (a :class:`cnnlab.nn.model.Sequential`) that
    takes (N, 1, H, W) images and returns probabilities. A cell that is on is
    ink of intensity 1, off is 0; the image is normalised as
    ``(pixel - mean) / std`` before the model sees it, with the statistics of
    its training data (:func:`cnnlab.data.digits_mean_std`). Attributes:
    ``cells`` (H x W list of ToggleButtons), ``predict_button``,
    ``clear_button``, ``status``, ``probs`` (the last prediction, or None).
    """

    def __init__(self, model, mean: float = 0.0, std: float = 1.0, size: int = 8):
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std!r}")
        self.model, self.mean, self.std = model, float(mean), float(std)
        self.cells = [
            [
                widgets.ToggleButton(
                    value=False,
                    layout=widgets.Layout(width="32px", height="32px", padding="0"),
                )
                for _ in range(size)
            ]
            for _ in range(size)
        ]
        self.predict_button = widgets.Button(
            description="Predict", button_style="primary", icon="magic"
        )
        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.status = widgets.Label("Click cells to draw a digit, then press Predict.")
        self.figure_area = widgets.Output()
        self.probs: np.ndarray | None = None
        grid = widgets.GridBox(
            [cell for row in self.cells for cell in row],
            layout=widgets.Layout(
                grid_template_columns=f"repeat({size}, 34px)", grid_gap="2px"
            ),
        )
        controls = widgets.VBox([self.predict_button, self.clear_button, self.status])
        super().__init__([widgets.HBox([grid, controls]), self.figure_area])
        for row in self.cells:
            for cell in row:
                cell.observe(self._on_cell, names="value")
        self.predict_button.on_click(lambda _button: self.predict())
        self.clear_button.on_click(lambda _button: self.clear())

    @property
    def image(self) -> np.ndarray:
        """The drawing as a float32 (H, W) array: 1 where a cell is on, 0 elsewhere."""
        return np.array(
            [[cell.value for cell in row] for row in self.cells], dtype=np.float32
        )

    def set_image(self, image) -> None:
        """Switch on the cells where ``image`` (H, W) is above one half, e.g. to start
        from a real digit.
        """
        image = np.asarray(image)
        if image.shape != (len(self.cells), len(self.cells[0])):
            raise ValueError(
                f"image must have shape {(len(self.cells), len(self.cells[0]))}, got {image.shape}"
            )
        for row, values in zip(self.cells, image):
            for cell, value in zip(row, values):
                cell.value = bool(value > 0.5)

    def _on_cell(self, change) -> None:
        change["owner"].button_style = "info" if change["new"] else ""
        self.status.value = f"{int(self.image.sum())} cells drawn. Press Predict."

    def clear(self) -> None:
        """Switch every cell off."""
        for row in self.cells:
            for cell in row:
                cell.value = False

    def predict(self) -> np.ndarray:
        """Run the model on the drawing, redraw the bar chart, and return the
        probabilities.
        """
        image = self.image
        x = ((image - self.mean) / self.std)[None, None].astype(np.float32)
        self.probs = np.asarray(self.model(x))[0]
        best = int(self.probs.argmax())
        self.status.value = f"Predicted {best} with probability {self.probs[best]:.0%}."
        _show(self.figure_area, plots.digit_probabilities_figure(image, self.probs))
        return self.probs


def digit_canvas(model, mean: float = 0.0, std: float = 1.0) -> DigitCanvas:
    """An 8x8 grid of toggle cells to draw a digit, a Predict button, and the class
    probabilities as bars.

    Pass the ``mean`` and ``std`` the training images were normalised with,
    e.g. ``digit_canvas(model, *cnnlab.data.digits_mean_std())``.
    """
    return DigitCanvas(model, mean, std)
