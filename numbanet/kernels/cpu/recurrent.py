"""Recurrent cells (RNN, LSTM, GRU): one time step's gate math, forward and backward, fused.

A recurrent layer runs T steps of h_t = cell(x_t, h_{t−1}). The matrix products are left to
BLAS, batched where the math allows: the input projections of all steps are one GEMM,
gi = X W_ihᵀ over (T·N, I), since no x_t depends on an earlier step; the hidden projection
gh = h_{t−1} W_hhᵀ is one GEMM per step, since h_{t−1} is only known then. What is left per step
is elementwise over (n, hidden unit j): the cell kernels add both biases and do all the gates
of one unit in one pass, keeping what backward needs (the gates). Gate blocks are laid out as
torch's: gi[:, k·H + j] is gate k of unit j (LSTM i, f, g, o; GRU r, z, n).

Backward, step by step from the last: the cell kernel turns dh (and LSTM's dc) into the
gradient of the pre-activations, dgate, which goes back through W_hh to h_{t−1}
(``hidden_projection_backward``). The weight gradients are left until after the loop:
dW_ih = Σ_t dgi_tᵀ x_t and dW_hh = Σ_t dgh_tᵀ h_{t−1} are then one GEMM each over all steps,
and dx = dgi W_ih one more.

One stacked layer's forward is one kernel (``rnn_sequence_forward``, ``lstm_…``, ``gru_…``):
the input projection, then a compiled loop over the steps, each step the GEMM and the cell
math above; its backward likewise (``*_sequence_backward``: the loop, then the weight
gradients and dx). In the loop each thread takes its own rows of the batch through all the
steps — its GEMM one single-threaded BLAS call, its cells row after row (``*_rows``) — since
no sequence waits for another: the threads meet once per loop instead of twice per step, which
made the layer faster than a Python loop over step kernels and than splitting each step over
the threads (figures: benchmarks/RESULTS.md, "figures moved from docstrings"). The GPU's loops
launch one kernel at a time, each over the whole batch.
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.cpu.dense import (
    column_sums,
    gemm,
    gemm_nt,
    gemm_rows,
    gemm_tn,
    part_bounds,
    parts_of,
)
from numbanet.kernels.codes import TANH
from numbanet.kernels.scalar import (
    epilogue_grad,
    gate_tanh,
    gru_unit,
    gru_unit_grad,
    lstm_unit,
    lstm_unit_grad,
    relu,
)
from numbanet.runtime import small_product_rows


# The cell kernels run one row n per iteration through a row function, which takes
# each gate block as a view of its own (``block``) and loops over the units j from 0: Numba
# tests every index for a negative value to wrap, and an index like k·H + j, whose sign it
# cannot prove, keeps that test inside the loop and the loop from vectorizing. ``rational`` is
# passed as a literal on each side of the float32 test, so each compiled loop has one form of
# tanh and σ (``scalar.gate_tanh``); float32's rational form vectorizes.
row = njit(inline="always", cache=True, error_model="numpy")


@row
def block(a, k, size):
    """Gate block k of one row of a gate array: a[k·size : (k + 1)·size]."""
    return a[k * size : (k + 1) * size]


@row
def rnn_forward_row(gi, gh, b_ih, b_hh, activation, h, rational):
    """``rnn_cell_forward`` for one row: gi, gh, b_ih, b_hh, h (H,). One loop per nonlinearity,
    so each vectorizes (tanh with float32's rational form)."""
    if activation == TANH:
        for j in range(h.shape[0]):
            h[j] = gate_tanh(gi[j] + gh[j] + b_ih[j] + b_hh[j], rational)
    else:
        for j in range(h.shape[0]):
            h[j] = relu(gi[j] + gh[j] + b_ih[j] + b_hh[j])


@row
def rnn_forward_rows(gi, gh, b_ih, b_hh, activation, h):
    """``rnn_cell_forward`` on one thread, row after row."""
    for n in range(h.shape[0]):
        if h.itemsize == 4:
            rnn_forward_row(gi[n], gh[n], b_ih, b_hh, activation, h[n], True)
        else:
            rnn_forward_row(gi[n], gh[n], b_ih, b_hh, activation, h[n], False)


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_cell_forward(gi, gh, b_ih, b_hh, activation, slope, h):
    """Elman cell:  h = f(gi + gh + b_ih + b_hh),  f tanh or relu (numbered as in
    ``codes.EPILOGUES``).

    gi: (N, H) input projection x_t W_ihᵀ, gh: (N, H) hidden projection h_{t−1} W_hhᵀ; b_ih,
    b_hh: (H,); writes h: (N, H). ``slope`` is unused by tanh and relu (the activation code's
    companion argument). One iteration per row n (``rnn_forward_row``).
    """
    for n in prange(h.shape[0]):
        rnn_forward_rows(gi[n : n + 1], gh[n : n + 1], b_ih, b_hh, activation, h[n : n + 1])


@row
def rnn_backward_rows(h, dy, dh_next, activation, slope, dgate):
    """``rnn_cell_backward`` on one thread, row after row."""
    for n in range(h.shape[0]):
        for j in range(h.shape[1]):
            dh = dy[n, j] + dh_next[n, j]
            dgate[n, j] = dh * epilogue_grad(h[n, j], activation, slope)


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_cell_backward(h, dy, dh_next, activation, slope, dgate):
    """Gradient of h = f(gi + gh):  dgate = (dy + dh_next) · f′, f′ read from h (1 − h² for
    tanh, [h > 0] for relu). dgate is both ∂L/∂gi and ∂L/∂gh.

    h: (N, H) this step's output; dy: (N, H) the loss's gradient at this step's output;
    dh_next: (N, H) what reaches h from the next step (through W_hh); writes dgate: (N, H).
    One iteration per row n.
    """
    for n in prange(h.shape[0]):
        one = slice(n, n + 1)
        rnn_backward_rows(h[one], dy[one], dh_next[one], activation, slope, dgate[one])


@row
def lstm_forward_row(gi, gh, b_ih, b_hh, c_prev, gates, c, h, rational):
    """``lstm_cell_forward`` for one row: gi, gh, b_ih, b_hh, gates (4H,), c_prev, c, h (H,).
    Two loops, the pre-activations a = gi + gh + b_ih + b_hh into gates, then the gate math
    in place: each loop reads fewer arrays that LLVM must test for overlap before its
    vectorized form (faster than one loop: benchmarks/RESULTS.md, "figures moved from
    docstrings")."""
    for k in range(gates.shape[0]):
        gates[k] = gi[k] + gh[k] + b_ih[k] + b_hh[k]
    size = h.shape[0]
    si, sf = block(gates, 0, size), block(gates, 1, size)
    sg, so = block(gates, 2, size), block(gates, 3, size)
    for j in range(size):
        si[j], sf[j], sg[j], so[j], c[j], h[j] = lstm_unit(
            si[j], sf[j], sg[j], so[j], c_prev[j], rational
        )


@row
def lstm_forward_rows(gi, gh, b_ih, b_hh, c_prev, gates, c, h):
    """``lstm_cell_forward`` on one thread, row after row."""
    for n in range(h.shape[0]):
        if h.itemsize == 4:
            lstm_forward_row(gi[n], gh[n], b_ih, b_hh, c_prev[n], gates[n], c[n], h[n], True)
        else:
            lstm_forward_row(gi[n], gh[n], b_ih, b_hh, c_prev[n], gates[n], c[n], h[n], False)


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_cell_forward(gi, gh, b_ih, b_hh, c_prev, gates, c, h):
    """LSTM cell (torch's gate order i, f, g, o), with a = gi + gh + b_ih + b_hh in four blocks
    of H:
        i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
        c = f ⊙ c_prev + i ⊙ g
        h = o ⊙ tanh(c)

    gi: (N, 4H) = x_t W_ihᵀ, gh: (N, 4H) = h_{t−1} W_hhᵀ; b_ih, b_hh: (4H,); c_prev: (N, H);
    writes gates: (N, 4H) (i, f, g, o, kept for backward), c, h: (N, H). One iteration per row
    n, all four gates of a unit in one pass.
    """
    for n in prange(h.shape[0]):
        one = slice(n, n + 1)
        lstm_forward_rows(gi[one], gh[one], b_ih, b_hh, c_prev[one], gates[one], c[one], h[one])


@row
def lstm_backward_row(rows, rational):
    """``lstm_cell_backward`` for one row: rows = (gates, c_prev, c, dy, dh_next, dc_next,
    dgate, dc_prev) of row n, gates and dgate (4H,), the rest (H,)."""
    gates, c_prev, c, dy, dh_next, dc_next, dgate, dc_prev = rows
    size = c.shape[0]
    si, sf = block(gates, 0, size), block(gates, 1, size)
    sg, so = block(gates, 2, size), block(gates, 3, size)
    di, df = block(dgate, 0, size), block(dgate, 1, size)
    dg, do = block(dgate, 2, size), block(dgate, 3, size)
    for j in range(size):
        di[j], df[j], dg[j], do[j], dc_prev[j] = lstm_unit_grad(
            si[j], sf[j], sg[j], so[j], c_prev[j], c[j], dy[j] + dh_next[j], dc_next[j], rational
        )


@row
def lstm_backward_rows(gates, c_prev, c, dy, dh_next, dc_next, dgate, dc_prev):
    """``lstm_cell_backward`` on one thread, row after row."""
    for n in range(c.shape[0]):
        rows = gates[n], c_prev[n], c[n], dy[n], dh_next[n], dc_next[n], dgate[n], dc_prev[n]
        if c.itemsize == 4:
            lstm_backward_row(rows, True)
        else:
            lstm_backward_row(rows, False)


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_cell_backward(gates, c_prev, c, dy, dh_next, dc_next, dgate, dc_prev):
    """Gradient of the LSTM cell, with dh = dy + dh_next:
        dc = dc_next + dh ⊙ o ⊙ (1 − tanh²c)       (c reaches the loss through h and c_next)
        da_i = dc ⊙ g ⊙ i(1 − i)    da_f = dc ⊙ c_prev ⊙ f(1 − f)
        da_g = dc ⊙ i ⊙ (1 − g²)    da_o = dh ⊙ tanh(c) ⊙ o(1 − o)
        dc_prev = dc ⊙ f

    gates: (N, 4H) from forward; c_prev, c: (N, H); dy: (N, H) the loss's gradient at this
    step's output; dh_next, dc_next: (N, H) what reaches h and c from the next step.
    Writes dgate: (N, 4H) (= ∂L/∂gi = ∂L/∂gh), dc_prev: (N, H). One iteration per row n.
    """
    for n in prange(c.shape[0]):
        one = slice(n, n + 1)
        lstm_backward_rows(gates[one], c_prev[one], c[one], dy[one], dh_next[one], dc_next[one],
                           dgate[one], dc_prev[one])  # fmt: skip


@row
def gru_forward_row(gi, gh, b_ih, b_hh, h_prev, gates, h, rational):
    """``gru_cell_forward`` for one row: gi, gh, b_ih, b_hh (3H,), gates (4H,), h_prev, h (H,)."""
    size = h.shape[0]
    xr, xz, xn = block(gi, 0, size), block(gi, 1, size), block(gi, 2, size)
    yr, yz, yn = block(gh, 0, size), block(gh, 1, size), block(gh, 2, size)
    br, bz, bn = block(b_ih, 0, size), block(b_ih, 1, size), block(b_ih, 2, size)
    cr, cz, cn = block(b_hh, 0, size), block(b_hh, 1, size), block(b_hh, 2, size)
    sr, sz = block(gates, 0, size), block(gates, 1, size)
    sn, shn = block(gates, 2, size), block(gates, 3, size)
    for j in range(size):
        gh_n = yn[j] + cn[j]
        sr[j], sz[j], sn[j], h[j] = gru_unit(
            xr[j] + yr[j] + br[j] + cr[j], xz[j] + yz[j] + bz[j] + cz[j], xn[j] + bn[j], gh_n,
            h_prev[j], rational,
        )  # fmt: skip
        shn[j] = gh_n


@row
def gru_forward_rows(gi, gh, b_ih, b_hh, h_prev, gates, h):
    """``gru_cell_forward`` on one thread, row after row."""
    for n in range(h.shape[0]):
        if h.itemsize == 4:
            gru_forward_row(gi[n], gh[n], b_ih, b_hh, h_prev[n], gates[n], h[n], True)
        else:
            gru_forward_row(gi[n], gh[n], b_ih, b_hh, h_prev[n], gates[n], h[n], False)


@njit(parallel=True, cache=True, error_model="numpy")
def gru_cell_forward(gi, gh, b_ih, b_hh, h_prev, gates, h):
    """GRU cell (torch's gate order r, z, n; b_hn stays inside r's product, as torch has it):
        r = σ(gi_r + b_ir + gh_r + b_hr)   z = σ(gi_z + b_iz + gh_z + b_hz)
        n = tanh(gi_n + b_in + r ⊙ gh_n)          gh_n = h_prev W_hnᵀ + b_hn
        h = (1 − z) ⊙ n + z ⊙ h_prev

    gi: (N, 3H) = x_t W_ihᵀ, gh: (N, 3H) = h_prev W_hhᵀ; b_ih, b_hh: (3H,); h_prev: (N, H);
    writes gates: (N, 4H) (r, z, n and gh_n, which backward needs for ∂n/∂r), h: (N, H). One
    iteration per row n, all gates of a unit in one pass.
    """
    for n in prange(h.shape[0]):
        one = slice(n, n + 1)
        gru_forward_rows(gi[one], gh[one], b_ih, b_hh, h_prev[one], gates[one], h[one])


@row
def gru_backward_rows(gates, h_prev, dy, dh_next, skip_next, dgi, dgh, skip):
    """``gru_cell_backward`` on one thread, row after row."""
    size = h_prev.shape[1]
    for n in range(h_prev.shape[0]):
        r, z = block(gates[n], 0, size), block(gates[n], 1, size)
        new, gh_n = block(gates[n], 2, size), block(gates[n], 3, size)
        dgi_r, dgi_z, dgi_n = block(dgi[n], 0, size), block(dgi[n], 1, size), block(dgi[n], 2, size)
        dgh_r, dgh_z, dgh_n = block(dgh[n], 0, size), block(dgh[n], 1, size), block(dgh[n], 2, size)
        h_row, skip_in, skip_out = h_prev[n], skip_next[n], skip[n]
        dy_row, dh_row = dy[n], dh_next[n]
        for j in range(size):
            dh = dy_row[j] + dh_row[j] + skip_in[j]
            da_r, da_z, da_n, dgh_n[j], skip_out[j] = gru_unit_grad(
                r[j], z[j], new[j], gh_n[j], h_row[j], dh
            )
            dgi_r[j], dgi_z[j], dgi_n[j] = da_r, da_z, da_n
            dgh_r[j], dgh_z[j] = da_r, da_z


@njit(parallel=True, cache=True, error_model="numpy")
def gru_cell_backward(gates, h_prev, dy, dh_next, skip_next, dgi, dgh, skip):
    """Gradient of the GRU cell, with dh = dy + dh_next + skip_next:
        da_n = dh ⊙ (1 − z) ⊙ (1 − n²)         (a_n = gi_n + r ⊙ gh_n)
        da_z = dh ⊙ (h_prev − n) ⊙ z(1 − z)
        da_r = da_n ⊙ gh_n ⊙ r(1 − r)
        dgi = (da_r, da_z, da_n)   dgh = (da_r, da_z, da_n ⊙ r)
        skip = dh ⊙ z                           (h_prev's direct share of h)

    gates: (N, 4H) from forward (r, z, n, gh_n); h_prev: (N, H); dy: (N, H) the loss's
    gradient at this step's output; dh_next: (N, H) what reaches h from the next step through
    W_hh, skip_next: (N, H) what reaches it directly (the next step's ``skip``).
    Writes dgi, dgh: (N, 3H), skip: (N, H). One iteration per row n (no transcendental
    function here, so one form for both precisions).
    """
    for n in prange(h_prev.shape[0]):
        one = slice(n, n + 1)
        gru_backward_rows(gates[one], h_prev[one], dy[one], dh_next[one], skip_next[one],
                          dgi[one], dgh[one], skip[one])  # fmt: skip


@njit(cache=True, error_model="numpy")
def hidden_projection_backward(dgh, W_hh, dh_prev):
    """dh_prev = dgh W_hh: the gradient that reaches h_{t−1} through gh = h_{t−1} W_hhᵀ + b_hh.

    dgh: (N, G·H) the gradient of the hidden projection; W_hh: (G·H, H); writes dh_prev: (N, H).
    One ``gemm``.
    """
    gemm(dgh, W_hh, dh_prev)


# ----- one stacked layer, all steps -----------------------------------------------------------
# Forward: x: (T, N, I) the layer's input; h: (T + 1, N, H) holds the initial state in h[0] and
# gets every step's output in h[1:] (LSTM's c likewise); gi: (T, N, G·H) gets the input
# projections, gh: (N, G·H) is scratch for one step's h_{t−1} W_hhᵀ.
# Backward: dh: (T + 1, N, H) comes in with dh[T] = ∂L/∂h_T from beyond the sequence (the final
# state's gradient) and leaves with dh[t] = what reached h_t through W_hh from step t + 1 —
# dh[0] is ∂L/∂h_0. The carried gradients (LSTM's dc, GRU's skip) are laid out the same way.
# Then the weight gradients of all steps at once, and dx (T, N, I) if need_dx.
# Each step's product runs in BLAS calls of ``rows_per_call`` rows of a thread's share (0: one
# call), as ``product_rows`` picks for this machine's BLAS: on OpenBLAS's AVX-512 cores, calls
# small enough for its small-matrix kernel, which does not copy W_hh into a packed layout at
# every call (``runtime.small_product_rows``). The kernel table's ``*_sequence_*`` are the
# compiled ``*_steps_*`` loops given that choice. Forward multiplies by a C-contiguous copy of
# W_hhᵀ, made once per sequence: that kernel takes no transposed first matrix.


def product_rows(W_hh):
    """Rows of the batch per BLAS call in a step's product by W_hh: (G·H, H), forward's h W_hhᵀ
    and backward's dgate W_hh alike (``runtime.small_product_rows``; 0: one call)."""
    return small_product_rows(W_hh.shape[1], W_hh.shape[0])


@row
def input_projection(x, W_ih, gi):
    """gi[t] = x[t] W_ihᵀ for every step t: one GEMM over (T·N, I) (no x_t waits for a step)."""
    steps, batch = x.shape[0], x.shape[1]
    gemm_nt(x.reshape(steps * batch, -1), W_ih, gi.reshape(steps * batch, -1))


@row
def weight_grads(x, W_ih, h, dgi, dgh, dx, dW_ih, dW_hh, db_ih, db_hh, shared, need_dx):
    """dW_hh = Σ_t dgh[t]ᵀ h[t], dW_ih = Σ_t dgi[t]ᵀ x[t] (one GEMM each over all T·N rows),
    db_hh, db_ih the column sums of dgh and dgi, and, if need_dx, dx = dgi W_ih. ``shared``:
    dgi is dgh (RNN, LSTM), so one column sum serves both biases."""
    steps, batch = x.shape[0], x.shape[1]
    rows_i, rows_h = dgi.reshape(steps * batch, -1), dgh.reshape(steps * batch, -1)
    gemm_tn(rows_h, h[:steps].reshape(steps * batch, -1), dW_hh)
    gemm_tn(rows_i, x.reshape(steps * batch, -1), dW_ih)
    column_sums(rows_h, db_hh)
    if shared:
        db_ih[:] = db_hh
    else:
        column_sums(rows_i, db_ih)
    if need_dx:
        gemm(rows_i, W_ih, dx.reshape(steps * batch, -1))


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_steps_forward(x, W_ih, b_ih, W_hh, b_hh, activation, slope, h, gi, gh, rows_per_call):
    """One Elman layer over all steps: h[t + 1] = f(x[t] W_ihᵀ + b_ih + h[t] W_hhᵀ + b_hh).

    x: (T, N, I); W_ih: (H, I); W_hh: (H, H); b_ih, b_hh: (H,); h: (T + 1, N, H), h[0] given;
    writes h[1:] and the scratch gi: (T, N, H), gh: (N, H). The input projection, then the
    steps, each thread its rows of the batch (see "one stacked layer" above).
    """
    input_projection(x, W_ih, gi)
    W_hh_t = np.ascontiguousarray(W_hh.T)
    parts = parts_of(x.shape[1])
    for p in prange(parts):
        n0, n1 = part_bounds(p, parts, x.shape[1])
        for t in range(x.shape[0]):
            gemm_rows(h[t, n0:n1], W_hh_t, gh[n0:n1], rows_per_call)
            rnn_forward_rows(gi[t, n0:n1], gh[n0:n1], b_ih, b_hh, activation, h[t + 1, n0:n1])


def rnn_sequence_forward(x, W_ih, b_ih, W_hh, b_hh, activation, slope, h, gi, gh):
    """``rnn_steps_forward`` with this machine's rows per BLAS call (``product_rows``)."""
    rnn_steps_forward(x, W_ih, b_ih, W_hh, b_hh, activation, slope, h, gi, gh, product_rows(W_hh))


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_steps_backward(x, W_ih, W_hh, h, dy, activation, slope, dgate, dh, dx, dW_ih,
                       dW_hh, db_ih, db_hh, need_dx, rows_per_call):  # fmt: skip
    """BPTT through one Elman layer, from the last step: dgate[t] = (dy[t] + dh[t + 1]) · f′
    (``rnn_cell_backward``), dh[t] = dgate[t] W_hh (``hidden_projection_backward``), each
    thread its rows of the batch; then dW_hh = Σ_t dgate[t]ᵀ h[t], dW_ih = Σ_t dgate[t]ᵀ x[t],
    db_ih = db_hh = Σ dgate and dx = dgate W_ih.

    x, h: forward's input and states; dy: (T, N, H) the loss's gradient at every output;
    dh: (T + 1, N, H), dh[T] given; writes dh[:T], dgate: (T, N, H) (the gradient of both
    projections), the weight and bias gradients, and dx: (T, N, I) if need_dx.
    """
    parts = parts_of(x.shape[1])
    for p in prange(parts):
        n0, n1 = part_bounds(p, parts, x.shape[1])
        for t in range(dy.shape[0] - 1, -1, -1):
            rnn_backward_rows(h[t + 1, n0:n1], dy[t, n0:n1], dh[t + 1, n0:n1], activation, slope,
                              dgate[t, n0:n1])  # fmt: skip
            gemm_rows(dgate[t, n0:n1], W_hh, dh[t, n0:n1], rows_per_call)
    weight_grads(x, W_ih, h, dgate, dgate, dx, dW_ih, dW_hh, db_ih, db_hh, True, need_dx)


def rnn_sequence_backward(x, W_ih, W_hh, h, dy, activation, slope, dgate, dh, dx, dW_ih, dW_hh,
                          db_ih, db_hh, need_dx):  # fmt: skip
    """``rnn_steps_backward`` with this machine's rows per BLAS call (``product_rows``)."""
    rnn_steps_backward(x, W_ih, W_hh, h, dy, activation, slope, dgate, dh, dx, dW_ih, dW_hh, db_ih,
                       db_hh, need_dx, product_rows(W_hh))  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_steps_forward(x, W_ih, b_ih, W_hh, b_hh, h, c, gates, gi, gh, rows_per_call):
    """One LSTM layer over all steps: gi = x W_ihᵀ (all steps), then per step gh = h[t] W_hhᵀ and
    ``lstm_cell_forward`` (which adds the biases) gives gates[t], c[t + 1] and h[t + 1], each
    thread its rows of the batch.

    x: (T, N, I); W_ih: (4H, I); W_hh: (4H, H); b_ih, b_hh: (4H,); h, c: (T + 1, N, H), h[0] and
    c[0] given; writes h[1:], c[1:], gates: (T, N, 4H) and the scratch gi: (T, N, 4H),
    gh: (N, 4H).
    """
    input_projection(x, W_ih, gi)
    W_hh_t = np.ascontiguousarray(W_hh.T)
    parts = parts_of(x.shape[1])
    for p in prange(parts):
        n0, n1 = part_bounds(p, parts, x.shape[1])
        for t in range(x.shape[0]):
            gemm_rows(h[t, n0:n1], W_hh_t, gh[n0:n1], rows_per_call)
            lstm_forward_rows(gi[t, n0:n1], gh[n0:n1], b_ih, b_hh, c[t, n0:n1],
                              gates[t, n0:n1], c[t + 1, n0:n1], h[t + 1, n0:n1])  # fmt: skip


def lstm_sequence_forward(x, W_ih, b_ih, W_hh, b_hh, h, c, gates, gi, gh):
    """``lstm_steps_forward`` with this machine's rows per BLAS call (``product_rows``)."""
    lstm_steps_forward(x, W_ih, b_ih, W_hh, b_hh, h, c, gates, gi, gh, product_rows(W_hh))


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_steps_backward(x, W_ih, W_hh, h, c, gates, dy, dgate, dh, dc, dx, dW_ih, dW_hh,
                        db_ih, db_hh, need_dx, rows_per_call):  # fmt: skip
    """BPTT through one LSTM layer, from the last step: ``lstm_cell_backward`` turns dy[t] +
    dh[t + 1] and dc[t + 1] into dgate[t] and dc[t]; dh[t] = dgate[t] W_hh; each thread its
    rows of the batch. Then the weight gradients of all steps (as ``rnn_steps_backward``),
    db_ih = db_hh = Σ dgate, and dx.

    x, h, c, gates: forward's; dy: (T, N, H); dh, dc: (T + 1, N, H), dh[T] and dc[T] given;
    writes dh[:T], dc[:T], dgate: (T, N, 4H), the weight and bias gradients, and dx if need_dx.
    """
    parts = parts_of(x.shape[1])
    for p in prange(parts):
        n0, n1 = part_bounds(p, parts, x.shape[1])
        for t in range(dy.shape[0] - 1, -1, -1):
            lstm_backward_rows(gates[t, n0:n1], c[t, n0:n1], c[t + 1, n0:n1], dy[t, n0:n1],
                               dh[t + 1, n0:n1], dc[t + 1, n0:n1], dgate[t, n0:n1],
                               dc[t, n0:n1])  # fmt: skip
            gemm_rows(dgate[t, n0:n1], W_hh, dh[t, n0:n1], rows_per_call)
    weight_grads(x, W_ih, h, dgate, dgate, dx, dW_ih, dW_hh, db_ih, db_hh, True, need_dx)


def lstm_sequence_backward(x, W_ih, W_hh, h, c, gates, dy, dgate, dh, dc, dx, dW_ih, dW_hh, db_ih,
                           db_hh, need_dx):  # fmt: skip
    """``lstm_steps_backward`` with this machine's rows per BLAS call (``product_rows``)."""
    lstm_steps_backward(x, W_ih, W_hh, h, c, gates, dy, dgate, dh, dc, dx, dW_ih, dW_hh, db_ih,
                        db_hh, need_dx, product_rows(W_hh))  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def gru_steps_forward(x, W_ih, b_ih, W_hh, b_hh, h, gates, gi, gh, rows_per_call):
    """One GRU layer over all steps: gi = x W_ihᵀ (all steps), then per step gh = h[t] W_hhᵀ and
    ``gru_cell_forward`` (which adds the biases) gives gates[t] and h[t + 1], each thread its
    rows of the batch.

    x: (T, N, I); W_ih: (3H, I); W_hh: (3H, H); b_ih, b_hh: (3H,); h: (T + 1, N, H), h[0] given;
    writes h[1:], gates: (T, N, 4H) and the scratch gi: (T, N, 3H), gh: (N, 3H).
    """
    input_projection(x, W_ih, gi)
    W_hh_t = np.ascontiguousarray(W_hh.T)
    parts = parts_of(x.shape[1])
    for p in prange(parts):
        n0, n1 = part_bounds(p, parts, x.shape[1])
        for t in range(x.shape[0]):
            gemm_rows(h[t, n0:n1], W_hh_t, gh[n0:n1], rows_per_call)
            gru_forward_rows(gi[t, n0:n1], gh[n0:n1], b_ih, b_hh, h[t, n0:n1], gates[t, n0:n1],
                             h[t + 1, n0:n1])  # fmt: skip


def gru_sequence_forward(x, W_ih, b_ih, W_hh, b_hh, h, gates, gi, gh):
    """``gru_steps_forward`` with this machine's rows per BLAS call (``product_rows``)."""
    gru_steps_forward(x, W_ih, b_ih, W_hh, b_hh, h, gates, gi, gh, product_rows(W_hh))


@njit(parallel=True, cache=True, error_model="numpy")
def gru_steps_backward(x, W_ih, W_hh, h, gates, dy, dgi, dgh, dh, skip, dx, dW_ih, dW_hh,
                       db_ih, db_hh, need_dx, rows_per_call):  # fmt: skip
    """BPTT through one GRU layer, from the last step: ``gru_cell_backward`` turns dy[t] +
    dh[t + 1] + skip[t + 1] into dgi[t], dgh[t] and skip[t]; dh[t] = dgh[t] W_hh; each thread
    its rows of the batch. Then dW_hh = Σ_t dgh[t]ᵀ h[t], dW_ih = Σ_t dgi[t]ᵀ x[t],
    db_hh = Σ dgh, db_ih = Σ dgi, dx = dgi W_ih.

    x, h, gates: forward's; dy: (T, N, H); dh, skip: (T + 1, N, H), dh[T] and skip[T] given;
    writes dh[:T], skip[:T], dgi, dgh: (T, N, 3H), the weight and bias gradients, and dx if
    need_dx. ∂L/∂h_0 is dh[0] + skip[0].
    """
    parts = parts_of(x.shape[1])
    for p in prange(parts):
        n0, n1 = part_bounds(p, parts, x.shape[1])
        for t in range(dy.shape[0] - 1, -1, -1):
            gru_backward_rows(gates[t, n0:n1], h[t, n0:n1], dy[t, n0:n1], dh[t + 1, n0:n1],
                              skip[t + 1, n0:n1], dgi[t, n0:n1], dgh[t, n0:n1],
                              skip[t, n0:n1])  # fmt: skip
            gemm_rows(dgh[t, n0:n1], W_hh, dh[t, n0:n1], rows_per_call)
    weight_grads(x, W_ih, h, dgi, dgh, dx, dW_ih, dW_hh, db_ih, db_hh, False, need_dx)


def gru_sequence_backward(x, W_ih, W_hh, h, gates, dy, dgi, dgh, dh, skip, dx, dW_ih, dW_hh, db_ih,
                          db_hh, need_dx):  # fmt: skip
    """``gru_steps_backward`` with this machine's rows per BLAS call (``product_rows``)."""
    gru_steps_backward(x, W_ih, W_hh, h, gates, dy, dgi, dgh, dh, skip, dx, dW_ih, dW_hh, db_ih,
                       db_hh, need_dx, product_rows(W_hh))  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def swap_batch_time(x, y):
    """y[b, a] = x[a, b]: swaps the first two axes, (N, T, F) ↔ (T, N, F), for batch_first
    sequences (the kernels work time-major: one step is a contiguous (N, F) block).

    x: (A, B, F); writes y: (B, A, F). One iteration per b.
    """
    for b in prange(y.shape[0]):
        for a in range(y.shape[1]):
            for f in range(y.shape[2]):
                y[b, a, f] = x[a, b, f]
