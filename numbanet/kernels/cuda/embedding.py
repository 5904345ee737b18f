"""Embeddings on the GPU: a lookup table of vectors, one row per token id.

Forward runs one thread per output element (position m, feature d). Backward runs one thread
per element (v, d) of dW, which sums the gradients of token v's positions, grouped by the
layer (see ``kernels/cpu/embedding.py``): each thread owns its output, so no atomics are
needed, and every thread adds in the CPU's order, so both devices give the same bits.
Atomic adds from one thread per (m, d) would also work, but their order changes from run to
run, and a run would not be reproducible to the last bit.
"""

from numba import cuda, float64

from numbanet.kernels.cuda.launch import launch, launch_2d


@cuda.jit
def gather_rows(ids, W, y):
    d, m = cuda.grid(2)
    if m < y.shape[0] and d < y.shape[1]:
        y[m, d] = W[ids[m], d]


@cuda.jit
def sum_token_grads(order, offsets, dy, padding_idx, dW):
    d, v = cuda.grid(2)
    if v < dW.shape[0] and d < dW.shape[1]:
        total = float64(0.0)  # summed in float64, as on the CPU
        if v != padding_idx:
            for k in range(offsets[v], offsets[v + 1]):
                total += dy[order[k], d]
        dW[v, d] = total


def embedding_forward(ids, W, y):
    """y[m] = W[ids[m]]. ids: (M,) int64; W: (V, D); writes y: (M, D).
    One thread per (m, d)."""
    launch(gather_rows, *launch_2d(*y.shape), ids, W, y)


def embedding_backward(order, offsets, dy, padding_idx, dW):
    """dW[v] = Σ_{m : ids[m] = v} dy[m] over token v's positions ``order[offsets[v]:offsets[v
    + 1]]``; dW[padding_idx] = 0 (-1: no padding). dy: (M, D); writes dW: (V, D).
    One thread per (v, d)."""
    launch(sum_token_grads, *launch_2d(*dW.shape), order, offsets, dy, padding_idx, dW)


@cuda.jit
def add_position_rows(x, table, y):
    d, i = cuda.grid(2)
    steps = x.shape[1]
    if i < x.shape[0] * steps and d < x.shape[2]:
        n, t = i // steps, i % steps
        y[n, t, d] = x[n, t, d] + table[t, d]


@cuda.jit
def sum_position_grads(dy, dtable):
    d, t = cuda.grid(2)
    if t < dtable.shape[0] and d < dtable.shape[1]:
        total = float64(0.0)  # summed in float64, as on the CPU
        if t < dy.shape[1]:
            for n in range(dy.shape[0]):
                total += dy[n, t, d]
        dtable[t, d] = total


def position_embedding_forward(x, table, y):
    """y[n, t] = x[n, t] + table[t]. x, y: (N, T, D); table: (L, D), L >= T; writes y.
    One thread per (n·T + t, d)."""
    launch(add_position_rows, *launch_2d(x.shape[0] * x.shape[1], x.shape[2]), x, table, y)


def position_embedding_backward(dy, dtable):
    """dtable[t] = Σₙ dy[n, t] for t < T, 0 for rows T.. . dy: (N, T, D); writes dtable: (L, D).
    One thread per (t, d)."""
    launch(sum_position_grads, *launch_2d(*dtable.shape), dy, dtable)
