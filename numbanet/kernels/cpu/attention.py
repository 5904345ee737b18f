"""Scaled dot-product attention over many (batch, head) pairs, and the head split it needs.

For each pair b = (n, h), with Q, K, V: (T, D) the queries, keys and values of one sequence
in one head:

    S = Q Kᵀ                           attention_scores_forward    (T, T)
    P = softmax(S / √D + mask)         attention_softmax_forward   row by row
    O = P V                            attention_values_forward    (T, D)

and backward the other way: dP = dO Vᵀ, dV = Pᵀ dO; dS = P ⊙ (dP − Σⱼ dP ⊙ P) / √D;
dQ = dS K, dK = dSᵀ Q. The causal mask (position t sees keys 0..t) is not an array: the softmax
kernel stops each row at its diagonal and writes zeros after it, so a masked weight is exactly
0 and its gradient too.

Algorithm: the pairs are independent, so each kernel runs one prange iteration per pair (the
softmax kernels one per row), and each product is one single-threaded BLAS call on that pair's
contiguous (T, D) and (T, T) blocks: at small T the work is many small products, and one
parallel loop over all of them pays the thread start once instead of once per product.
The heads are contiguous because the layer first copies its projected (N, T, 3·H·D) rows into
(3, N, H, T, D) with ``heads_split_forward``; merging the heads of O back into (N, T, H·D) is
the same copy run backwards, ``heads_split_backward``.
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.scalar import masked_softmax_row, scaled_softmax_row_grad


@njit(inline="always", cache=True, error_model="numpy")
def copy_heads(x, y, forward):
    """y[g, n, h, t, d] = x[n, t, (g·H + h)·D + d] if ``forward``, else the other way round.
    x: (N, T, G·H·D); y: (G, N, H, T, D). One prange iteration per (n, t)."""
    groups, batch, heads, steps, dim = y.shape
    for i in prange(batch * steps):
        n, t = i // steps, i % steps
        for g in range(groups):
            for h in range(heads):
                first = (g * heads + h) * dim
                for d in range(dim):
                    if forward:
                        y[g, n, h, t, d] = x[n, t, first + d]
                    else:
                        x[n, t, first + d] = y[g, n, h, t, d]


@njit(parallel=True, cache=True, error_model="numpy")
def heads_split_forward(x, y):
    """y[g, n, h, t, d] = x[n, t, (g·H + h)·D + d]: the feature axis of x cut into G groups
    (queries, keys, values) of H heads of D features, each head made a contiguous (T, D) block.
    x: (N, T, G·H·D); writes y: (G, N, H, T, D). One prange iteration per (n, t).
    """
    copy_heads(x, y, True)


@njit(parallel=True, cache=True, error_model="numpy")
def heads_split_backward(dy, dx):
    """dx[n, t, (g·H + h)·D + d] = dy[g, n, h, t, d]: the inverse copy of ``heads_split_forward``
    (with G = 1 it merges the heads of the attention output back into one feature axis).
    dy: (G, N, H, T, D); writes dx: (N, T, G·H·D). One prange iteration per (n, t).
    """
    copy_heads(dx, dy, False)


@njit(parallel=True, cache=True, error_model="numpy")
def attention_scores_forward(q, k, s):
    """s[b] = q[b] k[b]ᵀ: every query against every key, per (batch, head) pair b.
    q, k: (B, T, D); writes s: (B, T, T). One prange iteration (one BLAS call) per pair.
    """
    for b in prange(q.shape[0]):
        np.dot(q[b], k[b].T, s[b])


@njit(parallel=True, cache=True, error_model="numpy")
def attention_scores_backward(q, k, ds, dq, dk):
    """dq[b] = ds[b] k[b], dk[b] = ds[b]ᵀ q[b]: the gradients of s = q kᵀ.
    q, k, dq, dk: (B, T, D); ds: (B, T, T); writes dq, dk. One prange iteration per pair.
    """
    for b in prange(q.shape[0]):
        np.dot(ds[b], k[b], dq[b])
        np.dot(ds[b].T, q[b], dk[b])


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def attention_softmax_forward(s, scale, causal, p):
    """p[b, i, j] = e^(scale·s[b, i, j]) / Σₖ e^(scale·s[b, i, k]) over the keys row i sees: all
    of them, or with ``causal`` only j <= i (p[b, i, j > i] = 0). Fused per row
    (``scalar.masked_softmax_row``): its max, its exponentials and their sum, then the division,
    in one visit of the row; float32 takes e^z from ``scalar.exp_nonpositive`` (vectorizes, within
    3e-7), float64 from libm. s, p: (B, T, T); scale > 0 (1/√D). Writes p. One prange iteration
    per row (b, i). The rows' sums may be reassociated (fastmath "reassoc": they vectorize).
    """
    rows, fast_exp = s.shape[1], s.itemsize == 4
    for r in prange(s.shape[0] * rows):
        b, i = r // rows, r % rows
        masked_softmax_row(s[b, i], scale, i + 1 if causal else s.shape[2], p[b, i], fast_exp)


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def attention_softmax_backward(p, scale, dp, ds):
    """ds[b, i] = scale · p[b, i] ⊙ (dp[b, i] − Σⱼ dp[b, i, j] p[b, i, j]): the softmax's
    Jacobian times dp, and the scale of its input (``scalar.scaled_softmax_row_grad``). Masked
    weights (p = 0) get ds = 0. p (forward's output), dp, ds: (B, T, T); writes ds. One prange
    iteration per row (b, i).
    """
    rows = p.shape[1]
    for r in prange(p.shape[0] * rows):
        b, i = r // rows, r % rows
        scaled_softmax_row_grad(p[b, i], scale, dp[b, i], ds[b, i])


@njit(parallel=True, cache=True, error_model="numpy")
def attention_values_forward(p, v, o):
    """o[b] = p[b] v[b]: each query's output, the weighted mean of the values.
    p: (B, T, T); v: (B, T, D); writes o: (B, T, D). One prange iteration per pair.
    """
    for b in prange(p.shape[0]):
        np.dot(p[b], v[b], o[b])


@njit(parallel=True, cache=True, error_model="numpy")
def attention_values_backward(p, v, do, dp, dv):
    """dp[b] = do[b] v[b]ᵀ, dv[b] = p[b]ᵀ do[b]: the gradients of o = p v.
    p, dp: (B, T, T); v, do, dv: (B, T, D); writes dp, dv. One prange iteration per pair.
    """
    for b in prange(p.shape[0]):
        np.dot(do[b], v[b].T, dp[b])
        np.dot(p[b].T, do[b], dv[b])
