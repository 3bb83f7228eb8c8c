"""Checkers for the exercises of chapters 6-7: log-softmax, batch-norm folding, pooling,
fusion, LeNet.

Each checker builds a graded series of cases, the small worked example
first, with answers from cnnlab's NumPy backend or from :func:`cnnlab.nn.model.lenet`
itself, and hands them to :func:`cnnlab.teaching.grading.grade`. The hints name the
mistakes students make most often with each exercise: an overflowing
exponential, a batch norm scaled along the wrong axis, a window sum that is
never divided, ReLU applied after averaging, a forgotten bias.
"""

from __future__ import annotations

import numpy as np

from cnnlab import backend
from cnnlab.nn.model import lenet
from cnnlab.teaching.checkers.basics import hint_off_by_one
from cnnlab.teaching.checkers.training import _grade_outputs
from cnnlab.teaching.checkers.vectorize import check_faster_than
from cnnlab.teaching.grading import Case, Report, grade

__all__ = [
    "check_log_softmax",
    "check_fold_batchnorm",
    "check_avg_pool2d",
    "check_avg_pool_relu",
    "check_flat_features",
    "check_lenet_parameters",
    "check_lenet_forward",
]

_reference = backend("numpy")
_rng_seed = 2026
_FLOAT32 = dict(rtol=1e-4, atol=1e-5)


def _matches(result, candidate, **tolerance) -> bool:
    """True when ``result`` has ``candidate``'s shape and values (NaN where it has NaN)."""
    return result.shape == candidate.shape and np.allclose(
        result, candidate, equal_nan=True, **tolerance
    )


# ----------------------------------------------------------------- chapter 6:
# log-softmax
def log_softmax(x, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` computed as ``x - max - log(sum(exp(x - max)))``, finite for
    any finite x.
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax_cases() -> list[Case]:
    """Cases for ``log_softmax(x)`` on (N, K) arrays, along the last axis; the hard
    logits come after the easy ones.
    """
    rng = np.random.default_rng(_rng_seed)
    specs = [
        ("one row of small scores", np.array([[1.0, 2.0, 3.0]])),
        ("3 rows of 3 scores", rng.standard_normal((3, 3))),
        ("equal scores", np.full((2, 4), 5.0)),
        ("large logits: exp(1000) overflows", np.array([[1000.0, 1001.0, 1002.0]])),
        (
            "a probability so small that it underflows to 0",
            np.array([[0.0, -1000.0, 5.0]]),
        ),
        (
            "one row near +1000 and one near -1000",
            np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -998.0]]),
        ),
        (
            "a float32 batch of 8 rows and 10 classes",
            (3 * rng.standard_normal((8, 10))).astype(np.float32),
        ),
    ]
    return [
        Case(name, (x,), log_softmax(x), **(_FLOAT32 if x.dtype == np.float32 else {}))
        for name, x in specs
    ]


def _quietly(fn, *args):
    """fn(*args) with NumPy's overflow, underflow and 0/0 warnings silenced: the hints
    recompute mistakes.
    """
    with np.errstate(all="ignore"):
        return fn(*args)


def hint_log_of_softmax(expected, result, case):
    x = case.args[0]
    if (
        _matches(result, _quietly(np.log, _reference.softmax(x)))
        and not np.isfinite(result).all()
    ):
        return (
            "you took the log of the probabilities. One that underflows to 0 gives log(0) = -inf, although "
            "its log-probability is an ordinary number. Never form the probabilities: compute "
            "x - m - log(sum(exp(x - m))) with m the row's maximum."
        )
    return None


def hint_global_max(expected, result, case):
    x = case.args[0]
    shifted = x - x.max()
    by_all = _quietly(
        lambda: shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    )
    if _matches(result, by_all) and not np.isfinite(by_all).all():
        return (
            "you subtracted the maximum of the whole array. In a row far below it every exp underflows to 0 "
            "and log(0) = -inf: subtract each row's own maximum, x.max(axis=-1, keepdims=True)."
        )
    return None


def hint_overflow(expected, result, case):
    if np.isfinite(expected).all() and not np.isfinite(result).all():
        return (
            "your result has NaN or inf: exp overflowed. Subtract the row's maximum m first, and add it "
            "back outside the log: log(sum(exp(x))) = m + log(sum(exp(x - m)))."
        )
    return None


def hint_forgot_max(expected, result, case):
    x = case.args[0]
    top = x.max(axis=-1, keepdims=True)
    if np.any(top != 0) and _matches(result, expected + top, **_FLOAT32):
        return (
            "every value is too large by the row's maximum m. You computed log(sum(exp(x - m))), which is "
            "log(sum(exp(x))) - m: subtract m as well, x - m - log(sum(exp(x - m)))."
        )
    return None


def hint_probabilities(expected, result, case):
    if _matches(result, np.exp(expected), **_FLOAT32):
        return "you returned the probabilities, softmax(x); log-softmax is their logarithm, all values <= 0."
    return None


def hint_wrong_axis(expected, result, case):
    x = case.args[0]
    if _matches(result, log_softmax(x, axis=0), **_FLOAT32):
        return (
            "you normalized each column instead of each row. Take the maximum and the sum along the last "
            "axis, axis=-1: each row holds the scores of one sample."
        )
    return None


def hint_keepdims(expected, result, case):
    x = case.args[0]
    top = x.max(axis=-1, keepdims=True)
    without_keepdims = x - top - np.log(np.exp(x - top).sum(axis=-1))
    if x.shape[0] > 1 and _matches(result, without_keepdims, **_FLOAT32):
        return (
            "the row sums have shape (N,), so they line up with the columns. Keep the summed axis: "
            "np.exp(x - m).sum(axis=-1, keepdims=True) has shape (N, 1)."
        )
    return None


def check_log_softmax(student_fn) -> Report:
    """``student_fn(x)``: log(softmax) of each row of x (N, K), finite for any finite x;
    same shape and dtype.
    """
    return grade(
        "log_softmax",
        student_fn,
        log_softmax_cases(),
        [
            hint_log_of_softmax,
            hint_global_max,
            hint_overflow,
            hint_forgot_max,
            hint_probabilities,
            hint_wrong_axis,
            hint_keepdims,
        ],
        {
            ValueError: "if the message is about shapes that cannot be broadcast, keep the reduced axis: "
            "x.max(axis=-1, keepdims=True) has shape (N, 1)."
        },
    )


# ----------------------------------------------------------------- chapter 6: folding
# batch norm
def fold_batchnorm(w, b, gamma, beta, mean, var, eps):
    """Weights and bias of one convolution that computes ``batchnorm(conv2d(x, w, b))``.

    Batch normalization at inference (Ioffe & Szegedy 2015) maps channel f of
    its input y to ``gamma[f] * (y - mean[f]) / sqrt(var[f] + eps) + beta[f]``:
    one factor and one offset per channel, which fold into filter f's weights
    (F, C, KH, KW) and its bias (F,).
    """
    scale = gamma / np.sqrt(var + eps)
    return w * scale[:, None, None, None], (b - mean) * scale + beta


def _batchnorm_inputs() -> list[tuple[str, tuple]]:
    """(name, (w, b, gamma, beta, mean, var, eps)) for the check: the 1x1 example first."""
    rng = np.random.default_rng(_rng_seed)

    def layer(filters, channels, k, eps, dtype=np.float64, zero_var=False):
        w = rng.standard_normal((filters, channels, k, k))
        b, gamma, beta, mean = (rng.standard_normal(filters) for _ in range(4))
        var = rng.uniform(0.5, 2.0, filters)
        if zero_var:
            # a channel that was constant in training: only eps keeps 1/sqrt finite
            var[0] = 0.0
        arrays = tuple(a.astype(dtype) for a in (w, b, gamma, beta, mean, var))
        return (*arrays, eps)

    one = np.ones(1)
    example = (
        np.full((1, 1, 1, 1), 2.0),
        one,
        3 * one,
        0.5 * one,
        2 * one,
        4 * one,
        0.0,
    )
    return [
        ("one 1x1 filter, eps 0: scale 3 / sqrt(4) = 1.5", example),
        ("4 filters of 4 channels, 3x3, eps 0.1", layer(4, 4, 3, 0.1)),
        ("2 filters of 3 channels, 3x3, eps 1e-5", layer(2, 3, 3, 1e-5)),
        (
            "a channel whose variance is 0, eps 1e-3",
            layer(3, 2, 1, 1e-3, zero_var=True),
        ),
        (
            "a float32 layer of 16 filters of 8 channels, 3x3",
            layer(16, 8, 3, 1e-5, np.float32),
        ),
    ]


def _folded_with(args, *, eps=True, sqrt=True, gamma=True, axis=0):
    """The folded weights with one mistake, for the hints (axis 1: the input channels
    scaled).
    """
    w, b, g, beta, mean, var, e = args
    scale = (g if gamma else 1.0) / (
        (np.sqrt if sqrt else np.asarray)(var + (e if eps else 0.0))
    )
    return w * (scale[:, None, None, None] if axis == 0 else scale[None, :, None, None])


def hint_folded_weights(expected, result, case):
    args = case.args
    w, var, eps = args[0], args[5], args[6]
    if _matches(result, w, **_FLOAT32):
        return (
            "the weights must change too: filter f is multiplied by gamma[f] / sqrt(var[f] + eps), "
            "so that the convolution's output comes out already scaled."
        )
    if w.shape[0] == w.shape[1] and _matches(
        result, _folded_with(args, axis=1), **_FLOAT32
    ):
        return (
            "you scaled the input channels (axis 1 of w). Batch norm scales the convolution's output "
            "channels, one per filter: multiply w by scale[:, None, None, None]."
        )
    if eps and (
        _matches(result, _quietly(lambda: _folded_with(args, eps=False)), **_FLOAT32)
        or (np.any(var == 0) and not np.isfinite(result).all())
    ):
        return "you left out eps: divide by sqrt(var + eps), which stays finite when a variance is 0."
    if _matches(result, _folded_with(args, sqrt=False), **_FLOAT32):
        return "you divided by the variance; batch norm divides by the standard deviation, sqrt(var + eps)."
    if _matches(result, _folded_with(args, gamma=False), **_FLOAT32):
        return "you normalized but did not scale: multiply by gamma as well, scale = gamma / sqrt(var + eps)."
    return None


def hint_folded_bias(expected, result, case):
    w, b, gamma, beta, mean, var, eps = case.args
    scale = gamma / np.sqrt(var + eps)
    mistakes = [
        (
            (b - mean) * scale,
            "you left out beta: add the batch norm's shift after scaling.",
        ),
        (
            b * scale + beta - mean,
            "the mean is subtracted before the scaling: (b - mean) * scale + beta.",
        ),
        (
            beta - mean * scale,
            "the convolution's own bias b passes through the batch norm too: "
            "(b - mean) * scale + beta.",
        ),
        (
            b * scale + beta,
            "you forgot to subtract the mean: (b - mean) * scale + beta.",
        ),
        (
            b + beta - mean,
            "the bias must be scaled like the weights: (b - mean) * scale + beta.",
        ),
    ]
    for wrong, hint in mistakes:
        if _matches(result, wrong, **_FLOAT32):
            return hint
    return None


def check_fold_batchnorm(student_fn) -> Report:
    """``student_fn(w, b, gamma, beta, mean, var, eps) -> (w_folded, b_folded)``.

    w (F, C, KH, KW) and b (F,) are a convolution's weights and bias, gamma,
    beta, mean and var (F,) a batch norm's parameters. The folded convolution
    must compute ``batchnorm(conv2d(x, w, b))``; inputs unchanged, same dtype.
    """
    return _grade_outputs(
        "fold_batchnorm",
        student_fn,
        ("w_folded", "b_folded"),
        _batchnorm_inputs(),
        fold_batchnorm,
        [[hint_folded_weights], [hint_folded_bias]],
        {
            ValueError: "if the message is about shapes that cannot be broadcast: the scale has one value per "
            "filter, shape (F,); reshape it to (F, 1, 1, 1), scale[:, None, None, None], to "
            "multiply each filter's weights (F, C, KH, KW)."
        },
    )


# ----------------------------------------------------------------- chapter 6: pooling
def avg_pool2d_cases() -> list[Case]:
    """Cases for ``avg_pool2d(x, k, stride)``: the 4x4 example, overlapping windows,
    gaps, floor mode, float32.
    """
    rng = np.random.default_rng(_rng_seed)
    specs = [
        (
            "the 4x4 example, 2x2 windows, stride 2",
            np.arange(16.0).reshape(1, 1, 4, 4),
            2,
            2,
        ),
        (
            "3x3 windows with stride 1: they overlap",
            rng.standard_normal((1, 1, 5, 5)),
            3,
            1,
        ),
        ("2x2 windows with stride 1", rng.standard_normal((1, 2, 4, 5)), 2, 1),
        (
            "3x3 windows with stride 2 on 7x9 (floor mode drops the rest)",
            rng.standard_normal((2, 3, 7, 9)),
            3,
            2,
        ),
        (
            "2x2 windows with stride 3: gaps between windows",
            rng.standard_normal((1, 2, 8, 8)),
            2,
            3,
        ),
        (
            "a float32 batch, 3x3 windows, stride 3",
            rng.standard_normal((4, 3, 12, 10)).astype(np.float32),
            3,
            3,
        ),
    ]
    return [
        Case(name, (x, k, s), _reference.avg_pool2d(x, k, s)) for name, x, k, s in specs
    ]


def hint_took_max(expected, result, case):
    x, k, stride = case.args[:3]
    if _matches(result, _reference.max_pool2d(x, k, stride)):
        return "you took the maximum of each window; average pooling takes the mean."
    return None


def hint_not_divided(expected, result, case):
    k = case.args[1]
    if _matches(result, expected * k * k):
        return f"you summed each window; divide the sum by the number of values in a window, k*k = {k * k}."
    if k > 1 and _matches(result, expected * k):
        return f"you divided by k = {k}; a k x k window holds k*k = {k * k} values."
    return None


def hint_ignored_stride(expected, result, case):
    x, k, stride = case.args[:3]
    for assumed in (k, 1):
        if (
            assumed != stride
            and result.shape == _reference.avg_pool2d(x, k, assumed).shape
        ):
            return (
                f"your output has the size of pooling with stride {assumed}, but the stride is {stride}. "
                f"Window (i, j) starts at row i*stride, column j*stride, and there are "
                f"(size - k) // stride + 1 windows along each axis."
            )
    return None


def check_avg_pool2d(student_fn) -> Report:
    """``student_fn(x, k, stride)``: mean over each k x k window of x (N, C, H, W),
    windows ``stride`` apart.
    """
    return grade(
        "avg_pool2d",
        student_fn,
        avg_pool2d_cases(),
        [hint_took_max, hint_not_divided, hint_ignored_stride, hint_off_by_one],
    )


def _avg_pool_relu(x):
    """The unfused pair: ReLU, then 2x2 average pooling, each a full pass over memory."""
    return _reference.avg_pool2d(_reference.relu(x), 2)


def hint_relu_after(expected, result, case):
    x = case.args[0]
    if _matches(result, _reference.relu(_reference.avg_pool2d(x, 2)), **_FLOAT32):
        return (
            "you applied ReLU after averaging. Unlike the maximum, the mean does not commute with ReLU: "
            "mean(relu(a), relu(b)) is not relu(mean(a, b)). Apply ReLU to every value as you add it up."
        )
    return None


def hint_no_relu(expected, result, case):
    x = case.args[0]
    if _matches(result, _reference.avg_pool2d(x, 2), **_FLOAT32):
        return "you averaged the raw values: apply ReLU, max(v, 0), to every value before adding it to the sum."
    return None


def hint_fused_max(expected, result, case):
    x = case.args[0]
    if _matches(result, _reference.relu(_reference.max_pool2d(x, 2)), **_FLOAT32):
        return "this is max pooling with ReLU, the kernel of the chapter; here the window is averaged."
    return None


def check_avg_pool_relu(student_fn, min_speedup: float = 2.0) -> Report:
    """``student_fn(x)`` = ``avg_pool2d(relu(x), 2)`` for x (N, C, H, W) float32,
    ``min_speedup`` x faster.

    Correct first, on small cases with hints; then timed against cnnlab's
    NumPy backend running ReLU and average pooling one after the other, on
    an activation of shape (8, 16, 32, 32).
    """
    rng = np.random.default_rng(_rng_seed)
    example = np.array(
        [
            [
                [
                    [-1.0, 2.0, 3.0, -4.0],
                    [5.0, -6.0, -7.0, 8.0],
                    [0.5, 0.5, -1.0, -2.0],
                    [-0.5, 1.5, -3.0, -4.0],
                ]
            ]
        ],
        dtype=np.float32,
    )
    inputs = [
        ("the 4x4 example", example),
        (
            "odd size 5x7 (floor mode drops the last row and column)",
            rng.standard_normal((1, 2, 5, 7)).astype(np.float32),
        ),
        (
            "a batch of (3, 4, 8, 6)",
            rng.standard_normal((3, 4, 8, 6)).astype(np.float32),
        ),
    ]
    cases = [Case(name, (x,), _avg_pool_relu(x), **_FLOAT32) for name, x in inputs]
    timed = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    return check_faster_than(
        student_fn,
        _avg_pool_relu,
        (timed,),
        min_speedup,
        "avg_pool_relu",
        cases=cases,
        diagnoses=[hint_relu_after, hint_no_relu, hint_fused_max, hint_off_by_one],
        advice="Correct, but not fast enough yet: compute each output in one pass over its window, in a Numba "
        "kernel, with no temporary array for the ReLU.",
    )


# ----------------------------------------------------------------- chapter 7: LeNet
_LENET_FILTERS = (6, 16)  # output channels of LeNet's two convolutions


def _lenet_flat_features(image_size: int) -> int:
    """Features entering LeNet's linear layer, read off cnnlab's own model (5x5
    convolutions for sizes >= 16).
    """
    shapes = lenet(image_size=image_size).output_shapes((1, 1, image_size, image_size))
    return shapes[6][1]


def check_flat_features(student_fn) -> Report:
    """``student_fn(image_size) -> int``: features after LeNet's second pooling, for
    square images >= 16.
    """
    sizes = [32, 28, 64, 33, 20, 17]
    cases = [Case(f"image_size={s}", (s,), _lenet_flat_features(s)) for s in sizes]

    def hint(expected, result, case):
        size = case.args[0]
        side = int(round((expected / _LENET_FILTERS[1]) ** 0.5))
        if result == side * side:
            return f"that is one channel's {side} x {side} map; the second convolution has {_LENET_FILTERS[1]} channels."
        if result == _LENET_FILTERS[1] * (size // 4) ** 2:
            return (
                "each 5x5 convolution without padding shrinks the map by 4 (size - 5 + 1) before it is "
                "pooled; you only counted the two poolings."
            )
        wrong = size
        for _ in range(2):
            wrong = (wrong - 5) // 2  # the off-by-one: size - 5 instead of size - 5 + 1
        if result == _LENET_FILTERS[1] * wrong * wrong:
            return "off by one: a 5x5 convolution without padding leaves size - 5 + 1 = size - 4 positions."
        return (
            "follow the shape layer by layer: conv 5x5 (side - 4), pool 2x2 (side // 2), conv 5x5, pool, "
            "then multiply the channels by the two sides."
        )

    return grade("flat_features", student_fn, cases, [hint])


def _lenet_count(
    in_channels,
    image_size,
    n_classes,
    *,
    bias=True,
    conv1_channels=None,
    conv2_channels=None,
) -> int:
    """LeNet's parameter count; the keyword options each make one counting mistake, for
    the hints.
    """
    k = 5
    f1, f2 = _LENET_FILTERS
    conv1 = f1 * (in_channels if conv1_channels is None else conv1_channels) * k * k
    conv2 = f2 * (f1 if conv2_channels is None else conv2_channels) * k * k
    linear = _lenet_flat_features(image_size) * n_classes
    return conv1 + conv2 + linear + (f1 + f2 + n_classes if bias else 0)


def check_lenet_parameters(student_fn) -> Report:
    """``student_fn(in_channels, image_size, n_classes) -> int``: LeNet's trainable
    numbers, image_size >= 16.
    """
    specs = [(1, 32, 10), (3, 32, 10), (1, 28, 10), (3, 64, 100), (2, 17, 5)]
    cases = [
        Case(
            f"in_channels={c}, image_size={s}, n_classes={k}",
            (c, s, k),
            lenet(c, s, k).n_parameters,
        )
        for c, s, k in specs
    ]

    def hint(expected, result, case):
        c, s, k = case.args
        if result == _lenet_count(c, s, k, bias=False):
            return (
                f"you left out the biases: each convolution filter and each output of the linear layer has "
                f"one, {_LENET_FILTERS[0]} + {_LENET_FILTERS[1]} + {k} in all."
            )
        if c != 1 and result == _lenet_count(c, s, k, conv1_channels=1):
            return (
                f"each filter of the first convolution sees all {c} input channels: it has "
                f"{c} x 5 x 5 weights, not 5 x 5."
            )
        if result == _lenet_count(c, s, k, conv2_channels=1):
            return (
                f"each filter of the second convolution sees all {_LENET_FILTERS[0]} maps of the first: "
                f"{_LENET_FILTERS[0]} x 5 x 5 weights per filter."
            )
        return (
            "add up, layer by layer: filters x in_channels x 5 x 5 weights + one bias per filter, for both "
            "convolutions, then flat_features x n_classes weights + n_classes biases for the linear layer."
        )

    return grade("lenet_parameters", student_fn, cases, [hint])


def _lenet_forward(x, params, ops, *, relu=True, bias=True, pool="max", softmax=True):
    """The LeNet forward pass by hand; the keyword options each leave one step out, for
    the hints.
    """

    def conv(x, key):
        return ops.conv2d(x, params[f"{key}.w"], params[f"{key}.b"] if bias else None)

    def stage(x, key):
        x = conv(x, key)
        x = ops.relu(x) if relu else x
        return ops.max_pool2d(x, 2) if pool == "max" else ops.avg_pool2d(x, 2)

    x = stage(stage(x, "0"), "3")
    x = x.reshape(x.shape[0], -1)
    logits = ops.linear(x, params["7.w"], params["7.b"] if bias else None)
    return ops.softmax(logits) if softmax else logits


class _Parameters(dict):
    """model.parameters() with a short repr, so that a failed case lists shapes instead
    of every weight.
    """

    def __repr__(self) -> str:
        return (
            "{"
            + ", ".join(
                f"{key!r}: array of shape {value.shape}" for key, value in self.items()
            )
            + "}"
        )


class _Backend:
    """A backend module that shows as ``cnnlab.backend('numpy')`` in a failed case."""

    def __init__(self, name: str) -> None:
        self._name, self._module = name, backend(name)

    def __getattr__(self, attribute):
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"cnnlab.backend({self._name!r})"


def lenet_forward_cases() -> list[Case]:
    """Cases for ``forward(x, params, ops)``: random LeNets with non-zero biases, on two
    backends.
    """
    rng = np.random.default_rng(_rng_seed)
    specs = [
        ("one 32x32 image, 10 classes, numpy backend", 1, 1, 32, 10, "numpy"),
        (
            "a batch of 4 RGB 20x20 images, 5 classes, numpy backend",
            4,
            3,
            20,
            5,
            "numpy",
        ),
        ("two 16x16 images on the python backend", 2, 1, 16, 10, "python"),
    ]
    cases = []
    for seed, (name, n, c, size, classes, backend_name) in enumerate(specs):
        params = _Parameters(lenet(c, size, classes, seed=seed).parameters())
        for key, value in params.items():
            # fresh biases are 0, which would hide a forgotten bias
            if key.endswith(".b"):
                value[:] = 0.1 * rng.standard_normal(value.shape)
        x = rng.random((n, c, size, size), dtype=np.float32)
        cases.append(
            Case(
                name,
                (x, params, _Backend(backend_name)),
                _lenet_forward(x, params, _reference),
                **_FLOAT32,
            )
        )
    return cases


# What a forward pass computes when one step is left out, and the hint for it.
_LENET_MISTAKES = [
    (
        dict(softmax=False),
        "you returned the scores of the linear layer; finish with ops.softmax(logits), so that "
        "every row holds probabilities that sum to 1.",
    ),
    (
        dict(relu=False),
        "apply ops.relu after each convolution: conv, relu, max pool, twice.",
    ),
    (
        dict(bias=False),
        "pass the biases too: ops.conv2d(x, params['0.w'], params['0.b']), and likewise for "
        "layers 3 and 7.",
    ),
    (dict(pool="avg"), "LeNet here uses max pooling: ops.max_pool2d(x, 2)."),
]


def hint_lenet_step_left_out(expected, result, case):
    for mistake, hint in _LENET_MISTAKES:
        if _matches(result, _lenet_forward(*case.args, **mistake), **_FLOAT32):
            return hint
    return None


def check_lenet_forward(student_fn) -> Report:
    """``student_fn(x, params, ops)``: LeNet's probabilities (N, n_classes), computed
    with backend ``ops``.
    """
    return grade(
        "lenet_forward",
        student_fn,
        lenet_forward_cases(),
        [hint_lenet_step_left_out],
        {
            KeyError: "the parameters are keyed by layer number and name, as model.parameters() returns them: "
            "'0.w', '0.b' (first conv), '3.w', '3.b' (second conv), '7.w', '7.b' (linear).",
            ValueError: "if the message is about shapes, print x.shape after every step; flatten with "
            "x.reshape(x.shape[0], -1) before the linear layer.",
        },
    )
