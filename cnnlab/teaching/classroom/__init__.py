"""Grading a whole class: each notebook in its own kernel, the checks from outside.

- :mod:`~cnnlab.teaching.classroom.submissions`: the class's notebooks, found
  in files, zips and folders, one per student.
- :mod:`~cnnlab.teaching.classroom.one`: one submission graded, in a process
  of its own.
- :mod:`~cnnlab.teaching.classroom.remote`: the kernel under limits.
- :mod:`~cnnlab.teaching.classroom.calls`: the student's functions called from
  the grader's process; :mod:`~cnnlab.teaching.classroom.in_kernel` is their
  side in the kernel.
- :mod:`~cnnlab.teaching.classroom.records`: ``grades.csv``, the feedback
  files, and the record that skips unchanged work and keeps teachers' edits.
- :mod:`~cnnlab.teaching.classroom.cli`: ``python -m cnnlab.grade``, on Dask.
"""
