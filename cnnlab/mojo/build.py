"""Building the Mojo kernels into a Python extension module, once per source.

``mojo.importer`` would compile them into a ``__mojocache__`` folder next to
the sources, inside the repository. Instead, :func:`load_bindings` builds them
with the same compiler (``mojo build --emit shared-lib``) into
``cnnlab.host.cache_dir() / "mojo"``, under a name that carries a hash of
every ``.mojo`` source, the compiler's version and the CPU: a second run, or
a second process, finds the module there and only loads it.

A variant changes compile-time constants (``comptime WIDTH = 8`` in
``conv_simd.mojo``; ``FILTERS`` and ``VECTORS`` in ``conv_direct.mojo``):
``load_bindings(WIDTH=16)`` builds the sources with that line replaced, so the
hash, and the file, are the variant's own. The cache keeps the module of the
current sources and the :data:`KEEP_VARIANTS` most recently used others.

Two processes may build at once (pytest-xdist runs two workers): each builds
into its own temporary file in the cache folder and renames it into place,
which is atomic, so a reader never sees half a file; the later rename
replaces an identical module.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from cnnlab.host import cache_dir, cpu_name, read_cpuinfo

__all__ = [
    "assembly",
    "KERNEL_DIR",
    "CONSTANTS",
    "KEEP_VARIANTS",
    "MojoBuildError",
    "check_overrides",
    "sources",
    "module_path",
    "load_bindings",
    "build_seconds",
]

KERNEL_DIR = Path(__file__).parent / "kernels"
"""The Mojo sources; ``bindings.mojo`` is the root that imports the others."""
ROOT = "bindings"
CONSTANTS: dict[str, tuple[str, tuple[int, ...]]] = {
    # SIMD widths must be powers of two; 16 and more span several registers
    "WIDTH": ("conv_simd.mojo", (1, 2, 4, 8, 16, 32, 64)),
    # accumulators are FILTERS x VECTORS vectors: past the registers they spill
    "FILTERS": ("conv_direct.mojo", tuple(range(1, 17))),
    "VECTORS": ("conv_direct.mojo", tuple(range(1, 9))),
}
"""The constants a variant may change: name -> (source file, allowed values)."""
KEEP_VARIANTS = 4
"""Variants kept in the cache besides the module of the unchanged sources."""


class MojoBuildError(ImportError):
    """The Mojo compiler rejected the kernels; the message holds its output."""


def check_overrides(overrides: Mapping[str, object]) -> dict[str, int]:
    """``overrides`` sorted by name; ValueError naming what is allowed."""
    checked = {}
    for name, value in sorted(overrides.items()):
        if name not in CONSTANTS:
            raise ValueError(
                f"unknown Mojo constant {name!r}; choose from {', '.join(CONSTANTS)}"
            )
        allowed = CONSTANTS[name][1]
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value not in allowed
        ):
            raise ValueError(
                f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}"
            )
        checked[name] = value
    return checked


def _line(name: str) -> re.Pattern[str]:
    return re.compile(rf"^comptime {name} = .*$", re.MULTILINE)


def sources(**overrides: int) -> dict[str, str]:
    """Every kernel source by file name, with ``comptime NAME = value`` replaced."""
    texts = {p.name: p.read_text() for p in sorted(KERNEL_DIR.glob("*.mojo"))}
    for name, value in check_overrides(overrides).items():
        file = CONSTANTS[name][0]
        texts[file], count = _line(name).subn(f"comptime {name} = {value}", texts[file])
        if count != 1:
            raise MojoBuildError(f"{file} must declare comptime {name} once")
    return texts


def _source_hash(texts: dict[str, str]) -> str:
    """A hash of every kernel source, the compiler's version and the CPU.

    The compiler tunes for the CPU it runs on, so a cache folder shared
    between machines keeps one module per CPU.
    """
    digest = hashlib.sha256()
    for name, text in sorted(texts.items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    digest.update(importlib.metadata.version("mojo").encode())
    digest.update(cpu_name(read_cpuinfo()).encode() + platform.machine().encode())
    return digest.hexdigest()[:16]


def module_path(**overrides: int) -> Path:
    """Where the built module of the (changed) sources is, or will be, cached."""
    return cache_dir() / "mojo" / f"{ROOT}-{_source_hash(sources(**overrides))}.so"


def _compile(texts: dict[str, str], target: Path, emit: str = "shared-lib") -> None:
    """``mojo build --emit <emit>`` the sources into ``target``; MojoBuildError if
    it fails."""
    # imported here: cnnlab imports this module only when mojo is installed
    from mojo.run import subprocess_run_mojo

    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        for name, text in texts.items():
            Path(folder, name).write_text(text)
        source = Path(folder, f"{ROOT}.mojo")
        args = ["build", str(source), "--emit", emit, "-o", str(target)]
        result = subprocess_run_mojo(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise MojoBuildError(f"mojo build failed:\n{result.stdout}{result.stderr}")


def _prune(default: Path) -> None:
    """Delete all but the default module and the most recently used variants."""
    others = [p for p in default.parent.glob(f"{ROOT}-*.so") if p != default]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEEP_VARIANTS:]:
        old.unlink(missing_ok=True)
        _record(old).unlink(missing_ok=True)


def _build(texts: dict[str, str], path: Path, emit: str = "shared-lib") -> None:
    """Compile into ``path`` unless it is there; atomic, so two processes may."""
    if path.is_file():
        path.touch()  # recently used: pruned last
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        start = time.perf_counter()
        _compile(texts, Path(temporary), emit)
        seconds = time.perf_counter() - start
        _record(path).write_text(json.dumps({"build_seconds": seconds}))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    _prune(module_path())


def _record(path: Path) -> Path:
    """The file beside a built ``path`` that says how long building it took."""
    return path.with_name(path.name + ".json")


def build_seconds(**overrides: int) -> float | None:
    """How long building the module (with ``overrides``) took when it was built.

    None if it is not built, or was built before builds were timed.
    """
    try:
        record = json.loads(_record(module_path(**overrides)).read_text())
        return float(record["build_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@functools.cache
def assembly() -> str:
    """The assembly of the kernels as built (``mojo build --emit asm``), cached
    beside the module: what the CPU runs, to count its instructions."""
    texts = sources()
    path = cache_dir() / "mojo" / f"{ROOT}-{_source_hash(texts)}.s"
    _build(texts, path, "asm")
    return path.read_text()


@functools.cache
def _load(overrides: tuple[tuple[str, int], ...]) -> ModuleType:
    texts = sources(**dict(overrides))
    path = cache_dir() / "mojo" / f"{ROOT}-{_source_hash(texts)}.so"
    _build(texts, path)
    # the module's init function is PyInit_bindings whatever the variant
    spec = importlib.util.spec_from_file_location(f"cnnlab.mojo.{ROOT}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Mojo kernels from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _restore_environment()
    return module


_MOJO_SETS = ("PYTHONPATH", "PYTHONEXECUTABLE", "MOJO_PYTHON_LIBRARY")


def _restore_environment() -> None:
    """Undo the variables Mojo's runtime sets in the C environment on loading.

    Child processes inherit them: a PYTHONEXECUTABLE pointing at another
    Python makes ``python -m ...`` started later miss its virtual environment.
    """
    for name in _MOJO_SETS:
        if name in os.environ:
            os.putenv(name, os.environ[name])
        else:
            os.unsetenv(name)


def load_bindings(**overrides: int) -> ModuleType:
    """The compiled kernels as a Python module, built first if not cached.

    ``overrides`` replace compile-time constants (:data:`CONSTANTS`), e.g.
    ``load_bindings(WIDTH=16)``; the module's ``constants()`` returns the
    values it was built with. ValueError for an unknown name or a value
    outside the allowed ones.
    """
    return _load(tuple(check_overrides(overrides).items()))
