"""Training a network: the training step and loop, and predictions.

One training step runs the network to its logits, takes the mean
cross-entropy loss and its gradient (the softmax and the loss differentiated
together, see :mod:`cnnlab.nn.sequential`), backpropagates it to every
parameter and moves each parameter a little way downhill with :class:`SGD`::

    logits = model.logits(x)
    loss, dlogits = model.ops.softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    optimizer.step(model.gradients())

:func:`fit` repeats that over shuffled mini-batches for a number of epochs
and records the loss, the accuracies and the time of each epoch. Everything
random comes from seeds: the weights from ``lenet(seed=...)``, the order of
the batches from ``fit(seed=...)``, so a run can be repeated exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from cnnlab.nn.sequential import Sequential, _checked_model
from cnnlab.nn.sgd import SGD
from cnnlab.validation import validate_int

__all__ = [
    "train_step",
    "train_epoch",
    "predict",
    "accuracy",
    "fit",
]

# Images per forward pass when evaluating: few calls, yet little memory per call.
EVAL_BATCH_SIZE = 512


def _n_classes(model: Sequential, x_name: str, x_shape: tuple[int, ...]) -> int:
    """The number of logits the model gives an input of ``x_shape``.

    ValueError if x does not fit the model.
    """
    try:
        shapes = model.output_shapes(x_shape)
    except ValueError as err:
        raise ValueError(
            f"{x_name} of shape {x_shape} does not fit the model: {err}"
        ) from None
    logits = shapes[model.n_logit_layers - 1]
    if len(logits) != 2:
        raise ValueError(
            f"the model's logits for {x_name} of shape {x_shape} have shape {logits}; "
            "predicting a class needs logits of shape (N, classes)"
        )
    return logits[1]


def _check_examples(
    model: Sequential,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    x_name: str = "x",
    y_name: str = "y",
    finite: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Examples x (N, ...) and integer labels y (N,) that fit ``model``, N >= 1.

    Labels must lie in [0, classes): a label the model cannot predict would
    silently count as a miss in an accuracy, and is an error in the loss.
    With ``finite``, x must hold no NaN or inf: training on them gives a NaN
    loss that would otherwise be blamed on the learning rate.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0:
        raise ValueError(
            f"{x_name} must be an array of examples (N, ...), got a scalar"
        )
    if y.dtype.kind not in "iu":
        raise TypeError(f"{y_name} must hold integer labels, got dtype {y.dtype}")
    if y.shape != (len(x),):
        raise ValueError(
            f"{y_name} must have shape ({len(x)},), one label per example of {x_name} "
            f"{x.shape}, got shape {y.shape}"
        )
    if len(x) == 0:
        raise ValueError(
            f"{x_name} and {y_name} must hold at least one example, "
            f"got shapes {x.shape} and {y.shape}"
        )
    n_classes = _n_classes(model, x_name, x.shape)
    bad = y[(y < 0) | (y >= n_classes)]
    if bad.size:
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ValueError(
            f"{y_name} must hold labels in [0, {n_classes}) for this model's "
            f"{n_classes} classes, got {bad[:5].tolist()}{more}"
        )
    if finite and x.dtype.kind in "fc" and not np.isfinite(x).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(
            f"{x_name} must hold finite numbers, got {x[where]} at index {where}"
        )
    return x, y


def train_step(
    model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray
) -> float:
    """Train on one batch x (N, ...) with integer labels y (N,); the mean loss.

    A loss that is NaN or inf raises FloatingPointError before the update,
    so the weights are left as they were: a step with it would make every
    weight NaN.
    """
    _check_training(model, optimizer)
    return _train_step(model, optimizer, x, y)


def _train_step(
    model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray
) -> float:
    """:func:`train_step` for a model and optimizer already checked.

    x and y are checked by the operators.
    """
    logits = model.logits(x)
    loss, dlogits = model.ops.softmax_cross_entropy(logits, y)
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the loss on this batch is {float(loss)}, so this step left "
            f"the weights as they were; {_why_not_finite(model, optimizer, x)}"
        )
    model.backward(dlogits)
    optimizer.step(model.gradients())
    return float(loss)


def _why_not_finite(model: Sequential, optimizer: SGD, x: npt.ArrayLike) -> str:
    """The likely cause of a loss or weights that are not finite.

    Runs only once training has failed.
    """
    if not np.isfinite(np.asarray(x, dtype=float)).all():
        return "the batch x holds NaN or inf"
    if not optimizer.all_finite():  # the optimizer holds the model's own arrays
        return (
            "the weights already hold NaN or inf: "
            f"try a smaller learning rate (lr={optimizer.lr:g})"
        )
    return f"training diverged: try a smaller learning rate (lr={optimizer.lr:g})"


def _check_training(model: object, optimizer: object) -> None:
    """A Sequential, and an SGD that updates that model's own parameter arrays."""
    params = _checked_model(model).parameters()
    if not isinstance(optimizer, SGD):
        raise TypeError(
            f"optimizer must be a cnnlab.nn.SGD, got {type(optimizer).__name__}"
        )
    theirs = optimizer.params
    if theirs.keys() != params.keys() or any(
        theirs[k] is not v for k, v in params.items()
    ):
        raise ValueError(
            "optimizer must update this model's parameters: "
            "build it with SGD(model.parameters(), lr=...)"
        )


def train_epoch(
    model: Sequential,
    optimizer: SGD,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
) -> float:
    """One pass over (x, y) in mini-batches, in a random order; the mean loss.

    The order is drawn from ``rng``. The last batch holds what is left over, so every
    example is used once. The mean is over examples, so a short last batch counts for
    less. Everything is checked before the first step: x (N, ...) must fit the model and
    hold finite numbers, y (N,) integer labels of its classes, N >= 1, and
    ``batch_size`` an int >= 1. A loss or weights that stop being finite raise
    FloatingPointError (see :func:`train_step`).
    """
    _check_training(model, optimizer)
    x, y = _check_examples(model, x, y, finite=True)
    batch_size = validate_int("batch_size", batch_size, 1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a np.random.Generator, e.g. np.random.default_rng(0), "
            f"got {rng!r}"
        )
    return _train_epoch(model, optimizer, x, y, batch_size, rng)


def _train_epoch(
    model: Sequential,
    optimizer: SGD,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
) -> float:
    """:func:`train_epoch` on arguments already checked."""
    order = rng.permutation(len(x))
    # shuffled once: then every batch is a slice, a view, not a copy
    x, y = x[order], y[order]
    total = 0.0
    for start in range(0, len(x), batch_size):
        x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
        total += _train_step(model, optimizer, x_batch, y_batch) * len(x_batch)
    # Each step checks the loss before its update; the update of the last step is
    # checked here.
    if not optimizer.all_finite():
        raise FloatingPointError(
            "the last step of the epoch made weights NaN or inf; "
            f"try a smaller learning rate (lr={optimizer.lr:g})"
        )
    return total / len(x)


def predict(
    model: Sequential, x: np.ndarray, batch_size: int = EVAL_BATCH_SIZE
) -> np.ndarray:
    """The predicted class of every example of x (N, ...), as int64 (N,).

    The class of the largest logit, batch by batch. Zero examples, x of shape (0, ...)
    that fits the model, give an empty result, as a PyTorch model and ``argmax`` give
    for an empty batch.
    """
    _checked_model(model)
    batch_size = validate_int("batch_size", batch_size, 1)
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("x must be an array of examples (N, ...), got a scalar")
    _n_classes(model, "x", x.shape)
    if len(x) == 0:
        return np.empty(0, np.int64)
    return np.concatenate(
        [
            model.logits(x[start : start + batch_size]).argmax(axis=1)
            for start in range(0, len(x), batch_size)
        ]
    ).astype(np.int64)


def accuracy(
    model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = EVAL_BATCH_SIZE
) -> float:
    """The fraction of the examples x (N, ...) whose predicted class is their label.

    y must hold one integer label per example, each a class of the model;
    N must be at least 1, since the accuracy of no examples is undefined.
    """
    _checked_model(model)
    x, y = _check_examples(model, x, y)
    return float(np.mean(predict(model, x, batch_size) == y))


def _check_data(
    model: Sequential, data: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise TypeError("data must be a tuple (x_train, y_train, x_val, y_val)")
    x_train, y_train = _check_examples(
        model, data[0], data[1], "x_train", "y_train", finite=True
    )
    x_val, y_val = _check_examples(model, data[2], data[3], "x_val", "y_val")
    return x_train, y_train, x_val, y_val


def fit(
    model: Sequential,
    data: Sequence[npt.ArrayLike],
    epochs: int,
    batch_size: int = 32,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int | None = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``model`` with :class:`SGD` on shuffled mini-batches; return the history.

    Every argument is checked before the first step: the data must fit the
    model, the labels must be its classes, the training images finite.
    Training that makes the loss or any weight NaN or inf stops with a
    FloatingPointError that names the epoch and the learning rate.

    Parameters
    ----------
    model : Sequential
        Trained in place on its current backend (``model.backend``); see
        :meth:`Sequential.logits` for which layers are trained.
    data : tuple
        ``(x_train, y_train, x_val, y_val)``: images (N, C, H, W) and integer labels
        (N,).
    epochs, batch_size : int
        Passes over the training set, and examples per step.
    lr, momentum, weight_decay : float
        Passed to :class:`SGD`.
    seed : int or None
        Seeds the order of the batches (``np.random.default_rng(seed)``); None
        draws fresh entropy.
        With the model's own seed, a run is repeatable exactly.
    progress : bool
        Show a progress bar over the epochs (``tqdm.auto``).

    Returns
    -------
    list of dict
        One dict per epoch: ``epoch`` (from 1), ``loss`` (mean training loss
        during the epoch), ``train_accuracy`` and ``val_accuracy`` (measured
        with the weights at the end of the epoch), ``seconds`` (wall-clock
        time of the epoch's training steps) and ``eval_seconds`` (time of
        the two accuracy measurements).
    """
    _checked_model(model)
    x_train, y_train, x_val, y_val = _check_data(model, data)
    epochs, batch_size = (
        validate_int("epochs", epochs, 1),
        validate_int("batch_size", batch_size, 1),
    )
    optimizer = SGD(model.parameters(), lr, momentum, weight_decay)
    rng = np.random.default_rng(None if seed is None else validate_int("seed", seed, 0))
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    history = []
    bar = tqdm(
        range(1, epochs + 1),
        desc=f"training on {model.backend}",
        unit="epoch",
        disable=not progress,
    )
    for epoch in bar:
        start = time.perf_counter()
        try:
            loss = _train_epoch(model, optimizer, x_train, y_train, batch_size, rng)
        except FloatingPointError as err:
            bar.close()
            raise FloatingPointError(f"epoch {epoch} of {epochs}: {err}") from None
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        train_acc, val_acc = (
            accuracy(model, x_train, y_train),
            accuracy(model, x_val, y_val),
        )
        history.append(
            {
                "epoch": epoch,
                "loss": loss,
                "train_accuracy": train_acc,
                "val_accuracy": val_acc,
                "seconds": seconds,
                "eval_seconds": time.perf_counter() - start,
            }
        )
        bar.set_postfix(
            loss=f"{loss:.3f}", train=f"{train_acc:.1%}", val=f"{val_acc:.1%}"
        )
    return history
