"""Recurrent cells (RNN, LSTM, GRU): one time step's gate math, forward and backward, fused.

A recurrent layer runs T steps of h_t = cell(x_t, h_{t−1}). The matrix products are left to
the dense kernels, batched where the math allows: the input projections of all steps are one
GEMM, gi = X W_ihᵀ + b_ih over (T·N, I), since no x_t depends on an earlier step; the hidden
projection gh = h_{t−1} W_hhᵀ + b_hh is one GEMM per step, since h_{t−1} is only known then.
What is left per step is elementwise over (n, hidden unit j): the cell kernels here do all the
gates of one unit in one pass and keep what backward needs (the gates). Gate blocks are laid out
as torch's: gi[:, k·H + j] is gate k of unit j (LSTM i, f, g, o; GRU r, z, n).

Backward, step by step from the last: the cell kernel turns dh (and LSTM's dc) into the
gradient of the pre-activations, dgate; ``recurrent_backward`` sends it back through W_hh to
h_{t−1}. The weight gradients are left until after the loop: dW_ih = Σ_t dgi_tᵀ x_t and
dW_hh = Σ_t dgh_tᵀ h_{t−1} are then one GEMM each over all steps. The time loop itself is the
layer's (``layers/recurrent.py``), one loop for both devices.
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.scalar import (
    TANH,
    epilogue_grad,
    gate_tanh,
    gru_unit,
    gru_unit_grad,
    lstm_unit,
    lstm_unit_grad,
    relu,
)


# The cell kernels run one row n per iteration through a row function, which takes
# each gate block as a view of its own (``block``) and loops over the units j from 0: Numba
# tests every index for a negative value to wrap, and an index like k·H + j, whose sign it
# cannot prove, keeps that test inside the loop and the loop from vectorizing. ``rational`` is
# passed as a literal on each side of the float32 test, so each compiled loop has one form of
# tanh and σ (``scalar.gate_tanh``); float32's rational form vectorizes (8× faster here).
row = njit(inline="always", cache=True, error_model="numpy")


@row
def block(a, k, size):
    """Gate block k of one row of a gate array: a[k·size : (k + 1)·size]."""
    return a[k * size : (k + 1) * size]


@row
def rnn_forward_row(gi, gh, activation, h, rational):
    """``rnn_cell_forward`` for one row: gi, gh, h (H,). One loop per nonlinearity, so each
    vectorizes (tanh with float32's rational form)."""
    if activation == TANH:
        for j in range(h.shape[0]):
            h[j] = gate_tanh(gi[j] + gh[j], rational)
    else:
        for j in range(h.shape[0]):
            h[j] = relu(gi[j] + gh[j])


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_cell_forward(gi, gh, activation, slope, h):
    """Elman cell:  h = f(gi + gh),  f tanh or relu (numbered as in ``scalar.EPILOGUES``).

    gi, gh: (N, H) input and hidden projections (biases included); writes h: (N, H).
    ``slope`` is unused by tanh and relu (the activation code's companion argument).
    One iteration per row n (``rnn_forward_row``).
    """
    for n in prange(h.shape[0]):
        if h.itemsize == 4:
            rnn_forward_row(gi[n], gh[n], activation, h[n], True)
        else:
            rnn_forward_row(gi[n], gh[n], activation, h[n], False)


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_cell_backward(h, dy, dh_next, activation, slope, dgate):
    """Gradient of h = f(gi + gh):  dgate = (dy + dh_next) · f′, f′ read from h (1 − h² for
    tanh, [h > 0] for relu). dgate is both ∂L/∂gi and ∂L/∂gh.

    h: (N, H) this step's output; dy: (N, H) the loss's gradient at this step's output;
    dh_next: (N, H) what reaches h from the next step (through W_hh); writes dgate: (N, H).
    One iteration per row n.
    """
    for n in prange(h.shape[0]):
        for j in range(h.shape[1]):
            dh = dy[n, j] + dh_next[n, j]
            dgate[n, j] = dh * epilogue_grad(h[n, j], activation, slope)


@row
def lstm_forward_row(gi, gh, c_prev, gates, c, h, rational):
    """``lstm_cell_forward`` for one row: gi, gh, gates (4H,), c_prev, c, h (H,)."""
    size = h.shape[0]
    xi, xf, xg, xo = block(gi, 0, size), block(gi, 1, size), block(gi, 2, size), block(gi, 3, size)
    yi, yf, yg, yo = block(gh, 0, size), block(gh, 1, size), block(gh, 2, size), block(gh, 3, size)
    si, sf = block(gates, 0, size), block(gates, 1, size)
    sg, so = block(gates, 2, size), block(gates, 3, size)
    for j in range(size):
        si[j], sf[j], sg[j], so[j], c[j], h[j] = lstm_unit(
            xi[j] + yi[j], xf[j] + yf[j], xg[j] + yg[j], xo[j] + yo[j], c_prev[j], rational
        )


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_cell_forward(gi, gh, c_prev, gates, c, h):
    """LSTM cell (torch's gate order i, f, g, o), with a = gi + gh split in four blocks of H:
        i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
        c = f ⊙ c_prev + i ⊙ g
        h = o ⊙ tanh(c)

    gi, gh: (N, 4H); c_prev: (N, H); writes gates: (N, 4H) (i, f, g, o, kept for backward),
    c, h: (N, H). One iteration per row n, all four gates of a unit in one pass.
    """
    for n in prange(h.shape[0]):
        if h.itemsize == 4:
            lstm_forward_row(gi[n], gh[n], c_prev[n], gates[n], c[n], h[n], True)
        else:
            lstm_forward_row(gi[n], gh[n], c_prev[n], gates[n], c[n], h[n], False)


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
        rows = gates[n], c_prev[n], c[n], dy[n], dh_next[n], dc_next[n], dgate[n], dc_prev[n]
        if c.itemsize == 4:
            lstm_backward_row(rows, True)
        else:
            lstm_backward_row(rows, False)


@row
def gru_forward_row(gi, gh, h_prev, gates, h, rational):
    """``gru_cell_forward`` for one row: gi, gh (3H,), gates (4H,), h_prev, h (H,)."""
    size = h.shape[0]
    xr, xz, xn = block(gi, 0, size), block(gi, 1, size), block(gi, 2, size)
    yr, yz, yn = block(gh, 0, size), block(gh, 1, size), block(gh, 2, size)
    sr, sz = block(gates, 0, size), block(gates, 1, size)
    sn, shn = block(gates, 2, size), block(gates, 3, size)
    for j in range(size):
        sr[j], sz[j], sn[j], h[j] = gru_unit(
            xr[j] + yr[j], xz[j] + yz[j], xn[j], yn[j], h_prev[j], rational
        )
        shn[j] = yn[j]


@njit(parallel=True, cache=True, error_model="numpy")
def gru_cell_forward(gi, gh, h_prev, gates, h):
    """GRU cell (torch's gate order r, z, n; b_hn stays inside r's product, as torch has it):
        r = σ(gi_r + gh_r)   z = σ(gi_z + gh_z)
        n = tanh(gi_n + r ⊙ gh_n)          gh_n = W_hn h_prev + b_hn
        h = (1 − z) ⊙ n + z ⊙ h_prev

    gi, gh: (N, 3H); h_prev: (N, H); writes gates: (N, 4H) (r, z, n and gh_n, which backward
    needs for ∂n/∂r), h: (N, H). One iteration per row n, all gates of a unit in one pass.
    """
    for n in prange(h.shape[0]):
        if h.itemsize == 4:
            gru_forward_row(gi[n], gh[n], h_prev[n], gates[n], h[n], True)
        else:
            gru_forward_row(gi[n], gh[n], h_prev[n], gates[n], h[n], False)


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
    size = h_prev.shape[1]
    for n in prange(h_prev.shape[0]):
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


@njit(cache=True, error_model="numpy")
def recurrent_backward(dgh, W_hh, dh_prev):
    """dh_prev = dgh W_hh: the gradient that reaches h_{t−1} through gh = h_{t−1} W_hhᵀ + b_hh.

    dgh: (N, G·H) the gradient of the hidden projection; W_hh: (G·H, H); writes dh_prev: (N, H).
    One BLAS GEMM.
    """
    np.dot(dgh, W_hh, dh_prev)


@njit(parallel=True, cache=True, error_model="numpy")
def swap_batch_time_forward(x, y):
    """y[b, a] = x[a, b]: swaps the first two axes, (N, T, F) ↔ (T, N, F), for batch_first
    sequences (the kernels work time-major: one step is a contiguous (N, F) block).

    x: (A, B, F); writes y: (B, A, F). One iteration per b.
    """
    for b in prange(y.shape[0]):
        for a in range(y.shape[1]):
            for f in range(y.shape[2]):
                y[b, a, f] = x[a, b, f]
