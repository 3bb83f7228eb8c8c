"""The Numba backend: the loops of the Python reference, compiled to machine code.

:mod:`.forward` and :mod:`.backward` hold the public operators: each validates
its arguments, prepares contiguous arrays and calls compiled code. The
compiled kernels live in :mod:`.kernels`, one module per kernel family, and
:mod:`.chooser` holds the static table of which kernel runs for which input;
:mod:`.tuner` races the convolution kernels (by name in :mod:`.conv_kernels`) on
the reader's machine and remembers the fastest.
"""

from cnnlab.backends.numba.backward import (
    avg_pool2d_backward,
    conv2d_backward,
    linear_backward,
    max_pool2d_backward,
    relu_backward,
    softmax_cross_entropy,
)
from cnnlab.backends.numba.forward import (
    avg_pool2d,
    conv2d,
    linear,
    max_pool2d,
    relu,
    softmax,
)

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward",
    "linear",
    "linear_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "relu",
    "relu_backward",
    "softmax",
    "softmax_cross_entropy",
]
