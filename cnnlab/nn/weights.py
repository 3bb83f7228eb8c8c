"""A trained network's weights on disk: :func:`save_weights` and :func:`load_weights`.

Weights files are the ``.npz`` archives of ``np.savez``: a zip file of one ``.npy``
member per parameter, keyed like ``model.parameters()``. A file is checked from
its headers before any array is read. Messages name a file as the user gave it,
but only by its name when the path is absolute, so a page of the book never
shows a folder of the machine that built it.
"""

from __future__ import annotations

import os
import secrets
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cnnlab.nn.sequential import Sequential, _checked_model

__all__ = ["save_weights", "load_weights"]


def _weights_file(path: object) -> Path:
    """The file save_weights writes for ``path``: with .npz added if it lacks it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _shown(path: Path) -> str:
    return path.name if path.is_absolute() else str(path)


def save_weights(
    model: Sequential, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write every parameter of ``model`` to an ``.npz`` file.

    The keys are those of ``model.parameters()``. ``.npz`` is added to ``path`` if it
    lacks it, as ``np.savez`` does; the file written is returned, and
    :func:`load_weights` reads the same file for the same ``path``. An existing file is
    kept, with a FileExistsError, unless ``overwrite=True``: a file of weights can hold
    hours of training. The archive is written to a temporary file beside it and then
    renamed, so an interrupted save never leaves a truncated file.
    """
    _checked_model(model)
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    file = _weights_file(path)
    if file.is_dir():
        raise IsADirectoryError(
            f"cannot write weights to {_shown(file)}: it is a folder"
        )
    if file.exists() and not overwrite:
        raise FileExistsError(
            f"{_shown(file)} exists; pass overwrite=True to replace it"
        )
    if not file.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write weights to {_shown(file)}: no folder {_shown(file.parent)}"
        )
    # "x" creates a new file of a fresh name, never an existing one, with the usual
    # permissions.
    temporary = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as out:
            # NumPy's stubs read any keyword as savez's allow_pickle flag.
            np.savez(out, **model.parameters())  # type: ignore[arg-type]
        os.replace(temporary, file)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return file


def _where(model: Sequential, key: str) -> tuple[str, bool]:
    """The layer of a key such as "3.w", and whether it has that parameter.

    ("layer 3 Conv2d(...)", True) for a key "3.w" of a layer that has "w"; False if
    the layer lacks it.
    """
    index, _, name = key.partition(".")
    if not (index.isdigit() and int(index) < len(model.layers)):
        return (
            f"the model has no layer {index} "
            f"(it has layers 0 to {len(model.layers) - 1})",
            False,
        )
    layer = model.layers[int(index)]
    return f"layer {index} {layer!r}", name in layer.params


def _file_to_read(path: str | os.PathLike[str]) -> Path:
    """The file save_weights(model, path) writes, or else ``path`` itself."""
    file = _weights_file(path)
    if not file.exists() and Path(path).exists():
        file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"no weights file {_shown(file)}")
    if not file.is_file():
        raise IsADirectoryError(f"{_shown(file)} is not a file of weights but a folder")
    with open(file, "rb") as f:
        start = f.read(6)
    if start == b"\x93NUMPY":
        raise ValueError(
            f"{_shown(file)} is a .npy file, one array; weights are an .npz archive "
            "of all the parameters, as save_weights writes"
        )
    if not zipfile.is_zipfile(file):
        raise ValueError(
            f"{_shown(file)} is not an .npz archive of weights "
            "(as save_weights writes): it may be truncated or of another format"
        )
    return file


def _headers(
    archive: zipfile.ZipFile,
) -> tuple[dict[str, tuple[tuple[int, ...], np.dtype]], list[str]]:
    """Shape and dtype of every array in the archive, from the .npy headers alone.

    Returns the headers by key ("0.w" for the member "0.w.npy") and the
    problems with members that are not arrays of numbers.
    """
    headers, problems = {}, []
    names = archive.namelist()
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name}: stored more than once")
    for name in names:
        key = name.removesuffix(".npy")
        if key == name:
            problems.append(f"{name}: not an array (.npy) member")
            continue
        with archive.open(name) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                problems.append(
                    f"{key}: .npy format version {version} is not supported"
                )
                continue
        if dtype.hasobject or dtype.kind not in "fiu":
            problems.append(f"{key}: the file holds dtype {dtype}, not numbers")
        headers[key] = (shape, dtype)
    return headers, problems


def load_weights(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Copy the parameters saved by :func:`save_weights` into ``model``, in place.

    Reads the file that ``save_weights(model, path)`` writes (``path`` with
    ``.npz`` added if it lacks it), or ``path`` itself if only that exists.
    The file must hold exactly the model's parameters with the same shapes;
    otherwise a ValueError lists every key that is missing, unexpected or of
    the wrong shape, with its layer and both shapes, and the model is left
    unchanged. Shapes and dtypes are read from the archive's headers before
    any array is, so a file cannot make this allocate more than the model
    holds. Values are cast to the model's dtype. Every error names the file.
    """
    _checked_model(model)
    file = _file_to_read(path)
    try:
        with zipfile.ZipFile(file) as archive:
            saved = _checked_arrays(model, archive, _shown(file))
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        ValueError,
        OSError,
        NotImplementedError,
        # what zipfile and numpy raise on a damaged or unusual archive
        RuntimeError,
    ) as err:
        if str(err).startswith(f"the weights in {_shown(file)} "):
            raise  # our own report of what does not fit
        raise ValueError(
            f"{_shown(file)} is not a readable archive of weights: {err}"
        ) from None
    for key, value in model.parameters().items():
        # in place, so an optimizer holding these arrays keeps working
        value[...] = saved[key]


def _checked_arrays(
    model: Sequential, archive: zipfile.ZipFile, shown: str
) -> dict[str, np.ndarray]:
    """The model's arrays from the archive, read once its headers fit the model."""
    headers, problems = _headers(archive)
    expected = model.parameters()
    for key, value in expected.items():
        layer, _ = _where(model, key)
        if key not in headers:
            problems.append(
                f"{key}: missing from the file; {layer} needs shape {value.shape}"
            )
        elif headers[key][0] != value.shape:
            problems.append(
                f"{key}: {layer}\n    has shape {value.shape}, "
                f"but the file has shape {headers[key][0]}"
            )
    for key in sorted(headers.keys() - expected.keys()):
        layer, _ = _where(model, key)
        owner = (
            layer
            if layer.startswith("the model")
            else f"{layer} has no parameter {key.partition('.')[2]!r}"
        )
        problems.append(f"{key}: in the file (shape {headers[key][0]}), but {owner}")
    if problems:
        raise ValueError(
            f"the weights in {shown} do not fit this model:\n  " + "\n  ".join(problems)
        )
    saved = {}
    for key in expected:
        with archive.open(key + ".npy") as member:
            saved[key] = np.lib.format.read_array(member, allow_pickle=False)
            # reaching the end also makes zipfile check the member's CRC-32
            if member.read(1):
                raise ValueError(
                    f"{key}: more data than its header's shape {saved[key].shape} holds"
                )
    return saved
