"""Fully connected (dense, linear) layer: y = x Wᵀ + b."""

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def dense_forward(x, W, b, y):
    """y[n, j] = Σᵢ x[n, i] W[j, i] + b[j].

    x: (N, I), W: (J, I), b: (J,); writes y: (N, J).
    The product is one BLAS GEMM; the bias is added with one iteration per row.
    """
    np.dot(x, W.T, y)
    for n in prange(y.shape[0]):
        y[n] += b


@njit(parallel=True, cache=True)
def dense_backward(x, W, dy, dx, dW, db, need_dx):
    """Gradients of y = x Wᵀ + b given dy = ∂L/∂y.

    dW = dyᵀ x        (J, I)
    db[j] = Σₙ dy[n, j]   (J,)
    dx = dy W         (N, I), computed only if need_dx (the first layer's dx is never used).
    x: (N, I), W: (J, I), dy: (N, J); writes dx, dW, db.
    Matrix products are BLAS GEMMs; the bias gradient is one iteration per output j.
    """
    np.dot(dy.T, x, dW)
    for j in prange(db.shape[0]):
        total = dy.dtype.type(0)
        for n in range(dy.shape[0]):
            total += dy[n, j]
        db[j] = total
    if need_dx:
        np.dot(dy, W, dx)
