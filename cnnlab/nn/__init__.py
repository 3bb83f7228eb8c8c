"""Networks: layers, the Sequential container and LeNet, and training.

Every public name is importable from here (``from cnnlab.nn import lenet, fit``);
the modules say where each lives:

- :mod:`cnnlab.nn.layer`: the :class:`Layer` contract and :func:`he_normal`;
- :mod:`cnnlab.nn.conv`: :class:`Conv2d`, :class:`MaxPool2d`, :class:`AvgPool2d`;
- :mod:`cnnlab.nn.linear`: :class:`Flatten`, :class:`Linear`;
- :mod:`cnnlab.nn.activations`: :class:`ReLU`, :class:`Softmax`;
- :mod:`cnnlab.nn.sequential`: :class:`Sequential` and :func:`lenet`;
- :mod:`cnnlab.nn.sgd`: the optimizer :class:`SGD`;
- :mod:`cnnlab.nn.train`: :func:`train_step`, :func:`train_epoch`, :func:`fit`,
  :func:`predict`, :func:`accuracy`;
- :mod:`cnnlab.nn.weights`: :func:`save_weights`, :func:`load_weights`.
"""

from cnnlab.nn.activations import ReLU, Softmax
from cnnlab.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from cnnlab.nn.layer import Layer, he_normal
from cnnlab.nn.linear import Flatten, Linear
from cnnlab.nn.sequential import Sequential, lenet
from cnnlab.nn.sgd import SGD
from cnnlab.nn.train import accuracy, fit, predict, train_epoch, train_step
from cnnlab.nn.weights import load_weights, save_weights

__all__ = [
    "Layer",
    "Conv2d",
    "ReLU",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
    "Linear",
    "Softmax",
    "he_normal",
    "Sequential",
    "lenet",
    "SGD",
    "train_step",
    "train_epoch",
    "fit",
    "predict",
    "accuracy",
    "save_weights",
    "load_weights",
]
