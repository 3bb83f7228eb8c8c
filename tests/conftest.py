import os

import matplotlib
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

# Tests pick kernels through the static table (and force them by replacing its
# chooser), so a race's outcome on a busy machine never decides what a test runs;
# tests/test_tuner.py turns autotuning on where it tests it.
os.environ["CNNLAB_AUTOTUNE"] = "0"

# The first call of a Numba kernel compiles it, so no per-example deadline.
settings.register_profile(
    "cnnlab", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", parent=settings.get_profile("cnnlab"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cnnlab"))
