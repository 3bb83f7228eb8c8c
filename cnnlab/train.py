"""Training a network: SGD with momentum, the training loop, and weights on disk.

One training step runs the network to its logits, takes the mean
cross-entropy loss and its gradient (the softmax and the loss differentiated
together, see :mod:`cnnlab.model`), backpropagates it to every parameter and
moves each parameter a little way downhill::

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
import numbers
import os
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .model import Sequential

__all__ = [
    "SGD",
    "train_step",
    "train_epoch",
    "predict",
    "accuracy",
    "fit",
    "save_weights",
    "load_weights",
]

EVAL_BATCH_SIZE = 512  # images per forward pass when evaluating: large enough to be quick, small enough for memory


def _number(name: str, value, low: float, high: float = math.inf, high_open: bool = False) -> float:
    """A real number in [low, high] (or [low, high)), or a clear error."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (low <= value < high if high_open else low <= value <= high):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low:g}, {high:g}{bracket}, got {value!r}")
    return float(value)


def _positive_int(name: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


class SGD:
    """Stochastic gradient descent with momentum and weight decay, updating parameters in place.

    For every parameter ``p`` with gradient ``g``, one :meth:`step` does::

        g = g + weight_decay * p          # L2 penalty (weight_decay / 2) * |p|^2 on every parameter
        v = momentum * v + g              # velocity: a running sum of past gradients
        p = p - lr * v

    the heavy-ball method of Polyak (1964) in the form PyTorch's ``torch.optim.SGD``
    uses (Sutskever et al. 2013 discuss both forms). Velocities start at zero.
    When the parameters are the views of one buffer that :class:`Sequential`
    packs them into, a step updates the whole buffer at once: a few NumPy
    calls in all rather than a few per parameter array.

    Parameters
    ----------
    params : dict of str to ndarray
        The arrays to train, e.g. ``model.parameters()``; they are updated in place.
    lr : float
        Learning rate, > 0.
    momentum : float
        In [0, 1); 0 is plain SGD.
    weight_decay : float
        >= 0; applied to every parameter, biases included, as in PyTorch.
    """

    def __init__(self, params: Mapping[str, np.ndarray], lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        self.lr = _number("lr", lr, 0.0)
        if self.lr == 0:
            raise ValueError("lr must be > 0, got 0")
        self.momentum = _number("momentum", momentum, 0.0, 1.0, high_open=True)
        self.weight_decay = _number("weight_decay", weight_decay, 0.0)
        self.params = dict(params)
        for name, p in self.params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(f"parameter {name!r} must be a float array, got {type(p).__name__}")
        self._flat = _packed_buffer(list(self.params.values()))
        if self._flat is None:
            self.velocity = {name: np.zeros_like(p) for name, p in self.params.items()}
        else:  # one velocity buffer too, and scratch for the gradients: see step
            self._velocity_flat, self._grad_flat = np.zeros_like(self._flat), np.empty_like(self._flat)
            self._scratch = np.empty_like(self._flat)
            self.velocity = _views_like(self._velocity_flat, self.params)

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter with its gradient; ``grads`` has the keys and shapes of ``params``."""
        if grads.keys() != self.params.keys():
            missing, extra = sorted(self.params.keys() - grads.keys()), sorted(grads.keys() - self.params.keys())
            raise ValueError(f"grads must have the keys of params; missing {missing}, unexpected {extra}")
        for name, p in self.params.items():
            if np.shape(grads[name]) != p.shape:
                raise ValueError(f"the gradient of {name!r} has shape {np.shape(grads[name])}, "
                                 f"but the parameter has {p.shape}")
        if self._flat is not None:
            # The parameters are views of one buffer (Sequential packs them): update them all at once.
            np.concatenate([np.ravel(grads[name]) for name in self.params], out=self._grad_flat, casting="same_kind")
            self._update(self._flat, self._grad_flat, self._velocity_flat, self._scratch)
        else:
            for name, p in self.params.items():
                self._update(p, grads[name], self.velocity[name], None)

    def _update(self, p: np.ndarray, g: np.ndarray, v: np.ndarray, scratch: np.ndarray | None) -> None:
        """v = momentum * v + g + weight_decay * p, then p -= lr * v, in place."""
        v *= self.momentum
        v += g
        if self.weight_decay:
            v += np.multiply(p, self.weight_decay, out=scratch)
        p -= np.multiply(v, self.lr, out=scratch)


def _packed_buffer(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The buffer that ``arrays`` tile exactly, one after the other in this order, or None."""
    base = arrays[0].base if arrays else None
    if base is None or base.ndim != 1 or not base.flags.c_contiguous or sum(a.size for a in arrays) != base.size:
        return None
    start = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or a.__array_interface__["data"][0] != start:
            return None
        start += a.nbytes
    return base


def _views_like(buffer: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Views of consecutive parts of ``buffer`` with the shapes of ``arrays``."""
    views, start = {}, 0
    for name, a in arrays.items():
        views[name] = buffer[start : start + a.size].reshape(a.shape)
        start += a.size
    return views


def train_step(model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray) -> float:
    """One step of training on the batch x (N, ...) with integer labels y (N,); returns the mean loss."""
    logits = model.logits(x)
    loss, dlogits = model.ops.softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    optimizer.step(model.gradients())
    return float(loss)


def train_epoch(
    model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator
) -> float:
    """One pass over (x, y) in mini-batches of a random order drawn from ``rng``; returns the mean loss.

    The last batch holds what is left over, so every example is used once.
    The mean is over examples, so a short last batch counts for less.
    """
    order = rng.permutation(len(x))
    x, y = x[order], y[order]  # shuffled once: then every batch is a slice, a view, not a copy
    total = 0.0
    for start in range(0, len(x), batch_size):
        x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
        total += train_step(model, optimizer, x_batch, y_batch) * len(x_batch)
    return total / len(x)


def predict(model: Sequential, x: np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """The predicted class of every example of x (N, ...), int64 (N,): the largest logit, batch by batch."""
    batch_size = _positive_int("batch_size", batch_size)
    return np.concatenate(
        [model.logits(x[start : start + batch_size]).argmax(axis=1) for start in range(0, len(x), batch_size)]
    ).astype(np.int64)


def accuracy(model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> float:
    """The fraction of examples of x whose predicted class is the label in y."""
    return float(np.mean(predict(model, x, batch_size) == np.asarray(y)))


def _check_data(data) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise TypeError("data must be a tuple (x_train, y_train, x_val, y_val)")
    x_train, y_train, x_val, y_val = (np.asarray(a) for a in data)
    for name, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
        if y.dtype.kind not in "iu" or y.ndim != 1:
            raise TypeError(f"y_{name} must be a 1-D array of integer labels, got dtype {y.dtype}, shape {y.shape}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"x_{name} and y_{name} must hold the same number (> 0) of examples, "
                             f"got {len(x)} and {len(y)}")
    return x_train, y_train, x_val, y_val


def fit(
    model: Sequential,
    data,
    epochs: int,
    batch_size: int = 32,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Train ``model`` with :class:`SGD` on shuffled mini-batches and return its history.

    Parameters
    ----------
    model : Sequential
        Trained in place on its current backend (``model.backend``); see
        :meth:`Sequential.logits` for which layers are trained.
    data : tuple
        ``(x_train, y_train, x_val, y_val)``: images (N, C, H, W) and integer labels (N,).
    epochs, batch_size : int
        Passes over the training set, and examples per step.
    lr, momentum, weight_decay : float
        Passed to :class:`SGD`.
    seed : int
        Seeds the order of the batches (``np.random.default_rng(seed)``).
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
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a cnnlab.model.Sequential, got {type(model).__name__}")
    x_train, y_train, x_val, y_val = _check_data(data)
    epochs, batch_size = _positive_int("epochs", epochs), _positive_int("batch_size", batch_size)
    optimizer = SGD(model.parameters(), lr, momentum, weight_decay)
    rng = np.random.default_rng(seed)
    history = []
    bar = tqdm(range(1, epochs + 1), desc=f"training on {model.backend}", unit="epoch", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        loss = train_epoch(model, optimizer, x_train, y_train, batch_size, rng)
        seconds = time.perf_counter() - start
        if not math.isfinite(loss):
            bar.close()
            raise FloatingPointError(f"the loss became {loss} in epoch {epoch}; try a smaller learning rate (lr={lr})")
        start = time.perf_counter()
        train_acc, val_acc = accuracy(model, x_train, y_train), accuracy(model, x_val, y_val)
        history.append({"epoch": epoch, "loss": loss, "train_accuracy": train_acc, "val_accuracy": val_acc,
                        "seconds": seconds, "eval_seconds": time.perf_counter() - start})
        bar.set_postfix(loss=f"{loss:.3f}", train=f"{train_acc:.1%}", val=f"{val_acc:.1%}")
    return history


# --- weights on disk ---------------------------------------------------------------------------------------------


def save_weights(model: Sequential, path: str | os.PathLike) -> Path:
    """Write every parameter of ``model`` to an ``.npz`` file, keyed like ``model.parameters()``.

    NumPy adds the ``.npz`` suffix if ``path`` lacks it; the path written is returned.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    np.savez(path, **model.parameters())
    return path


def _where(model: Sequential, key: str) -> tuple[str, bool]:
    """("layer 3 Conv2d(...)", True) for a key "3.w" of a layer that has "w"; False if the layer lacks it."""
    index, _, name = key.partition(".")
    if not (index.isdigit() and int(index) < len(model.layers)):
        return f"the model has no layer {index} (it has layers 0 to {len(model.layers) - 1})", False
    layer = model.layers[int(index)]
    return f"layer {index} {layer!r}", name in layer.params


def load_weights(model: Sequential, path: str | os.PathLike) -> None:
    """Copy the parameters saved by :func:`save_weights` into ``model``, in place.

    The file must hold exactly the model's parameters with the same shapes;
    otherwise a ValueError lists every key that is missing, unexpected or of
    the wrong shape, with its layer and both shapes, and the model is left
    unchanged. Values are cast to the model's dtype.
    """
    with np.load(path, allow_pickle=False) as stored:
        saved = {key: stored[key] for key in stored.files}
    expected = model.parameters()
    problems = []
    for key, value in expected.items():
        layer, _ = _where(model, key)
        if key not in saved:
            problems.append(f"{key}: missing from the file; {layer} needs shape {value.shape}")
        elif saved[key].shape != value.shape:
            problems.append(f"{key}: {layer}\n    has shape {value.shape}, but the file has shape {saved[key].shape}")
        elif saved[key].dtype.kind not in "fiu":
            problems.append(f"{key}: the file holds dtype {saved[key].dtype}, not numbers")
    for key in sorted(saved.keys() - expected.keys()):
        layer, _ = _where(model, key)
        owner = layer if layer.startswith("the model") else f"{layer} has no parameter {key.partition('.')[2]!r}"
        problems.append(f"{key}: in the file (shape {saved[key].shape}), but {owner}")
    if problems:
        # The file's name, not its whole path: the message lists problems, one or two short lines each.
        raise ValueError(f"the weights in {Path(path).name} do not fit this model:\n  " + "\n  ".join(problems))
    for key, value in expected.items():
        value[...] = saved[key]  # in place, so an optimizer holding these arrays keeps working
