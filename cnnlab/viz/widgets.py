"""Live versions of the book's figures, built with ipywidgets.

Every widget draws with a plain function of :mod:`cnnlab.viz.plots`, so the
static figure in the published book and the live widget in JupyterLab are the
same picture. Each widget is an ``ipywidgets.VBox`` that keeps its controls
and its current state as attributes and redraws through one ``redraw``
method; changing a control's ``value`` from Python (as the tests do) runs the
same callbacks as clicking in the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

import cnnlab
from cnnlab import data
from cnnlab.viz import plots


def _show(area: widgets.Output, fig: Figure) -> None:
    """Show ``fig`` in ``area`` in place of what was there, then close the figure."""
    with area:
        area.clear_output(wait=True)
        display(fig)
    plt.close(fig)


class KernelExplorer(widgets.VBox):
    """Pick or type a 3x3 kernel and see what it does to an image.

    Attributes: ``preset`` (Dropdown), ``cells`` (3x3 list of FloatText),
    ``kernel`` (the grid as an array), ``result`` (the last output image).
    """

    def __init__(self, image: ArrayLike | None = None) -> None:
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

    def set_kernel(self, kernel: ArrayLike) -> None:
        """Fill the grid with a (3, 3) kernel and redraw once."""
        self._filling = True
        try:
            for row, values in zip(
                self.cells, np.asarray(kernel, dtype=np.float64), strict=True
            ):
                for cell, value in zip(row, values, strict=True):
                    cell.value = float(value)
        finally:
            self._filling = False
        self.redraw()

    def _on_preset(self, change: dict[str, Any]) -> None:
        self.set_kernel(self.presets[change["new"]])

    def _on_cell(self, change: dict[str, Any]) -> None:
        if not self._filling:
            self.redraw()

    def redraw(self) -> None:
        """Filter the image with the grid's kernel and draw input, kernel and output."""
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

    def __init__(self, x: ArrayLike | None = None, w: ArrayLike | None = None) -> None:
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

    def _on_geometry(self, change: dict[str, Any] | None) -> None:
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

    def _on_position(self, change: dict[str, Any]) -> None:
        if not self._adjusting:
            self.redraw()

    def redraw(self) -> None:
        """Draw the step at the current position, stride and padding."""
        fig = plots.sliding_window_figure(
            self.x,
            self.w,
            self.position.value,
            stride=self.stride.value,
            padding=self.padding.value,
        )
        _show(self.figure_area, fig)


def kernel_explorer(image: ArrayLike | None = None) -> KernelExplorer:
    """A preset dropdown and an editable 3x3 kernel over an (H, W) image.

    Below the controls, ``plots.kernel_explorer_figure`` shows input, kernel and
    output; ``image`` defaults to ``data.sample_image()``.
    """
    return KernelExplorer(image)


def sliding_window_stepper(
    x: ArrayLike | None = None, w: ArrayLike | None = None
) -> SlidingWindowStepper:
    """A slider over the output positions, with stride and padding controls.

    ``x`` is an (H, W) input and ``w`` a (KH, KW) kernel; both default to
    ``data.classic_example()``.
    """
    return SlidingWindowStepper(x, w)


class DigitCanvas(widgets.VBox):
    """Draw a digit on a grid of toggle cells, press Predict, see the probabilities.

    ``model`` is a trained network (a :class:`cnnlab.nn.Sequential`) that
    takes (N, 1, H, W) images and returns probabilities. A cell that is on is
    ink of intensity 1, off is 0; the image is normalised as
    ``(pixel - mean) / std`` before the model sees it, with the statistics of
    its training data (:func:`cnnlab.data.digits_mean_std`). Attributes:
    ``cells`` (H x W list of ToggleButtons), ``predict_button``,
    ``clear_button``, ``status``, ``probs`` (the last prediction, or None).
    """

    def __init__(
        self,
        model: Callable[[np.ndarray], ArrayLike],
        mean: float = 0.0,
        std: float = 1.0,
        size: int = 8,
    ) -> None:
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

    def set_image(self, image: ArrayLike) -> None:
        """Switch on the cells where the (H, W) ``image`` is above one half.

        For example, to start from a real digit of ``data.load_digits_images()``.
        """
        image = np.asarray(image)
        shape = (len(self.cells), len(self.cells[0]))
        if image.shape != shape:
            raise ValueError(f"image must have shape {shape}, got {image.shape}")
        for row, values in zip(self.cells, image, strict=True):
            for cell, value in zip(row, values, strict=True):
                cell.value = bool(value > 0.5)

    def _on_cell(self, change: dict[str, Any]) -> None:
        change["owner"].button_style = "info" if change["new"] else ""
        self.status.value = f"{int(self.image.sum())} cells drawn. Press Predict."

    def clear(self) -> None:
        """Switch every cell off."""
        for row in self.cells:
            for cell in row:
                cell.value = False

    def predict(self) -> np.ndarray:
        """Run the model on the drawing, redraw the bars, return the probabilities."""
        image = self.image
        x = ((image - self.mean) / self.std)[None, None].astype(np.float32)
        self.probs = np.asarray(self.model(x))[0]
        best = int(self.probs.argmax())
        self.status.value = f"Predicted {best} with probability {self.probs[best]:.0%}."
        _show(self.figure_area, plots.digit_probabilities_figure(image, self.probs))
        return self.probs


def digit_canvas(
    model: Callable[[np.ndarray], ArrayLike], mean: float = 0.0, std: float = 1.0
) -> DigitCanvas:
    """An 8x8 grid of toggle cells to draw a digit on, and a Predict button.

    Predict shows the class probabilities as bars
    (``plots.digit_probabilities_figure``). Pass the ``mean`` and ``std`` the
    training images were normalised with, e.g.
    ``digit_canvas(model, *cnnlab.data.digits_mean_std())``.
    """
    return DigitCanvas(model, mean, std)
