"""The standard benchmark suite behind ``python -m cnnlab bench``.

Each case (a convolution, a pooling, a whole LeNet forward pass, an epoch of
training) runs on every backend in one process, in interleaved rounds
(:func:`cnnlab.perf.bench.compare`), after each backend's output has been
checked against NumPy's. If PyTorch is installed, its CPU kernels are timed
too, as a reference from a tuned library; cnnlab never depends on it. The
pure-Python backend runs on a part of each case and its time is
extrapolated; the results say ``"extrapolated": true``.

The rooms of the suite, in the order a run goes through them:

- :mod:`.cases`: the case catalog (:data:`CASES`, :data:`TINY_CASES`,
  :data:`BOOK_CASES`, each a :class:`BenchCase`);
- :mod:`.workloads`: a case turned into inputs and calls to time, behind the
  :class:`Workload` interface;
- :mod:`.torch_reference`: the same work in PyTorch, when it is installed;
- :mod:`.run`: :func:`run_case`, :func:`run_suite` and the book's cached run,
  :func:`book_results`;
- :mod:`.report`: :func:`summary_table`, :func:`roofline_table`, the charts
  and :func:`write_results` (with :mod:`.output_dir`, the checks of ``--out``);
- :mod:`.cli`: the command's options and :func:`~.cli.main`.

The roofs come from the machine profile (:func:`cnnlab.perf.machine.profile`),
the same ceilings every chapter quotes.
"""

from cnnlab.perf.suite.cases import (
    BOOK_CASES,
    CASES,
    TINY_CASES,
    TRAIN_NETWORK,
    TRAIN_SETTINGS,
    BenchCase,
)
from cnnlab.perf.suite.output_dir import OUTPUT_FILES
from cnnlab.perf.suite.report import (
    cases_roofline_chart,
    cases_speedup_chart,
    roof_points,
    roofline_table,
    roofs_of,
    summary_table,
    write_results,
)
from cnnlab.perf.suite.run import (
    MAX_REPEAT,
    SCHEMA_VERSION,
    available_backends,
    book_results,
    ceilings,
    run_case,
    run_suite,
)
from cnnlab.perf.suite.torch_reference import torch_available
from cnnlab.perf.suite.workloads import (
    WORKLOADS,
    ConvWorkload,
    LenetWorkload,
    PoolWorkload,
    TrainWorkload,
    Workload,
)

__all__ = [
    "BOOK_CASES",
    "CASES",
    "TINY_CASES",
    "TRAIN_NETWORK",
    "TRAIN_SETTINGS",
    "BenchCase",
    "OUTPUT_FILES",
    "cases_roofline_chart",
    "cases_speedup_chart",
    "roof_points",
    "roofline_table",
    "roofs_of",
    "summary_table",
    "write_results",
    "MAX_REPEAT",
    "SCHEMA_VERSION",
    "available_backends",
    "book_results",
    "ceilings",
    "run_case",
    "run_suite",
    "torch_available",
    "WORKLOADS",
    "ConvWorkload",
    "LenetWorkload",
    "PoolWorkload",
    "TrainWorkload",
    "Workload",
]
