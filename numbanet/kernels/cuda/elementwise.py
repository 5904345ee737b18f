"""Elementwise arithmetic between tensors on the GPU: where two paths of a network meet."""

from numba import cuda

from numbanet.kernels.cuda.launch import grid_1d, grid_2d


@grid_1d
def add(a, b, y):
    """y = a + b. a, b, y: (n,) flat views; writes y. One thread per element."""
    i = cuda.grid(1)
    if i < y.shape[0]:
        y[i] = a[i] + b[i]


@grid_2d
def scale_rows(x, w, y):
    """y[r, c] = x[r, c] · w[r]: each row times its own weight. x, y: (R, C), w: (R,); writes
    y, which may be x itself. One thread per (r, c)."""
    c, r = cuda.grid(2)
    if r < x.shape[0] and c < x.shape[1]:
        y[r, c] = x[r, c] * w[r]
