"""Teaching: the exercise checkers, the grading engine behind them, the student edition.

- :mod:`~cnnlab.teaching.checkers`: one checker per exercise, by chapter.
- :mod:`~cnnlab.teaching.grading`: the engine that runs and judges a student's
  function, with :mod:`~cnnlab.teaching.safe_call` (one guarded call),
  :mod:`~cnnlab.teaching.judging` (the comparison and its feedback) and
  :mod:`~cnnlab.teaching.guard` (undoing a student's patches).
- :mod:`~cnnlab.teaching.student_edition`: the book without solutions
  (``python -m cnnlab.teaching.student_edition notebooks student``), with
  :mod:`~cnnlab.teaching.without_solutions` (one notebook) and
  :mod:`~cnnlab.teaching.edition_files` (the folders, never losing a student's work).
- :mod:`~cnnlab.teaching.nbgrader`: the exercises as an nbgrader course
  (``python -m cnnlab.teaching.nbgrader notebooks``), one assignment per chapter,
  with :mod:`~cnnlab.teaching.nbgrader_notebook` (one notebook's answer and test
  cells).
"""
