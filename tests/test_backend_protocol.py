"""Every backend meets the Backend Protocol: each operator, with the same signature.

mypy checks the same at the bottom of cnnlab/backends/protocol.py, where the three
backend modules are assigned to a tuple of ``Backend``; this test checks it at run
time, parameter by parameter, so a backend that renames an argument or changes a
default fails here even without mypy.
"""

import inspect
import subprocess
import sys

import pytest

import cnnlab
from cnnlab.backends.protocol import OPERATORS, Backend

EXPECTED = [
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "relu",
    "linear",
    "softmax",
    "conv2d_backward",
    "max_pool2d_backward",
    "avg_pool2d_backward",
    "relu_backward",
    "linear_backward",
    "softmax_cross_entropy",
]


def protocol_signature(name):
    """The Protocol member's signature without ``self``."""
    signature = inspect.signature(getattr(Backend, name))
    return signature.replace(parameters=list(signature.parameters.values())[1:])


def test_the_protocol_lists_every_operator():
    assert list(OPERATORS) == EXPECTED


@pytest.mark.parametrize("name", cnnlab.BACKENDS)
@pytest.mark.parametrize("operator", EXPECTED)
def test_backend_has_the_operator_with_the_protocol_signature(name, operator):
    module = cnnlab.backend(name)
    assert callable(getattr(module, operator, None)), f"{name} has no {operator}"
    ours = inspect.signature(getattr(module, operator))
    theirs = protocol_signature(operator)
    described = [(p.name, p.kind, p.default) for p in ours.parameters.values()]
    expected = [(p.name, p.kind, p.default) for p in theirs.parameters.values()]
    assert described == expected, f"{name}.{operator}"
    # The same annotations, as written (every module uses postponed annotations).
    annotations = [p.annotation for p in ours.parameters.values()]
    assert annotations == [p.annotation for p in theirs.parameters.values()]
    assert ours.return_annotation == theirs.return_annotation


def test_the_protocol_does_not_load_numba():
    """The static check imports the backends only for mypy, never at run time."""
    code = "import cnnlab.backends.protocol, sys; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
