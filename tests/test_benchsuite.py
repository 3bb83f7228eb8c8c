"""The benchmark suite (`python -m cnnlab bench`) and the roofline model. Measured speed is never asserted."""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

import cnnlab
from cnnlab.perf import bench
from cnnlab.perf import suite
from cnnlab.perf import machine
from cnnlab.perf import roofline
from cnnlab.perf.suite import cli as suite_cli
from cnnlab.perf.suite import implementations as suite_implementations
from cnnlab.perf.suite import report as suite_report
from cnnlab.perf.suite import run as suite_run
from cnnlab.perf.suite import workloads as suite_workloads
from cnnlab.viz import roofline_plot
from cnnlab.backends.numba.chooser import choose_conv_kernel
from cnnlab.nn import lenet
from cnnlab import threads
from cnnlab.__main__ import build_parser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cnnlab", *args], capture_output=True, text=True, timeout=300, env=env
    )


def fake_profile(**changes):
    """A machine profile with round numbers, so no test measures the machine."""
    values = dict(
        cpu="test CPU", cores=2, clock_ghz=2.0, flags_vector_bits=256, theoretical_peak_gflops=128.0,
        peak_gflops=100.0, peak_source="FMA loop, all cores", peak_vector_bits=256, peak_gflops_one_core=50.0, matmul_gflops=80.0,
        copy_gbs=9.0, triad_gbs=10.0, cache_gbs=50.0, memory_array_mib=128.0, cache_array_kib=256.0,
        l2_bytes=2**19, last_level_cache_bytes=2**25, load_average=0.5, measured_at="2024-01-01T00:00:00+00:00", key=machine.machine_key()[0],
    )
    values.update(changes)
    return machine.MachineProfile(**values)


@pytest.fixture
def cache_with_profile(tmp_path, monkeypatch):
    """A fresh cache folder that already holds a (fake) profile of this machine."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(folder))
    folder.mkdir()
    machine._profile_path().write_text(json.dumps(fake_profile().as_dict()))
    return folder


# --- command line ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--cases", "conv-57"], ["--cases", "'conv-57'", "conv-56"]),
        (["--cases", "maxpool,nope"], ["--cases", "'nope'"]),
        (["--backends", "cuda"], ["--backends", "'cuda'", "numba"]),
        (["--repeat", "-1"], ["--repeat", "'-1'"]),
        (["--repeat", "0"], ["--repeat", "'0'"]),
        (["--repeat", "three"], ["--repeat", "'three'"]),
        (["--bogus"], ["--bogus"]),
    ],
)
def test_bad_arguments_exit_2_naming_the_value(args, words, tmp_path):
    result = run_cli("bench", *args, "--out", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "error" in result.stderr
    for word in words:
        assert word in result.stderr
    assert not list(tmp_path.iterdir()), "nothing may be written when the arguments are wrong"


def test_no_command_is_an_error():
    result = run_cli()
    assert result.returncode == 2 and "COMMAND" in result.stderr


def test_help_documents_every_option_and_case():
    result = run_cli("bench", "--help")
    assert result.returncode == 0
    text = result.stdout
    for option in ("--quick", "--cases", "--backends", "--out", "--repeat", "--force"):
        assert option in text
    for name, case in suite.CASES.items():
        assert name in text and case.description in text
    for backend in (*cnnlab.BACKENDS, "torch"):
        assert backend in text
    assert "extrapolated" in text and "bench-results" in text


def test_cli_end_to_end_on_tiny_cases(tmp_path, cache_with_profile):
    env = {k: v for k, v in os.environ.items() if k not in threads.POLICY}
    out = tmp_path / "results"
    result = run_cli(
        "bench", "--tiny", "--quick", "--cases", "maxpool,lenet-forward", "--backends", "python,numpy",
        "--repeat", "2", "--out", str(out), env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["case", "implementation", "median", "GFLOP/s", "vs", "python"]
    assert sum(line.startswith(("maxpool", "lenet-forward")) for line in lines) == 4
    assert "extrapolated" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["repeat"] == 2 and results["settings"]["backends"] == ["python", "numpy"]
    # import cnnlab put the thread policy in force before NumPy loaded
    for name, value in threads.POLICY.items():
        assert results["machine"][name.lower()] == value
    assert results["ceilings"]["peak_gflops"] == 100.0  # from the cached profile
    for name in ("speedup.png", "roofline.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    # a second run may replace its own files
    again = run_cli("bench", "--tiny", "--quick", "--cases", "maxpool", "--backends", "numpy",
                    "--repeat", "1", "--out", str(out), env=env)
    assert again.returncode == 0, again.stderr


def test_cli_never_replaces_files_it_did_not_write(tmp_path, cache_with_profile):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.json").write_text('{"my": "data"}')
    args = ["bench", "--tiny", "--quick", "--cases", "maxpool", "--backends", "numpy", "--repeat", "1",
            "--out", str(out)]
    refused = run_cli(*args)
    assert refused.returncode == 2 and "--force" in refused.stderr and "results.json" in refused.stderr
    assert (out / "results.json").read_text() == '{"my": "data"}'
    assert not (out / "speedup.png").exists()
    forced = run_cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "cases" in json.loads((out / "results.json").read_text())


# --- run_suite ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    results = suite.run_suite(repeat=2, quick=True, out_dir=out, progress=False, tiny=True,
                                   profile=fake_profile())
    return results, out


def test_results_schema(tiny_results):
    results, out = tiny_results
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    assert results["schema_version"] == suite.SCHEMA_VERSION
    assert results["created"].endswith("+00:00")
    assert {"cpu", "cpu_flags", "logical_cores", "numpy", "numba", "blas", "numba_threads"} <= set(results["machine"])
    defaults = suite_implementations.default_implementations()
    assert defaults[:len(suite.available_backends())] == suite.available_backends()
    assert results["settings"] == {
        "quick": True, "tiny": True, "repeat": 2, "min_time_s": results["settings"]["min_time_s"],
        "cases": list(suite.CASES), "backends": defaults,
        "skipped": suite_implementations.skipped_pairs(list(suite.TINY_CASES.values()), defaults),
    }
    # the roofs are the machine profile's: FMA peak, STREAM bandwidth, L2 triad, matmul
    ceilings = results["ceilings"]
    assert (ceilings["peak_gflops"], ceilings["bandwidth_gbs"]) == (100.0, 10.0)
    assert (ceilings["cache_gbs"], ceilings["matmul_gflops"], ceilings["ridge_point"]) == (50.0, 80.0, 10.0)
    assert [case["name"] for case in results["cases"]] == list(suite.CASES)
    for case in results["cases"]:
        assert {"name", "description", "kind", "shapes", "flops", "bytes", "intensity"} <= set(case)
        assert case["flops"] > 0 and case["bytes"] > 0
        assert case["intensity"] == pytest.approx(case["flops"] / case["bytes"])
        assert list(case["implementations"]) == [
            name for name in defaults if suite_implementations.supports(name, suite.TINY_CASES[case["name"]])
        ]
        for name, impl in case["implementations"].items():
            assert {"label", "median_s", "q1_s", "q3_s", "spread", "gflops", "extrapolated", "fraction",
                    "speedup_vs_python", "direct_equivalent"} <= set(impl)
            if name == "numba" and case["kind"] == "conv2d":
                # the JSON says which kernel ran: here the static table's (no tuning in tests)
                stride = (case["shapes"]["stride"],) * 2
                assert impl["kernel"] == choose_conv_kernel(
                    tuple(case["shapes"]["x"]), tuple(case["shapes"]["w"]), stride
                )
                assert impl["kernel_source"] in ("static", "only")
            else:
                assert "kernel" not in impl
            numba_winograd = name == "numba" and impl.get("kernel") == "winograd"
            torch_conv = name == "torch" and case["kind"] == "conv2d"
            assert impl["direct_equivalent"] == (torch_conv or numba_winograd)
            assert impl["q1_s"] <= impl["median_s"] <= impl["q3_s"]
            assert impl["gflops"] == pytest.approx(case["flops"] / impl["median_s"] / 1e9)
            if name == "python":
                assert impl["extrapolated"] is True and 0 < impl["fraction"] < 1
                assert impl["median_s"] == pytest.approx(impl["measured_median_s"] / impl["fraction"])
                assert impl["speedup_vs_python"] == 1.0
            else:
                assert impl["extrapolated"] is False and impl["fraction"] == 1.0


def test_pngs_written(tiny_results):
    _, out = tiny_results
    for name in ("speedup.png", "roofline.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_summary_table(tiny_results):
    results, _ = tiny_results
    results = json.loads(json.dumps(results))
    for case in results["cases"]:
        case["implementations"].pop("torch", None)  # torch is optional: its column is tested below
    table = suite.summary_table(results)
    text = repr(table)
    assert text.splitlines()[0].split()[-2:] == ["vs", "python"]
    for case in suite.CASES:
        assert case in text
    assert text.count(" *") == len(suite.CASES)  # one extrapolated python row per case
    assert text.splitlines()[-1].startswith("* timed on a part of the input")
    assert max(map(len, text.splitlines())) <= 100
    assert table.values["conv-56", "python"]["speedup"] == 1.0
    assert "numba (direct)" in text and "numba (kernel): the kernel" in text


def test_roofline_table_holds_each_case_to_its_roof(tiny_results):
    results, _ = tiny_results
    roofs = roofline.Roofs(100.0, 10.0, cache_gbs=50.0, cache_bytes=10**6, matmul_gflops=80.0)
    table = suite.roofline_table(results, roofs)
    text = repr(table)
    assert max(map(len, text.splitlines())) <= 100 and "of matmul" in text.splitlines()[0]
    for case in results["cases"]:
        level = "cache" if case["bytes"] <= 10**6 else "memory"
        bandwidth = 50.0 if level == "cache" else 10.0
        for name, impl in case["implementations"].items():
            values = table.values[case["name"], name]
            assert values["roof_gflops"] == pytest.approx(min(100.0, bandwidth * case["intensity"]))
            assert values["of_roof"] == pytest.approx(impl["gflops"] / values["roof_gflops"])
            assert values["bound"] in ("compute", level)
    # the tiny cases fit in any cache; with a tiny cache they are held to the memory roof
    small = roofline.Roofs(100.0, 10.0, cache_gbs=50.0, cache_bytes=1, matmul_gflops=None)
    text = repr(suite.roofline_table(results, small))
    assert "cache" not in text and "of matmul" not in text


def test_roof_points_say_which_roof(tiny_results):
    results, _ = tiny_results
    points = suite.roof_points(results, roofline.Roofs(100.0, 10.0, 50.0, 10**9))
    assert {p["roof"] for p in points} == {"cache"}
    points = suite.roof_points(results, roofline.Roofs(100.0, 10.0))
    assert {p["roof"] for p in points} == {"memory"}


# --- the book's run ----------------------------------------------------------------------------------------------


def test_book_results_run_once_and_are_cached(cache_with_profile, monkeypatch):
    calls = []
    run_suite = suite.run_suite

    def tiny_run(cases, backends, **kwargs):
        calls.append((cases, backends, kwargs))
        return run_suite(["maxpool"], ["numpy"], repeat=1, tiny=True, out_dir=None, progress=False)

    monkeypatch.setattr(suite_run, "run_suite", tiny_run)
    first = suite.book_results()
    assert len(calls) == 1
    cases, backends, kwargs = calls[0]
    assert cases == list(suite.BOOK_CASES) and backends == suite.available_backends()
    assert kwargs["quick"] is True and kwargs["out_dir"] is None
    files = [p.name for p in cache_with_profile.iterdir() if p.name.startswith("bench-")]
    assert any(name.endswith(".json") for name in files) and not any(".tmp" in name for name in files)
    # the second call (any page of the same build) reads the same numbers, without running
    assert suite.book_results() == json.loads(json.dumps(first))
    assert len(calls) == 1
    suite.book_results(rerun=True)
    assert len(calls) == 2


def test_book_cases_are_standard_and_exclude_the_long_epoch():
    assert set(suite.BOOK_CASES) <= set(suite.CASES)
    assert "conv-56" in suite.BOOK_CASES and "train-epoch" not in suite.BOOK_CASES


def test_charts_without_python_use_the_first_backend(tiny_results):
    results, _ = tiny_results
    trimmed = json.loads(json.dumps(results))
    trimmed["settings"]["backends"] = ["numpy", "numba"]
    for case in trimmed["cases"]:
        case["implementations"] = {k: case["implementations"][k] for k in ("numpy", "numba")}
    assert "vs numpy" in repr(suite.summary_table(trimmed))
    assert "vs torch" not in repr(suite.summary_table(trimmed))
    fig = suite.cases_speedup_chart(trimmed)
    assert "numpy" in fig.axes[0].get_ylabel()


def test_summary_table_compares_with_torch_when_it_ran(tiny_results):
    results, _ = tiny_results
    faked = json.loads(json.dumps(results))
    for case in faked["cases"]:
        case["implementations"].pop("torch", None)  # torch is optional: it may or may not have run
    first = faked["cases"][0]
    numba = first["implementations"]["numba"]
    # A pretend torch row, four times slower than numba, on the first case only.
    first["implementations"]["torch"] = {**numba, "label": "torch (reference)", "median_s": 4 * numba["median_s"]}
    lines = repr(suite.summary_table(faked)).splitlines()
    assert lines[0].split()[-2:] == ["vs", "torch"]
    # "numba (direct)": the kernel that ran, on the convolution cases
    numba_rows = [[word for word in line.split() if not word.startswith("(")]
                  for line in lines if line.split()[1:2] == ["numba"]]
    assert numba_rows[0][0] == first["name"] and numba_rows[0][-1] == "4x"
    assert all(len(row) == len(numba_rows[0]) - 1 for row in numba_rows[1:])  # no torch, no ratio


def test_run_suite_argument_errors(tmp_path):
    profile = fake_profile()
    with pytest.raises(ValueError, match="'conv-1'"):
        suite.run_suite(cases=["conv-1"], out_dir=None, progress=False, tiny=True, profile=profile)
    with pytest.raises(ValueError, match="'cuda'"):
        suite.run_suite(backends=["cuda"], out_dir=None, progress=False, tiny=True, profile=profile)
    with pytest.raises(ValueError, match="repeat"):
        suite.run_suite(repeat=0, out_dir=None, progress=False, tiny=True, profile=profile)
    (tmp_path / "roofline.png").write_bytes(b"someone else's picture")
    with pytest.raises(FileExistsError, match="--force"):
        suite.run_suite(["maxpool"], ["numpy"], repeat=1, out_dir=tmp_path, progress=False, tiny=True,
                             profile=profile)
    assert (tmp_path / "roofline.png").read_bytes() == b"someone else's picture"


# --- the python part and its fraction ----------------------------------------------------------------------------


def test_part_counts_grow_the_innermost_axis_first():
    # axes (rows=10, filters=4, images=3), 5 FLOPs per row
    assert suite_workloads._part_counts((10, 4, 3), 5, 20) == [4, 1, 1]
    assert suite_workloads._part_counts((10, 4, 3), 5, 120) == [10, 3, 1]
    assert suite_workloads._part_counts((10, 4, 3), 5, 10**6) == [10, 4, 3]
    assert suite_workloads._part_counts((10, 4, 3), 5, 1) == [1, 1, 1]


@pytest.mark.parametrize("name", ["conv-512", "conv-56", "conv-1x1", "conv-s2", "lenet-conv1"])
def test_conv_part_is_a_slice_of_the_whole_with_an_exact_fraction(name):
    for catalog in (suite.TINY_CASES, suite.CASES):
        case = catalog[name]
        work = suite.ConvWorkload(case, np.random.default_rng(0))
        x, w, b, padding = work.part
        part = work.run("numpy", part=True)()
        rows = part.shape[2]
        # a strip without vertical padding starts at output row p / stride
        top = case.padding // case.stride if padding[0] == 0 else 0
        s = case.stride
        whole_flops = bench.conv2d_flops(case.x_shape, case.w_shape, s, case.padding)
        assert work.fraction == pytest.approx(bench.conv2d_flops(x.shape, w.shape, s, padding) / whole_flops)
        assert 0 < work.fraction < 1
        if catalog is suite.TINY_CASES:
            whole = work.run("numpy")()
            np.testing.assert_allclose(part, whole[: x.shape[0], : w.shape[0], top : top + rows], rtol=1e-5, atol=1e-5)


def test_conv_56_part_is_a_strip_of_rows():
    work = suite.ConvWorkload(suite.CASES["conv-56"], np.random.default_rng(0))
    x, w, _, padding = work.part
    assert padding == (0, 1) and x.shape[:2] == (1, 64) and w.shape[0] == 1
    whole = np.asarray(work.x[:1], np.float64)
    strip = cnnlab.backend("numpy").conv2d(x, w, padding=padding)
    expected = cnnlab.backend("numpy").conv2d(whole, w, padding=1)[:, :, 1 : 1 + strip.shape[2]]
    np.testing.assert_allclose(strip, expected, rtol=1e-4, atol=1e-4)


def test_pool_and_lenet_parts():
    pool = suite.PoolWorkload(suite.CASES["maxpool"], np.random.default_rng(0))
    assert pool.flops == 64 * 32 * 14 * 14 * 3
    assert pool.fraction == pytest.approx(pool.x_part.shape[0] * pool.x_part.shape[1] / (64 * 32))
    pool_cl = suite.PoolWorkload(suite.CASES["maxpool-cl"], np.random.default_rng(0))
    np.testing.assert_array_equal(pool_cl.x, pool.x)  # the same values, stored (N, H, W, C)
    assert pool_cl.x.transpose(0, 2, 3, 1).flags.c_contiguous and not pool_cl.x.flags.c_contiguous
    assert pool_cl.flops == pool.flops and pool_cl.shapes["layout"] == "channels_last"
    forward = suite.LenetWorkload(suite.CASES["lenet-forward"], np.random.default_rng(0))
    # conv 1->6 5x5 on 28x28, conv 6->16 5x5 on 12x12, linear 256->10; batch 64
    assert forward.flops == 64 * 2 * (6 * 24 * 24 * 25 + 16 * 8 * 8 * 6 * 25 + 256 * 10)
    assert forward.fraction == 1 / 64
    np.testing.assert_allclose(forward.run("python", part=True)(), forward.run("numpy")()[:1], rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not suite.torch_available(), reason="PyTorch is optional")
@pytest.mark.parametrize("name", list(suite.CASES))
def test_torch_reference_matches_numpy(name):
    case = suite.TINY_CASES[name]
    work = suite.WORKLOADS[case.kind](case, np.random.default_rng(0))
    np.testing.assert_allclose(work.run("torch")(), work.run("numpy")(), rtol=1e-4, atol=1e-5)


# --- roofline ----------------------------------------------------------------------------------------------------


def test_arithmetic_intensity_and_conv_bytes():
    assert roofline.arithmetic_intensity(100, 50) == 2.0
    # 1x1x5x5 input, 1x1x3x3 kernel, 1x1x3x3 output, float32: (25 + 9 + 9) * 4 bytes
    assert roofline.conv2d_bytes((1, 1, 5, 5), (1, 1, 3, 3), (1, 1, 3, 3), 4) == 172
    assert roofline.conv2d_bytes((2, 3, 4, 4), (5, 3, 3, 3), (2, 5, 2, 2), 8) == 8 * (96 + 135 + 40)
    with pytest.raises(ValueError, match="bytes_moved"):
        roofline.arithmetic_intensity(1, 0)
    with pytest.raises(ValueError, match="w_shape"):
        roofline.conv2d_bytes((1, 1, 5, 5), (1, 3, 3), (1, 1, 3, 3))


def test_attainable_is_the_lower_ceiling():
    # peak 100 GFLOP/s, 10 GB/s: the ridge is at 10 FLOP/byte
    assert roofline.ridge_point(100, 10) == 10
    assert roofline.attainable_gflops(1, 100, 10) == 10
    assert roofline.attainable_gflops(10, 100, 10) == 100
    assert roofline.attainable_gflops(1000, 100, 10) == 100
    np.testing.assert_array_equal(roofline.attainable_gflops(np.array([0.5, 50]), 100, 10), [5, 100])
    with pytest.raises(ValueError, match="peak_gflops"):
        roofline.attainable_gflops(1, 0, 10)


def test_roofline_chart():
    points = [
        {"label": "conv", "intensity": 40.0, "gflops": 80.0, "series": "numba"},
        {"label": "pool", "intensity": 0.2, "gflops": 1.0, "series": "numba"},
        {"label": "conv", "intensity": 40.0, "gflops": 0.02, "series": "python", "extrapolated": True},
    ]
    fig = roofline_plot.roofline_chart(points, 200, 20, machine="test machine")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.texts]
    assert sorted(texts) == ["conv", "pool"]  # a label shared by a column of points: once
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ridge point: 10 FLOP/byte" in legend
    assert "memory roof: min(200 GFLOP/s,\n20 GB/s × I)" in legend
    assert "numba" in legend and "python" in legend and any("extrapolated" in t for t in legend)
    assert "test machine" in fig._supxlabel.get_text()


def test_roofline_chart_without_points_draws_the_roof():
    fig = roofline_plot.roofline_chart([], 100, 10, machine="m")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["memory roof: min(100 GFLOP/s,\n10 GB/s × I)", "ridge point: 10 FLOP/byte"]


def test_numba_rates_are_direct_equivalent_where_the_backend_runs_winograd():
    for case in suite.CASES.values():
        for kernel in ("winograd", "direct", "im2col"):
            winograd = case.kind == "conv2d" and kernel == "winograd"
            assert suite_run._fewer_multiplications("numba", case, {"kernel": kernel}) == winograd
        assert suite_run._fewer_multiplications("torch", case, {}) == (case.kind == "conv2d")
        assert not suite_run._fewer_multiplications("numpy", case, {})


def test_roofline_chart_with_cache_roof_matmul_line_and_direct_equivalent_points():
    points = [
        {"label": "pool", "intensity": 0.2, "gflops": 5.0, "series": "numba", "roof": "cache"},
        {"label": "big add", "intensity": 0.08, "gflops": 0.7, "series": "numpy", "roof": "memory"},
        {"label": "winograd", "intensity": 40.0, "gflops": 150.0, "series": "numba", "direct_equivalent": True},
    ]
    fig = roofline_plot.roofline_chart(points, 100, 10, machine="m", cache_gbs=50, matmul_gflops=80)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["big add", "pool", "winograd"]
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    for words in ("cache roof: min(100 GFLOP/s,\n50 GB/s × I)", "BLAS matmul (practical): 80",
                  "square: data in cache", "circle: data from memory", "direct-equivalent"):
        assert words in legend
    with pytest.raises(ValueError, match="cache_gbs"):
        roofline_plot.roofline_chart(points, 100, 10, cache_gbs=0)


def test_roofs_hold_a_kernel_to_the_level_its_data_fits_in():
    roofs = roofline.Roofs(100.0, 10.0, cache_gbs=50.0, cache_bytes=2**20, matmul_gflops=80.0)
    assert roofs.ridge_point == 10.0
    assert roofs.level(2**20) == "cache" and roofs.level(2**20 + 1) == "memory"
    assert roofs.attainable(1.0, 1000) == 50.0 and roofs.attainable(1.0, 2**21) == 10.0
    assert roofs.attainable(1000.0, 1000) == 100.0
    assert roofs.bound(1.0, 1000) == "cache" and roofs.bound(3.0, 2**21) == "memory"
    assert roofs.bound(3.0, 1000) == "compute"
    assert roofline.Roofs(100.0, 10.0).level(1) == "memory"  # no cache roof known
    with pytest.raises(ValueError, match="level"):
        roofline.Roofs(100.0, 10.0).bandwidth("cache")
    from_profile = roofline.Roofs.from_profile(fake_profile())
    assert (from_profile.peak_gflops, from_profile.bandwidth_gbs, from_profile.cache_gbs) == (100.0, 10.0, 50.0)
    assert from_profile.matmul_gflops == 80.0


def test_roofline_chart_rejects_bad_points():
    with pytest.raises(ValueError, match="label"):
        roofline_plot.roofline_chart([{"intensity": 1.0, "gflops": 1.0}], 100, 10)
    with pytest.raises(ValueError, match="'slow'"):
        roofline_plot.roofline_chart([{"label": "slow", "intensity": 1.0, "gflops": 0.0}], 100, 10)


# --- train-epoch -------------------------------------------------------------------------------------------------


def test_train_epoch_case_is_an_epoch_of_chapter_11():
    case = suite.CASES["train-epoch"]
    assert case.kind == "train" and case.batch_size == 32
    from cnnlab import data

    assert case.x_shape == data.digits_split()[0].shape  # the whole training split
    assert suite.TINY_CASES["train-epoch"].kind == "train"
    with pytest.raises(ValueError, match="digits"):
        suite.TrainWorkload(suite.BenchCase("t", "", "train", (4, 1, 28, 28)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="only 1347"):
        suite.TrainWorkload(suite.BenchCase("t", "", "train", (5000, 1, 8, 8)), np.random.default_rng(0))


def test_train_epoch_flops_are_three_forward_passes():
    work = suite.TrainWorkload(suite.TINY_CASES["train-epoch"], np.random.default_rng(0))
    model = lenet(**suite.TRAIN_NETWORK)
    # 24 images in batches of 8: conv 1->8 and 8->16, 3x3 on 8x8 and 4x4, linear 64->10, forward and twice backward.
    per_image = 2 * (8 * 8 * 8 * 9 + 16 * 4 * 4 * 8 * 9 + 64 * 10)
    assert work.flops == 3 * 24 * per_image
    assert work.bytes == 3 * 3 * suite_workloads._layer_costs(model, (8, 1, 8, 8))[1]
    assert work.fraction == 1 / 24 and work.part[0].shape == (1, 1, 8, 8)


def test_train_epoch_gives_the_same_loss_on_every_implementation_and_every_call():
    work = suite.TrainWorkload(suite.TINY_CASES["train-epoch"], np.random.default_rng(0))
    expected = work.run("numpy")()
    assert expected.shape == (1,) and 0 < expected[0] < 10
    for name in suite.available_backends():
        if name == "python":
            np.testing.assert_allclose(work.run(name, part=True)(), work.run("numpy", part=True)(), rtol=1e-5)
            continue
        epoch = work.run(name)
        first, second = epoch(), epoch()  # each call starts again from the same weights
        np.testing.assert_allclose(first, expected, rtol=1e-4, err_msg=name)
        np.testing.assert_array_equal(first, second)


def test_train_epoch_results(tiny_results):
    results, _ = tiny_results
    case = next(case for case in results["cases"] if case["name"] == "train-epoch")
    assert case["kind"] == "train" and case["shapes"]["batch_size"] == 8 and case["shapes"]["lr"] == 0.02
    assert case["implementations"]["python"]["extrapolated"] is True
    assert case["implementations"]["numba"]["extrapolated"] is False


def test_help_lists_train_epoch():
    result = run_cli("bench", "--help")
    assert "train-epoch" in result.stdout and "one epoch of training" in result.stdout


# --- every argument is checked before anything runs; results are written whole (issue 13) --------------------


def bad_out_dirs(tmp_path):
    """--out values that cannot hold results, even for root: a file, a path under a file, /proc."""
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    return {"file": (str(a_file), "is a file"), "under-a-file": (str(a_file / "out"), "is a file"),
            "proc": ("/proc/cnnlab-bench", "cannot be written"), "empty": ("", "empty")}


@pytest.mark.parametrize("which", ["file", "under-a-file", "proc", "empty"])
def test_cli_refuses_an_unusable_out_before_timing_anything(tmp_path, which):
    out, words = bad_out_dirs(tmp_path)[which]
    cache = tmp_path / "cache"  # no machine profile: running anything would measure one here
    cache.mkdir()
    env = {**os.environ, "CNNLAB_CACHE_DIR": str(cache)}
    result = run_cli("bench", "--tiny", "--cases", "maxpool", "--backends", "numpy", "--repeat", "1",
                     "--out", out, env=env)
    assert result.returncode == 2, result.stderr
    assert "--out" in result.stderr and words in result.stderr and repr(out) in result.stderr
    assert "Traceback" not in result.stderr and not result.stdout
    assert not list(cache.iterdir()), "nothing may run before the arguments are checked"
    assert (tmp_path / "a-file").read_text() == "mine"


@pytest.mark.parametrize("which", ["file", "under-a-file", "proc"])
def test_run_suite_refuses_an_unusable_out_dir_before_any_case(tmp_path, monkeypatch, which):
    out, words = bad_out_dirs(tmp_path)[which]
    monkeypatch.setattr(suite_run, "run_case", never)
    monkeypatch.setattr(suite_run, "ceilings", never)
    with pytest.raises(OSError, match=words):
        suite.run_suite(["maxpool"], ["numpy"], repeat=1, out_dir=out, progress=False, tiny=True)


def never(*args, **kwargs):
    raise AssertionError("a case ran before the arguments were checked")


@given(repeat=st.one_of(st.integers(max_value=0), st.integers(min_value=suite.MAX_REPEAT + 1),
                        st.floats(), st.booleans(), st.text(max_size=4), st.just(np.float64(2.0))))
def test_run_suite_rejects_any_bad_repeat_before_any_case(repeat):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(suite_run, "run_case", never)
        with pytest.raises(ValueError, match="repeat must be") as error:
            suite.run_suite(["maxpool"], ["numpy"], repeat=repeat, out_dir=None, progress=False,
                                 tiny=True, profile=fake_profile())
    assert repr(repeat) in str(error.value)


@given(text=st.one_of(st.text(max_size=6), st.integers(-5, 2000).map(str)))
def test_cli_repeat_is_a_whole_number_in_range_or_exit_2_naming_it(text):
    parser = build_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            # "--repeat=TEXT": as two words, a TEXT like "-:" reads as an option to argparse
            args = parser.parse_args(["bench", f"--repeat={text}", "--out", tempfile.gettempdir()])
    except SystemExit as stop:
        assert stop.code == 2
        assert "--repeat" in stderr.getvalue() and repr(text) in stderr.getvalue()
    else:
        assert text.strip().isascii() and 1 <= args.repeat <= suite.MAX_REPEAT
        assert args.repeat == int(text)


def test_an_interrupted_write_leaves_the_old_results_whole(tiny_results, tmp_path, monkeypatch):
    results, _ = tiny_results
    out = tmp_path / "out"
    suite.write_results(results, out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    changed = json.loads(json.dumps(results))
    changed["created"] = "2000-01-01T00:00:00+00:00"

    def interrupted(results, roofs=None):
        raise KeyboardInterrupt  # Ctrl-C while the last chart is drawn

    monkeypatch.setattr(suite_report, "cases_roofline_chart", interrupted)
    with pytest.raises(KeyboardInterrupt):
        suite.write_results(changed, out)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    monkeypatch.undo()
    suite.write_results(changed, out)
    assert json.loads((out / "results.json").read_text())["created"] == "2000-01-01T00:00:00+00:00"
    assert sorted(path.name for path in out.iterdir()) == sorted(suite.OUTPUT_FILES)


def test_results_that_cannot_be_written_are_printed_and_saved_elsewhere(
    tiny_results, tmp_path, monkeypatch, capsys
):
    results, _ = tiny_results
    monkeypatch.setattr(suite_cli, "run_suite", lambda *args, **kwargs: results)

    def disk_full(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(suite_report.os, "replace", disk_full)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    args = build_parser().parse_args(["bench", "--out", str(tmp_path / "out")])
    assert suite_cli.main(args) == 1
    captured = capsys.readouterr()
    assert "conv-56" in captured.out, "the table is printed before writing"
    assert "No space left on device" in captured.err
    rescued = [path for path in tmp_path.glob("cnnlab-bench-*.json")]
    assert len(rescued) == 1 and str(rescued[0]) in captured.err
    assert json.loads(rescued[0].read_text()) == json.loads(json.dumps(results))
    assert not list((tmp_path / "out").glob("*")), "no partial files in --out"


# --- single rungs (Mojo and Numba kernels) beside the backends ---------------------------------------------------

NUMBA_RUNGS = [f"numba-{kernel}" for kernel in suite_implementations.NUMBA_KERNELS]
MOJO_NAMES = ["mojo", *(f"mojo-{rung}" for rung in suite_implementations.MOJO_RUNGS)]


@pytest.mark.parametrize("case", list(suite.CASES.values()), ids=list(suite.CASES))
def test_rungs_support_only_the_cases_they_compute(case):
    from cnnlab.backends.numba.chooser import conv_candidates

    conv = case.kind == "conv2d"
    for name in MOJO_NAMES:
        assert suite_implementations.supports(name, case) == (conv and case.stride == 1)
    for name in NUMBA_RUNGS:
        kernel = name.removeprefix("numba-")
        if conv and kernel in conv_candidates(case.x_shape, case.w_shape, (case.stride,) * 2):
            assert suite_implementations.supports(name, case)  # what the tuner races
        if not conv:
            assert not suite_implementations.supports(name, case)
    for name in (*cnnlab.BACKENDS, "torch"):
        assert suite_implementations.supports(name, case)


@pytest.mark.parametrize("case", [c for c in suite.TINY_CASES.values() if c.kind == "conv2d"],
                         ids=[n for n, c in suite.TINY_CASES.items() if c.kind == "conv2d"])
def test_every_numba_rung_computes_the_cases_it_supports(case):
    """A rung's row is only there if the kernel gives NumPy's values on the case."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape).astype(np.float32)
    w = rng.standard_normal(case.w_shape).astype(np.float32)
    b = rng.standard_normal(case.w_shape[0]).astype(np.float32)
    stride, padding = (case.stride,) * 2, (case.padding,) * 2
    expected = cnnlab.backend("numpy").conv2d(x, w, b, stride, padding)
    for name in NUMBA_RUNGS:
        if suite_implementations.supports(name, case):
            call = suite_implementations.conv_call(name, x, w, b, stride, padding, expected.shape)
            np.testing.assert_allclose(call(), expected, rtol=1e-4, atol=1e-4, err_msg=name)


def test_labels_are_readable():
    label = suite_implementations.label
    assert label("mojo") == label("mojo-direct") == "mojo (direct)"
    assert label("mojo-simd") == "mojo (simd)"
    assert label("numba-winograd") == "numba kernel (winograd)"
    assert (label("numba"), label("torch")) == ("numba", "torch (reference)")


def test_numba_rungs_beside_the_backends():
    names = ["python", "numba", *NUMBA_RUNGS]
    results = suite.run_suite(["conv-512", "conv-56", "conv-s2", "maxpool"], names, repeat=1,
                              out_dir=None, progress=False, tiny=True, profile=fake_profile())
    cases = {case["name"]: case["implementations"] for case in results["cases"]}
    assert list(cases["maxpool"]) == ["python", "numba"]
    assert list(cases["conv-s2"]) == ["python", "numba", "numba-general"]
    assert set(results["settings"]["skipped"]["maxpool"]) == set(NUMBA_RUNGS)
    assert list(cases["conv-56"]) == ["python", "numba", *NUMBA_RUNGS]  # every rung of 3x3
    for impls in cases.values():
        for name, impl in impls.items():
            assert impl["speedup_vs_python"] == pytest.approx(impls["python"]["median_s"] / impl["median_s"])
            assert impl["extrapolated"] == (name == "python")
            assert impl["direct_equivalent"] == (name == "numba-winograd" or impl.get("kernel") == "winograd")
            assert impl["label"] == suite_implementations.label(name)
    text = repr(suite.summary_table(results))
    assert "numba kernel (winograd)" in text and "numba (" in text
    assert results["cases"][0]["implementations"]["numba-direct"]["label"] == "numba kernel (direct)"
    suite.cases_speedup_chart(results)  # rows missing on some cases: no bar, no error


def test_charts_and_table_when_the_first_implementation_lacks_a_case():
    results = suite.run_suite(["conv-s2", "maxpool"], ["numba-general", "numpy"], repeat=1,
                              out_dir=None, progress=False, tiny=True, profile=fake_profile())
    assert "vs numpy" in repr(suite.summary_table(results))
    assert "numpy" in suite.cases_speedup_chart(results).axes[0].get_ylabel()


def test_impossible_or_unavailable_implementations_are_one_line_errors(monkeypatch):
    with pytest.raises(ValueError, match="none of numba-filter computes any of maxpool"):
        suite.run_suite(["maxpool"], ["numba-filter"], out_dir=None, progress=False, tiny=True,
                        profile=fake_profile())
    with pytest.raises(ValueError, match="'mojo-fast'"):
        suite.run_suite(["conv-56"], ["mojo-fast"], out_dir=None, progress=False, tiny=True)
    from cnnlab import mojo

    monkeypatch.setattr(mojo, "REASON", "no mojo on this test machine")
    assert "mojo" not in suite_implementations.default_implementations()
    with pytest.raises(ValueError, match="no mojo on this test machine"):
        suite.run_suite(["conv-56"], ["mojo-simd"], out_dir=None, progress=False, tiny=True)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["bench", "--backends", "numpy,mojo"])
    assert exit_info.value.code == 2


def test_cli_says_in_one_line_when_no_implementation_computes_any_case(tmp_path):
    result = run_cli("bench", "--tiny", "--cases", "maxpool", "--backends", "numba-direct",
                     "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m cnnlab bench: error: none of numba-direct computes any of maxpool"
    ]
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not suite_implementations.available_implementations().count("mojo"),
                    reason="the mojo package cannot run here")
def test_mojo_rungs_are_checked_timed_and_the_loops_extrapolated():
    names = ["python", "numpy", *MOJO_NAMES]
    results = suite.run_suite(["conv-56", "conv-s2"], names, repeat=1, out_dir=None, progress=False,
                              tiny=True, profile=fake_profile())
    conv56, s2 = (case["implementations"] for case in results["cases"])
    assert list(conv56) == names and list(s2) == ["python", "numpy"]
    loops, python = conv56["mojo-loops"], conv56["python"]
    assert loops["extrapolated"] and loops["fraction"] == python["fraction"] < 1
    assert not conv56["mojo"]["extrapolated"]
    assert "mojo (parallel)" in repr(suite.summary_table(results))
