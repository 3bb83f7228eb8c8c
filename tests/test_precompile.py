"""Compiling the kernels a tuning races in worker processes: the caller then loads
them from Numba's cache instead of compiling them again."""
import json
import os
import subprocess
import sys

from cnnlab.backends.numba import precompile

# A 1x1 stride-2 convolution: candidates pointwise and im2col, the quickest to compile.
CALL = precompile.ConvCall((1, 3, 9, 9), (4, 3, 1, 1), (2, 2), (0, 0), "<f4")


def test_tasks_group_the_calls_by_candidate_kernel():
    three = precompile.ConvCall((2, 8, 16, 16), (8, 8, 3, 3), (1, 1), (1, 1), "<f4")
    tasks = precompile._tasks([CALL, three])
    assert tasks == {
        "pointwise": [CALL],
        "im2col": [CALL],
        "direct": [three],
        "blocked": [three],
        "winograd": [three],
    }


def test_one_process_compiles_nothing_ahead(monkeypatch):
    monkeypatch.setattr(precompile, "_run_kernel", None)  # would fail if called
    precompile.compile_conv_kernels([CALL], processes=1)
    precompile.compile_conv_kernels([], processes=2)


def test_the_caller_loads_what_the_workers_compiled(tmp_path):
    """With an empty Numba cache, a worker compiles the first kernel while the caller
    compiles the last: the caller then loads the worker's from the cache (a hit)
    instead of compiling it again, and compiled its own once (a miss)."""
    code = f"""
import json, numpy as np
from cnnlab.backends.numba import precompile
from cnnlab.backends.numba.conv_kernels import CONV_KERNELS
from cnnlab.backends.numba.kernels import conv_gemm, conv_phases

call = precompile.ConvCall{tuple(CALL)!r}
precompile.compile_conv_kernels([call], processes=2)
x, w = np.ones(call.x_shape, "f4"), np.ones(call.w_shape, "f4")
b, out = np.zeros(4, "f4"), np.empty((1, 4, 5, 5), "f4")
for name in ("pointwise", "im2col"):
    CONV_KERNELS[name](x, w, b, call.stride, call.padding, out)
    assert (out == 3).all(), name
stats = {{}}
for kernel in (conv_gemm.conv2d_pointwise_serial, conv_phases.conv2d_phases_serial):
    stats[kernel.__name__] = (sum(kernel.stats.cache_hits.values()),
                              sum(kernel.stats.cache_misses.values()))
print(json.dumps(stats))
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout.splitlines()[-1])
    assert stats == {
        "conv2d_pointwise_serial": [1, 0],  # the worker's
        "conv2d_phases_serial": [0, 1],  # the caller's own
    }


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """Workers do not import the caller's script again (multiprocessing's spawn
    would, running it once more in every worker)."""
    script = tmp_path / "tune_here.py"
    script.write_text(f"""
from cnnlab.backends.numba import precompile

precompile.compile_conv_kernels([precompile.ConvCall{tuple(CALL)!r}], processes=2)
print("ran")
""")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ran"]
    assert "Traceback" not in result.stderr


def test_a_worker_that_dies_leaves_its_kernels_to_the_caller(monkeypatch):
    ran = []
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a worker that exits at once
    monkeypatch.setattr(precompile, "_run_kernel", lambda name, calls, threads: ran.append(name))
    precompile.compile_conv_kernels([CALL], processes=2)
    assert sorted(ran) == ["im2col", "pointwise"]
