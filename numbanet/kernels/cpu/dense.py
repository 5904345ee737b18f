"""Fully connected (dense, linear) layer: y = f(x Wᵀ + b), f an optional fused activation."""

import numpy as np
from numba import njit, prange

from numbanet.kernels.cpu.activation import activation_in_place


@njit(parallel=True, cache=True, error_model="numpy")
def dense_forward(x, W, b, activation, slope, y):
    """y[n, j] = f(Σᵢ x[n, i] W[j, i] + b[j]), f the activation numbered ``activation`` in
    ``scalar.EPILOGUES`` (0: none) with leaky ReLU's ``slope``.

    x: (N, I), W: (J, I), b: (J,); writes y: (N, J).
    The product is one BLAS GEMM into y; then the bias is added row by row and f applied in
    place by its own elementwise kernel. (One pass doing both, with the choice of f made per
    element, measured 1.5× slower at batch 1024: the branch keeps the loop from vectorizing.)
    """
    np.dot(x, W.T, y)
    for n in prange(y.shape[0]):
        y[n] += b
    if activation:
        activation_in_place(y.reshape(-1), activation, slope)


@njit(parallel=True, cache=True, error_model="numpy")
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
