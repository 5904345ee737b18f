"""Every tutorial notebook runs from top to bottom on small data; its own asserts are the checks
(a failing assert in a cell raises CellExecutionError here)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


@pytest.mark.parametrize("path", sorted(TUTORIALS.glob("*.ipynb")), ids=lambda p: p.name)
def test_tutorial_runs_and_its_checks_pass(path, monkeypatch):
    # os.environ, before the kernel starts: the kernel subprocess inherits it
    monkeypatch.setenv("NUMBANET_TUTORIAL_FAST", "1")  # small data, few epochs
    monkeypatch.setenv("MPLBACKEND", "Agg")  # never a GUI window; notebooks draw inline
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(TUTORIALS)}},
    ).execute()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells, f"{path.name} has no code"
    assert all(cell.execution_count is not None for cell in code_cells), "a cell did not run"
    outputs = [output for cell in code_cells for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    shown = {kind for output in outputs for kind in output.get("data", {})}
    assert shown & {"image/png", "application/vnd.jupyter.widget-view+json"}, "nothing was drawn"
