"""The Jupyter inspector (numbanet.widgets): steps through a training step layer by layer.

Needs ipywidgets and matplotlib: ``pip install "numbanet[widgets]"``.
"""

from numbanet.widgets.inspector import Inspector

__all__ = ["Inspector"]
