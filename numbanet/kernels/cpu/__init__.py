"""CPU kernels compiled with Numba: ``@njit(parallel=True)`` loops and BLAS for matrix products.

Every kernel takes its inputs first and its preallocated outputs last, writes the outputs in
place and returns nothing, so the layer that owns the buffers can reuse them every step.

Every kernel is compiled with ``error_model="numpy"``: a division by zero gives inf or nan, as
in NumPy and PyTorch (the inspector's anomaly stop reports them), instead of Numba's default
Python semantics, whose zero test before every division keeps loops from vectorizing.

Which kernels there are is ``FAMILIES`` in ``numbanet/kernels/__init__.py``; how the CPU splits
work among its threads where a layer has to know (the scratch arrays of a convolution) is
``plan.py``.

Their compiled code is cached beside them and emptied when any kernel source changes
(``cache.py``: Numba alone would notice an edit to a kernel's own file only).
"""

from numbanet.kernels.cpu.cache import drop_stale_cache

drop_stale_cache()  # before any kernel is compiled or loaded from the cache
