"""The autotuner: every kernel it may pick agrees with the reference, its choices are
cached per machine, and CNNLAB_AUTOTUNE=0 hands the choice back to the static table."""
import json
import os
import subprocess
import sys
import threading
import warnings

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from cnnlab.backends.numba import chooser, forward, tuner


def random(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture
def tuning(monkeypatch, tmp_path):
    """Autotuning on, for every call however small, with a cache folder of its own."""
    monkeypatch.setenv("CNNLAB_AUTOTUNE", "1")
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tuner, "MIN_WORK", 0)
    monkeypatch.setattr(tuner, "_loaded", None)  # a new process: nothing read yet
    monkeypatch.setattr(tuner, "_entries", {})
    monkeypatch.setattr(tuner, "_unreadable", set())
    return tmp_path


def new_process(monkeypatch):
    monkeypatch.setattr(tuner, "_loaded", None)
    monkeypatch.setattr(tuner, "_entries", {})


@st.composite
def conv_calls(draw):
    """Shapes where several kernels apply: 3x3, 1x1, 5x5, strides 1 and 2, one channel."""
    kh = draw(st.sampled_from([1, 3, 3, 5]))
    n, c, f = draw(st.integers(1, 2)), draw(st.sampled_from([1, 3, 8, 9])), draw(st.integers(1, 9))
    h, w = draw(st.integers(kh, 15)), draw(st.integers(kh, 15))
    stride = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (2, 1)]))
    padding = draw(st.sampled_from([(0, 0), (1, 1), (2, 1)]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    x, wt = random((n, c, h, w), seed, dtype), random((f, c, kh, kh), seed + 1, dtype)
    return x, wt, random(f, seed + 2, dtype), stride, padding


@given(call=conv_calls())
def test_every_candidate_kernel_gives_the_reference_values(call):
    """Results never depend on the tuner's choice: each path, forced, agrees."""
    x, w, b, stride, padding = call
    expected = reference.conv2d(x, w, b, stride, padding)
    tol = 1e-4 if x.dtype == np.float32 else 1e-10
    candidates = chooser.conv_candidates(x.shape, w.shape, stride)
    assert chooser.choose_conv_kernel(x.shape, w.shape, stride) in candidates
    for name in candidates:
        out = np.empty(expected.shape, x.dtype)
        forward.CONV_KERNELS[name](x, w, b, stride, padding, out)
        np.testing.assert_allclose(
            out, expected, rtol=tol, atol=tol * max(1.0, np.abs(expected).max()), err_msg=name
        )


def test_the_first_call_races_and_later_calls_read_the_cache(tuning, monkeypatch):
    x, w, b = random((2, 8, 12, 12), 0), random((8, 8, 3, 3), 1), random(8, 2)
    first = forward.conv2d_kernel(x, w, b, padding=1)
    assert first.source == "tuned"
    assert set(first.times_s) == set(chooser.conv_candidates(x.shape, w.shape, (1, 1)))
    assert first.name == next(iter(first.times_s))  # the fastest wins
    saved = json.loads(tuner.cache_path().read_text())
    (key,) = saved["entries"]
    assert "x=2x8x12x12" in key and "stride=1x1" in key and "threads=" in key
    assert saved["entries"][key]["ranking"][0] == first.name
    assert forward.conv2d_kernel(x, w, b, padding=1).source == "cached"
    new_process(monkeypatch)
    again = forward.conv2d_kernel(x, w, b, padding=1)
    assert (again.name, again.source) == (first.name, "cached")
    np.testing.assert_allclose(
        forward.conv2d(x, w, b, padding=1), reference.conv2d(x, w, b, padding=(1, 1)), atol=1e-4
    )


def test_other_shapes_and_dtypes_are_tuned_separately(tuning):
    x, w = random((1, 4, 9, 9), 0), random((5, 4, 3, 3), 1)
    forward.conv2d(x, w, padding=1)
    forward.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    forward.conv2d(x, w, stride=2, padding=1)
    assert len(tuner.cached_entries()) == 3


def test_cached_choices_are_taken_from_the_file(tuning, monkeypatch):
    """A ranking written by an earlier session decides, without a race."""
    x, w = random((1, 8, 10, 10), 0), random((8, 8, 3, 3), 1)
    key = forward.conv_key(x, w, (1, 1), (1, 1))
    ranking = ["blocked", "direct", "winograd"]
    tuner.cache_path().write_text(json.dumps(
        {"schema": tuner.SCHEMA_VERSION, "entries": {key: {"ranking": ranking, "times_s": {}}}}
    ))
    monkeypatch.setattr(tuner, "_race", lambda *args: pytest.fail("raced a cached call"))
    assert forward.conv2d_kernel(x, w, padding=1).name == "blocked"


def test_winograd_is_skipped_where_values_could_overflow_it(tuning):
    """A cached Winograd win does not reach a NaN: the next kernel runs, NaN stays local."""
    x, w = random((1, 8, 10, 10), 0), random((8, 8, 3, 3), 1)
    key = forward.conv_key(x, w, (1, 1), (1, 1))
    ranking = ["winograd", "direct", "blocked"]
    tuner.cache_path().write_text(json.dumps(
        {"schema": tuner.SCHEMA_VERSION, "entries": {key: {"ranking": ranking, "times_s": {}}}}
    ))
    assert forward.conv2d_kernel(x, w, padding=1).name == "winograd"
    x[0, 3, 0, 0] = np.nan
    assert forward.conv2d_kernel(x, w, padding=1).name == "direct"
    out = forward.conv2d(x, w, padding=1)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(reference.conv2d(x, w, padding=(1, 1))))
    assert np.isnan(out[0, :, :2, :2]).all() and not np.isnan(out[0, :, 3:, 3:]).any()


def test_a_ranking_without_a_candidate_is_raced_again(tuning):
    x, w = random((1, 8, 10, 10), 0), random((8, 8, 3, 3), 1)
    key = forward.conv_key(x, w, (1, 1), (1, 1))
    tuner.cache_path().write_text(json.dumps(
        {"schema": tuner.SCHEMA_VERSION, "entries": {key: {"ranking": ["direct"], "times_s": {}}}}
    ))
    assert forward.conv2d_kernel(x, w, padding=1).source == "tuned"
    assert "winograd" in tuner.cached_entries()[key]["ranking"]


def test_autotune_off_uses_the_static_table_and_writes_nothing(tuning, monkeypatch):
    monkeypatch.setenv("CNNLAB_AUTOTUNE", "0")
    x, w = random((2, 8, 12, 12), 0), random((8, 8, 3, 3), 1)
    choice = forward.conv2d_kernel(x, w, padding=1)
    assert choice == tuner.Choice(chooser.choose_conv_kernel(x.shape, w.shape, (1, 1)), "static")
    forward.conv2d(x, w, padding=1)
    assert not tuner.cache_path().exists()


def test_small_calls_are_not_raced(tuning, monkeypatch):
    monkeypatch.setattr(tuner, "MIN_WORK", 10**9)
    x, w = random((1, 8, 6, 6), 0), random((8, 8, 3, 3), 1)
    assert forward.conv2d_kernel(x, w, padding=1).source == "static"


def test_an_unreadable_tuning_file_is_left_as_it_is(tuning):
    path = tuner.cache_path()
    path.write_text("{ not json")
    x, w = random((1, 4, 9, 9), 0), random((5, 4, 3, 3), 1)
    with pytest.warns(UserWarning, match="cannot be read"):
        choice = forward.conv2d_kernel(x, w, padding=1)
    assert choice.source == "tuned"
    assert path.read_text() == "{ not json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per file, not on every call
        assert forward.conv2d_kernel(x, w, padding=1).source == "cached"  # kept in memory


def test_the_cache_file_is_keyed_by_machine_and_software(tuning, monkeypatch):
    before = tuner.cache_path()
    monkeypatch.setattr(tuner, "_machine_text", lambda: '{"cpu": "another CPU", "cores": 64}')
    assert tuner.cache_path() != before and tuner.cache_path().parent == before.parent


def test_tune_command_prints_the_table_and_rejects_unknown_cases(tuning, monkeypatch):
    from cnnlab.perf.suite import cases, tune

    monkeypatch.setattr(tune, "CASES", cases.TINY_CASES)
    tuned = tune.tune_cases(["conv-56", "conv-s2"])
    assert [row.case for row in tuned] == ["conv-56", "conv-s2"]
    assert all(row.source == "tuned" and row.kernel in row.times_s for row in tuned)
    assert [row.source for row in tune.tune_cases(["conv-56"])] == ["cached"]
    assert tune.tune_cases(["conv-56"], retune=True)[0].source == "tuned"
    text = str(tune.tuning_table(tuned))
    assert "conv-s2" in text and max(map(len, text.splitlines())) <= 80
    assert ("*" in text) == any(row.kernel != row.static for row in tuned)
    bad = subprocess.run(
        [sys.executable, "-m", "cnnlab", "tune", "--cases", "conv-9"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown case 'conv-9'" in bad.stderr


def test_a_repeated_call_follows_the_tuner_and_the_static_table(tuning, monkeypatch):
    """conv2d remembers its checks and choice per shape, but not past a change of
    CNNLAB_AUTOTUNE, of the tuning file, or of the static table (as tests force it)."""
    ran = []
    for name, kernel in list(forward.CONV_KERNELS.items()):
        def spy(*args, name=name, kernel=kernel):
            ran.append(name)
            kernel(*args)
        monkeypatch.setitem(forward.CONV_KERNELS, name, spy)
    x, w = random((2, 8, 12, 12), 0), random((8, 8, 3, 3), 1)
    expected = reference.conv2d(x, w, padding=(1, 1))
    tuned = forward.conv2d_kernel(x, w, padding=1).name
    for _ in range(2):
        ran.clear()
        np.testing.assert_allclose(forward.conv2d(x, w, padding=1), expected, atol=1e-4)
        assert ran == [tuned]
    monkeypatch.setattr(chooser, "choose_conv_kernel", lambda *args, **kwargs: "general")
    monkeypatch.setenv("CNNLAB_AUTOTUNE", "0")
    ran.clear()
    np.testing.assert_allclose(forward.conv2d(x, w, padding=1), expected, atol=1e-4)
    assert ran == ["general"]
    with pytest.raises(ValueError, match="channel mismatch"):  # the checks still run
        forward.conv2d(x, w[:, :4], padding=1)
    with pytest.raises(TypeError, match="stride"):  # True == 1, but is no stride
        forward.conv2d(x, w, stride=True, padding=1)


def test_a_nan_call_does_not_keep_later_calls_off_winograd(tuning, monkeypatch):
    """conv2d remembers the choice for the shapes; Winograd's fallback is per call."""
    x, w = random((1, 8, 10, 10), 0), random((8, 8, 3, 3), 1)
    key = forward.conv_key(x, w, (1, 1), (1, 1))
    tuner.cache_path().write_text(json.dumps({"schema": tuner.SCHEMA_VERSION, "entries": {
        key: {"ranking": ["winograd", "direct", "blocked"], "times_s": {}}}}))
    ran = []
    for name in ("winograd", "direct"):
        kernel = forward.CONV_KERNELS[name]
        monkeypatch.setitem(forward.CONV_KERNELS, name,
                            lambda *args, name=name, kernel=kernel: (ran.append(name), kernel(*args)))
    with_nan = x.copy()
    with_nan[0, 0, 0, 0] = np.nan
    for data in (x, with_nan, x, with_nan, x):
        forward.conv2d(data, w, padding=1)
    assert ran == ["winograd", "direct", "winograd", "direct", "winograd"]


ENVIRONMENT = ["CNNLAB_AUTOTUNE", "CNNLAB_CACHE_DIR", "XDG_CACHE_HOME", "HOME"]


@pytest.mark.parametrize("name", ENVIRONMENT)
@pytest.mark.parametrize("direct", [True, False], ids=["environ-dict", "environ-get"])
def test_state_follows_every_change_of_the_environment(monkeypatch, tmp_path, name, direct):
    """state() sees each change: setting, changing and removing a variable, through
    os.environ or monkeypatch, read from os.environ's dict or through os.environ.get."""
    if not direct:
        monkeypatch.setattr(tuner, "_ENVIRON_KEYS", ())
    monkeypatch.delenv("CNNLAB_CACHE_DIR", raising=False)  # so XDG and HOME count
    assert tuner.state() == tuner.state()
    seen = {tuner.state()}
    for value in (str(tmp_path / "a"), str(tmp_path / "b"), ""):
        monkeypatch.setenv(name, value)
        assert tuner.state() not in seen or (value == "" and name == "CNNLAB_CACHE_DIR")
        seen.add(tuner.state())
    os.environ[name] = str(tmp_path / "c")
    changed = tuner.state()
    assert changed not in seen
    os.environ.pop(name)
    assert tuner.state() != changed


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one thread only")
def test_the_thread_count_read_without_locks_is_numbas():
    """forward's thread count, read past get_num_threads' locks, follows set_num_threads
    in this thread and is not changed by another thread's setting."""
    threads = numba.get_num_threads()
    seen_in_a_thread = []
    try:
        numba.set_num_threads(1)
        assert forward._thread_count() == numba.get_num_threads() == 1
        worker = threading.Thread(target=lambda: seen_in_a_thread.append(forward._thread_count()))
        worker.start()
        worker.join()
        numba.set_num_threads(2)
        assert forward._thread_count() == 2
    finally:
        numba.set_num_threads(threads)
    assert forward._thread_count() == threads
    assert seen_in_a_thread == [numba.config.NUMBA_NUM_THREADS]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one thread only")
def test_a_repeated_call_follows_the_thread_count(tuning, monkeypatch):
    """conv2d's remembered choice is keyed by the thread count too."""
    x, w = random((1, 1, 40, 40), 0), random((1, 1, 3, 3), 1)
    forward.conv2d(x, w, padding=1)
    threads = numba.get_num_threads()
    keys = []
    monkeypatch.setattr(forward, "conv_key", lambda *args: keys.append(args) or "key")
    try:
        numba.set_num_threads(1 if threads > 1 else 2)
        forward.conv2d(x, w, padding=1)
    finally:
        numba.set_num_threads(threads)
    assert keys  # the choice was made again for one thread
