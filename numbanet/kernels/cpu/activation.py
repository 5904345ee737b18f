"""Activation functions, forward and backward, on flat views of any-shaped tensors.

Elementwise kernels take 1-D arrays (the layer passes ``x.reshape(-1)``) so one compiled
version serves every input rank. Softmax kernels work on rows: (R, C), softmax over C.
"""

import math

from numba import njit, prange

from numbanet.kernels.codes import NO_ACTIVATION, TANH
from numbanet.kernels.scalar import (
    epilogue,
    gelu,
    gelu_float32,
    gelu_grad,
    gelu_grad_float32,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu_grad,
    sigmoid,
    softmax_row,
    tanh,
    tanh_float32,
)


@njit(parallel=True, cache=True, error_model="numpy")
def relu_forward(x, y):
    """y = max(x, 0). x, y: (n,)."""
    for i in prange(x.shape[0]):
        y[i] = relu(x[i])


@njit(parallel=True, cache=True, error_model="numpy")
def relu_backward(x, dy, dx):
    """dx = dy · [x > 0]. x, dy, dx: (n,)."""
    for i in prange(x.shape[0]):
        dx[i] = dy[i] * relu_grad(x[i])


@njit(parallel=True, cache=True, error_model="numpy")
def leaky_relu_forward(x, slope, y):
    """y = x if x > 0 else slope · x. x, y: (n,)."""
    for i in prange(x.shape[0]):
        y[i] = leaky_relu(x[i], slope)


@njit(parallel=True, cache=True, error_model="numpy")
def leaky_relu_backward(x, slope, dy, dx):
    """dx = dy if x > 0 else slope · dy. x, dy, dx: (n,)."""
    for i in prange(x.shape[0]):
        dx[i] = dy[i] * leaky_relu_grad(x[i], slope)


@njit(parallel=True, cache=True, error_model="numpy")
def sigmoid_forward(x, y):
    """y = σ(x) = 1 / (1 + e^-x). x, y: (n,)."""
    for i in prange(x.shape[0]):
        y[i] = sigmoid(x[i])


@njit(parallel=True, cache=True, error_model="numpy")
def sigmoid_backward(y, dy, dx):
    """dx = dy · y (1 - y), from the saved output y = σ(x). y, dy, dx: (n,)."""
    for i in prange(y.shape[0]):
        dx[i] = dy[i] * y[i] * (1 - y[i])


@njit(parallel=True, cache=True, error_model="numpy")
def tanh_forward(x, y):
    """y = tanh(x). x, y: (n,). float32 uses the rational ``tanh_float32`` (vectorizes,
    within 6 ulps); float64 the exp form of ``tanh`` (exact to the last bits, for gradient
    checks), as the GPU twin does for both."""
    if x.itemsize == 4:
        for i in prange(x.shape[0]):
            y[i] = tanh_float32(x[i])
    else:
        for i in prange(x.shape[0]):
            y[i] = tanh(x[i])


@njit(parallel=True, cache=True, error_model="numpy")
def tanh_backward(y, dy, dx):
    """dx = dy · (1 - y²), from the saved output y = tanh(x). y, dy, dx: (n,)."""
    for i in prange(y.shape[0]):
        dx[i] = dy[i] * (1 - y[i] * y[i])


@njit(parallel=True, cache=True, error_model="numpy")
def gelu_forward(x, form, y):
    """y = x·Φ(x), Φ the standard normal CDF: erf form (form 0) or tanh form (1), as
    ``scalar.gelu``. x, y: (n,). float32 uses ``gelu_float32`` (rational erf and tanh: it
    vectorizes, within a few ulps), float64 libm's erf and exp (for gradient checks)."""
    if x.itemsize == 4:
        for i in prange(x.shape[0]):
            y[i] = gelu_float32(x[i], form)
    else:
        for i in prange(x.shape[0]):
            y[i] = gelu(x[i], form)


@njit(parallel=True, cache=True, error_model="numpy")
def gelu_backward(x, form, dy, dx):
    """dx = dy · gelu′(x) (``scalar.gelu_grad``), from the saved input x. x, dy, dx: (n,).
    float32 uses ``gelu_grad_float32`` (vectorizes), float64 the libm form."""
    if x.itemsize == 4:
        for i in prange(x.shape[0]):
            dx[i] = dy[i] * gelu_grad_float32(x[i], form)
    else:
        for i in prange(x.shape[0]):
            dx[i] = dy[i] * gelu_grad(x[i], form)


@njit(parallel=True, cache=True, error_model="numpy")
def softmax_forward(x, y):
    """y[r, c] = e^x[r, c] / Σₖ e^x[r, k]. x, y: (R, C); one iteration per row."""
    for r in prange(x.shape[0]):
        softmax_row(x[r], y[r])


@njit(parallel=True, cache=True, error_model="numpy")
def softmax_backward(y, dy, dx):
    """dx[r, c] = y[r, c] (dy[r, c] - Σₖ dy[r, k] y[r, k]): the softmax Jacobian times dy.
    y (the saved output), dy, dx: (R, C); one iteration per row.
    """
    for r in prange(y.shape[0]):
        dot = y.dtype.type(0)
        for c in range(y.shape[1]):
            dot += dy[r, c] * y[r, c]
        for c in range(y.shape[1]):
            dx[r, c] = y[r, c] * (dy[r, c] - dot)


@njit(parallel=True, cache=True, error_model="numpy")
def log_softmax_forward(x, y):
    """y[r, c] = x[r, c] - log Σₖ e^x[r, k], with the log-sum-exp of ``softmax_row``: exact where
    softmax followed by log would underflow to log 0. x, y: (R, C); one iteration per row.
    """
    for r in prange(x.shape[0]):
        log_sum_exp = softmax_row(x[r], y[r])
        for c in range(x.shape[1]):
            y[r, c] = x[r, c] - log_sum_exp


@njit(parallel=True, cache=True, error_model="numpy")
def log_softmax_backward(y, dy, dx):
    """dx[r, c] = dy[r, c] - e^y[r, c] Σₖ dy[r, k], from the saved output y = log softmax(x).
    y, dy, dx: (R, C); one iteration per row.
    """
    for r in prange(y.shape[0]):
        total = dy.dtype.type(0)  # a loop, not dy[r].sum(): see ``scalar.softmax_row``
        for c in range(y.shape[1]):
            total += dy[r, c]
        for c in range(y.shape[1]):
            dx[r, c] = dy[r, c] - math.exp(y[r, c]) * total


@njit(inline="always", cache=True, error_model="numpy")
def activate(v, kind, slope):
    """v = f(v) in place on one thread, f the activation numbered ``kind`` in
    ``codes.EPILOGUES`` (the epilogue of a layer with a fused activation). v: (n,).

    Loops over the one array rather than calling the forward kernels with x and y the same:
    before a vectorized loop LLVM tests two arrays for overlap, and finding them the same runs
    its scalar loop.
    """
    if kind == TANH and v.itemsize == 4:
        for i in range(v.shape[0]):
            v[i] = tanh_float32(v[i])
    elif kind != NO_ACTIVATION:
        for i in range(v.shape[0]):
            v[i] = epilogue(v[i], kind, slope)


ACTIVATE_BLOCK = 4096  # elements per iteration of activation_in_place: 16 KiB of float32s


@njit(parallel=True, cache=True, error_model="numpy")
def activation_in_place(v, kind, slope):
    """v = f(v) in place (``activate``), blocks of ACTIVATE_BLOCK elements over the threads.
    v: (n,)."""
    for block in prange((v.shape[0] + ACTIVATE_BLOCK - 1) // ACTIVATE_BLOCK):
        activate(v[block * ACTIVATE_BLOCK : (block + 1) * ACTIVATE_BLOCK], kind, slope)
