"""Numba kernels of the operators on rows: relu, linear, softmax and the loss.

Forward and backward. Each loop walks contiguous rows, so LLVM vectorizes the
innermost one. ``linear_rows`` and ``softmax_rows`` spread their rows over all
threads, with serial twins; the others are small and run in one thread.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnnlab.backends.numba.kernels import REASSOCIATE


@njit(cache=True)
def relu_flat(flat: np.ndarray, out: np.ndarray) -> None:
    """out <- max(flat, 0), both flat; NaN stays NaN, as in NumPy."""
    for i in range(flat.size):
        out[i] = 0 if flat[i] <= 0 else flat[i]


@njit(cache=True, fastmath=REASSOCIATE)
def _linear_row(x, w, b, n, out):
    # Reassociation lets LLVM split each dot product into one partial sum per vector
    # lane.
    for o in range(out.shape[1]):
        acc = b[o]
        for i in range(x.shape[1]):
            acc += x[n, i] * w[o, i]
        out[n, o] = acc


@njit(parallel=True, cache=True)
def linear_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out (N, out) <- x (N, in) @ w (out, in).T + b (out,), one row per work item."""
    for n in prange(out.shape[0]):
        _linear_row(x, w, b, n, out)


@njit(cache=True)
def linear_rows_serial(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray
) -> None:
    """:func:`linear_rows` in one thread."""
    for n in range(out.shape[0]):
        _linear_row(x, w, b, n, out)


@njit(cache=True)
def _softmax_row(rows, r, out):
    top = rows[r, 0]
    for k in range(rows.shape[1]):
        top = max(top, rows[r, k])
    total = 0.0
    for k in range(rows.shape[1]):
        e = np.exp(rows[r, k] - top)
        out[r, k] = e
        total += e
    for k in range(rows.shape[1]):
        out[r, k] /= total


@njit(parallel=True, cache=True)
def softmax_rows(rows: np.ndarray, out: np.ndarray) -> None:
    """out (R, K) <- softmax of each row of rows (R, K), shifted by its maximum."""
    for r in prange(rows.shape[0]):
        _softmax_row(rows, r, out)


@njit(cache=True)
def softmax_rows_serial(rows: np.ndarray, out: np.ndarray) -> None:
    """:func:`softmax_rows` in one thread."""
    for r in range(rows.shape[0]):
        _softmax_row(rows, r, out)


@njit(cache=True)
def relu_backward_flat(dy: np.ndarray, x: np.ndarray, dx: np.ndarray) -> None:
    """dx <- 0 where x <= 0, dy elsewhere (NaN passes dy, as in PyTorch); all flat."""
    for k in range(dx.size):
        dx[k] = 0 if x[k] <= 0 else dy[k]


@njit(cache=True)
def linear_backward_rows(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    dx: np.ndarray,
    dw: np.ndarray,
    db: np.ndarray,
) -> None:
    """dx (N, in), dw (out, in), db (out,) <- gradients of linear for dy (N, out)."""
    n_rows, n_out = dy.shape
    dx[:, :] = 0
    dw[:, :] = 0
    db[:] = 0
    # Each dy[n, o] adds a multiple of a contiguous row: w[o] to dx[n], x[n] to dw[o].
    for n in range(n_rows):
        for o in range(n_out):
            grad = dy[n, o]
            db[o] += grad
            for k in range(x.shape[1]):
                dx[n, k] += grad * w[o, k]
                dw[o, k] += grad * x[n, k]


@njit(cache=True)
def softmax_cross_entropy_rows(
    logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray
) -> float:
    """Mean cross-entropy of logits (N, K) against labels (N,).

    dlogits (N, K) <- its gradient ``(softmax(logits) - onehot(labels)) / N``.
    """
    n_rows, n_classes = logits.shape
    total = 0.0
    for r in range(n_rows):
        row = logits[r]
        top = row.max()
        norm = 0.0
        for k in range(n_classes):
            e = np.exp(row[k] - top)  # shifted, so exp never overflows
            dlogits[r, k] = e
            norm += e
        total += np.log(norm) - (row[labels[r]] - top)
        scale = 1.0 / (norm * n_rows)
        for k in range(n_classes):
            dlogits[r, k] *= scale  # softmax / N
        dlogits[r, labels[r]] -= 1.0 / n_rows
    return total / n_rows
