"""Activation functions on the GPU, forward and backward, on flat views of any-shaped tensors.

Elementwise kernels take 1-D arrays and run one thread per element, reusing the scalar math
of ``numbanet.kernels.scalar``. Softmax kernels work on rows, (R, C) with softmax over C, and
run one thread per row: rows are short (classes, attention keys), and a thread that owns its
row computes its max and sum without talking to other threads.
"""

import math

from numba import cuda

from numbanet.kernels.cuda.launch import device, grid_1d
from numbanet.kernels.scalar import (
    gelu,
    gelu_grad,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu_grad,
    sigmoid,
    softmax_row as scalar_softmax_row,
    tanh,
)


@grid_1d
def relu_forward(x, y):
    """y = max(x, 0). x, y: (n,); writes y. One thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = relu(x[i])


@grid_1d
def relu_backward(x, dy, dx):
    """dx = dy · [x > 0]. x, dy, dx: (n,); writes dx. One thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        dx[i] = dy[i] * relu_grad(x[i])


@grid_1d
def leaky_relu_forward(x, slope, y):
    """y = x if x > 0 else slope · x. x, y: (n,); writes y. One thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = leaky_relu(x[i], slope)


@grid_1d
def leaky_relu_backward(x, slope, dy, dx):
    """dx = dy if x > 0 else slope · dy. x, dy, dx: (n,); writes dx. One thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        dx[i] = dy[i] * leaky_relu_grad(x[i], slope)


@grid_1d
def sigmoid_forward(x, y):
    """y = σ(x) = 1 / (1 + e^-x). x, y: (n,); writes y. One thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = sigmoid(x[i])


@grid_1d
def sigmoid_backward(y, dy, dx):
    """dx = dy · y (1 - y), from the saved output y = σ(x). y, dy, dx: (n,); writes dx.
    One thread per element."""
    i = cuda.grid(1)
    if i < y.shape[0]:
        dx[i] = dy[i] * y[i] * (1 - y[i])


@grid_1d
def tanh_forward(x, y):
    """y = tanh(x). x, y: (n,); writes y. One thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = tanh(x[i])


@grid_1d
def tanh_backward(y, dy, dx):
    """dx = dy · (1 - y²), from the saved output y = tanh(x). y, dy, dx: (n,); writes dx.
    One thread per element."""
    i = cuda.grid(1)
    if i < y.shape[0]:
        dx[i] = dy[i] * (1 - y[i] * y[i])


@grid_1d
def gelu_forward(x, form, y):
    """y = x·Φ(x): erf form (form 0) or tanh form (1), as ``scalar.gelu``. x, y: (n,); writes y.
    One thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = gelu(x[i], form)


@grid_1d
def gelu_backward(x, form, dy, dx):
    """dx = dy · gelu′(x), from the saved input x. x, dy, dx: (n,); writes dx. One thread per
    element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        dx[i] = dy[i] * gelu_grad(x[i], form)


softmax_row = device(scalar_softmax_row)


@grid_1d
def softmax_forward(x, y):
    """y[r, c] = e^x[r, c] / Σₖ e^x[r, k]. x, y: (R, C); writes y. One thread per row."""
    r = cuda.grid(1)
    if r < x.shape[0]:
        softmax_row(x[r], y[r])


@grid_1d
def softmax_backward(y, dy, dx):
    """dx[r, c] = y[r, c] (dy[r, c] - Σₖ dy[r, k] y[r, k]): the softmax Jacobian times dy.
    y (the saved output), dy, dx: (R, C); writes dx. One thread per row.
    """
    r = cuda.grid(1)
    if r < y.shape[0]:
        dot = y.dtype.type(0)
        for c in range(y.shape[1]):
            dot += dy[r, c] * y[r, c]
        for c in range(y.shape[1]):
            dx[r, c] = y[r, c] * (dy[r, c] - dot)


@grid_1d
def log_softmax_forward(x, y):
    """y[r, c] = x[r, c] - log Σₖ e^x[r, k], with the log-sum-exp of ``softmax_row``: exact where
    softmax followed by log would underflow to log 0. x, y: (R, C); writes y. One thread per row.
    """
    r = cuda.grid(1)
    if r < x.shape[0]:
        log_sum_exp = softmax_row(x[r], y[r])
        for c in range(x.shape[1]):
            y[r, c] = x[r, c] - log_sum_exp


@grid_1d
def log_softmax_backward(y, dy, dx):
    """dx[r, c] = dy[r, c] - e^y[r, c] Σₖ dy[r, k], from the saved output y = log softmax(x).
    y, dy, dx: (R, C); writes dx. One thread per row.
    """
    r = cuda.grid(1)
    if r < y.shape[0]:
        total = dy.dtype.type(0)
        for c in range(y.shape[1]):
            total += dy[r, c]
        for c in range(y.shape[1]):
            dx[r, c] = dy[r, c] - math.exp(y[r, c]) * total
