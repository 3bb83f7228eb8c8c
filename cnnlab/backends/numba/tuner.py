"""Autotuning: the fastest kernel for a shape, measured on this machine, remembered.

Which convolution kernel is fastest depends on the CPU as much as on the shapes:
how wide its vectors are, how many FMA units it has, how big its caches are. A
threshold measured on one machine is a guess on another, so, as cuDNN's benchmark
mode does, the first call with a new *key* (operator, dtype, shapes, stride,
padding and thread count) races every kernel that applies on the real arrays and
keeps the winner:

- each candidate runs once untimed (Numba loads or compiles it), then the
  candidates take turns for :data:`ROUNDS` rounds or more, in a different order
  each round, so a change in the machine's load falls on all of them alike; a
  candidate more than :data:`DROP_FACTOR` times slower than the best first run is
  dropped after that run;
- the ranking (fastest first) and the median times go into a JSON file in
  :func:`cnnlab.host.cache_dir`, one file per machine: CPU model, core count,
  Numba's and cnnlab's versions. Later calls, in this process or another, read
  the choice from there.

Every kernel gives the same values up to rounding, so a result never depends on
the choice, only its speed does. Below :data:`MIN_WORK` multiply-adds, or with
``CNNLAB_AUTOTUNE=0`` in the environment, the static table of
:mod:`cnnlab.backends.numba.chooser` decides instead: a race costs a few calls of
every candidate, which only a call big enough to be worth tuning repays.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numba

from cnnlab.host import cache_dir, cpu_name, read_cpuinfo

__all__ = [
    "Choice",
    "choose",
    "enabled",
    "cache_path",
    "cached_entries",
    "forget",
    "state",
    "MIN_WORK",
    "ROUNDS",
]

SCHEMA_VERSION = 1
ROUNDS = 5
"""Timed rounds of a race at least; each runs every candidate once."""
MAX_ROUNDS = 50
RACE_SECONDS = 0.25
"""Rounds are added up to :data:`MAX_ROUNDS` while the race stays this short."""
DROP_FACTOR = 4.0
"""A candidate this many times slower than the best untimed run leaves the race."""
MIN_WORK = 1 << 20
"""Multiply-adds from which a call is tuned; below, the static table decides."""


@dataclass(frozen=True)
class Choice:
    """The kernel a call runs, and how it was chosen.

    ``source`` is "tuned" (raced in this call), "cached" (raced earlier, read
    from the cache), "static" (the chooser's table: tuning is off or the call
    is small) or "only" (one kernel applies). ``times_s`` holds the median
    seconds of each raced candidate, fastest first.
    """

    name: str
    source: str
    times_s: dict[str, float] = field(default_factory=dict)


def enabled() -> bool:
    """False when the environment says ``CNNLAB_AUTOTUNE=0``."""
    return os.environ.get("CNNLAB_AUTOTUNE", "1").strip() != "0"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def _machine() -> dict[str, Any]:
    """What a tuning result depends on besides the call: the CPU and the software."""
    return {
        "cpu": cpu_name(read_cpuinfo()),
        "cores": os.cpu_count(),
        "numba": numba.__version__,
        "cnnlab": _version("cnnlab"),
    }


def cache_path() -> Path:
    """This machine's tuning file: ``tuning-<key>.json`` in the cache folder."""
    return _cache_path(_cache_environment(), _machine_text())


def _cache_environment() -> tuple[str | None, ...]:
    """What :func:`cnnlab.host.cache_dir` reads: CNNLAB_CACHE_DIR, and only without
    it (the Makefile sets it) the folders it falls back on."""
    return _environment()[1:]


# The folders cache_dir() falls back on; the path is asked on every call that may
# be tuned, so it is worked out once per value of the environment.
_CACHE_VARIABLES = ("XDG_CACHE_HOME", "HOME")


def _read_environment() -> tuple[str | None, ...]:
    folder = os.environ.get("CNNLAB_CACHE_DIR")
    cache = (folder,) if folder else tuple(map(os.environ.get, _CACHE_VARIABLES))
    return (os.environ.get("CNNLAB_AUTOTUNE"), *cache)


# conv2d asks for these variables on every call, and os.environ.get answers for a
# variable that is not set by raising and catching KeyError, about a microsecond
# each. os.environ keeps its values in a dict, ``_data``, that every change goes
# through (os.environ[...] = ..., del, monkeypatch.setenv), keyed as its
# ``encodekey`` says: looked up there directly, a variable costs a dict lookup.
# The values stay encoded (bytes on POSIX), which is all a state needs: it is only
# compared. Where os.environ has no such dict, the variables are read as usual.
_ENVIRON_DATA: dict | None = getattr(os.environ, "_data", None)
_ENVIRON_KEYS = (
    tuple(
        os.environ.encodekey(name)
        for name in ("CNNLAB_AUTOTUNE", "CNNLAB_CACHE_DIR", *_CACHE_VARIABLES)
    )
    if isinstance(_ENVIRON_DATA, dict)
    else ()
)


def _environment() -> tuple:
    """(CNNLAB_AUTOTUNE, *_cache_environment()) as they are now, encoded or not."""
    if not _ENVIRON_KEYS:
        return _read_environment()
    get = _ENVIRON_DATA.get  # type: ignore[union-attr]
    autotune, folder, xdg, home = _ENVIRON_KEYS
    if cache := get(folder):  # set and not empty, as cache_dir() reads it
        return (get(autotune), cache)
    return (get(autotune), get(xdg), get(home))


@functools.cache
def _machine_text() -> str:
    return json.dumps(_machine(), sort_keys=True)


@functools.lru_cache(maxsize=16)
def _cache_path(environment: tuple[str | None, ...], machine: str) -> Path:
    digest = hashlib.sha256(machine.encode()).hexdigest()[:16]
    return cache_dir() / f"tuning-{digest}.json"


# Choices known to this process, by key; read from the file once, on first need.
_entries: dict[str, dict[str, Any]] = {}
_loaded: Path | None = None
# Each call's Choice once made, by (key, candidates): the file's ranking is read
# through once per process, not on every call.
_decided: dict[tuple[str, tuple[str, ...]], Choice] = {}
# Counts the changes of the choices known to this process (see :func:`state`).
_generation = 0
# Set when the file on disk cannot be read: it is then left as it is, never replaced.
_unreadable: set[Path] = set()


def _read(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of a tuning file; {} if there is none, or if it cannot be read."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"schema {data.get('schema')!r}")
        return {
            key: entry
            for key, entry in data["entries"].items()
            if isinstance(entry, dict)
            and isinstance(entry.get("ranking"), list)
            and all(isinstance(name, str) for name in entry["ranking"])
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        if path not in _unreadable:
            _unreadable.add(path)
            warnings.warn(
                f"cnnlab: the tuning file {path} cannot be read ({error}); tuning "
                "results stay in memory and the file is left as it is. Delete it "
                "to let cnnlab write a new one.",
                stacklevel=4,
            )
        return {}


def _load() -> dict[str, dict[str, Any]]:
    """The entries known to this process, for the current cache file."""
    global _loaded, _generation
    path = cache_path()
    if _loaded != path:
        _generation += 1
        _decided.clear()
        _entries.clear()
        _entries.update(_read(path))
        _loaded = path
    return _entries


def state() -> tuple:
    """What every choice depends on besides the call: the environment that turns
    tuning off and places the tuning file, and a count of the changes to the
    choices known to this process.

    A caller that remembers a choice (as conv2d does, to skip its checks on a
    repeated call) makes the choice again when this changes. Raw values, not
    :func:`enabled` and :func:`cache_path`: this is asked on every call.
    """
    return (_environment(), _generation)


def _save(key: str, entry: dict[str, Any]) -> None:
    """Add one entry to the file: read it again (another process may have added
    entries), merge, write a temporary file beside it and rename it into place, so
    a reader never sees half a file."""
    global _generation
    path = cache_path()
    entries = _load()
    entries[key] = entry
    _generation += 1
    on_disk = _read(path)
    if path in _unreadable:
        return
    merged = {**on_disk, key: entry}
    document = {"schema": SCHEMA_VERSION, "machine": _machine(), "entries": merged}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:  # a read-only cache folder: tune again next session
        warnings.warn(
            f"cnnlab: cannot write the tuning file {path}: {error}", stacklevel=3
        )
    entries.update(merged)


def cached_entries() -> dict[str, dict[str, Any]]:
    """Every choice this machine's tuning file holds, by key (a copy)."""
    return {key: dict(entry) for key, entry in _load().items()}


def forget(keys: Sequence[str]) -> None:
    """Drop these keys from this process's memory, so their next call races again.

    The file keeps them until the new race's result replaces them.
    """
    global _generation
    entries = _load()
    for key in keys:
        entries.pop(key, None)
    _decided.clear()
    _generation += 1


def _race(candidates: Sequence[str], run: Callable[[str], None]) -> dict[str, float]:
    """Median seconds of each candidate over interleaved rounds, fastest first."""
    first: dict[str, float] = {}
    for name in candidates:
        start = time.perf_counter()
        run(name)  # untimed in the race: the first call may load or compile
        first[name] = time.perf_counter() - start
    for name in candidates:  # the first timing of each, once every one is loaded
        start = time.perf_counter()
        run(name)
        first[name] = time.perf_counter() - start
    best = min(first.values())
    racing = [name for name in candidates if first[name] <= DROP_FACTOR * best]
    samples: dict[str, list[float]] = {name: [first[name]] for name in racing}
    # cheap calls get more rounds, up to RACE_SECONDS: a noisy round matters less
    round_seconds = sum(first[name] for name in racing)
    rounds = min(MAX_ROUNDS, max(ROUNDS, int(RACE_SECONDS / round_seconds)))
    for round_ in range(rounds - 1):
        shift = round_ % len(racing)
        for name in racing[shift:] + racing[:shift]:
            start = time.perf_counter()
            run(name)
            samples[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(times) for name, times in samples.items()}
    for name in candidates:
        if name not in medians:
            medians[name] = first[name]
    return dict(sorted(medians.items(), key=lambda item: item[1]))


def choose(
    key: Callable[[], str],
    candidates: Sequence[str],
    static: str,
    work: int,
    run: Callable[[str], None],
) -> Choice:
    """The kernel for the call ``key()`` among ``candidates`` (names of kernels).

    ``static`` is the chooser's table's answer, ``work`` the call's multiply-adds,
    and ``run(name)`` runs kernel ``name`` on the call's arrays (into a scratch
    output). A cached ranking is read past kernels that are not candidates now,
    such as Winograd when the values could overflow it.
    """
    if static not in candidates:
        raise ValueError(f"static choice {static!r} is not among {list(candidates)}")
    if len(candidates) == 1:
        return Choice(static, "only")
    if not enabled() or work < MIN_WORK:
        return Choice(static, "static")
    call = key()  # only now: most calls never need it
    entry = _load().get(call)
    decided = _decided.get((call, tuple(candidates)))
    if decided is not None:
        return decided
    # a ranking that lacks a candidate (Winograd, left out of an earlier race for
    # its values) is raced again
    if entry is not None and set(candidates) <= set(entry["ranking"]):
        best = next(name for name in entry["ranking"] if name in candidates)
        choice = Choice(best, "cached", dict(entry.get("times_s", {})))
    else:
        times = _race(candidates, run)
        _save(call, {"ranking": list(times), "times_s": times, "static": static})
        choice = Choice(next(iter(times)), "tuned", times)
    # what the next call with this key reads from the cache
    _decided[call, tuple(candidates)] = replace(choice, source="cached")
    return choice
