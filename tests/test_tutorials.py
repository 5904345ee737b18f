"""Every tutorial notebook runs from top to bottom on small data, its own asserts being the checks
(a failing assert in a cell raises CellExecutionError here), and is committed with the outputs
of a full run (tutorials/execute.py), so that it reads on GitHub without running."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
FIGURES = {"image/png", "application/vnd.jupyter.widget-view+json"}

_spec = importlib.util.spec_from_file_location("execute", TUTORIALS / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)


def code_outputs(notebook):
    """The code cells of ``notebook`` and all of their outputs."""
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return cells, [output for cell in cells for output in cell.outputs]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tutorial_runs_and_its_checks_pass(path, monkeypatch):
    # execute() sets the kernel's environment in os.environ; monkeypatch puts it back after
    for name in ("NUMBANET_TUTORIAL_FAST", "NUMBANET_TUTORIAL_DPI", "MPLBACKEND"):
        monkeypatch.setenv(name, "")
    notebook = execute.execute(path, fast=True, timeout=600)  # returned, never written
    cells, outputs = code_outputs(notebook)
    assert cells, f"{path.name} has no code"
    assert all(cell.execution_count is not None for cell in cells), "a cell did not run"
    assert not [output for output in outputs if output.output_type == "error"]
    shown = {kind for output in outputs for kind in output.get("data", {})}
    assert shown & FIGURES, "nothing was drawn"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tutorial_is_committed_with_its_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    cells, outputs = code_outputs(notebook)
    not_run = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and cell.execution_count is None
    ]
    assert not not_run, f"{path.name}: cells {not_run} have no outputs (python tutorials/execute.py)"
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: not run top to bottom in one kernel"
    )
    assert not [output for output in outputs if output.output_type == "error"]
    assert any(output.get("data", {}).keys() & {"image/png"} for output in outputs), "no figure"
    assert path.stat().st_size <= execute.MAX_BYTES, f"{path.stat().st_size:,} bytes"
