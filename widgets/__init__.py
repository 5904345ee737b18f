"""The Jupyter widgets (numbanet.widgets): the inspector steps through a training step layer by
layer; CompareView sets each kernel's CUDA result beside the CPU's.

Needs ipywidgets and matplotlib: ``pip install "numbanet[widgets]"``.
"""

try:
    import ipywidgets  # noqa: F401
    import matplotlib  # noqa: F401
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        f"numbanet.widgets needs {missing.name}, which is not installed: "
        f'pip install "numbanet[widgets]"',
        name=missing.name,
    ) from missing

from numbanet.widgets.compare import CompareView  # noqa: E402
from numbanet.widgets.inspector import Inspector  # noqa: E402

__all__ = ["CompareView", "Inspector"]
