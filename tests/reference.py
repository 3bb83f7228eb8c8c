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
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, 0.0)


def linear(x, w, b=None):
    out = np.einsum("ni,oi->no", np.asarray(x, np.float64), np.asarray(w, np.float64))
    return out if b is None else out + np.asarray(b, np.float64)


def softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
