"""The machine profile, the thread policy and the tables every chapter prints."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnlab
from cnnlab.perf import bench
from cnnlab.perf import fma_peak, machine, stream
from cnnlab.viz import tables
from cnnlab.viz.charts import speedup_label
from cnnlab import threads


@pytest.fixture(scope="module")
def quick_profile():
    return machine.measure(quick=True)


def test_fma_loop_ir_has_independent_chains():
    ir = fma_peak._fma_loop_ir(8, 12)
    assert ir.count("call <8 x float> @llvm.fma.v8f32") == 12
    assert ir.count("phi <8 x float>") == 12


def test_fma_peak_is_a_positive_rate_and_names_a_width():
    gflops, bits = fma_peak.fma_peak_gflops(threads=1, seconds=0.005, repeat=1)
    # a rate, not a speed: how fast is the benchmark's business, never a unit test's
    assert 0 < gflops < float("inf")
    assert bits in (256, 512)


def test_fma_loop_computes_what_it_says():
    # n rounds of acc = acc * a + b from acc = b, summed over chains: a fixed point we can check
    fn = fma_peak._compiled_fma_loop(8, 12)
    a, b, n = 0.5, 1.0, 50
    acc = b
    for _ in range(n):
        acc = acc * a + b
    assert fn(n, a, b) == pytest.approx(12 * acc, rel=1e-5)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_fma_peak_rejects_bad_thread_counts(bad):
    with pytest.raises((TypeError, ValueError), match="threads"):
        fma_peak.fma_peak_gflops(threads=bad)


def test_stream_bandwidth_is_positive():
    copy, triad = stream.stream_bandwidth_gbs(2**20, repeat=2)
    assert copy > 0 and triad > 0


def test_stream_kernels_copy_and_triad_correctly():
    copy, triad = stream._stream_kernels()
    a, b, c = (
        np.zeros(4099, np.float32),
        np.arange(4099, dtype=np.float32),
        np.ones(4099, np.float32),
    )
    for blocks in (1, 2, 3):  # blocks that do not divide the size evenly cover it all too
        a[:] = 0
        copy(a, b, 1, blocks)
        np.testing.assert_array_equal(a, b)
        triad(a, b, c, np.float32(3.0), 2, blocks)
        np.testing.assert_array_equal(a, b + 3)


def test_profile_fields_and_derived_values(quick_profile):
    p = quick_profile
    assert p.cores == os.cpu_count()
    assert (
        p.peak_gflops > 0
        and p.matmul_gflops > 0
        and p.bandwidth_gbs > 0
        and p.cache_gbs > 0
    )
    assert p.bandwidth_gbs == max(p.copy_gbs, p.triad_gbs)
    assert p.ridge_point == pytest.approx(p.peak_gflops / p.bandwidth_gbs)
    text = repr(p)
    for word in (
        "peak, measured",
        "peak, from flags",
        "matmul",
        "memory, copy",
        "cache",
        "ridge point",
    ):
        assert word in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert isinstance(p.peak_verdict, str) and "measured" in p.peak_verdict


def test_peak_verdict_follows_the_numbers(quick_profile):
    quick_profile = dataclasses.replace(quick_profile, load_average=0.1)
    agree = dataclasses.replace(
        quick_profile, peak_gflops=100.0, theoretical_peak_gflops=105.0
    )
    assert agree.peaks_agree and "agree" in agree.peak_verdict
    halved = dataclasses.replace(
        quick_profile, peak_gflops=100.0, theoretical_peak_gflops=200.0
    )
    assert halved.peaks_agree is False and "50%" in halved.peak_verdict
    unknown = dataclasses.replace(
        quick_profile, clock_ghz=None, theoretical_peak_gflops=None
    )
    assert unknown.peaks_agree is None and unknown.peak_flops_per_cycle is None
    assert "clock" in unknown.peak_verdict
    boosted = dataclasses.replace(quick_profile, peak_gflops=130.0, theoretical_peak_gflops=100.0)
    assert "130%" in boosted.peak_verdict and "boost" in boosted.peak_verdict
    busy = dataclasses.replace(halved, load_average=2.5 * halved.cores)
    assert busy.busy and "remeasure" in busy.peak_verdict and "load average" in repr(busy)


def test_each_ceiling_bounds_every_rate_it_measured(quick_profile):
    p = quick_profile
    assert p.peak_gflops >= max(p.matmul_gflops, p.peak_gflops_one_core)
    assert p.peak_source.startswith(("FMA loop", "BLAS matmul"))
    assert p.last_level_cache_bytes >= p.l2_bytes > 0


def test_profile_is_measured_once_and_cached(tmp_path, monkeypatch, quick_profile):
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_measure(quick=False):
        calls.append(quick)
        return quick_profile

    monkeypatch.setattr(machine, "measure", fake_measure)
    first = machine.profile()
    second = machine.profile()
    assert first == second == quick_profile and len(calls) == 1
    files = list(tmp_path.glob("machine-*.json"))
    assert (
        len(files) == 1
        and json.loads(files[0].read_text())["peak_gflops"] == quick_profile.peak_gflops
    )
    machine.profile(remeasure=True)
    assert len(calls) == 2


def test_a_damaged_cache_file_is_measured_again(tmp_path, monkeypatch, quick_profile):
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(machine, "measure", lambda quick=False: quick_profile)
    path = machine._profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"cpu": "half a file"')
    assert machine.profile() == quick_profile


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path / "here"))
    assert machine.cache_dir() == tmp_path / "here"
    monkeypatch.delenv("CNNLAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert machine.cache_dir() == tmp_path / "xdg" / "cnnlab"


def python(*args: str, env: dict) -> str:
    """What ``python ARGS`` prints, run in a fresh process with ``env``."""
    result = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def without_policy() -> dict:
    return {k: v for k, v in os.environ.items() if k not in threads.POLICY}


def test_machine_command_prints_the_cached_profile(tmp_path, monkeypatch, quick_profile):
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path))
    machine._profile_path().write_text(json.dumps(quick_profile.as_dict()))
    env = {**os.environ, "CNNLAB_CACHE_DIR": str(tmp_path)}
    out = python("-m", "cnnlab", "machine", env=env)
    assert "peak, measured" in out and "ridge point" in out
    out = python("-m", "cnnlab", "machine", "--json", env=env)
    assert json.loads(out)["peak_gflops"] == quick_profile.peak_gflops


# ---------------------------------------------------------------- thread policy


def test_import_cnnlab_puts_the_policy_in_force_before_numpy():
    out = python(
        "-c",
        "import cnnlab; from cnnlab import threads; "
        "s = threads.status(); print(s.in_force, dict(s.settings))",
        env=without_policy(),
    )
    assert out.startswith("True")
    for name, value in threads.POLICY.items():
        assert f"'{name}': '{value}'" in out


def test_numpy_first_is_reported_with_the_fix():
    out = python(
        "-c",
        "import numpy, cnnlab; from cnnlab import threads; print(repr(threads.status()))",
        env=without_policy(),
    )
    assert "not in force" in out and "import cnnlab first" in out


def test_the_users_own_settings_win():
    out = python(
        "-c",
        "import cnnlab, os; from cnnlab import threads; "
        "print(os.environ['GOMP_SPINCOUNT'], threads.status().in_force)",
        env={**os.environ, "GOMP_SPINCOUNT": "0"},
    )
    assert out.split() == ["0", "False"]


# ---------------------------------------------------------------- tables


def test_timings_table_reads_the_medians():
    timings = {
        "slow": bench.Timing([2.0, 2.0, 2.0]),
        "fast": bench.Timing([0.5, 0.5, 0.5]),
    }
    table = tables.timings_table(timings, flops=10**9)
    assert table.values["fast"]["speedup"] == pytest.approx(4.0)
    assert table.values["slow"]["gflops"] == pytest.approx(0.5)
    lines = repr(table).splitlines()
    assert lines[0].split() == [
        "implementation",
        "median",
        "spread",
        "GFLOP/s",
        "vs",
        "slow",
    ]
    assert lines[3].split()[0] == "fast" and lines[3].endswith("4x")


def test_timings_table_rejects_an_unknown_baseline():
    with pytest.raises(ValueError, match="baseline 'nope'"):
        tables.timings_table({"a": bench.Timing([1.0])}, baseline="nope")
    with pytest.raises(ValueError, match="empty"):
        tables.timings_table({})


def test_table_rows_must_match_the_header():
    with pytest.raises(ValueError, match="2 cells but the header has 3"):
        tables.Table(["a", "b", "c"], [["1", "2"]])


@pytest.mark.parametrize(
    "ratio, text", [(1.4, "1.4x"), (12.3, "12x"), (3456.0, "3,456x"), (0.25, "0.25x")]
)
def test_times_formats_speedups(ratio, text):
    assert speedup_label(ratio) == text


def test_cnnlab_exposes_the_version():
    assert cnnlab.__version__
