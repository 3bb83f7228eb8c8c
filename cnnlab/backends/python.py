"""The plain reference: every operator as nested Python loops over lists.

This is the bottom rung of the ladder. It converts arrays to nested lists at
its edges and does all arithmetic in pure Python, one multiply-add at a time,
so that every faster backend has something obvious to be checked against.
It is slow on purpose: chapter 2 measures what each multiply-add costs.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from cnnlab.validation import (
    PairLike,
    validate_conv2d,
    validate_conv2d_backward,
    validate_elementwise,
    validate_linear,
    validate_linear_backward,
    validate_pool2d,
    validate_pool2d_backward,
    validate_relu_backward,
    validate_softmax,
    validate_softmax_cross_entropy,
)


def conv2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: PairLike = 1,
    padding: PairLike = 0,
) -> np.ndarray:
    """2-D cross-correlation, the operation deep-learning libraries call convolution.

    x is (N, C, H, W), w is (F, C, KH, KW) and b is (F,) or None; the result
    is (N, F, OH, OW) with ``OH = (H + 2*ph - KH) // sh + 1``. Same semantics
    as ``torch.nn.functional.conv2d`` (LeCun et al. 1998).
    """
    args = validate_conv2d(x, w, b, stride, padding)
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
                                # A tap on the padding adds 0 * w: NaN if w is inf or
                                # NaN, as in PyTorch.
                                value = xs[n][c][r][col] if inside else 0.0
                                acc += value * ws[f][c][di][dj]
                    row.append(acc)
                rows.append(row)
            maps.append(rows)
        out.append(maps)
    return np.array(out, dtype=args.dtype).reshape(args.out_shape)


def _pool2d(x, kernel_size, stride, reduce) -> np.ndarray:
    """Apply ``reduce(window, dtype)`` to each window, a row-major list of floats."""
    args = validate_pool2d(x, kernel_size, stride)
    (kh, kw), (sh, sw) = args.kernel_size, args.stride
    n_batch, channels, out_h, out_w = args.out_shape
    xs = args.x.tolist()
    out = [
        [
            [
                [
                    reduce(
                        [
                            xs[n][c][i * sh + di][j * sw + dj]
                            for di in range(kh)
                            for dj in range(kw)
                        ],
                        args.x.dtype,
                    )
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
    """PyTorch's maximum: a value replaces the running maximum when greater or NaN.

    So a window that holds a NaN has maximum NaN; builtin ``max`` would keep
    a number over a NaN that comes after it.
    """
    best = window[0]
    for value in window:
        if value > best or value != value:
            best = value
    return best


def max_pool2d(
    x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Maximum over each kernel_size window; x (N, C, H, W), floor mode, no padding."""
    return _pool2d(x, kernel_size, stride, _max)


def avg_pool2d(
    x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Mean over each kernel_size window; x (N, C, H, W), floor mode, no padding.

    The sum runs in x's dtype, in window order, then is divided, as in
    PyTorch: float32 values near 3e38 overflow to inf here as on every backend.
    """
    with np.errstate(over="ignore"):  # an overflow is inf, as in PyTorch; no warning
        return _pool2d(x, kernel_size, stride, _mean)


def _mean(window: list, dtype: np.dtype) -> float:
    """Sum in ``dtype``, then divide.

    NumPy scalars round each float32 sum; Python floats are float64.
    """
    real = dtype.type if dtype == np.float32 else float
    total = real(0)
    for value in window:
        total = total + real(value)
    return total / real(len(window))


def relu(x: ArrayLike) -> np.ndarray:
    """max(x, 0) elementwise, any shape."""
    x = validate_elementwise(x)
    # NaN stays NaN, as in NumPy
    flat = [0.0 if v <= 0.0 else v for v in x.ravel().tolist()]
    return np.array(flat, dtype=x.dtype).reshape(x.shape)


def linear(x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``; x (N, in), w (out, in), b (out,)."""
    args = validate_linear(x, w, b)
    xs, ws = args.x.tolist(), args.w.tolist()
    bs = args.b.tolist() if args.b is not None else [0.0] * len(ws)
    out = [
        [
            bs[o] + sum(xi * wi for xi, wi in zip(row, ws[o], strict=True))
            for o in range(len(ws))
        ]
        for row in xs
    ]
    return np.array(out, dtype=args.dtype)


def softmax(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, stable for large logits.

    Subtracting the maximum first leaves the result unchanged but keeps
    ``exp`` from overflowing (Goodfellow et al. 2016, section 4.1).
    """
    x, axis = validate_softmax(x, axis)
    moved = np.moveaxis(x, axis, -1)
    rows = []
    for row in moved.reshape(-1, moved.shape[-1]).tolist():
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        rows.append([e / total for e in exps])
    return np.ascontiguousarray(
        np.moveaxis(np.array(rows, dtype=x.dtype).reshape(moved.shape), -1, axis)
    )


# ---------------------------------------------------------------------------
# Backward operators, for training: the same nested lists, and every multiply-add
# is one Python statement. Each loop nest is the forward loop nest read backwards
# (Rumelhart et al. 1986): wherever the forward pass read an input ``a`` to add
# ``a * b`` into an output ``y``, the backward pass adds ``dy * b`` into ``da``.
# Same functions, signatures and argument checks as the other backends, which the
# tests compare them with. Slow on purpose: chapter 11 times one batch of training
# with them.


def _zeros(*shape: int) -> list:
    """Nested lists of zeros of the given shape."""
    if len(shape) == 1:
        return [0.0] * shape[0]
    return [_zeros(*shape[1:]) for _ in range(shape[0])]


def conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    stride: PairLike = 1,
    padding: PairLike = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``conv2d`` for dy (N, F, OH, OW): dx (N, C, H, W), dw and db.

    The loops of the forward pass: output (n, f, i, j) read input
    (n, c, i*sh + di - ph, j*sw + dj - pw) times w[f, c, di, dj], so its
    gradient g adds g * x into dw and g * w into dx at the same places.
    Taps on the zero padding add g * 0 into dw (NaN if g is inf or NaN, as
    in PyTorch) and send nothing to dx, which has no padding.
    """
    dy, args = validate_conv2d_backward(dy, x, w, stride, padding)
    (sh, sw), (ph, pw) = args.stride, args.padding
    n_batch, channels, height, width = args.x.shape
    n_filters, _, kh, kw = args.w.shape
    out_h, out_w = dy.shape[2:]
    dys, xs, ws = dy.tolist(), args.x.tolist(), args.w.tolist()
    dx, dw, db = _zeros(*args.x.shape), _zeros(*args.w.shape), [0.0] * n_filters

    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(out_h):
                for j in range(out_w):
                    g = dys[n][f][i][j]
                    db[f] += g
                    for c in range(channels):
                        for di in range(kh):
                            r = i * sh + di - ph
                            for dj in range(kw):
                                col = j * sw + dj - pw
                                if 0 <= r < height and 0 <= col < width:
                                    dw[f][c][di][dj] += g * xs[n][c][r][col]
                                    dx[n][c][r][col] += g * ws[f][c][di][dj]
                                else:  # a padding zero: g * 0, NaN if g is inf or NaN
                                    dw[f][c][di][dj] += g * 0.0
    dtype = args.dtype
    return (
        np.array(dx, dtype).reshape(args.x.shape),
        np.array(dw, dtype).reshape(args.w.shape),
        np.array(db, dtype),
    )


def _argmax(window: list, image: list) -> tuple[int, int]:
    """The (row, column) place of PyTorch's maximum of a window of places.

    In order, a value replaces the running maximum when it is greater or NaN: the
    first of equal maxima, or the last NaN.
    """
    best_at = window[0]
    best = image[best_at[0]][best_at[1]]
    for r, col in window:
        value = image[r][col]
        if value > best or value != value:
            best, best_at = value, (r, col)
    return best_at


def _pool2d_backward(dy, x, kernel_size, stride, take_max: bool) -> np.ndarray:
    dy, args = validate_pool2d_backward(dy, x, kernel_size, stride)
    (kh, kw), (sh, sw) = args.kernel_size, args.stride
    n_batch, channels, out_h, out_w = dy.shape
    dys, xs = dy.tolist(), args.x.tolist()
    dx = _zeros(*args.x.shape)
    share = 1.0 / (kh * kw)
    for n in range(n_batch):
        for c in range(channels):
            image, grad = xs[n][c], dx[n][c]
            for i in range(out_h):
                for j in range(out_w):
                    g = dys[n][c][i][j]
                    window = [
                        (i * sh + di, j * sw + dj)
                        for di in range(kh)
                        for dj in range(kw)
                    ]
                    if take_max:
                        r, col = _argmax(window, image)
                        grad[r][col] += g
                    else:
                        for r, col in window:
                            grad[r][col] += g * share
    return np.array(dx, args.dtype).reshape(args.x.shape)


def max_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Gradient of ``max_pool2d``: each window's dy goes to its first maximum.

    Or to its last NaN, as in PyTorch; x is (N, C, H, W).
    """
    return _pool2d_backward(dy, x, kernel_size, stride, True)


def avg_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, kernel_size: PairLike, stride: PairLike | None = None
) -> np.ndarray:
    """Gradient of ``avg_pool2d``: each window's dy is shared by its KH*KW inputs.

    x is (N, C, H, W).
    """
    return _pool2d_backward(dy, x, kernel_size, stride, False)


def relu_backward(dy: ArrayLike, x: ArrayLike) -> np.ndarray:
    """Gradient of ``relu``, any shape: zero where x <= 0, dy elsewhere.

    x == 0 gets zero and NaN gets dy, as in PyTorch.
    """
    dy, x, dtype = validate_relu_backward(dy, x)
    flat = [
        0.0 if v <= 0.0 else g
        for g, v in zip(dy.ravel().tolist(), x.ravel().tolist(), strict=True)
    ]
    return np.array(flat, dtype).reshape(x.shape)


def linear_backward(
    dy: ArrayLike, x: ArrayLike, w: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``linear``: dy (N, out) -> dx (N, in), dw (out, in), db (out,).

    ``y[n][o]`` summed ``x[n][k] * w[o][k]`` over k, so its gradient g adds
    ``g * w[o][k]`` to ``dx[n][k]`` and ``g * x[n][k]`` to ``dw[o][k]``.
    """
    dy, args = validate_linear_backward(dy, x, w)
    dys, xs, ws = dy.tolist(), args.x.tolist(), args.w.tolist()
    n_rows, n_in = args.x.shape
    n_out = args.w.shape[0]
    dx, dw, db = _zeros(n_rows, n_in), _zeros(n_out, n_in), [0.0] * n_out
    for n in range(n_rows):
        for o in range(n_out):
            g = dys[n][o]
            db[o] += g
            for k in range(n_in):
                dx[n][k] += g * ws[o][k]
                dw[o][k] += g * xs[n][k]
    dtype = args.dtype
    return np.array(dx, dtype), np.array(dw, dtype), np.array(db, dtype)


def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike
) -> tuple[np.floating, np.ndarray]:
    """Mean cross-entropy of softmax(logits) (N, K) against labels (N,), and dlogits.

    ``dlogits = (softmax(logits) - onehot(labels)) / N``. Each row is shifted
    by its maximum before ``exp``, so large logits never overflow
    (Goodfellow et al. 2016, section 4.1).
    """
    logits, labels = validate_softmax_cross_entropy(logits, labels)
    rows, targets = logits.tolist(), labels.tolist()
    n_rows = len(rows)
    total, dlogits = 0.0, []
    for row, target in zip(rows, targets, strict=True):
        top = max(row)
        log_norm = math.log(sum(math.exp(v - top) for v in row))
        total += log_norm - (row[target] - top)
        grad = [math.exp(v - top - log_norm) / n_rows for v in row]
        grad[target] -= 1.0 / n_rows
        dlogits.append(grad)
    dtype = logits.dtype
    return dtype.type(total / n_rows), np.array(dlogits, dtype)
