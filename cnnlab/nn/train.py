"""Training a network: SGD with momentum, the training loop, and weights on disk.

One training step runs the network to its logits, takes the mean
cross-entropy loss and its gradient (the softmax and the loss differentiated
together, see :mod:`cnnlab.nn.model`), backpropagates it to every parameter and
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
import secrets
import time
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cnnlab.nn.model import Sequential

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

# images per forward pass when evaluating: large enough to be quick, small enough for
# memory
EVAL_BATCH_SIZE = 512


def _number(
    name: str,
    value,
    low: float,
    high: float = math.inf,
    high_open: bool = False,
    low_open: bool = False,
) -> float:
    """A finite real number in [low, high] (open at either end on request), or a clear
    error.

    inf and NaN are never accepted: a learning rate of inf turns every weight
    into NaN on the first step, and NaN fails every comparison.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    above = low < value if low_open else low <= value
    below = value < high if high_open else value <= high
    if not (above and below):
        interval = (
            f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        )
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def _positive_int(name: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def _check_model(model) -> Sequential:
    if not isinstance(model, Sequential):
        raise TypeError(
            f"model must be a cnnlab.nn.model.Sequential, got {type(model).__name__}"
        )
    return model


def _n_classes(model: Sequential, x_name: str, x_shape: tuple[int, ...]) -> int:
    """The number of logits the model gives an input of ``x_shape``; ValueError if x
    does not fit it.
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
    model: Sequential, x, y, x_name: str = "x", y_name: str = "y", finite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Examples x (N, ...) and integer labels y (N,) with N >= 1 that fit ``model``, or
    a clear error.

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


class SGD:
    """Stochastic gradient descent with momentum and weight decay, updating parameters
    in place.

    For every parameter ``p`` with gradient ``g``, one :meth:`step` does::

        g = g + weight_decay * p          # L2 penalty (weight_decay / 2) * |p|^2 on
        every parameter v = momentum * v + g              # velocity: a running sum of
        past gradients p = p - lr * v

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

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ):
        self.lr = _number("lr", lr, 0.0, low_open=True)
        self.momentum = _number("momentum", momentum, 0.0, 1.0, high_open=True)
        self.weight_decay = _number("weight_decay", weight_decay, 0.0)
        if not isinstance(params, Mapping):
            raise TypeError(
                f"params must be a dict of name to array, e.g. model.parameters(), "
                f"got {type(params).__name__}"
            )
        if not params:
            raise ValueError(
                "params must hold at least one array to train, got an empty dict"
            )
        self.params = dict(params)
        for name, p in self.params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(
                    f"parameter {name!r} must be a float array, got {type(p).__name__}"
                )
        self._flat = _packed_buffer(list(self.params.values()))
        if self._flat is None:
            self.velocity = {name: np.zeros_like(p) for name, p in self.params.items()}
        else:  # one velocity buffer too, and scratch for the gradients: see step
            self._velocity_flat, self._grad_flat = (
                np.zeros_like(self._flat),
                np.empty_like(self._flat),
            )
            self._scratch = np.empty_like(self._flat)
            self.velocity = _views_like(self._velocity_flat, self.params)

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter with its gradient; ``grads`` has the keys and shapes
        of ``params``.
        """
        if grads.keys() != self.params.keys():
            missing, extra = (
                sorted(self.params.keys() - grads.keys()),
                sorted(grads.keys() - self.params.keys()),
            )
            raise ValueError(
                f"grads must have the keys of params; missing {missing}, unexpected {extra}"
            )
        for name, p in self.params.items():
            if np.shape(grads[name]) != p.shape:
                raise ValueError(
                    f"the gradient of {name!r} has shape {np.shape(grads[name])}, "
                    f"but the parameter has {p.shape}"
                )
        if self._flat is not None:
            # The parameters are views of one buffer (Sequential packs them): update
            # them all at once.
            np.concatenate(
                [np.ravel(grads[name]) for name in self.params],
                out=self._grad_flat,
                casting="same_kind",
            )
            self._update(
                self._flat, self._grad_flat, self._velocity_flat, self._scratch
            )
        else:
            for name, p in self.params.items():
                self._update(p, grads[name], self.velocity[name], None)

    def _update(
        self, p: np.ndarray, g: np.ndarray, v: np.ndarray, scratch: np.ndarray | None
    ) -> None:
        """v = momentum * v + g + weight_decay * p, then p -= lr * v, in place."""
        v *= self.momentum
        v += g
        if self.weight_decay:
            v += np.multiply(p, self.weight_decay, out=scratch)
        p -= np.multiply(v, self.lr, out=scratch)


def _packed_buffer(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The buffer that ``arrays`` tile exactly, one after the other in this order, or
    None.
    """
    base = arrays[0].base if arrays else None
    if (
        base is None
        or base.ndim != 1
        or not base.flags.c_contiguous
        or sum(a.size for a in arrays) != base.size
    ):
        return None
    start = base.__array_interface__["data"][0]
    for a in arrays:
        if (
            a.base is not base
            or not a.flags.c_contiguous
            or a.__array_interface__["data"][0] != start
        ):
            return None
        start += a.nbytes
    return base


def _views_like(
    buffer: np.ndarray, arrays: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Views of consecutive parts of ``buffer`` with the shapes of ``arrays``."""
    views, start = {}, 0
    for name, a in arrays.items():
        views[name] = buffer[start : start + a.size].reshape(a.shape)
        start += a.size
    return views


def train_step(
    model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray
) -> float:
    """One step of training on the batch x (N, ...) with integer labels y (N,); returns
    the mean loss.

    A loss that is NaN or inf raises FloatingPointError before the update,
    so the weights are left as they were: a step with it would make every
    weight NaN.
    """
    _check_training(model, optimizer)
    return _train_step(model, optimizer, x, y)


def _train_step(
    model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray
) -> float:
    """:func:`train_step` for a model and optimizer already checked; x and y are checked
    by the operators.
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


def _why_not_finite(model: Sequential, optimizer: SGD, x) -> str:
    """The likely cause of a loss or weights that are not finite; runs only once
    training has failed.
    """
    if not np.isfinite(np.asarray(x, dtype=float)).all():
        return "the batch x holds NaN or inf"
    if not all(np.isfinite(p).all() for p in model.parameters().values()):
        return f"the weights already hold NaN or inf: try a smaller learning rate (lr={optimizer.lr:g})"
    return f"training diverged: try a smaller learning rate (lr={optimizer.lr:g})"


def _check_training(model, optimizer) -> None:
    """A Sequential, and an SGD that updates that model's own parameter arrays."""
    _check_model(model)
    if not isinstance(optimizer, SGD):
        raise TypeError(
            f"optimizer must be a cnnlab.nn.train.SGD, got {type(optimizer).__name__}"
        )
    params = model.parameters()
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
    """One pass over (x, y) in mini-batches of a random order drawn from ``rng``;
    returns the mean loss.

    The last batch holds what is left over, so every example is used once.
    The mean is over examples, so a short last batch counts for less.
    Everything is checked before the first step: x (N, ...) must fit the
    model and hold finite numbers, y (N,) integer labels of its classes,
    N >= 1, and ``batch_size`` an int >= 1. A loss or weights that stop
    being finite raise FloatingPointError (see :func:`train_step`).
    """
    _check_training(model, optimizer)
    x, y = _check_examples(model, x, y, finite=True)
    batch_size = _positive_int("batch_size", batch_size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a np.random.Generator, e.g. np.random.default_rng(0), got {rng!r}"
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
    buffers = (
        [optimizer._flat] if optimizer._flat is not None else optimizer.params.values()
    )
    if not all(np.isfinite(p).all() for p in buffers):
        raise FloatingPointError(
            "the last step of the epoch made weights NaN or inf; "
            f"try a smaller learning rate (lr={optimizer.lr:g})"
        )
    return total / len(x)


def predict(
    model: Sequential, x: np.ndarray, batch_size: int = EVAL_BATCH_SIZE
) -> np.ndarray:
    """The predicted class of every example of x (N, ...), int64 (N,): the largest
    logit, batch by batch.

    Zero examples, x of shape (0, ...) that fits the model, give an empty
    result, as a PyTorch model and ``argmax`` give for an empty batch.
    """
    _check_model(model)
    batch_size = _positive_int("batch_size", batch_size)
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
    """The fraction of examples of x (N, ...) whose predicted class is the label in y
    (N,).

    y must hold one integer label per example, each a class of the model;
    N must be at least 1, since the accuracy of no examples is undefined.
    """
    _check_model(model)
    x, y = _check_examples(model, x, y)
    return float(np.mean(predict(model, x, batch_size) == y))


def _check_data(
    model: Sequential, data
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise TypeError("data must be a tuple (x_train, y_train, x_val, y_val)")
    x_train, y_train = _check_examples(
        model, data[0], data[1], "x_train", "y_train", finite=True
    )
    x_val, y_val = _check_examples(model, data[2], data[3], "x_val", "y_val")
    return x_train, y_train, x_val, y_val


def _seed(name: str, value) -> int | None:
    """A seed for np.random.default_rng: an int >= 0 or None (fresh entropy)."""
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int >= 0 or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return int(value)


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
    """Train ``model`` with :class:`SGD` on shuffled mini-batches and return its
    history.

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
    _check_model(model)
    x_train, y_train, x_val, y_val = _check_data(model, data)
    epochs, batch_size = (
        _positive_int("epochs", epochs),
        _positive_int("batch_size", batch_size),
    )
    optimizer = SGD(model.parameters(), lr, momentum, weight_decay)
    rng = np.random.default_rng(_seed("seed", seed))
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


# --- weights on disk
# ---------------------------------------------------------------------------------------------


# Weights files are the .npz archives of np.savez: a zip file of one .npy member per
# parameter. Messages name a file as the user gave it, but only by its name when the
# path is absolute, so a page of the book never shows a folder of the machine that built
# it.


def _weights_file(path) -> Path:
    """The file save_weights writes for ``path``: ``path`` if it ends in .npz, else with
    .npz added.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _shown(path: Path) -> str:
    return path.name if path.is_absolute() else str(path)


def save_weights(
    model: Sequential, path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write every parameter of ``model`` to an ``.npz`` file, keyed like
    ``model.parameters()``.

    ``.npz`` is added to ``path`` if it lacks it, as ``np.savez`` does; the
    file written is returned, and :func:`load_weights` reads the same file
    for the same ``path``. An existing file is kept, with a FileExistsError,
    unless ``overwrite=True``: a file of weights can hold hours of training.
    The archive is written to a temporary file beside it and then renamed,
    so an interrupted save never leaves a truncated file.
    """
    _check_model(model)
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    file = _weights_file(path)
    if file.is_dir():
        raise IsADirectoryError(
            f"cannot write weights to {_shown(file)}: it is a folder"
        )
    if file.exists() and not overwrite:
        raise FileExistsError(
            f"{_shown(file)} exists; pass overwrite=True to replace it"
        )
    if not file.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write weights to {_shown(file)}: no folder {_shown(file.parent)}"
        )
    # A new file of a fresh name ("x": never an existing one), created with the usual
    # permissions.
    temporary = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as out:
            np.savez(out, **model.parameters())
        os.replace(temporary, file)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return file


def _where(model: Sequential, key: str) -> tuple[str, bool]:
    """("layer 3 Conv2d(...)", True) for a key "3.w" of a layer that has "w"; False if
    the layer lacks it.
    """
    index, _, name = key.partition(".")
    if not (index.isdigit() and int(index) < len(model.layers)):
        return (
            f"the model has no layer {index} (it has layers 0 to {len(model.layers) - 1})",
            False,
        )
    layer = model.layers[int(index)]
    return f"layer {index} {layer!r}", name in layer.params


def _file_to_read(path) -> Path:
    """The file save_weights(model, path) writes, or else ``path`` itself if that is a
    file.
    """
    file = _weights_file(path)
    if not file.exists() and Path(path).exists():
        file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"no weights file {_shown(file)}")
    if not file.is_file():
        raise IsADirectoryError(f"{_shown(file)} is not a file of weights but a folder")
    with open(file, "rb") as f:
        start = f.read(6)
    if start == b"\x93NUMPY":
        raise ValueError(
            f"{_shown(file)} is a .npy file, one array; weights are an .npz archive "
            "of all the parameters, as save_weights writes"
        )
    if not zipfile.is_zipfile(file):
        raise ValueError(
            f"{_shown(file)} is not an .npz archive of weights (as save_weights writes): "
            "it may be truncated or of another format"
        )
    return file


def _headers(
    archive: zipfile.ZipFile,
) -> tuple[dict[str, tuple[tuple[int, ...], np.dtype]], list[str]]:
    """Shape and dtype of every array in the archive, read from the .npy headers, no
    data.

    Returns the headers by key ("0.w" for the member "0.w.npy") and the
    problems with members that are not arrays of numbers.
    """
    headers, problems = {}, []
    names = archive.namelist()
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name}: stored more than once")
    for name in names:
        key = name.removesuffix(".npy")
        if key == name:
            problems.append(f"{name}: not an array (.npy) member")
            continue
        with archive.open(name) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                problems.append(
                    f"{key}: .npy format version {version} is not supported"
                )
                continue
        if dtype.hasobject or dtype.kind not in "fiu":
            problems.append(f"{key}: the file holds dtype {dtype}, not numbers")
        headers[key] = (shape, dtype)
    return headers, problems


def load_weights(model: Sequential, path: str | os.PathLike) -> None:
    """Copy the parameters saved by :func:`save_weights` into ``model``, in place.

    Reads the file that ``save_weights(model, path)`` writes (``path`` with
    ``.npz`` added if it lacks it), or ``path`` itself if only that exists.
    The file must hold exactly the model's parameters with the same shapes;
    otherwise a ValueError lists every key that is missing, unexpected or of
    the wrong shape, with its layer and both shapes, and the model is left
    unchanged. Shapes and dtypes are read from the archive's headers before
    any array is, so a file cannot make this allocate more than the model
    holds. Values are cast to the model's dtype. Every error names the file.
    """
    _check_model(model)
    file = _file_to_read(path)
    try:
        with zipfile.ZipFile(file) as archive:
            saved = _checked_arrays(model, archive, _shown(file))
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        ValueError,
        OSError,
        NotImplementedError,
        # what zipfile and numpy raise on a damaged or unusual archive
        RuntimeError,
    ) as err:
        if str(err).startswith(f"the weights in {_shown(file)} "):
            raise  # our own report of what does not fit
        raise ValueError(
            f"{_shown(file)} is not a readable archive of weights: {err}"
        ) from None
    for key, value in model.parameters().items():
        # in place, so an optimizer holding these arrays keeps working
        value[...] = saved[key]


def _checked_arrays(
    model: Sequential, archive: zipfile.ZipFile, shown: str
) -> dict[str, np.ndarray]:
    """The model's arrays from the archive, once its headers show that they fit the
    model.
    """
    headers, problems = _headers(archive)
    expected = model.parameters()
    for key, value in expected.items():
        layer, _ = _where(model, key)
        if key not in headers:
            problems.append(
                f"{key}: missing from the file; {layer} needs shape {value.shape}"
            )
        elif headers[key][0] != value.shape:
            problems.append(
                f"{key}: {layer}\n    has shape {value.shape}, but the file has shape {headers[key][0]}"
            )
    for key in sorted(headers.keys() - expected.keys()):
        layer, _ = _where(model, key)
        owner = (
            layer
            if layer.startswith("the model")
            else f"{layer} has no parameter {key.partition('.')[2]!r}"
        )
        problems.append(f"{key}: in the file (shape {headers[key][0]}), but {owner}")
    if problems:
        raise ValueError(
            f"the weights in {shown} do not fit this model:\n  " + "\n  ".join(problems)
        )
    saved = {}
    for key in expected:
        with archive.open(key + ".npy") as member:
            saved[key] = np.lib.format.read_array(member, allow_pickle=False)
            # reaching the end also makes zipfile check the member's CRC-32
            if member.read(1):
                raise ValueError(
                    f"{key}: more data than its header's shape {saved[key].shape} holds"
                )
    return saved
