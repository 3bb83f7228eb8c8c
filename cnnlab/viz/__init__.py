"""What the book shows: figures, charts, text tables and live widgets.

- :mod:`cnnlab.viz.plots`: figures of images, kernels and sliding windows;
- :mod:`cnnlab.viz.charts`: timing charts (speed-ups, the spread of timings);
- :mod:`cnnlab.viz.tables`: aligned plain-text tables of what a chapter measured;
- :mod:`cnnlab.viz.widgets`: live ipywidgets versions of the figures;
- :mod:`cnnlab.viz.roofline_plot` and :mod:`cnnlab.viz.label_placement`: the
  roofline chart and where its labels go.
"""
