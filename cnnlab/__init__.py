"""cnnlab: the helper package of the cnnlab book.

The same CNN operators exist on three backends, one per rung of the book's ladder:
``python`` (plain loops, the reference), ``numpy`` (vectorized) and ``numba``
(JIT-compiled). Each backend (:mod:`cnnlab.backends`) exposes ``conv2d``,
``max_pool2d``, ``avg_pool2d``, ``relu``, ``linear`` and ``softmax`` with the same
signatures, and their ``*_backward`` twins, so code can loop over :data:`BACKENDS`::

    import cnnlab
    for name in cnnlab.BACKENDS:
        y = cnnlab.backend(name).conv2d(x, w, padding=1)
"""

from __future__ import annotations

# The thread policy must reach the environment before NumPy loads (see cnnlab.threads).
from cnnlab import threads

threads._record_import_time()

from cnnlab.backends import BACKENDS, backend  # noqa: E402
from cnnlab.validation import output_size  # noqa: E402

__version__ = "0.1.0"

__all__ = ["BACKENDS", "backend", "output_size", "__version__"]
