"""Scaled dot-product attention on the GPU, over many (batch, head) pairs; the math is in
``kernels/cpu/attention.py``.

The products (QKᵀ, PV and their gradients) are one batched tiled matrix product: a grid of
TILE × TILE blocks per pair, the pair in the grid's third dimension, each block summing through
shared-memory tiles with ``dense.tiled_product``, as the dense layer's product does. The softmax
and its backward run one thread per row (rows are short: one query's keys), each owning its
max and sum. The head split is a copy, one thread per element.
"""

import functools
import math

from numba import cuda

from numbanet.kernels.cuda.dense import tiled_product
from numbanet.kernels.cuda.launch import TILE, device, launch, launch_1d
from numbanet.kernels.scalar import masked_softmax_row, scaled_softmax_row_grad


@functools.cache
def batched_matmul_kernel(dtype):
    """The batched matrix-product kernel for arrays of ``dtype``, built once per dtype."""
    product_element = tiled_product(dtype)

    @cuda.jit
    def batched_matmul(a, b, transpose_a, transpose_b, c):
        """c[p] = op(a[p]) op(b[p]) for the pair p = blockIdx.z, op(m) = mᵀ if the flag says
        so, summed through shared-memory tiles by ``dense.tiled_product``.
        op(a[p]): (M, K), op(b[p]): (K, J); writes c: (P, M, J). One thread per (p, i, j)."""
        p = cuda.blockIdx.z
        i = cuda.blockIdx.y * TILE + cuda.threadIdx.y
        j = cuda.blockIdx.x * TILE + cuda.threadIdx.x
        total = product_element(a[p], b[p], transpose_a, transpose_b, c.shape[1], c.shape[2])
        if i < c.shape[1] and j < c.shape[2]:
            c[p, i, j] = total

    return batched_matmul


def batched_matmul(a, b, transpose_a, transpose_b, c):
    """Launch ``batched_matmul_kernel``: full TILE × TILE blocks over each pair's c (M, J)."""
    pairs, rows, cols = c.shape
    blocks = (max(1, math.ceil(cols / TILE)), max(1, math.ceil(rows / TILE)), max(1, pairs))
    launch(batched_matmul_kernel(c.dtype), blocks, (TILE, TILE), a, b, transpose_a, transpose_b, c)


@cuda.jit
def split_elements(x, y, forward):
    """One thread per element of x (N, T, G·H·D): copies it to or from its place in y."""
    i = cuda.grid(1)
    groups, _, heads, steps, dim = y.shape
    width = groups * heads * dim
    if i < x.size:
        n, t, f = i // (steps * width), i // width % steps, i % width
        g, h, d = f // (heads * dim), f // dim % heads, f % dim
        if forward:
            y[g, n, h, t, d] = x[n, t, f]
        else:
            x[n, t, f] = y[g, n, h, t, d]


def heads_split_forward(x, y):
    """y[g, n, h, t, d] = x[n, t, (g·H + h)·D + d]. x: (N, T, G·H·D); writes y: (G, N, H, T, D).
    One thread per element."""
    launch(split_elements, *launch_1d(x.size), x, y, True)


def heads_split_backward(dy, dx):
    """dx[n, t, (g·H + h)·D + d] = dy[g, n, h, t, d]: the inverse copy (G = 1 merges heads).
    dy: (G, N, H, T, D); writes dx: (N, T, G·H·D). One thread per element."""
    launch(split_elements, *launch_1d(dx.size), dx, dy, False)


def attention_scores_forward(q, k, s):
    """s[b] = q[b] k[b]ᵀ. q, k: (B, T, D); writes s: (B, T, T). One batched tiled product."""
    batched_matmul(q, k, False, True, s)


def attention_scores_backward(q, k, ds, dq, dk):
    """dq[b] = ds[b] k[b], dk[b] = ds[b]ᵀ q[b]. q, k, dq, dk: (B, T, D); ds: (B, T, T); writes
    dq, dk. Two batched tiled products."""
    batched_matmul(ds, k, False, False, dq)
    batched_matmul(ds, q, True, False, dk)


softmax_row = device(masked_softmax_row)
softmax_row_grad = device(scaled_softmax_row_grad)


@cuda.jit
def softmax_rows(s, scale, causal, p):
    r = cuda.grid(1)
    rows = s.shape[1]
    if r < s.shape[0] * rows:
        b, i = r // rows, r % rows
        softmax_row(s[b, i], scale, i + 1 if causal else s.shape[2], p[b, i], False)


@cuda.jit
def softmax_row_grads(p, scale, dp, ds):
    r = cuda.grid(1)
    rows = p.shape[1]
    if r < p.shape[0] * rows:
        b, i = r // rows, r % rows
        softmax_row_grad(p[b, i], scale, dp[b, i], ds[b, i])


def attention_softmax_forward(s, scale, causal, p):
    """p[b, i] = softmax(scale · s[b, i]) over the keys row i sees (all, or j <= i if
    ``causal``; the others get 0). s, p: (B, T, T); writes p. One thread per row (b, i)."""
    launch(softmax_rows, *launch_1d(s.shape[0] * s.shape[1]), s, scale, causal, p)


def attention_softmax_backward(p, scale, dp, ds):
    """ds[b, i] = scale · p[b, i] ⊙ (dp[b, i] − Σⱼ dp[b, i, j] p[b, i, j]). p, dp, ds:
    (B, T, T); writes ds. One thread per row (b, i)."""
    launch(softmax_row_grads, *launch_1d(p.shape[0] * p.shape[1]), p, scale, dp, ds)


def attention_values_forward(p, v, o):
    """o[b] = p[b] v[b]. p: (B, T, T); v: (B, T, D); writes o: (B, T, D). One batched product."""
    batched_matmul(p, v, False, False, o)


def attention_values_backward(p, v, do, dp, dv):
    """dp[b] = do[b] v[b]ᵀ, dv[b] = p[b]ᵀ do[b]. p, dp: (B, T, T); v, do, dv: (B, T, D); writes
    dp, dv. Two batched tiled products."""
    batched_matmul(do, v, False, True, dp)
    batched_matmul(p, do, True, False, dv)
