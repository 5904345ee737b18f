"""CPU kernels compiled with Numba: ``@njit(parallel=True)`` loops and BLAS for matrix products.

Every kernel takes its inputs first and its preallocated outputs last, writes the outputs in
place and returns nothing, so the layer that owns the buffers can reuse them every step.
"""

from numbanet.kernels.cpu import (
    activation,
    conv,
    dense,
    dropout,
    elementwise,
    loss,
    norm,
    optim,
    penalty,
    pool,
)

MODULES = (dense, conv, pool, norm, dropout, elementwise, activation, loss, optim, penalty)
