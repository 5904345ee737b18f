"""The Jupyter inspector (numbanet.widgets): steps through a training step layer by layer."""
