"""A notebook with an inspector, run and saved as Jupyter saves it: beside the widget (which
needs its kernel) it keeps a static copy of the inspector's last view, as HTML and as a PNG,
so a saved or shared notebook shows what the learner saw."""

import base64

import nbformat
import pytest
from nbclient import NotebookClient

pytest.importorskip("ipywidgets")

CELLS = [
    """import numbanet as nn
from numbanet import data
from numbanet.widgets import Inspector

nn.seed(0)
model = nn.models.mlp(64, (32, 16), 10)
inspector = Inspector(model, nn.CrossEntropyLoss(), nn.optim.Adam(model), data.digits()[0],
                      batch_size=16)
inspector""",
    """inspector.buttons["step"].click()
inspector.buttons["step"].click()""",
]


def test_a_saved_notebook_keeps_a_picture_of_the_last_view(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    nbformat.write(notebook, tmp_path / "saved.ipynb")
    saved = nbformat.read(tmp_path / "saved.ipynb", as_version=4)
    outputs = saved.cells[0].outputs
    kinds = [set(output.get("data", {})) for output in outputs]
    assert {"application/vnd.jupyter.widget-view+json"} <= set().union(*kinds)
    (snapshot,) = [o for o in outputs if "image/png" in o.get("data", {})]
    assert base64.b64decode(snapshot.data["image/png"]).startswith(b"\x89PNG")
    page = snapshot.data["text/html"]
    assert "event 2 of 16" in page and "forward: 1: Linear(64→32)" in page  # the last view
    assert page.count("<img") >= 3 and "id='nn-snapshot-" in page
    assert "event 2 of 16" in snapshot.data["text/plain"]
