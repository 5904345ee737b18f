"""Kernels: the math of every layer, loss and optimizer, one family per file.

``scalar.py`` holds the per-element math (relu, sigmoid, ...) written once; ``cpu/`` compiles
the array kernels with Numba for the CPU. Tips for reading and debugging them:

* ``NUMBA_DISABLE_JIT=1`` runs every kernel as plain Python, so ``pdb`` and ``print`` work.
* ``kernel.py_func`` is the Python body of a compiled kernel.
* ``NUMBA_ENABLE_CUDASIM=1`` runs CUDA kernels on the CPU in Numba's simulator.
* Compiled kernels are cached beside their source (``__pycache__``). Numba itself notices an
  edit to a kernel's own file only, not to ``scalar.py`` or another file whose functions a
  kernel calls; ``cpu/cache.py`` empties the cache at import whenever any kernel source changed.
"""
