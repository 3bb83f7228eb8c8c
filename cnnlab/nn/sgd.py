"""SGD with momentum and weight decay: the optimizer of :func:`cnnlab.nn.fit`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cnnlab.validation import validate_number

__all__ = ["SGD"]


class SGD:
    """Stochastic gradient descent with momentum and weight decay, in place.

    For every parameter ``p`` with gradient ``g``, one :meth:`step` does::

        g = g + weight_decay * p  # L2 penalty (weight_decay / 2) * |p|^2
        v = momentum * v + g  # velocity: a running sum of past gradients
        p = p - lr * v

    the heavy-ball method of Polyak (1964) in the form PyTorch's ``torch.optim.SGD``
    uses (Sutskever et al. 2013 discuss both forms). Velocities start at zero.
    When the parameters are the views of one buffer that
    :class:`~cnnlab.nn.sequential.Sequential` packs them into, a step updates the
    whole buffer at once: a few NumPy calls in all rather than a few per
    parameter array.

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
    ) -> None:
        self.lr = validate_number("lr", lr, 0.0, low_open=True)
        self.momentum = validate_number("momentum", momentum, 0.0, 1.0, high_open=True)
        self.weight_decay = validate_number("weight_decay", weight_decay, 0.0)
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
            self._velocity_flat = np.zeros_like(self._flat)
            self._grad_flat = np.empty_like(self._flat)
            self._scratch = np.empty_like(self._flat)
            self.velocity = _views_like(self._velocity_flat, self.params)

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter with its gradient, in place.

        ``grads`` has the keys and shapes of ``params``.
        """
        if grads.keys() != self.params.keys():
            missing = sorted(self.params.keys() - grads.keys())
            extra = sorted(grads.keys() - self.params.keys())
            raise ValueError(
                "grads must have the keys of params; "
                f"missing {missing}, unexpected {extra}"
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

    def all_finite(self) -> bool:
        """True if no parameter holds NaN or inf.

        One check of the packed buffer, if there is one.
        """
        arrays = [self._flat] if self._flat is not None else self.params.values()
        return all(np.isfinite(p).all() for p in arrays)

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
    """The buffer that ``arrays`` tile exactly, in this order, or None."""
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
