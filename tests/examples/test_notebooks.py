"""Every example notebook runs top to bottom offline on the tiny defaults, in a kernel of this virtual environment.

The kernel is the `python3` kernel spec, which jupyter_client resolves to the interpreter running the tests when
ipykernel is installed here (it is a test dependency); `test_kernel_is_this_environment` checks that it does. Each
notebook starts in `examples/` (as Jupyter would) and writes only under a temporary folder (`TMPDIR`).
"""

import subprocess
import sys
from pathlib import Path

import pytest

# The `notebooks` extra; without it the module is skipped rather than failing collection.
nbformat = pytest.importorskip("nbformat")
NotebookClient = pytest.importorskip("nbclient").NotebookClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(path.stem for path in EXAMPLES.glob("0*.ipynb"))

pytestmark = pytest.mark.notebooks


def execute(notebook: nbformat.NotebookNode, *, timeout: int = 240) -> nbformat.NotebookNode:
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    return client.execute()


def test_the_four_notebooks_exist():
    assert NOTEBOOKS == ["01_quickstart", "02_reproduce_paper", "03_metrics", "04_build_your_corpus"]


def test_notebooks_match_their_sources_and_carry_no_outputs():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_notebooks.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for name in NOTEBOOKS:
        notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_kernel_is_this_environment():
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    executed = execute(notebook, timeout=60)
    assert executed.cells[0].outputs[0]["text"].strip() == sys.prefix


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel inherits it: tempfile.mkdtemp lands here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # Tiny models gain nothing from a second torch thread and lose much when the cores are shared.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    before = sorted(EXAMPLES.rglob("*"))
    executed = execute(notebook)
    errors = [o for cell in executed.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert sorted(EXAMPLES.rglob("*")) == before  # nothing written beside the notebooks
    assert len(list(tmp_path.glob("soulchat-*"))) == 1  # its working folder (torch may add cache folders beside it)
