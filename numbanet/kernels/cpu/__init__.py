"""CPU kernels compiled with Numba: ``@njit(parallel=True)`` loops and BLAS for matrix products.

Every kernel takes its inputs first and its preallocated outputs last, writes the outputs in
place and returns nothing, so the layer that owns the buffers can reuse them every step.
"""

from numbanet.kernels.cpu import activation, conv, dense, elementwise, loss, optim, penalty

MODULES = (dense, conv, elementwise, activation, loss, optim, penalty)
