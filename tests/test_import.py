"""What `import numbanet` loads: no GUI libraries, nothing compiled."""

import subprocess
import sys


def test_import_loads_neither_ipywidgets_nor_matplotlib():
    code = (
        "import sys, numbanet; bad = [m for m in ('ipywidgets', 'matplotlib', 'sklearn', 'torch') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_public_names_are_all_importable():
    import numbanet

    for name in numbanet.__all__:
        assert hasattr(numbanet, name), name
