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


@njit(cache=True, error_model="numpy")
def dense_backward(x, W, dy, dx, dW, db, need_dx):
    """Gradients of y = x Wᵀ + b given dy = ∂L/∂y.

    dW = dyᵀ x        (J, I)
    db[j] = Σₙ dy[n, j]   (J,)
    dx = dy W         (N, I), computed only if need_dx (the first layer's dx is never used).
    x: (N, I), W: (J, I), dy: (N, J); writes dx, dW, db.
    Matrix products are BLAS GEMMs; the bias gradient is ``column_sums``.
    """
    np.dot(dy.T, x, dW)
    column_sums(dy, db)
    if need_dx:
        np.dot(dy, W, dx)


# Columns per iteration of column_sums: 64 float32s are four cache lines, whole lines per row.
SUM_BLOCK = 64


@njit(parallel=True, cache=True, error_model="numpy")
def column_sums(a, total):
    """total[j] = Σₙ a[n, j]. a: (N, J); writes total: (J,).

    One iteration per block of SUM_BLOCK columns, adding the rows one after another into the
    block: every row is read in whole cache lines and the inner loop over the block vectorizes.
    (A sum down each column alone reads one float per cache line: at N = 1792, J = 512, that
    was 2.4 ms against 0.24 ms.)
    """
    for b in prange((a.shape[1] + SUM_BLOCK - 1) // SUM_BLOCK):
        block = total[b * SUM_BLOCK : (b + 1) * SUM_BLOCK]
        block[:] = 0
        for n in range(a.shape[0]):
            row = a[n, b * SUM_BLOCK : (b + 1) * SUM_BLOCK]
            for j in range(block.shape[0]):
                block[j] += row[j]
