"""The contract every backend meets, written down as a typed Protocol.

A backend is one module (or package) that has every operator of :class:`Backend`,
with the same signature. ``tests/test_backend_protocol.py`` checks each name in
:data:`cnnlab.BACKENDS` against it, and mypy checks the assignment at the bottom of
this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import ArrayLike

from cnnlab.validation import PairLike


class Backend(Protocol):
    """The operators of one rung of the ladder, forward and backward.

    The contract, for every operator of every backend:

    * **PyTorch's semantics.** Each operator computes what its
      ``torch.nn.functional`` namesake computes (convolution is cross-correlation,
      pooling uses floor mode and no padding), NaN and inf included: a window that
      holds a NaN has maximum NaN and sends its gradient to its last NaN, a mean is
      summed in the data's dtype and then divided, and a convolution multiplies the
      zeros it pads with (0 * inf is NaN).
    * **Validate first.** Every argument is checked by :mod:`cnnlab.validation`
      before any loop or compiled kernel runs, so a bad argument raises the same
      TypeError or ValueError, with the same message, on every backend.
    * **Inputs are never modified**, not even temporarily.
    * **dtypes.** Integers and booleans are computed as float64; the result is
      float32 when every array argument is float32, and float64 otherwise.

    Shapes: x (N, C, H, W) and w (F, C, KH, KW) for convolution and pooling, x
    (N, in) and w (out, in) for ``linear``; ``dy`` has the shape of the forward
    output, and each ``*_backward`` returns the gradients of the forward inputs.
    """

    def conv2d(
        self,
        x: ArrayLike,
        w: ArrayLike,
        b: ArrayLike | None = None,
        stride: PairLike = 1,
        padding: PairLike = 0,
    ) -> np.ndarray:
        """2-D cross-correlation: x (N, C, H, W), w (F, C, KH, KW) -> (N, F, OH, OW)."""
        ...

    def max_pool2d(
        self, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
    ) -> np.ndarray:
        """Maximum over each window; stride defaults to kernel_size."""
        ...

    def avg_pool2d(
        self, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
    ) -> np.ndarray:
        """Mean over each window; stride defaults to kernel_size."""
        ...

    def relu(self, x: ArrayLike) -> np.ndarray:
        """max(x, 0) elementwise, any shape; NaN stays NaN."""
        ...

    def linear(
        self, x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None
    ) -> np.ndarray:
        """``x @ w.T + b``: (N, in) -> (N, out)."""
        ...

    def softmax(self, x: ArrayLike, axis: int = -1) -> np.ndarray:
        """exp(x) / sum(exp(x)) along ``axis``, stable for large values."""
        ...

    def conv2d_backward(
        self,
        dy: ArrayLike,
        x: ArrayLike,
        w: ArrayLike,
        stride: PairLike = 1,
        padding: PairLike = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dx, dw, db) of ``conv2d`` for dy (N, F, OH, OW)."""
        ...

    def max_pool2d_backward(
        self,
        dy: ArrayLike,
        x: ArrayLike,
        kernel_size: PairLike,
        stride: PairLike | None = None,
    ) -> np.ndarray:
        """dx of ``max_pool2d``: each window's dy goes to its first maximum."""
        ...

    def avg_pool2d_backward(
        self,
        dy: ArrayLike,
        x: ArrayLike,
        kernel_size: PairLike,
        stride: PairLike | None = None,
    ) -> np.ndarray:
        """dx of ``avg_pool2d``: each window's dy is shared equally."""
        ...

    def relu_backward(self, dy: ArrayLike, x: ArrayLike) -> np.ndarray:
        """dx of ``relu``: zero where x <= 0, dy elsewhere (also at NaN)."""
        ...

    def linear_backward(
        self, dy: ArrayLike, x: ArrayLike, w: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dx, dw, db) of ``linear`` for dy (N, out)."""
        ...

    def softmax_cross_entropy(
        self, logits: ArrayLike, labels: ArrayLike
    ) -> tuple[np.floating, np.ndarray]:
        """Mean cross-entropy of softmax(logits) (N, K) against labels (N,); dlogits."""
        ...


OPERATORS = tuple(name for name in vars(Backend) if not name.startswith("_"))
"""The names of the operators every backend has, in the order above."""


if TYPE_CHECKING:
    # mypy checks that each backend module meets the Protocol; at run time this is
    # skipped, so importing the protocol never loads Numba.
    from cnnlab.backends import numba as numba_backend
    from cnnlab.backends import numpy as numpy_backend
    from cnnlab.backends import python as python_backend

    _BACKENDS: tuple[Backend, ...] = (python_backend, numpy_backend, numba_backend)
