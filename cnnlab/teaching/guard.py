"""The defence against a student's patches: note what a checker relies on, undo changes.

A student's function runs in the checker's own process, so it could rebind
``np.allclose``, a builtin or the checker itself to make a wrong answer pass.
A :class:`Guard` records every name of NumPy's modules, some of Python's and
cnnlab's before the call; afterwards :meth:`Guard.undo` reports each name that
changed and puts the original back, and the checker fails the case.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

# The guard that undoes a student's changes to builtins must not use them itself:
# these are bound once, at import.
_len, _id, _map, _vars, _isinstance, _list = len, id, map, vars, isinstance, list
_enumerate = enumerate
_type = type

# Python's modules a checker relies on; NumPy's and cnnlab's are watched whole.
_WATCHED_MODULES = ("builtins", "math", "operator", "time", "signal", "numpy")


def watched_namespaces(cnnlab: bool = True) -> list[tuple[str, object]]:
    """The namespaces a checker relies on, each with its dotted name.

    NumPy's modules and some of Python's; with ``cnnlab`` also cnnlab's
    modules and the engine's :class:`~cnnlab.teaching.grading.Case` and
    :class:`~cnnlab.teaching.grading.Report` (a class's methods are in no
    module's namespace).
    """
    own = (*_WATCHED_MODULES, "cnnlab") if cnnlab else _WATCHED_MODULES
    prefixes = ("numpy.", "cnnlab.") if cnnlab else ("numpy.",)
    spaces: list[tuple[str, object]] = [
        (name, module)
        for name, module in list(sys.modules.items())
        if isinstance(module, ModuleType) and (name in own or name.startswith(prefixes))
    ]
    if not cnnlab:
        return spaces
    # Imported here, not at the top: the engine imports this module.
    from cnnlab.teaching.grading import Case, Report

    return spaces + [
        (f"cnnlab.teaching.grading.{cls.__name__}", cls) for cls in (Case, Report)
    ]


class Guard:
    """A record of the namespaces a checker relies on, to spot and undo a change.

    ``Guard()`` notes every name of every watched namespace
    (:func:`watched_namespaces`) and the object it refers to; :meth:`undo`
    reports which of them now refer to something else (or are gone, or new)
    and puts the recorded objects back. New submodules (an ``import`` inside
    the student's code) and ``__warningregistry__`` are allowed. With
    ``added=False`` new names are allowed too: the record taken at import
    cannot know which attributes NumPy adds lazily later.
    """

    def __init__(
        self, spaces: Iterable[tuple[str, object]] | None = None, added: bool = True
    ) -> None:
        self._added = added
        self._records: list[tuple[str, object, dict[str, object], list[int]]] = []
        spaces = watched_namespaces() if spaces is None else spaces
        for name, space in sorted(spaces, key=lambda named: named[0] != "builtins"):
            # builtins first: undo() restores them before the rest
            entries = dict(vars(space))
            self._records.append((name, space, entries, [*map(id, entries.values())]))

    def undo(self, accept: frozenset[str] = frozenset()) -> list[str]:
        """Names that were changed, as ``numpy.allclose``; each is put back.

        Python's builtins are put back first, and until then only functions
        bound at import are used. Names in ``accept`` (as ``builtins.input``)
        may change: their new value is recorded instead.
        """
        changed = []
        for k, (name, space, entries, ids) in _enumerate(self._records):
            now = _vars(space)
            if _len(now) == _len(entries) and _list(_map(_id, now.values())) == ids:
                continue  # the common case, checked at C speed
            for key in _list({*entries, *now}):
                if key in entries:
                    if now.get(key, _MISSING) is entries[key]:
                        continue
                elif not self._added or _allowed_new(name, key, now[key]):
                    continue
                if f"{name}.{key}" in accept:
                    if key in now:
                        entries[key] = now[key]
                    else:
                        del entries[key]
                    continue
                changed.append(f"{name}.{key}")
                _put_back(space, key, entries)
            self._records[k] = (name, space, entries, [*_map(_id, entries.values())])
        return sorted(set(changed))


_MISSING = object()


def _allowed_new(space_name: str, key: str, value: Any) -> bool:
    return key == "__warningregistry__" or (
        _isinstance(value, ModuleType) and value.__name__ == f"{space_name}.{key}"
    )


def _put_back(space: object, key: str, entries: dict[str, object]) -> None:
    is_class = _isinstance(space, _type)
    setter = _type.__setattr__ if is_class else ModuleType.__setattr__
    deleter = _type.__delattr__ if is_class else ModuleType.__delattr__
    if key in entries:
        setter(space, key, entries[key])
    else:
        deleter(space, key)


def changed_message(names: list[str]) -> str:
    """The feedback for a student's function that changed ``names`` (from undo)."""
    shown = ", ".join(names[:5]) + (
        f" and {len(names) - 5} more" if len(names) > 5 else ""
    )
    return (
        f"your function changed {shown}. The checker put the original back: a function "
        "must not change NumPy, Python's builtins or cnnlab, only compute its answer."
    )
