"""Inverted dropout on the GPU, forward and backward, on flat views of any-shaped tensors.

Each thread draws its element's uniform number from ``counter_uniform(seed, i)`` of
``numbanet.kernels.scalar``, the same uint64 arithmetic the CPU kernel runs: the same seed gives
the same mask on both devices, and no mask is drawn on the host and copied over.
"""

from numba import cuda

from numbanet.kernels.cuda.launch import grid_1d
from numbanet.kernels.scalar import counter_uniform, dropout_factor


@grid_1d
def dropout_forward(x, p, seed, y, mask):
    """y = x · m / (1 − p), m[i] = [counter_uniform(seed, i) >= p]: each element kept with
    probability 1 − p. x, y, mask: (n,), mask uint8; p: the drop probability; seed: uint64.
    Writes y and mask (1 kept, 0 dropped). The factor 1 / (1 − p) is rounded to the dtype of x
    first, as torch's mask tensor is. One thread per element.
    """
    i = cuda.grid(1)
    if i < x.shape[0]:
        kept = counter_uniform(seed, i) >= p
        mask[i] = kept
        y[i] = x[i] * y.dtype.type(dropout_factor(kept, p))


@grid_1d
def dropout_backward(mask, p, dy, dx):
    """dx = dy · m / (1 − p), through the mask forward drew. mask (uint8), dy, dx: (n,);
    writes dx. One thread per element.
    """
    i = cuda.grid(1)
    if i < dy.shape[0]:
        dx[i] = dy[i] * dx.dtype.type(dropout_factor(mask[i] != 0, p))
