"""Figures that respond to their controls on a page with no Python behind it.

A widget redraws its figure by running Python, so on the published book, where
no kernel runs, its controls move and the figure stays as it was. A
:class:`ResponsiveFigure` draws the figure for every setting of its controls
ahead, when the notebook executes, and shows as one HTML output: the frames as
inline PNG or JPEG images, the controls, and a few lines of script that put up the
frame of the current setting. Nothing is fetched, so it works the same in the
built book, JupyterLab, nbviewer and Colab; with scripts off the reader sees
the first frame, a plain image with its alt text, and no controls that do
nothing.

Only discrete controls can be drawn ahead: a dropdown (``"select"``) or a
slider over a list of values (``"slider"``). A slider's range may depend on the
other controls (the positions of a sliding window depend on its stride):
``valid`` leaves out the settings that do not exist, and the page keeps each
slider within the values that have a frame.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["Control", "ResponsiveFigure", "embed_json", "encode_figure"]

MAX_FRAMES = 400
"""Most frames one figure may hold: each is drawn when the notebook executes."""

MAX_BYTES = 3 << 20
"""Most bytes of one figure's HTML, frames included: a page stays light to load."""

_SCRIPT = (Path(__file__).with_name("frames.js")).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Control:
    """One control of a responsive figure: the draw function's keyword ``name``,
    the ``values`` it takes, shown to the reader as ``labels`` (default: the
    values as text), under ``label`` (default: ``name``)."""

    name: str
    values: Sequence[Any]
    kind: Literal["select", "slider"] = "select"
    label: str | None = None
    labels: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("select", "slider"):
            raise ValueError(
                f"control {self.name!r}: kind must be 'select' or "
                f"'slider', got {self.kind!r}"
            )
        if len(self.values) == 0:
            raise ValueError(f"control {self.name!r} has no values")
        if self.labels is not None and len(self.labels) != len(self.values):
            raise ValueError(
                f"control {self.name!r}: {len(self.labels)} labels for "
                f"{len(self.values)} values"
            )

    def text(self, index: int) -> str:
        """What the reader sees for value number ``index``."""
        if self.labels is not None:
            return str(self.labels[index])
        return str(self.values[index])


def encode_figure(fig: Figure, dpi: float, image_format: str = "png") -> bytes:
    """The figure as PNG or JPEG bytes, the same bytes for the same figure on
    every run (no time stamp or software version written in)."""
    buffer = io.BytesIO()
    if image_format == "png":
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    else:
        fig.savefig(buffer, format="jpeg", dpi=dpi, pil_kwargs={"quality": 85})
    plt.close(fig)
    return buffer.getvalue()


def embed_json(data: Any) -> str:
    """``data`` as JSON to place inside a ``<script>`` element: compact, and with
    no ``</`` that could end the element early."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


class ResponsiveFigure:
    """Every setting of ``controls`` drawn ahead, shown as self-contained HTML.

    ``draw(**setting)`` returns a matplotlib Figure for one setting, a dict
    from each control's name to one of its values. ``alt`` is the alt text,
    one string or a function of the setting. ``valid(**setting)``, if given,
    says which settings exist. The first setting (every control at its first
    value that is valid) is the frame shown without scripts. ``image_format``
    is ``"png"`` (sharp lines and text) or ``"jpeg"`` (photographs: a fifth of
    the bytes).
    """

    def __init__(
        self,
        draw: Callable[..., Figure],
        controls: Sequence[Control],
        alt: str | Callable[..., str],
        valid: Callable[..., bool] | None = None,
        dpi: float = 60,
        image_format: Literal["png", "jpeg"] = "png",
    ) -> None:
        if image_format not in ("png", "jpeg"):
            raise ValueError(
                f"image_format must be 'png' or 'jpeg', got {image_format!r}"
            )
        self.mime = f"image/{image_format}"
        if not controls:
            raise ValueError("a responsive figure needs at least one control")
        names = [control.name for control in controls]
        if len(set(names)) != len(names):
            raise ValueError(f"control names repeat: {names}")
        self.controls = tuple(controls)
        combinations = 1
        for control in self.controls:
            combinations *= len(control.values)
        if combinations > 4 * MAX_FRAMES:
            raise ValueError(
                f"{combinations} combinations of controls: too many to draw ahead "
                f"(at most {MAX_FRAMES} frames); offer fewer values"
            )
        self.keys: list[tuple[int, ...]] = [
            key
            for key in itertools.product(*(range(len(c.values)) for c in controls))
            if valid is None or valid(**self.setting(key))
        ]
        if not self.keys:
            raise ValueError("no setting of the controls is valid")
        if len(self.keys) > MAX_FRAMES:
            raise ValueError(
                f"{len(self.keys)} frames to draw: more than {MAX_FRAMES}; offer "
                "fewer values"
            )
        self.images: list[bytes] = []  # distinct frames
        self.frame_of: dict[tuple[int, ...], int] = {}  # key -> index in images
        self.alts: dict[tuple[int, ...], str] = {}
        seen: dict[bytes, int] = {}
        for key in self.keys:
            setting = self.setting(key)
            image = encode_figure(draw(**setting), dpi, image_format)
            self.frame_of[key] = seen.setdefault(image, len(seen))
            if len(seen) > len(self.images):
                self.images.append(image)
            self.alts[key] = alt(**setting) if callable(alt) else alt
        self._html = self._render()
        if len(self._html) > MAX_BYTES:
            raise ValueError(
                f"{len(self.images)} frames make {len(self._html) / 1e6:.1f} MB of "
                f"HTML, more than {MAX_BYTES / 1e6:.1f} MB: offer fewer values or "
                "draw smaller figures"
            )

    def setting(self, key: Sequence[int]) -> dict[str, Any]:
        """The draw function's keywords for a key of value indices."""
        return {c.name: c.values[i] for c, i in zip(self.controls, key, strict=True)}

    def frame(self, **setting: Any) -> bytes:
        """The image bytes drawn for ``setting`` (every control's value)."""
        key = tuple(
            list(control.values).index(setting[control.name])
            for control in self.controls
        )
        if key not in self.frame_of:
            raise ValueError(f"no frame for {setting}: not a valid setting")
        return self.images[self.frame_of[key]]

    @property
    def nbytes(self) -> int:
        """The size of the HTML output, frames included, in bytes."""
        return len(self._html.encode())

    def _render(self) -> str:
        element_id = "cnnlab-frames-" + secrets.token_hex(6)
        first = self.keys[0]
        controls = "".join(
            _control_html(control, index)
            for control, index in zip(self.controls, first, strict=True)
        )
        data = {
            "frames": {",".join(map(str, k)): i for k, i in self.frame_of.items()},
            "alts": {",".join(map(str, k)): a for k, a in self.alts.items()},
            "mime": self.mime,
            "images": [base64.b64encode(image).decode() for image in self.images],
        }
        payload = embed_json(data)
        first_image = base64.b64encode(self.images[self.frame_of[first]]).decode()
        return (
            f'<div class="cnnlab-frames" id="{element_id}">'
            f'<div class="cnnlab-frames-controls" hidden>{controls}</div>'
            f'<img src="data:{self.mime};base64,{first_image}" '
            f'alt="{html.escape(self.alts[first])}" '
            f'data-key="{",".join(map(str, first))}" style="max-width:100%">'
            f'<script type="application/json" class="cnnlab-frames-data">{payload}'
            f"</script><script>{_SCRIPT.replace('ELEMENT_ID', element_id)}</script>"
            "</div>"
        )

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        names = ", ".join(control.name for control in self.controls)
        return (
            f"<ResponsiveFigure: {len(self.keys)} settings of {names}, "
            f"{len(self.images)} frames, {self.nbytes / 1e6:.2f} MB>"
        )


def _control_html(control: Control, selected: int) -> str:
    """One labelled control; a slider keeps its values' labels in ``data-texts``."""
    label = html.escape(control.label or control.name)
    name = html.escape(control.name)
    if control.kind == "select":
        options = "".join(
            f'<option value="{i}"{" selected" if i == selected else ""}>'
            f"{html.escape(control.text(i))}</option>"
            for i in range(len(control.values))
        )
        field = f'<select data-control="{name}">{options}</select>'
    else:
        texts = html.escape(
            json.dumps([control.text(i) for i in range(len(control.values))])
        )
        field = (
            f'<input type="range" data-control="{name}" min="0" '
            f'max="{len(control.values) - 1}" step="1" value="{selected}" '
            f'data-texts="{texts}"> '
            f"<output>{html.escape(control.text(selected))}</output>"
        )
    return (
        '<label style="margin-right:1.5em;display:inline-block">'
        f"{label} {field}</label>"
    )
