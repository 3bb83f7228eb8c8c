"""Performance: timing, the machine profile, the roofline model and the bench suite.

- :mod:`.bench`: timing a call honestly (:func:`~.bench.time_it`,
  :func:`~.bench.compare`) and turning times into rates;
- :mod:`.system_info`: what a measurement was taken on;
- :mod:`.machine`: this machine's ceilings, measured once and cached, with
  :mod:`.fma_peak` (the compute peak) and :mod:`.stream` (memory and cache
  bandwidth);
- :mod:`.roofline`: the roofline model (its chart is
  :mod:`cnnlab.viz.roofline_plot`);
- :mod:`.suite`: the benchmark suite behind ``python -m cnnlab bench``.
"""
