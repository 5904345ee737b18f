"""Inverted dropout, forward and backward, on flat views of any-shaped tensors.

The mask is not drawn on the host and copied: element i is kept when the counter-based uniform
``counter_uniform(seed, i)`` of ``numbanet.kernels.scalar`` is >= p, so the CPU and the CUDA
kernel draw the same mask from the same seed, each element independently of the others.
"""

from numba import njit, prange

from numbanet.kernels.scalar import counter_uniform, dropout_factor


@njit(parallel=True, cache=True, error_model="numpy")
def dropout_forward(x, p, seed, y, mask):
    """y = x · m / (1 − p), m[i] = [counter_uniform(seed, i) >= p]: each element kept with
    probability 1 − p. x, y, mask: (n,), mask uint8; p: the drop probability; seed: uint64.
    Writes y and mask (1 kept, 0 dropped). The factor 1 / (1 − p) is rounded to the dtype of x
    first, as torch's mask tensor is. One prange iteration per element.
    """
    for i in prange(x.shape[0]):
        kept = counter_uniform(seed, i) >= p
        mask[i] = kept
        y[i] = x[i] * y.dtype.type(dropout_factor(kept, p))


@njit(parallel=True, cache=True, error_model="numpy")
def dropout_backward(mask, p, dy, dx):
    """dx = dy · m / (1 − p), through the mask forward drew. mask (uint8), dy, dx: (n,);
    writes dx. One prange iteration per element.
    """
    for i in prange(dy.shape[0]):
        dx[i] = dy[i] * dx.dtype.type(dropout_factor(mask[i] != 0, p))
