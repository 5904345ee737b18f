"""Elementwise arithmetic between tensors on the GPU: where two paths of a network meet."""

from numba import cuda

from numbanet.kernels.cuda.launch import grid_1d


@grid_1d
def add(a, b, y):
    """y = a + b. a, b, y: (n,) flat views; writes y. One thread per element."""
    i = cuda.grid(1)
    if i < y.shape[0]:
        y[i] = a[i] + b[i]
