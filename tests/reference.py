"""Independent references the backends are checked against.

Written from the definitions, in float64, window by window with NumPy, and
sharing no code with cnnlab, so a bug in cnnlab's shared checks or padding
cannot hide in both sides of a comparison.
"""
import numpy as np


def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # (N, C, KH, KW)
            for k in range(f):
                out[:, k, i, j] = (window * w[k]).sum(axis=(1, 2, 3))
    if b is not None:
        out += np.asarray(b, np.float64)[:, None, None]
    return out


def pool2d(x, kernel_size, stride, reduce):
    x = np.asarray(x, np.float64)
    (kh, kw), (sh, sw) = kernel_size, stride
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw], axis=(2, 3))
    return out


def relu(x):
    """max(x, 0), NaN kept, as in PyTorch."""
    x = np.asarray(x, np.float64)
    return np.where(x <= 0, 0.0, x)


def linear(x, w, b=None):
    out = np.einsum("ni,oi->no", np.asarray(x, np.float64), np.asarray(w, np.float64))
    return out if b is None else out + np.asarray(b, np.float64)


def softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def avg_pool2d(x, kernel_size, stride):
    """PyTorch's mean: summed in x's dtype (float32 stays float32), in window order, then divided.

    So float32 windows near 3e38 overflow to inf, as they do in PyTorch.
    """
    x = np.asarray(x)
    dtype = np.dtype(np.float32 if x.dtype == np.float32 else np.float64)
    (kh, kw), (sh, sw) = kernel_size, stride
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    total = np.zeros((n, c, oh, ow), dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        for di in range(kh):
            for dj in range(kw):
                total = total + x[:, :, di : di + sh * (oh - 1) + 1 : sh, dj : dj + sw * (ow - 1) + 1 : sw]
        return total / dtype.type(kh * kw)


def max_pool2d_backward(dy, x, kernel_size, stride):
    """PyTorch's max_pool2d gradient: each window's dy goes to the element its forward loop kept.

    That loop walks the window row by row and keeps a value when it is greater than the
    running maximum or NaN: the first of equal maxima, or the last NaN.
    """
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    (kh, kw), (sh, sw) = kernel_size, stride
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dy.shape):
        best, at = -np.inf, (i * sh, j * sw)
        for di in range(kh):
            for dj in range(kw):
                value = x[n, c, i * sh + di, j * sw + dj]
                if value > best or np.isnan(value):
                    best, at = value, (i * sh + di, j * sw + dj)
        dx[n, c, at[0], at[1]] += dy[n, c, i, j]
    return dx


def relu_backward(dy, x):
    """PyTorch's threshold_backward: zero where x <= 0, dy elsewhere (NaN included)."""
    return np.where(np.asarray(x) <= 0, 0.0, np.asarray(dy, np.float64))
