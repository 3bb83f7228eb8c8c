"""What the book shows: figures, charts, text tables, widgets and responsive figures.

- :mod:`cnnlab.viz.plots`: figures of images, kernels, sliding windows and
  digits; :mod:`cnnlab.viz.training_plots`: the learning curves of several runs;
- :mod:`cnnlab.viz.charts`: timing charts (speed-ups, the spread of timings);
- :mod:`cnnlab.viz.tables`: aligned plain-text tables of what a chapter measured;
- :mod:`cnnlab.viz.widgets`: live ipywidgets versions of the figures, for readers
  who run the notebooks;
- :mod:`cnnlab.viz.frames` and :mod:`cnnlab.viz.explorers`: figures whose
  controls work on the published page, every setting drawn ahead;
- :mod:`cnnlab.viz.digit_pad`: a digit pad that runs a trained network in the
  reader's browser;
- :mod:`cnnlab.viz.roofline_plot` and :mod:`cnnlab.viz.label_placement`: the
  roofline chart and where its labels go.
"""
