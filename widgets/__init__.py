"""The Jupyter widgets (numbanet.widgets): the inspector steps through a training step layer by
layer; CompareView sets each kernel's CUDA result beside the CPU's.

Needs ipywidgets and matplotlib: ``pip install "numbanet[widgets]"``.
"""

from numbanet.widgets.compare import CompareView
from numbanet.widgets.inspector import Inspector

__all__ = ["CompareView", "Inspector"]
