"""The wheel holds the whole package, and installed outside the repository it runs.

A user who installs cnnlab with pip (the README's Colab route) gets the built
wheel, not this folder: a subpackage missing from it breaks every check cell.
"""

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _project_files() -> list[str]:
    """The files a clean clone has: tracked ones, and new ones git does not ignore."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know which files a clean clone holds")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    return [name for name in listed if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    clone = tmp_path_factory.mktemp("clone")
    for name in _project_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", "-w", str(out), str(clone)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (built,) = out.glob("cnnlab-*.whl")
    return built


def test_the_wheel_holds_every_module_of_the_package(wheel):
    # .mojo: the Mojo kernels' sources, built on first use (cnnlab.mojo.build);
    # .js: the script of the responsive figures (cnnlab.viz.frames)
    modules = {name for name in _project_files()
               if name.startswith("cnnlab/") and name.endswith((".py", ".mojo", ".js"))}
    with zipfile.ZipFile(wheel) as archive:
        inside = {name for name in archive.namelist() if name.startswith("cnnlab/")}
    assert modules, "no modules found in the checkout"
    assert modules - inside == set(), "modules missing from the wheel"


def test_the_wheel_declares_what_the_package_imports(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = email.message_from_bytes(archive.read(metadata))
    required = {line.split(">")[0].split("=")[0].split("<")[0].strip().lower()
                for line in message.get_all("Requires-Dist") or []}
    # nbformat: the student edition reads and writes notebooks with it.
    # scipy: Numba's np.dot, which the GEMM kernels call, links its BLAS.
    for package in ("numpy", "numba", "scipy", "matplotlib", "ipywidgets", "tqdm",
                    "scikit-learn", "nbformat"):
        assert package in required, package


def test_installed_from_the_wheel_the_checkers_import(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    code = (
        "import cnnlab, cnnlab.exercises\n"
        "from cnnlab.exercises import check_conv2d\n"
        "from cnnlab.teaching import student_edition\n"
        "print(cnnlab.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    # -I would drop PYTHONPATH; running from tmp_path keeps the repository off sys.path.
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(target), done.stdout
