"""Weights on disk: save_weights and load_weights round-trip, keep files, name files.

A damaged, foreign or hostile file gives a ValueError that names it, reads
shapes from the archive's headers before any array, and leaves the model as it
was.
"""

import io
import os
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlab import nn
from cnnlab.nn import lenet

# tmp_path is shared by the examples of one test: each example makes its own names.
files_settings = settings(
    max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def model(seed=0):
    return lenet(image_size=8, filters=(2, 2), seed=seed)


def parameters(net):
    return {name: value.copy() for name, value in net.parameters().items()}


def assert_same(net, expected):
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in tmp_path, so files are named by relative paths, as a user types them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


names = st.from_regex(r"[a-z]{1,6}(\.[a-z0-9]{1,4})?", fullmatch=True)


@files_settings
@given(name=names, folder=st.sampled_from(["", "sub/"]))
def test_save_then_load_with_the_same_path_round_trips(in_tmp, name, folder):
    (in_tmp / "sub").mkdir(exist_ok=True)
    path = folder + name
    source, target = model(0), model(1)
    written = nn.save_weights(source, path, overwrite=True)
    assert written.exists() and written.suffix == ".npz"
    assert str(written) == (path if path.endswith(".npz") else path + ".npz")
    nn.load_weights(target, path)
    assert_same(target, parameters(source))
    nn.load_weights(model(2), written)  # the returned path reads the same file
    assert not [
        f for f in os.listdir(in_tmp / folder) if f.endswith(".tmp")
    ]  # no temporary file left


def test_the_issue_example_w(in_tmp):
    source, target = model(0), model(1)
    assert nn.save_weights(source, "w") == type(in_tmp)("w.npz")
    nn.load_weights(target, "w")
    assert_same(target, parameters(source))


def test_save_keeps_an_existing_file_unless_told_to_overwrite(in_tmp):
    (in_tmp / "notes.npz").write_bytes(b"a week of work")
    with pytest.raises(
        FileExistsError, match=r"^notes.npz exists; pass overwrite=True"
    ):
        nn.save_weights(model(), "notes")
    assert (in_tmp / "notes.npz").read_bytes() == b"a week of work"
    nn.save_weights(model(), "notes", overwrite=True)
    nn.load_weights(model(1), "notes")
    with pytest.raises(TypeError, match="overwrite must be True or False"):
        nn.save_weights(model(), "other", overwrite="yes")


def test_save_names_what_it_cannot_write(in_tmp):
    (in_tmp / "folder.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="folder.npz"):
        nn.save_weights(model(), "folder")
    with pytest.raises(FileNotFoundError, match="no folder missing"):
        nn.save_weights(model(), "missing/w")
    with pytest.raises(TypeError, match="path must be a str or a path"):
        nn.save_weights(model(), 3)
    with pytest.raises(TypeError, match="model must be"):
        nn.save_weights("model", "w")


@files_settings
@given(cut=st.floats(0.0, 0.999))
def test_any_truncated_file_is_a_value_error_naming_it(in_tmp, cut):
    source = model(0)
    nn.save_weights(source, "good", overwrite=True)
    data = (in_tmp / "good.npz").read_bytes()
    (in_tmp / "cut.npz").write_bytes(data[: int(cut * len(data))])
    target = model(1)
    before = parameters(target)
    with pytest.raises(ValueError, match=r"^cut\.npz "):
        nn.load_weights(target, "cut.npz")
    assert_same(target, before)


@files_settings
@given(
    flips=st.lists(
        st.tuples(st.floats(0, 0.999), st.integers(0, 255)), min_size=1, max_size=3
    )
)
def test_a_damaged_file_is_a_value_error_or_the_same_weights(in_tmp, flips):
    """Bytes only zip bookkeeping uses may change harmlessly; all else is caught."""
    source = model(0)
    nn.save_weights(source, "good", overwrite=True)
    data = bytearray((in_tmp / "good.npz").read_bytes())
    for where, value in flips:
        data[int(where * len(data))] = value
    (in_tmp / "bad.npz").write_bytes(bytes(data))
    target = model(1)
    before = parameters(target)
    try:
        nn.load_weights(target, "bad.npz")
    except ValueError as err:
        assert str(err).startswith(("bad.npz ", "the weights in bad.npz ")), err
        assert_same(target, before)
    else:
        assert_same(target, parameters(source))


def test_a_npy_file_is_named(in_tmp):
    np.save("arr.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"^arr\.npy is a \.npy file"):
        nn.load_weights(model(), "arr.npy")
    os.replace("arr.npy", "looks.npz")
    with pytest.raises(ValueError, match=r"^looks\.npz is a \.npy file"):
        nn.load_weights(model(), "looks.npz")
    (in_tmp / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"^text\.npz is not an \.npz archive"):
        nn.load_weights(model(), "text")


def test_missing_files_and_folders_are_named(in_tmp):
    with pytest.raises(FileNotFoundError, match="no weights file nothing.npz"):
        nn.load_weights(model(), "nothing")
    (in_tmp / "d.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="d.npz"):
        nn.load_weights(model(), "d")


def test_an_absolute_path_is_named_by_its_file_name_only(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        nn.load_weights(model(), tmp_path / "gone")
    assert str(info.value) == "no weights file gone.npz"
    nn.save_weights(model(), tmp_path / "w")
    with pytest.raises(FileExistsError) as info:
        nn.save_weights(model(), tmp_path / "w")
    assert str(tmp_path) not in str(info.value)


def npy_bytes(shape, dtype, data=b""):
    """A .npy member: a header declaring ``shape`` and ``dtype``, then ``data``."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": shape,
        },
    )
    return out.getvalue() + data


def write_archive(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def test_a_huge_declared_shape_is_refused_from_the_header_without_allocating(in_tmp):
    net = model()
    members = {
        f"{key}.npy": npy_bytes(value.shape, value.dtype, value.tobytes())
        for key, value in net.parameters().items()
    }
    members["0.w.npy"] = npy_bytes(
        (10_000, 10_000), np.float64, b"\0" * 64
    )  # claims 800 MB
    write_archive("bomb.npz", members)
    assert os.path.getsize("bomb.npz") < 20_000
    tracemalloc.start()
    try:
        with pytest.raises(
            ValueError,
            match=r"(?s)the weights in bomb\.npz do not fit.*\(10000, 10000\)",
        ):
            nn.load_weights(net, "bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_arrays_of_objects_or_other_members_are_refused_without_unpickling(in_tmp):
    net = model()
    members = {
        f"{key}.npy": npy_bytes(value.shape, value.dtype, value.tobytes())
        for key, value in net.parameters().items()
    }
    write_archive("ok.npz", members)
    nn.load_weights(model(1), "ok.npz")
    members["0.b.npy"] = npy_bytes((2,), object, b"\0" * 16)
    members["readme.txt"] = b"hello"
    write_archive("objects.npz", members)
    with pytest.raises(ValueError) as info:
        nn.load_weights(net, "objects.npz")
    text = str(info.value)
    assert text.startswith("the weights in objects.npz do not fit")
    assert "0.b: the file holds dtype object, not numbers" in text
    assert "readme.txt: not an array (.npy) member" in text


def test_an_array_with_less_data_than_its_header_says_is_named(in_tmp):
    net = model()
    members = {
        f"{key}.npy": npy_bytes(value.shape, value.dtype, value.tobytes())
        for key, value in net.parameters().items()
    }
    members["0.w.npy"] = members["0.w.npy"][:-8]
    write_archive("short.npz", members)
    before = parameters(net)
    with pytest.raises(
        ValueError, match=r"^short\.npz is not a readable archive of weights"
    ):
        nn.load_weights(net, "short.npz")
    assert_same(net, before)
