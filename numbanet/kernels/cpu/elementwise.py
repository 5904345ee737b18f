"""Elementwise arithmetic between tensors: where two paths of a network meet."""

from numba import njit, prange


@njit(inline="always", cache=True, error_model="numpy")
def zero(a):
    """a[i] = 0 for every element of a 1-D array: a loop, for the kernels' ``prange`` bodies,
    where a slice assignment (``a[:] = 0``) becomes a nested parallel loop, which runs on one
    thread anyway and costs seconds to compile (benchmarks/RESULTS.md, "Issue 24")."""
    for i in range(a.shape[0]):
        a[i] = 0


@njit(inline="always", cache=True, error_model="numpy")
def copy(source, target):
    """target[i, j] = source[i, j] for two 2-D arrays of one shape (either may be a block of
    columns of a wider array): loops, for ``prange`` bodies, as ``zero``."""
    for i in range(target.shape[0]):
        for j in range(target.shape[1]):
            target[i, j] = source[i, j]


@njit(parallel=True, cache=True, error_model="numpy")
def add(a, b, y):
    """y = a + b. a, b, y: (n,) flat views. A residual block's merge y = f(x) + shortcut(x),
    and in backward the sum of the gradients the two paths give x."""
    for i in prange(y.shape[0]):
        y[i] = a[i] + b[i]


@njit(parallel=True, cache=True, error_model="numpy")
def scale_rows(x, w, y):
    """y[r, c] = x[r, c] · w[r]: each row times its own weight (a loss with reduction="none"
    weighting each sample's gradient by the gradient given for its loss). x, y: (R, C), w:
    (R,); writes y, which may be x itself. One prange iteration per row."""
    for r in prange(x.shape[0]):
        for c in range(x.shape[1]):
            y[r, c] = x[r, c] * w[r]
