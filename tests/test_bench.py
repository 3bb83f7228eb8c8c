"""cnnlab.perf.bench: counts, statistics and bookkeeping. Measured speed is never asserted (the machine is shared)."""
import subprocess
import sys

import numpy as np
import pytest

from cnnlab import backend
from cnnlab.perf import bench


# --- FLOP counts against hand counts ---------------------------------------------------------------------------


def test_conv2d_flops_single_channel():
    # 5x5 input, 3x3 kernel: 3x3 outputs, each 9 multiplies and 9 adds.
    assert bench.conv2d_flops((1, 1, 5, 5), (1, 1, 3, 3)) == 2 * 9 * 9 == 162


def test_conv2d_flops_padding_keeps_size():
    # padding 1: 5x5 outputs of 9 multiply-adds.
    assert bench.conv2d_flops((1, 1, 5, 5), (1, 1, 3, 3), padding=1) == 2 * 25 * 9


def test_conv2d_flops_stride():
    # stride 2: outputs at rows/cols 0 and 2, so 2x2 outputs.
    assert bench.conv2d_flops((1, 1, 5, 5), (1, 1, 3, 3), stride=2) == 2 * 4 * 9


def test_conv2d_flops_batch_and_channels():
    # N=2 images, C=3 channels, F=4 filters, 3x3 outputs: each output sums 3*3*3 products.
    assert bench.conv2d_flops((2, 3, 5, 5), (4, 3, 3, 3)) == 2 * (2 * 4 * 3 * 3) * (3 * 3 * 3)


def test_conv2d_flops_pairs():
    # 7x6 input, 3x2 kernel, stride (2, 1), padding (1, 0): OH = (7+2-3)//2+1 = 4, OW = 6-2+1 = 5.
    assert bench.conv2d_flops((1, 1, 7, 6), (1, 1, 3, 2), stride=(2, 1), padding=(1, 0)) == 2 * 4 * 5 * 6


def test_conv2d_flops_matches_explicit_count():
    """Count the multiply-adds a loop really does, on a shape with everything non-trivial."""
    x_shape, w_shape, stride, padding = (2, 3, 6, 5), (4, 3, 3, 2), 2, 1
    out = backend("numpy").conv2d(np.zeros(x_shape, np.float32), np.zeros(w_shape, np.float32), stride=stride, padding=padding)
    n, f, oh, ow = out.shape
    multiply_adds = sum(1 for _ in np.ndindex(n, f, oh, ow, *w_shape[1:]))
    assert bench.conv2d_flops(x_shape, w_shape, stride, padding) == 2 * multiply_adds


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((1, 1, 5), (1, 1, 3, 3), {}),
        ((1, 2, 5, 5), (1, 3, 3, 3), {}),
        ((1, 1, 2, 2), (1, 1, 3, 3), {}),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": -1}),
    ],
)
def test_conv2d_flops_bad_shapes(x_shape, w_shape, kwargs):
    with pytest.raises(ValueError):
        bench.conv2d_flops(x_shape, w_shape, **kwargs)


def test_gflops():
    assert bench.gflops(2e9, 0.5) == pytest.approx(4.0)
    assert bench.gflops(3e9, bench.Timing([1.0, 2.0, 3.0])) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="0"):
        bench.gflops(1e9, 0.0)


# --- Timing statistics on known samples ------------------------------------------------------------------------


def test_timing_statistics():
    t = bench.Timing([5.0, 1.0, 4.0, 2.0, 3.0])
    assert t.median == 3.0
    assert t.min == 1.0
    assert t.q1 == 2.0
    assert t.q3 == 4.0
    assert t.spread == pytest.approx((4.0 - 2.0) / 3.0)


def test_timing_single_sample_has_no_spread():
    t = bench.Timing([0.25])
    assert t.median == t.min == t.q1 == t.q3 == 0.25
    assert t.spread == 0.0


def test_timing_str_and_repr():
    t = bench.Timing([1.20e-3, 1.23e-3, 1.26e-3], number=10)
    assert str(t) == "1.23 ms ± 2%"
    assert repr(t) == "<Timing 1.23 ms ± 2% (3 samples of 10 calls)>"


@pytest.mark.parametrize("samples", [[], [1.0, -1.0], [float("nan")]])
def test_timing_rejects_bad_samples(samples):
    with pytest.raises(ValueError):
        bench.Timing(samples)


# --- format_time -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0, "0 ns"),
        (812e-9, "812 ns"),
        (999.7e-9, "1 µs"),
        (12.5e-6, "12.5 µs"),
        (1.234e-3, "1.23 ms"),
        (0.5, "500 ms"),
        (4.5, "4.5 s"),
        (5000.0, "5000 s"),
    ],
)
def test_format_time(seconds, text):
    assert bench.format_time(seconds) == text


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), "1 s"])
def test_format_time_rejects(seconds):
    with pytest.raises(ValueError):
        bench.format_time(seconds)


# --- time_it and compare ---------------------------------------------------------------------------------------


def test_time_it_calls_with_arguments_and_warms_up():
    calls = []
    t = bench.time_it(lambda a, b=0: calls.append((a, b)), 1, b=2, repeat=3, warmup=2, min_time=0)
    assert isinstance(t, bench.Timing)
    assert len(t.samples) == 3 and t.number == 1
    assert set(calls) == {(1, 2)}
    # 2 warm-up calls, 1 calibration call (min_time=0 is met at once), 3 samples of 1 call.
    assert len(calls) == 2 + 1 + 3


def test_time_it_batches_fast_calls():
    t = bench.time_it(lambda: None, repeat=2, min_time=1e-3)
    assert t.number > 1, "a call this fast must be repeated within a sample"


def test_compare_returns_every_candidate_in_order():
    candidates = {"c": lambda x: x + 1, "a": lambda x: x * 2, "b": lambda x: x}
    result = bench.compare(candidates, 3, repeat=4, min_time=0)
    assert list(result) == ["c", "a", "b"]
    assert all(isinstance(t, bench.Timing) and len(t.samples) == 4 for t in result.values())


def test_compare_interleaves_rounds():
    log = []
    candidates = {name: (lambda name=name: log.append(name)) for name in "abc"}
    bench.compare(candidates, repeat=3, warmup=1, min_time=0)
    # warm-up a, b, c; calibration a, b, c (one call each); then rounds starting at a, b, c in turn.
    assert "".join(log) == "abc" + "abc" + "abc" + "bca" + "cab"


@pytest.mark.parametrize(
    "kwargs, word",
    [({"repeat": 0}, "repeat"), ({"warmup": -1}, "warmup"), ({"min_time": -0.1}, "min_time")],
)
def test_timing_argument_errors_name_the_value(kwargs, word):
    for call in (lambda: bench.time_it(lambda: None, **kwargs), lambda: bench.compare({"f": lambda: None}, **kwargs)):
        with pytest.raises(ValueError, match=word):
            call()


def test_argument_type_errors():
    with pytest.raises(TypeError):
        bench.time_it(lambda: None, repeat=2.5)
    with pytest.raises(TypeError):
        bench.time_it("not a function")
    with pytest.raises(TypeError, match="'f'"):
        bench.compare({"f": 42})
    with pytest.raises(ValueError):
        bench.compare({})
    with pytest.raises(ValueError, match="n must be"):
        bench.matmul_gflops(n=0)
    with pytest.raises(ValueError, match="repeat"):
        bench.copy_bandwidth_gbs(n_bytes=1024, repeat=0)


# --- ceilings and machine info ---------------------------------------------------------------------------------


def test_ceilings_are_positive_rates():
    assert bench.matmul_gflops(n=64, repeat=1) > 0
    assert bench.copy_bandwidth_gbs(n_bytes=2**16, repeat=1) > 0


def test_machine_info_keys():
    info = bench.machine_info()
    expected = {
        "cpu", "cpu_mhz", "cpu_flags", "logical_cores", "os", "python", "numpy", "blas",
        "numba", "numba_threads", "numba_threading_layer", "omp_num_threads",
    }
    assert expected <= set(info)
    assert isinstance(info["cpu"], str) and info["cpu"]
    assert set(info["cpu_flags"]) <= {"avx", "avx2", "fma", "avx512f"}
    assert info["numpy"] == np.__version__


def test_machine_label_is_one_short_line():
    label = bench.machine_label()
    assert "\n" not in label and len(label) < 120
    assert "NumPy" in label and "cores" in label


def test_import_is_quick_and_does_not_load_numba():
    code = "import sys, cnnlab.perf.bench as b; b.machine_label(); print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
