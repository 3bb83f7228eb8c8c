"""The Mojo rungs of conv2d (cnnlab.mojo) against the references.

Every rung (plain loops, SIMD, threads, chapter 9's direct design) on the seed
example of chapter 2, on random small shapes, and with NaN and inf, which must
come out where the float64 reference (and PyTorch) puts them. Skipped, with
the reason, where the mojo package cannot run.
"""

import os
import time

import numpy as np
import pytest
import reference
from hypothesis import given
from hypothesis import strategies as st

from cnnlab import mojo
from cnnlab.backends import numpy as numpy_backend

if not mojo.available():
    pytest.skip(f"Mojo kernels unavailable: {mojo.REASON}", allow_module_level=True)

from cnnlab.mojo import build, conv  # noqa: E402

RUNGS = list(conv.RUNGS)


@pytest.fixture(scope="module", autouse=True)
def bindings():
    """Build (or load from the cache) the kernels once for the module."""
    return build.load_bindings()


def test_second_load_uses_the_cache():
    assert build.module_path().is_file()
    assert build.module_path().parent.name == "mojo"


@pytest.mark.parametrize("rung", RUNGS)
def test_seed_example(rung):
    """Chapter 2's 5x5 image with a vertical edge and a 3x3 vertical-edge kernel."""
    x = np.zeros((1, 1, 5, 5), np.float32)
    x[..., :, 2:] = 10
    w = np.array([[1, 0, -1]] * 3, np.float32).reshape(1, 1, 3, 3)
    out = conv.conv2d(x, w, rung=rung)
    np.testing.assert_array_equal(out, numpy_backend.conv2d(x, w))
    np.testing.assert_array_equal(out[0, 0], [[-30, -30, 0]] * 3)


@st.composite
def conv_args(draw):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 13))
    wd = draw(st.integers(max(1, kw - 2 * pw), 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, wd), dtype=np.float32)
    w = rng.standard_normal((f, c, kh, kw), dtype=np.float32)
    b = rng.standard_normal(f, dtype=np.float32)
    return x, w, b, (ph, pw)


@pytest.mark.parametrize("rung", RUNGS)
@given(args=conv_args())
def test_matches_numpy_backend(rung, args):
    x, w, b, padding = args
    saved = [a.copy() for a in (x, w, b)]
    out = conv.conv2d(x, w, b, padding=padding, rung=rung)
    for before, after in zip(saved, (x, w, b), strict=True):
        np.testing.assert_array_equal(before, after)  # inputs never modified
    expected = numpy_backend.conv2d(x, w, b, padding=padding)
    # float32 rounding, relative to the sum of the terms' magnitudes
    bound = reference.conv2d(np.abs(x), np.abs(w), np.abs(b), padding=padding)
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert np.all(np.abs(out - expected) <= 1e-5 * bound + 1e-30)


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "w", "b"])
def test_nan_and_inf_where_the_reference_puts_them(rung, special, where):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 11), dtype=np.float32)
    w = rng.standard_normal((5, 3, 3, 3), dtype=np.float32)
    b = rng.standard_normal(5, dtype=np.float32)
    {"x": x, "w": w, "b": b}[where].flat[4] = special
    out = conv.conv2d(x, w, b, padding=1, rung=rung)
    expected = reference.conv2d(x, w, b, padding=(1, 1))
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(kind(out), kind(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"x": np.ones((1, 1, 5, 5))}, TypeError),  # float64
        ({"stride": 2}, ValueError),
        ({"w": np.ones((1, 2, 3, 3), np.float32)}, ValueError),  # channels
        ({"x": np.ones((1, 1, 2, 2), np.float32)}, ValueError),  # kernel too large
        ({"rung": "fastest"}, ValueError),
    ],
)
def test_bad_input_is_an_exception(kwargs, error):
    args = {
        "x": np.ones((1, 1, 5, 5), np.float32),
        "w": np.ones((1, 1, 3, 3), np.float32),
    }
    args.update(kwargs)
    with pytest.raises(error):
        conv.conv2d(**args)


@pytest.mark.parametrize("rung", RUNGS)
def test_kernel_entry_checks_what_mojo_trusts(rung):
    x, w = np.ones((1, 1, 5, 5), np.float32), np.ones((1, 1, 3, 3), np.float32)
    b = np.zeros(1, np.float32)
    kernel = conv.RUNGS[rung]
    with pytest.raises(ValueError):
        kernel(x, w, b, (1, 1), (0, 0), np.empty((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError):
        kernel(x[..., ::2], w, b, (1, 1), (0, 0), np.empty((1, 1, 1, 1), np.float32))
    with pytest.raises(TypeError):
        kernel(x, w, b, (1, 1), (0, 0), np.empty((1, 1, 3, 3)))
    out = np.empty((1, 1, 3, 3), np.float32)
    kernel(x, w, b, (1, 1), (0, 0), out)
    np.testing.assert_array_equal(out, 9)


# --- variants, constants and the source shown on the page -------------------------------------------------------


def test_default_module_says_what_it_was_built_with(bindings):
    assert bindings.constants() == {"WIDTH": 8, "FILTERS": 4, "VECTORS": 2}
    assert build.load_bindings(WIDTH=8) is bindings  # the defaults are the same build
    assert conv.rungs() is conv.RUNGS


def test_a_variant_is_built_with_its_constants_and_still_correct():
    variant = {"WIDTH": 4, "FILTERS": 3, "VECTORS": 1}  # 3 filters: leftovers too
    assert build.load_bindings(**variant).constants() == variant
    assert build.module_path(**variant) != build.module_path()
    assert build.module_path(**variant).is_file() and build.module_path().is_file()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 21), dtype=np.float32)
    w = rng.standard_normal((7, 3, 3, 3), dtype=np.float32)
    b = rng.standard_normal(7, dtype=np.float32)
    expected = numpy_backend.conv2d(x, w, b, padding=1)
    for rung, kernel in conv.rungs(**variant).items():
        out = np.empty_like(expected)
        kernel(x, w, b, (1, 1), (1, 1), out)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4, err_msg=rung)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"WIDTHS": 8}, ["'WIDTHS'", "WIDTH, FILTERS, VECTORS"]),
        ({"WIDTH": 12}, ["WIDTH", "12", "16"]),
        ({"FILTERS": 0}, ["FILTERS"]),
        ({"VECTORS": 2.0}, ["VECTORS"]),
        ({"FILTERS": True}, ["FILTERS"]),
    ],
)
def test_bad_variants_are_value_errors_naming_what_is_allowed(overrides, words):
    for call in (build.load_bindings, conv.rungs, build.module_path):
        with pytest.raises(ValueError) as error:
            call(**overrides)
        for word in words:
            assert word in str(error.value)


def test_the_cache_keeps_the_default_and_a_few_recent_variants(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "cache_dir", lambda: tmp_path)
    folder = tmp_path / "mojo"
    folder.mkdir()
    default = build.module_path()
    default.write_bytes(b"")
    for k in range(build.KEEP_VARIANTS + 3):
        old = folder / f"bindings-{k:016x}.so"
        old.write_bytes(b"")
        os.utime(old, (k, k))
    build._prune(default)
    kept = sorted(p.name for p in folder.iterdir())
    assert default.name in kept and len(kept) == build.KEEP_VARIANTS + 1
    assert "bindings-0000000000000000.so" not in kept  # the least recently used went


def test_a_build_records_how_long_it_took(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "cache_dir", lambda: tmp_path)
    assert build.build_seconds(WIDTH=4) is None  # not built yet

    def compile_slowly(texts, target, emit="shared-lib"):
        time.sleep(0.05)
        target.write_bytes(b"module")

    monkeypatch.setattr(build, "_compile", compile_slowly)
    build._build(build.sources(WIDTH=4), build.module_path(WIDTH=4))
    assert 0.05 <= build.build_seconds(WIDTH=4) < 5
    assert build.build_seconds() is None  # the default module is another file


def test_source_is_the_text_that_runs():
    text = mojo.source("grid_pass")
    assert text.startswith("def grid_pass[") and '"""' in text
    assert text in (build.KERNEL_DIR / "conv_direct.mojo").read_text()
    assert text.rstrip().endswith("g += step")
    assert mojo.source("WIDTH").startswith("comptime WIDTH = 8\n\"\"\"")
    job = mojo.source("DirectJob")
    assert job.startswith("@fieldwise_init\nstruct DirectJob") and "def run(" in job
    assert "def conv2d_direct" not in job
    with pytest.raises(KeyError, match="grid_pass"):
        mojo.source("no_such_function")


def test_loading_leaves_child_processes_their_python(bindings):
    # Mojo's runtime sets PYTHONEXECUTABLE and others in the C environment
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('PYTHONEXECUTABLE'))"],
        capture_output=True, text=True, check=True,
    )
    assert child.stdout.strip() == str(os.environ.get("PYTHONEXECUTABLE"))
