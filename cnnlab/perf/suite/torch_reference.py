"""PyTorch as a reference: the same work in a tuned library, when it is installed.

cnnlab never depends on PyTorch. :func:`torch_available` asks whether it is
installed without importing it; :func:`load_torch` imports it on first use.
The builders here turn a cnnlab network into the same computation in
``torch.nn.functional``, with the same weights: each layer gives its own
twin (:meth:`cnnlab.nn.Layer.torch_twin`), so nothing here needs to
know the kinds of layer.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from cnnlab.nn import Sequential
from cnnlab.perf.suite.cases import TRAIN_SETTINGS

__all__ = [
    "TORCH",
    "label",
    "torch_available",
    "load_torch",
    "torch_forward",
    "torch_epoch",
]

TORCH = "torch"
LABELS = {TORCH: "torch (reference)"}


def label(implementation: str) -> str:
    """How an implementation is named in tables and charts."""
    return LABELS.get(implementation, implementation)


def torch_available() -> bool:
    """True if PyTorch can be imported; it is never imported just to find out."""
    return importlib.util.find_spec(TORCH) is not None


@functools.cache
def load_torch() -> ModuleType:
    """Import PyTorch on first use, with one thread per logical core."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def _torch_steps(
    model: Sequential, params: list[dict[str, Any]]
) -> list[Callable[[Any], Any]]:
    """The layers of ``model`` as torch calls.

    Layer i uses the torch tensors ``params[i]``.
    """
    torch = load_torch()
    return [
        layer.torch_twin(torch, p)
        for layer, p in zip(model.layers, params, strict=True)
    ]


def torch_forward(model: Sequential) -> Callable[[np.ndarray], np.ndarray]:
    """The same network, with the same weights, in torch.nn.functional."""
    torch = load_torch()
    params = [
        {name: torch.from_numpy(value) for name, value in layer.params.items()}
        for layer in model.layers
    ]
    steps = _torch_steps(model, params)

    def forward(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x)
        for step in steps:
            t = step(t)
        return t.numpy()

    return forward


def torch_epoch(
    model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int
) -> Callable[[], np.ndarray]:
    """One epoch of the same training in PyTorch: weights, batches, loss and SGD.

    Each call starts again from the weights ``model`` had when this was built,
    visits the examples in the order ``np.random.default_rng(0)`` shuffles them
    into, and returns the mean loss as an array of one float32.
    """
    torch = load_torch()
    start = [
        {name: torch.from_numpy(value.copy()) for name, value in layer.params.items()}
        for layer in model.layers
    ]
    params = [
        {name: value.clone().requires_grad_() for name, value in layer.items()}
        for layer in start
    ]
    # cross_entropy takes the logits
    steps = _torch_steps(model, params)[: model.n_logit_layers]
    flat = [p for layer in params for p in layer.values()]
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def epoch() -> np.ndarray:
        with torch.no_grad():
            for layer, initial in zip(params, start, strict=True):
                for name, value in layer.items():
                    value.copy_(initial[name])
        optimizer = torch.optim.SGD(flat, **TRAIN_SETTINGS)
        order = np.random.default_rng(0).permutation(len(x))
        total = 0.0
        for first in range(0, len(x), batch_size):
            batch = torch.from_numpy(order[first : first + batch_size])
            t = tx[batch]
            for step in steps:
                t = step(t)
            loss = torch.nn.functional.cross_entropy(t, ty[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        return np.array([total / len(x)], np.float32)

    return epoch
