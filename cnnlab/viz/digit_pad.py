"""A digit pad that runs a trained network in the reader's browser.

The widget of :func:`cnnlab.viz.widgets.digit_canvas` asks Python for every
prediction, so on the published book it cannot answer. :func:`digit_pad`
writes the network into the page instead: its weights, taken from the model the
chapter just trained, and a forward pass in plain JavaScript (conv, ReLU, max
pooling, linear, softmax: the loops of cnnlab's Python reference, one image at
a time). The reader draws with the mouse or a finger, and sees the ten
probabilities and the feature maps after each layer.

A drawing is prepared as scikit-learn's digits were (the UCI "optdigits" set):
the digit is scaled so that its longer side fills a 32x32 bitmap and centred,
drawn with a pen about as wide as the data set's strokes, cut to ink or paper,
and the ink pixels of each 4x4 block are counted, which gives 8x8 gray levels
from 0 to 16. Then it is normalised with the training data's mean and standard
deviation, as the training images were.

Without scripts the pad is a still figure: a test digit and the probabilities
cnnlab computed for it.
"""

from __future__ import annotations

import base64
import html
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cnnlab import data
from cnnlab.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Softmax
from cnnlab.viz import plots
from cnnlab.viz.frames import embed_json, encode_figure

__all__ = ["DigitPad", "digit_pad", "network_spec"]

_SCRIPT = Path(__file__).with_name("digit_pad.js").read_text(encoding="utf-8")

PEN = 0.22
"""The pen's width as a fraction of the 32x32 bitmap, about 7 pixels. The data
set's strokes are that thick: its 1s have ink in about 5 of the 8 columns. With
a pen half as wide, the chapter's network read a drawn 1 with a flag as a 3."""


def _floats(array: np.ndarray) -> list[float]:
    # float32 weights as the float64 numbers they are exactly: the page computes in
    # float64, so its only rounding is its own
    return [float(v) for v in np.asarray(array, dtype=np.float64).ravel()]


def network_spec(model: Sequential) -> list[dict[str, Any]]:
    """The model's layers as JSON-ready dicts, weights included, for the page.

    Only the layers of a LeNet-style network are written: Conv2d, ReLU,
    MaxPool2d, Flatten, Linear and a final Softmax.
    """
    spec: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for layer in model.layers:
        kind = {
            Conv2d: "conv",
            ReLU: "relu",
            MaxPool2d: "maxpool",
            Flatten: "flatten",
            Linear: "linear",
            Softmax: "softmax",
        }.get(type(layer))
        if kind is None:
            raise ValueError(
                f"the digit pad runs conv, ReLU, max pooling, flatten, linear and "
                f"softmax layers; the model has {layer!r}"
            )
        counts[kind] = counts.get(kind, 0) + 1
        entry: dict[str, Any] = {"type": kind, "name": f"{kind} {counts[kind]}"}
        if isinstance(layer, (Conv2d, Linear)):
            weights = layer.params["w"]
            entry.update(
                shape=list(weights.shape),
                w=_floats(weights),
                b=_floats(layer.params["b"]),
            )
        if isinstance(layer, Conv2d):
            entry.update(stride=list(layer.stride), padding=list(layer.padding))
        if isinstance(layer, MaxPool2d):
            entry.update(size=list(layer.kernel_size), stride=list(layer.stride))
        spec.append(entry)
    if not spec or spec[-1]["type"] != "softmax":
        raise ValueError("the digit pad needs a model that ends with Softmax")
    return spec


class DigitPad:
    """The pad as one self-contained HTML output (see the module's docstring).

    ``examples`` are (N, 8, 8) test digits with gray levels 0 to 16 and their
    ``labels``: buttons that put them on the pad, and the first is the still
    figure shown without scripts.
    """

    def __init__(
        self,
        model: Sequential,
        mean: float,
        std: float,
        examples: ArrayLike,
        labels: Sequence[int],
    ) -> None:
        if model.input_shape != (1, 8, 8):
            raise ValueError(
                "the digit pad draws 8x8 digits of one channel, as scikit-learn's; "
                f"the model takes {model.input_shape}"
            )
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std!r}")
        examples = np.asarray(examples)
        if examples.ndim != 3 or examples.shape[1:] != (8, 8) or len(examples) < 1:
            raise ValueError(
                f"examples must be (N, 8, 8) gray levels, N >= 1; got {examples.shape}"
            )
        if len(labels) != len(examples):
            raise ValueError(f"{len(labels)} labels for {len(examples)} examples")
        if examples.min() < 0 or examples.max() > data.MAX_PIXEL:
            raise ValueError(
                f"examples must be gray levels 0 to {data.MAX_PIXEL:g}, got "
                f"{examples.min():g} to {examples.max():g}"
            )
        self.model, self.mean, self.std = model, float(mean), float(std)
        self.examples = examples.astype(np.float64)
        self.labels = [int(k) for k in labels]
        self.layers = network_spec(model)
        self.spec: dict[str, Any] = {
            "size": 8,
            "max_pixel": data.MAX_PIXEL,
            "mean": self.mean,
            "std": self.std,
            "pen": PEN,
            "stroke": 0.07,  # the drawn line, as a fraction of the pad's width
            "layers": self.layers,
            "examples": [
                {"label": label, "pixels": _floats(pixels)}
                for pixels, label in zip(self.examples, self.labels, strict=True)
            ],
        }
        self._html = self._render()

    def probabilities(self, pixels: ArrayLike) -> np.ndarray:
        """cnnlab's probabilities for (N, 8, 8) gray levels 0 to 16: the page's twin."""
        pixels = np.asarray(pixels, dtype=np.float32).reshape(-1, 1, 8, 8)
        x = (pixels / data.MAX_PIXEL - self.mean) / self.std
        return np.asarray(self.model(x.astype(np.float32)))

    def _still(self) -> str:
        pixels, label = self.examples[0], self.labels[0]
        probs = self.probabilities(pixels)[0]
        title = f"A test digit, labelled {label}: read as {int(probs.argmax())}"
        image = pixels / data.MAX_PIXEL
        fig = plots.digit_probabilities_figure(image, probs, title=title)
        png = base64.b64encode(encode_figure(fig, dpi=60)).decode()
        alt = (
            f"A test digit labelled {label} in 8 x 8 gray pixels, and a bar chart of "
            f"the probability the network gives each class; the highest is "
            f"{int(probs.argmax())}, {probs.max():.0%}."
        )
        return f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt)}">'

    def _render(self) -> str:
        element_id = "cnnlab-pad-" + secrets.token_hex(6)
        payload = embed_json(self.spec)
        return (
            f'<div class="cnnlab-pad" id="{element_id}">'
            f'<div class="cnnlab-pad-still">{self._still()}</div>'
            '<div class="cnnlab-pad-live" hidden>'
            '<div style="display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start">'
            "<div>"
            '<canvas class="cnnlab-pad-draw" width="256" height="256" '
            'aria-label="a drawing pad: draw a digit with the mouse or a finger" '
            'style="width:256px;height:256px;border:1px solid #888;'
            'touch-action:none;cursor:crosshair;background:#fff"></canvas>'
            '<div><button type="button" class="cnnlab-pad-clear">Clear</button> '
            '<span class="cnnlab-pad-examples"></span></div></div>'
            '<div><p class="cnnlab-pad-verdict"></p>'
            '<div class="cnnlab-pad-bars" style="font-family:monospace"></div></div>'
            "</div>"
            '<div class="cnnlab-pad-maps" style="margin-top:0.8em;font-size:0.9em">'
            "</div></div>"
            f'<script type="application/json" class="cnnlab-pad-data">{payload}'
            f"</script><script>{_SCRIPT.replace('ELEMENT_ID', element_id)}</script>"
            "</div>"
        )

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        layers = " -> ".join(layer["type"] for layer in self.layers)
        return f"<DigitPad: {layers}; {len(self.labels)} test digits>"


def digit_pad(
    model: Sequential,
    mean: float,
    std: float,
    examples: ArrayLike,
    labels: Sequence[int],
) -> DigitPad:
    """A pad to draw a digit on, read by ``model`` in the browser.

    ``mean`` and ``std`` are the training data's (``data.digits_mean_std()``);
    ``examples`` are a few (N, 8, 8) test digits in gray levels 0 to 16, with
    their ``labels``.
    """
    return DigitPad(model, mean, std, examples, labels)
