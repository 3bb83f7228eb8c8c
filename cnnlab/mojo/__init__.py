"""The Mojo rungs of conv2d, when the ``mojo`` package is installed.

:func:`available` says whether they can run here, and :data:`REASON` why not
(one line, for a page to print instead of a traceback). The kernels are Mojo
sources in ``kernels/``, built on first use by :mod:`cnnlab.mojo.build`
into cnnlab's cache folder; :mod:`cnnlab.mojo.conv` calls them on NumPy arrays.
:func:`source` returns the text of one of them, to show on a page (it needs
no compiler).
"""

from __future__ import annotations

import importlib.util
import platform
import sys

from cnnlab.mojo.listing import source

__all__ = ["available", "REASON", "source"]


def _reason() -> str:
    """Why the Mojo kernels cannot run here, or "" if they can."""
    if sys.platform == "win32":
        return "Mojo has no Windows wheels (use WSL)"
    if importlib.util.find_spec("mojo") is None:
        return "the mojo package is not installed (pip install mojo)"
    if importlib.util.find_spec("mojo.run") is None:
        return f"this mojo package has no compiler for {platform.machine()}"
    return ""


REASON = _reason()
"""One line saying why the Mojo kernels cannot run here; "" when they can."""


def available() -> bool:
    """True if the mojo package (with its compiler) is installed."""
    return not REASON
