"""The plain reference: every operator as nested Python loops over lists.

This is the bottom rung of the ladder. It converts arrays to nested lists at
its edges and does all arithmetic in pure Python, one multiply-add at a time,
so that every faster backend has something obvious to be checked against.
It is slow on purpose: chapter 2 measures what each multiply-add costs.
"""
from __future__ import annotations

import math

import numpy as np

from .checks import check_conv2d, check_elementwise, check_linear, check_pool2d, check_softmax


def conv2d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """2-D cross-correlation, the operation deep-learning libraries call convolution.

    x is (N, C, H, W), w is (F, C, KH, KW) and b is (F,) or None; the result
    is (N, F, OH, OW) with ``OH = (H + 2*ph - KH) // sh + 1``. Same semantics
    as ``torch.nn.functional.conv2d`` (LeCun et al. 1998).
    """
    args = check_conv2d(x, w, b, stride, padding)
    (sh, sw), (ph, pw) = args.stride, args.padding
    n_batch, n_filters, out_h, out_w = args.out_shape
    _, channels, height, width = args.x.shape
    _, _, kh, kw = args.w.shape
    xs, ws = args.x.tolist(), args.w.tolist()
    bs = args.b.tolist() if args.b is not None else [0.0] * n_filters

    out = []
    for n in range(n_batch):
        maps = []
        for f in range(n_filters):
            rows = []
            for i in range(out_h):
                row = []
                for j in range(out_w):
                    acc = bs[f]
                    for c in range(channels):
                        for di in range(kh):
                            r = i * sh + di - ph
                            for dj in range(kw):
                                col = j * sw + dj - pw
                                inside = 0 <= r < height and 0 <= col < width
                                # A tap on the padding adds 0 * w: NaN if w is inf or NaN, as in PyTorch.
                                acc += (xs[n][c][r][col] if inside else 0.0) * ws[f][c][di][dj]
                    row.append(acc)
                rows.append(row)
            maps.append(rows)
        out.append(maps)
    return np.array(out, dtype=args.dtype).reshape(args.out_shape)


def _pool2d(x, kernel_size, stride, reduce) -> np.ndarray:
    """Apply ``reduce(window, dtype)`` to each window, a list of Python floats in row-major order."""
    args = check_pool2d(x, kernel_size, stride)
    (kh, kw), (sh, sw) = args.kernel_size, args.stride
    n_batch, channels, out_h, out_w = args.out_shape
    xs = args.x.tolist()
    out = [
        [
            [
                [
                    reduce([xs[n][c][i * sh + di][j * sw + dj] for di in range(kh) for dj in range(kw)], args.x.dtype)
                    for j in range(out_w)
                ]
                for i in range(out_h)
            ]
            for c in range(channels)
        ]
        for n in range(n_batch)
    ]
    return np.array(out, dtype=args.x.dtype).reshape(args.out_shape)


def _max(window: list, dtype: np.dtype) -> float:
    """PyTorch's maximum: in order, a value replaces the running maximum when greater or NaN.

    So a window that holds a NaN has maximum NaN; builtin ``max`` would keep
    a number over a NaN that comes after it.
    """
    best = window[0]
    for value in window:
        if value > best or value != value:
            best = value
    return best


def max_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Maximum over each kernel_size window; x (N, C, H, W), floor mode, no padding."""
    return _pool2d(x, kernel_size, stride, _max)


def avg_pool2d(x, kernel_size, stride=None) -> np.ndarray:
    """Mean over each kernel_size window; x (N, C, H, W), floor mode, no padding.

    The sum runs in x's dtype, in window order, then is divided, as in
    PyTorch: float32 values near 3e38 overflow to inf here as on every backend.
    """
    with np.errstate(over="ignore"):  # an overflow is inf, as in PyTorch; no warning
        return _pool2d(x, kernel_size, stride, _mean)


def _mean(window: list, dtype: np.dtype) -> float:
    """Sum in ``dtype`` (numpy scalars round each float32 sum, Python floats are float64), then divide."""
    real = dtype.type if dtype == np.float32 else float
    total = real(0)
    for value in window:
        total = total + real(value)
    return total / real(len(window))


def relu(x) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    x = check_elementwise(x)
    flat = [0.0 if v <= 0.0 else v for v in x.ravel().tolist()]  # NaN stays NaN, as in NumPy
    return np.array(flat, dtype=x.dtype).reshape(x.shape)


def linear(x, w, b=None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in), b (out,)."""
    args = check_linear(x, w, b)
    xs, ws = args.x.tolist(), args.w.tolist()
    bs = args.b.tolist() if args.b is not None else [0.0] * len(ws)
    out = [[bs[o] + sum(xi * wi for xi, wi in zip(row, ws[o])) for o in range(len(ws))] for row in xs]
    return np.array(out, dtype=args.dtype)


def softmax(x, axis=-1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, stable for large logits.

    Subtracting the maximum first leaves the result unchanged but keeps
    ``exp`` from overflowing (Goodfellow et al. 2016, section 4.1).
    """
    x, axis = check_softmax(x, axis)
    moved = np.moveaxis(x, axis, -1)
    rows = []
    for row in moved.reshape(-1, moved.shape[-1]).tolist():
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        rows.append([e / total for e in exps])
    return np.ascontiguousarray(np.moveaxis(np.array(rows, dtype=x.dtype).reshape(moved.shape), -1, axis))
from .grad_python import conv2d_backward, max_pool2d_backward, avg_pool2d_backward, relu_backward, linear_backward, softmax_cross_entropy  # noqa: E402,F401
