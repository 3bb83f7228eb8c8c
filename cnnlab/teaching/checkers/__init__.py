"""Checkers for the book's exercises, e.g. ``check_conv2d(my_conv2d)``.

Each checker runs a student's function on a graded series of cases and
returns a :class:`cnnlab.teaching.grading.Report` whose text is the feedback. The
checkers live in one module per part of the book and are all importable
from here.
"""

from cnnlab.teaching.checkers import basics, layers, limits, training, vectorize
from cnnlab.teaching.checkers.basics import *  # noqa: F401,F403
from cnnlab.teaching.checkers.layers import *  # noqa: F401,F403
from cnnlab.teaching.checkers.limits import *  # noqa: F401,F403
from cnnlab.teaching.checkers.training import *  # noqa: F401,F403
from cnnlab.teaching.checkers.vectorize import *  # noqa: F401,F403

__all__ = [
    *basics.__all__,
    *vectorize.__all__,
    *layers.__all__,
    *limits.__all__,
    *training.__all__,
]
