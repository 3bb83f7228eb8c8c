"""The exercise checkers, by the name every notebook's check cell imports.

``from cnnlab.exercises import check_conv2d`` then ``check_conv2d(my_conv2d)``.
The checkers themselves live in :mod:`cnnlab.teaching.checkers`, one module
per chapter of the book.
"""

from cnnlab.teaching.checkers import *  # noqa: F403
from cnnlab.teaching.checkers import __all__  # noqa: F401
