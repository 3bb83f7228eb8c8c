"""``python -m cnnlab.grade SUBMISSIONS... --out grades/``: grade a class's notebooks.

See :mod:`cnnlab.teaching.classroom` and the book's page "Teaching with this book".
"""

import sys

from cnnlab.teaching.classroom.cli import main

if __name__ == "__main__":
    sys.exit(main())
