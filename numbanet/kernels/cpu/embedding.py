"""Embeddings: a lookup table of vectors, one row per token id.

Forward gathers rows of the table; backward scatters each position's gradient back to its
token's row. Two positions holding the same token add into the same row, so the scatter is
written as a gather: the layer groups the positions by token once per batch (a stable sort of
the ids: ``order`` lists the positions token by token, ``offsets[v]:offsets[v + 1]`` are those
of token v), and each row of dW then sums its own positions. No two iterations write one
element, the sum runs in the same order on every device (results agree to the last bit), and
the work is one pass over dy whatever the vocabulary's size.
"""

from numba import njit, prange


@njit(parallel=True, cache=True, error_model="numpy")
def embedding_forward(ids, W, y):
    """y[m] = W[ids[m]]: row m of the output is the table's row for token ids[m].
    ids: (M,) int64 in [0, V); W: (V, D); writes y: (M, D). One iteration per position m.
    """
    for m in prange(ids.shape[0]):
        token = ids[m]
        for d in range(W.shape[1]):
            y[m, d] = W[token, d]


@njit(parallel=True, cache=True, error_model="numpy")
def embedding_backward(order, offsets, dy, padding_idx, dW):
    """dW[v] = Σ_{m : ids[m] = v} dy[m], summed over the positions of token v in ``order``;
    dW[padding_idx] = 0 (the padding row never learns, as in torch; -1 for no padding).
    order: (M,) positions grouped by token; offsets: (V + 1,); dy: (M, D); writes dW: (V, D).
    One iteration per row v of dW.
    """
    for v in prange(dW.shape[0]):
        for d in range(dW.shape[1]):
            total = 0.0  # float64, as on the GPU
            if v != padding_idx:
                for k in range(offsets[v], offsets[v + 1]):
                    total += dy[order[k], d]
            dW[v, d] = total


@njit(parallel=True, cache=True, error_model="numpy")
def position_embedding_forward(x, table, y):
    """y[n, t] = x[n, t] + table[t]: each position's vector added to what is at that position.
    x, y: (N, T, D); table: (L, D), L >= T (rows T.. unused); writes y. One iteration per (n, t).
    """
    steps = x.shape[1]
    for i in prange(x.shape[0] * steps):
        n, t = i // steps, i % steps
        for d in range(x.shape[2]):
            y[n, t, d] = x[n, t, d] + table[t, d]


@njit(parallel=True, cache=True, error_model="numpy")
def position_embedding_backward(dy, dtable):
    """dtable[t] = Σₙ dy[n, t] for the T positions used, 0 for rows T.. (never added).
    dy: (N, T, D); writes dtable: (L, D). One iteration per row t of dtable (no shared writes).
    """
    for t in prange(dtable.shape[0]):
        for d in range(dtable.shape[1]):
            total = 0.0  # float64, as on the GPU
            if t < dy.shape[1]:
                for n in range(dy.shape[0]):
                    total += dy[n, t, d]
            dtable[t, d] = total
