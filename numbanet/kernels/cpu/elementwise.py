"""Elementwise arithmetic between tensors: where two paths of a network meet."""

from numba import njit, prange


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
