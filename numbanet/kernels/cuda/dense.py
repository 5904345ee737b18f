"""Fully connected (dense, linear) layer on the GPU: y = f(x Wᵀ + b), by a tiled matrix product
whose epilogue adds the bias and applies the optional activation f."""

import functools

import numba
import numpy as np
from numba import cuda

from numbanet.kernels.cuda.launch import TILE, launch, launch_1d, launch_tiles
from numbanet.kernels.scalar import epilogue


@functools.cache
def tiled_product(dtype):
    """The device function that computes one element of a tiled matrix product of arrays of
    ``dtype``, built once per dtype: shared memory is declared with a dtype fixed at compile
    time. ``matmul_kernel`` and the attention's batched products (``attention.py``) call it."""
    element = numba.from_dtype(np.dtype(dtype))

    @cuda.jit(device=True)
    def product_element(a, b, transpose_a, transpose_b, rows, cols):
        """Σₖ op(a)[i, k] op(b)[k, j] for the calling thread's element (i, j) of a rows × cols
        product, i = blockIdx.y·TILE + threadIdx.y, j = blockIdx.x·TILE + threadIdx.x; op(m) =
        mᵀ if the flag says so. Every thread of the block calls it, also those outside the
        product (they load zeros and their sum is not used).

        Read straight from global memory, every element of a and b would be fetched by TILE
        threads; instead the block walks along k one TILE-wide step at a time: each thread
        loads one element of the a tile (rows of c × k step) and one of the b tile (k step ×
        columns of c) into shared memory, the block waits (syncthreads) until both tiles are
        whole, then each thread adds its TILE products from the fast shared copies, and the
        block waits again before the next step overwrites them. Threads outside the matrices
        load zeros, which add nothing, so shapes need not be multiples of TILE.
        """
        a_tile = cuda.shared.array((TILE, TILE), element)
        b_tile = cuda.shared.array((TILE, TILE), element)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.y * TILE + ty
        j = cuda.blockIdx.x * TILE + tx
        depth = a.shape[0] if transpose_a else a.shape[1]
        total = element(0)
        for step in range(0, depth, TILE):
            k = step + tx
            if i < rows and k < depth:
                a_tile[ty, tx] = a[k, i] if transpose_a else a[i, k]
            else:
                a_tile[ty, tx] = 0
            k = step + ty
            if k < depth and j < cols:
                b_tile[ty, tx] = b[j, k] if transpose_b else b[k, j]
            else:
                b_tile[ty, tx] = 0
            cuda.syncthreads()
            for kk in range(TILE):
                total += a_tile[ty, kk] * b_tile[kk, tx]
            cuda.syncthreads()
        return total

    return product_element


@functools.cache
def matmul_kernel(dtype):
    """The matrix-product kernel for arrays of ``dtype``, built once per dtype."""
    product_element = tiled_product(dtype)

    @cuda.jit
    def matmul(a, b, bias, transpose_a, transpose_b, add_bias, activation, slope, c):
        """c[i, j] = f(Σₖ op(a)[i, k] op(b)[k, j] (+ bias[j] if add_bias)), op(m) = mᵀ if the
        flag says so, f the activation numbered ``activation`` in ``codes.EPILOGUES`` (0: none).
        op(a): (M, K), op(b): (K, J), bias: (J,) (read only if add_bias); writes c: (M, J).

        One thread per element (i, j) of c, in TILE × TILE blocks, block (bx, by) owning the
        tile of c at rows by·TILE.., columns bx·TILE.., summed through shared-memory tiles by
        ``tiled_product``; only threads inside c write. The thread that owns c[i, j] adds the
        bias and applies f to its sum before writing it (the epilogue), so a dense layer with
        its activation is one kernel and one write of c.
        """
        i = cuda.blockIdx.y * TILE + cuda.threadIdx.y
        j = cuda.blockIdx.x * TILE + cuda.threadIdx.x
        total = product_element(a, b, transpose_a, transpose_b, c.shape[0], c.shape[1])
        if i < c.shape[0] and j < c.shape[1]:
            c[i, j] = epilogue(total + bias[j] if add_bias else total, activation, slope)

    return matmul


@cuda.jit
def column_sum(m, total):
    """total[j] = Σₙ m[n, j]. m: (N, J); writes total: (J,). One thread per j, looping over n:
    a thread owns its sum, so no two threads write one element."""
    j = cuda.grid(1)
    if j < total.shape[0]:
        acc = total.dtype.type(0)
        for n in range(m.shape[0]):
            acc += m[n, j]
        total[j] = acc


def matmul(a, b, bias, transpose_a, transpose_b, add_bias, c, activation=0, slope=0.0):
    """Launch ``matmul_kernel``: one thread per element of c (M, J)."""
    blocks, threads = launch_tiles(*c.shape)
    flags = (transpose_a, transpose_b, add_bias, activation, slope)
    launch(matmul_kernel(c.dtype), blocks, threads, a, b, bias, *flags, c)


def dense_forward(x, W, b, activation, slope, y):
    """y[n, j] = f(Σᵢ x[n, i] W[j, i] + b[j]), f the activation numbered ``activation`` in
    ``codes.EPILOGUES`` (0: none) with leaky ReLU's ``slope``.

    x: (N, I), W: (J, I), b: (J,); writes y: (N, J).
    One tiled matrix product x·Wᵀ; the thread that owns y[n, j] adds the bias and applies f.
    """
    matmul(x, W, b, False, True, True, y, activation, slope)


def dense_backward(x, W, dy, dx, dW, db, need_dx):
    """Gradients of y = x Wᵀ + b given dy = ∂L/∂y.

    dW = dyᵀ x        (J, I)
    db[j] = Σₙ dy[n, j]   (J,)
    dx = dy W         (N, I), computed only if need_dx (the first layer's dx is never used).
    x: (N, I), W: (J, I), dy: (N, J); writes dx, dW, db.
    dW and dx are tiled matrix products (one thread per element; db stands in for their unread
    bias); db is one thread per j.
    """
    matmul(dy, x, db, True, False, False, dW)
    blocks, threads = launch_1d(db.shape[0])
    launch(column_sum, blocks, threads, dy, db)
    if need_dx:
        matmul(dy, W, db, False, False, False, dx)


def dense_input_grad(W, dy, dx):
    """dx = dy W: the input gradient alone, for a frozen layer (``requires_grad_(False)``),
    whose weight gradient nobody wants. W: (J, I), dy: (N, J); writes dx: (N, I). One tiled
    matrix product (W's first row stands in for its unread bias)."""
    matmul(dy, W, W[0], False, False, False, dx)
