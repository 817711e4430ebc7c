"""Every notebook in the repository runs from top to bottom (nbclient), so none can rot.

Each runs in a fresh temporary folder (what it writes stays out of the checkout) with the
``python3`` kernel, which jupyter_client starts with this interpreter, and must end without error.
"""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", ".git", "build", "dist", "node_modules", ".ipynb_checkpoints"}


def notebooks():
    """Every ``.ipynb`` under the repository root, outside environments and build folders."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        found += [pathlib.Path(folder) / f for f in sorted(files) if f.endswith(".ipynb")]
    return found


def test_the_repository_has_a_notebook():
    assert any(p.name == "explore.ipynb" for p in notebooks())


def test_explore_notebook_shows_the_page_inline(tmp_path, monkeypatch):
    """The explorer notebook's display is the page itself (in an iframe), not a repr string."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e .[dev])")
    notebook = nbformat.read(ROOT / "docs" / "explore.ipynb", as_version=4)
    assert any(cell.source.rstrip().endswith("\npage") for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e .[dev])")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e .[dev])")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e .[dev])")
    # The kernel imports this checkout's packages, whatever folder it runs in.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    if path.name == "explore.ipynb":
        # What the reader sees under `page` is the explorer itself, inline, not a repr string.
        shown = [o["data"]["text/html"] for cell in notebook.cells if cell.cell_type == "code"
                 for o in cell.get("outputs", []) if "text/html" in o.get("data", {})]
        assert any(h.startswith("<iframe srcdoc=") and "microtensorExplorer" in h for h in shown), shown
