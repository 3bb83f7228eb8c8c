"""Checkers for the book's exercises, e.g. ``check_conv2d(my_conv2d)``.

Each checker runs a student's function on a graded series of cases and
returns a :class:`cnnlab.grading.Report` whose text is the feedback. The
checkers live in one module per part of the book and are all importable
from here.
"""
from .basics import *  # noqa: F401,F403
from .vectorize import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .limits import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
