"""Chapter 12 where Mojo is not installed: it says so in one line, skips its Mojo
cells and exercises, and runs to the end without a traceback."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CHAPTER = Path(__file__).resolve().parent.parent / "notebooks" / "12-python-against-mojo.ipynb"


@pytest.mark.slow
def test_chapter_12_runs_without_mojo(tmp_path, monkeypatch):
    hide = tmp_path / "hide-mojo"
    hide.mkdir()
    # the kernel starts with this on its path: `import mojo` then finds nothing
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['mojo'] = None\n")
    monkeypatch.setenv("PYTHONPATH", str(hide))
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNLAB_STRICT_EXERCISES", "1")  # a skipped check must not fail
    nb = nbformat.read(CHAPTER, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first cell that fails

    def shown(cell):
        return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                       for o in cell.outputs)

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    first = shown(code[0])
    assert first.strip() == (
        "The Mojo cells are skipped on this machine: "
        "the mojo package is not installed (pip install mojo)."
    )
    checks = [shown(cell) for cell in code if "check" in cell.metadata.get("tags", [])]
    assert [text.startswith("–") and "skipped" in text for text in checks] == [
        False, True, True]
    assert not any("Traceback" in shown(cell) for cell in code)
