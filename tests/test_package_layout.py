"""The package's shape, as STYLE.md and the README describe it: small rooms, typed
public functions, and operators that depend on nothing above them."""

import ast
from pathlib import Path

import pytest

import cnnlab

PACKAGE = Path(cnnlab.__file__).resolve().parent
ROOT = PACKAGE.parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400

# The operators: what every chapter and the tests build on.
OPERATOR_ROOMS = ("backends", "validation.py")
ABOVE_THE_OPERATORS = ("cnnlab.viz", "cnnlab.perf", "cnnlab.data", "cnnlab.teaching",
                       "cnnlab.nn", "cnnlab.exercises")
BACKEND_ROOMS = {"python": "cnnlab.backends.python", "numpy": "cnnlab.backends.numpy",
                 "numba": "cnnlab.backends.numba"}


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT).with_suffix("")).replace("/", ".")


def _imports(path: Path) -> set[str]:
    """Every cnnlab module a file imports, at any depth (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] == "cnnlab"}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_every_module_reads_in_one_sitting(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{_name(path)} has {lines} lines; split it by what it does"


def _untyped(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    arguments = function.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    missing = [a.arg for a in every if a.annotation is None and a.arg not in ("self", "cls")]
    if function.returns is None and function.name != "__init__":
        missing.append("return")
    return missing


def _public_functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.name.startswith("_"):
                yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    yield f"{node.name}.{item.name}", item


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_public_functions_have_type_hints(path):
    tree = ast.parse(path.read_text())
    untyped = {name: missing for name, function in _public_functions(tree)
               if (missing := _untyped(function))}
    assert not untyped, f"{_name(path)}: hints missing for {untyped}"


def test_the_operators_import_nothing_above_them():
    offenders = {}
    for path in MODULES:
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] not in OPERATOR_ROOMS:
            continue
        above = {name for name in _imports(path) if name.startswith(ABOVE_THE_OPERATORS)}
        if above:
            offenders[_name(path)] = sorted(above)
    assert not offenders


def test_no_backend_imports_another():
    offenders = {}
    for rung, package in BACKEND_ROOMS.items():
        for path in MODULES:
            if not _name(path).startswith(package):
                continue
            others = {name for name in _imports(path) for other_rung, other in
                      BACKEND_ROOMS.items() if other_rung != rung and
                      (name == other or name.startswith(other + "."))}
            if others:
                offenders[_name(path)] = sorted(others)
    assert not offenders


def test_the_readme_shows_every_room():
    """One line per room of the tree: every subpackage and top-level module is named."""
    readme = (ROOT / "README.md").read_text()
    rooms = [p.name + "/" for p in PACKAGE.iterdir()
             if p.is_dir() and (p / "__init__.py").exists()]
    rooms += [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    for subpackage in PACKAGE.glob("*/*/__init__.py"):
        rooms.append(subpackage.parent.name + "/")
    missing = [room for room in rooms if room not in readme]
    assert not missing, f"README.md's package tree does not show {missing}"
