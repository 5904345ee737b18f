"""Recurrent cells (RNN, LSTM, GRU) on the GPU: one time step's gate math, forward and backward,
fused; the twins of ``numbanet.kernels.cpu.recurrent`` (where the whole scheme is explained).

Every cell kernel runs one thread per (n, hidden unit j): the thread reads that unit's gate
pre-activations from each gate block, applies the shared scalar math of
``numbanet.kernels.scalar`` and writes the unit's state and gates. The matrix products are the
tiled product of ``cuda/dense.py``. The time loops (``*_sequence_*``) run on the host: one
product and one cell kernel launched per step, in order, each over the whole batch.
"""

import functools

from numba import cuda

from numbanet.kernels.cuda.dense import column_sum, matmul
from numbanet.kernels.cuda.launch import launch, launch_1d, launch_2d
from numbanet.kernels.scalar import (
    epilogue,
    epilogue_grad,
    gru_unit,
    gru_unit_grad,
    lstm_unit,
    lstm_unit_grad,
)


def per_unit(body):
    """Compile ``body`` as a kernel launched with one thread per element of its last argument,
    an (N, H) array of hidden units; in the body ``j, n = cuda.grid(2)``."""
    kernel = cuda.jit(body)

    @functools.wraps(body)
    def launcher(*args):
        blocks, threads = launch_2d(*args[-1].shape)
        launch(kernel, blocks, threads, *args)

    launcher.kernel = kernel
    return launcher


@cuda.jit(device=True)
def gate_input(gi, gh, b_ih, b_hh, n, k):
    """A gate's pre-activation: column k of row n of both projections plus both biases."""
    return gi[n, k] + gh[n, k] + b_ih[k] + b_hh[k]


@per_unit
def rnn_cell_forward(gi, gh, b_ih, b_hh, activation, slope, h):
    """h = f(gi + gh + b_ih + b_hh), f tanh or relu (numbered as in ``codes.EPILOGUES``).
    gi, gh: (N, H); b_ih, b_hh: (H,); writes h: (N, H). One thread per (n, j)."""
    j, n = cuda.grid(2)
    if n < h.shape[0] and j < h.shape[1]:
        h[n, j] = epilogue(gi[n, j] + gh[n, j] + b_ih[j] + b_hh[j], activation, slope)


@per_unit
def rnn_cell_backward(h, dy, dh_next, activation, slope, dgate):
    """dgate = (dy + dh_next) · f′ (read from h). h, dy, dh_next: (N, H); writes dgate: (N, H).
    One thread per (n, j)."""
    j, n = cuda.grid(2)
    if n < h.shape[0] and j < h.shape[1]:
        dh = dy[n, j] + dh_next[n, j]
        dgate[n, j] = dh * epilogue_grad(h[n, j], activation, slope)


@per_unit
def lstm_cell_forward(gi, gh, b_ih, b_hh, c_prev, gates, c, h):
    """i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g) with a = gi + gh + b_ih + b_hh;
    c = f ⊙ c_prev + i ⊙ g; h = o ⊙ tanh(c). gi, gh: (N, 4H); b_ih, b_hh: (4H,); c_prev: (N, H);
    writes gates: (N, 4H), c, h: (N, H). One thread per (n, j), all four gates of unit j."""
    j, n = cuda.grid(2)
    size = h.shape[1]
    if n < h.shape[0] and j < size:
        a_i = gate_input(gi, gh, b_ih, b_hh, n, j)
        a_f = gate_input(gi, gh, b_ih, b_hh, n, size + j)
        a_g = gate_input(gi, gh, b_ih, b_hh, n, 2 * size + j)
        a_o = gate_input(gi, gh, b_ih, b_hh, n, 3 * size + j)
        i, f, g, o, c[n, j], h[n, j] = lstm_unit(a_i, a_f, a_g, a_o, c_prev[n, j], False)
        gates[n, j], gates[n, size + j], gates[n, 2 * size + j], gates[n, 3 * size + j] = i, f, g, o


@per_unit
def lstm_cell_backward(gates, c_prev, c, dy, dh_next, dc_next, dgate, dc_prev):
    """dh = dy + dh_next; dc = dc_next + dh ⊙ o ⊙ (1 − tanh²c); dgate = (dc g i(1−i),
    dc c_prev f(1−f), dc i (1−g²), dh tanh(c) o(1−o)); dc_prev = dc ⊙ f.
    gates: (N, 4H); the rest (N, H); writes dgate: (N, 4H), dc_prev: (N, H).
    One thread per (n, j)."""
    j, n = cuda.grid(2)
    size = c.shape[1]
    if n < c.shape[0] and j < size:
        i, f = gates[n, j], gates[n, size + j]
        g, o = gates[n, 2 * size + j], gates[n, 3 * size + j]
        dh = dy[n, j] + dh_next[n, j]
        da_i, da_f, da_g, da_o, dc_prev[n, j] = lstm_unit_grad(
            i, f, g, o, c_prev[n, j], c[n, j], dh, dc_next[n, j], False
        )
        dgate[n, j], dgate[n, size + j] = da_i, da_f
        dgate[n, 2 * size + j], dgate[n, 3 * size + j] = da_g, da_o


@per_unit
def gru_cell_forward(gi, gh, b_ih, b_hh, h_prev, gates, h):
    """r, z = σ(gi + gh + b_ih + b_hh) blocks; n = tanh(gi_n + b_in + r ⊙ (gh_n + b_hn));
    h = (1 − z) ⊙ n + z ⊙ h_prev. gi, gh: (N, 3H); b_ih, b_hh: (3H,); h_prev: (N, H); writes
    gates: (N, 4H) (r, z, n, gh_n + b_hn), h: (N, H). One thread per (n, j), all gates of unit
    j."""
    j, n = cuda.grid(2)
    size = h.shape[1]
    if n < h.shape[0] and j < size:
        a_r = gate_input(gi, gh, b_ih, b_hh, n, j)
        a_z = gate_input(gi, gh, b_ih, b_hh, n, size + j)
        gi_n = gi[n, 2 * size + j] + b_ih[2 * size + j]
        gh_n = gh[n, 2 * size + j] + b_hh[2 * size + j]
        r, z, new, h[n, j] = gru_unit(a_r, a_z, gi_n, gh_n, h_prev[n, j], False)
        gates[n, j], gates[n, size + j], gates[n, 2 * size + j], gates[n, 3 * size + j] = (
            r, z, new, gh_n,
        )  # fmt: skip


@per_unit
def gru_cell_backward(gates, h_prev, dy, dh_next, skip_next, dgi, dgh, skip):
    """dh = dy + dh_next + skip_next; da_n = dh (1 − z)(1 − n²); da_z = dh (h_prev − n) z(1 − z);
    da_r = da_n gh_n r(1 − r); dgi = (da_r, da_z, da_n); dgh = (da_r, da_z, da_n r);
    skip = dh z. gates: (N, 4H); dgi, dgh: (N, 3H); the rest (N, H). One thread per (n, j)."""
    j, n = cuda.grid(2)
    size = h_prev.shape[1]
    if n < h_prev.shape[0] and j < size:
        r, z = gates[n, j], gates[n, size + j]
        new, gh_n = gates[n, 2 * size + j], gates[n, 3 * size + j]
        dh = dy[n, j] + dh_next[n, j] + skip_next[n, j]
        da_r, da_z, da_n, dgh_n, skip[n, j] = gru_unit_grad(r, z, new, gh_n, h_prev[n, j], dh)
        dgi[n, j], dgi[n, size + j], dgi[n, 2 * size + j] = da_r, da_z, da_n
        dgh[n, j], dgh[n, size + j], dgh[n, 2 * size + j] = da_r, da_z, dgh_n


def hidden_projection_backward(dgh, W_hh, dh_prev):
    """dh_prev = dgh W_hh. dgh: (N, G·H); W_hh: (G·H, H); writes dh_prev: (N, H).
    One tiled matrix product, one thread per element of dh_prev (a row of dh_prev stands in for
    the unread bias)."""
    matmul(dgh, W_hh, dh_prev[0], False, False, False, dh_prev)


# ----- one stacked layer, all steps (the CPU twins' docstrings give the arrays' layout) --------
def flat(a):
    """A (T, N, F) array as (T·N, F): every step's rows in one matrix."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def input_projection(x, W_ih, b_ih, gi):
    """gi[t] = x[t] W_ihᵀ for every step at once (b_ih stands in for the unread bias)."""
    matmul(flat(x), W_ih, b_ih, False, True, False, flat(gi))


def hidden_projection(h, W_hh, b_hh, gh):
    """gh = h W_hhᵀ, one step's product (b_hh stands in for the unread bias: the cell adds it)."""
    matmul(h, W_hh, b_hh, False, True, False, gh)


def weight_grads(x, W_ih, h, dgi, dgh, dx, dW_ih, dW_hh, db_ih, db_hh, shared, need_dx):
    """dW_hh = Σ_t dgh[t]ᵀ h[t], dW_ih = Σ_t dgi[t]ᵀ x[t], db_ih, db_hh the column sums of dgi
    and dgh (``shared``: dgi is dgh, one sum serves both), and dx = dgi W_ih if need_dx."""
    steps = x.shape[0]
    matmul(flat(dgh), flat(h[:steps]), db_hh, True, False, False, dW_hh)
    matmul(flat(dgi), flat(x), db_ih, True, False, False, dW_ih)
    launch(column_sum, *launch_1d(db_hh.shape[0]), flat(dgh), db_hh)
    if shared:
        db_ih.copy_to_device(db_hh)
    else:
        launch(column_sum, *launch_1d(db_ih.shape[0]), flat(dgi), db_ih)
    if need_dx:
        matmul(flat(dgi), W_ih, db_ih, False, False, False, flat(dx))


def rnn_sequence_forward(x, W_ih, b_ih, W_hh, b_hh, activation, slope, h, gi, gh):
    """h[t + 1] = f(x[t] W_ihᵀ + b_ih + h[t] W_hhᵀ + b_hh) for every step t."""
    input_projection(x, W_ih, b_ih, gi)
    for t in range(x.shape[0]):
        hidden_projection(h[t], W_hh, b_hh, gh)
        rnn_cell_forward(gi[t], gh, b_ih, b_hh, activation, slope, h[t + 1])


def rnn_sequence_backward(x, W_ih, W_hh, h, dy, activation, slope, dgate, dh, dx, dW_ih,
                          dW_hh, db_ih, db_hh, need_dx):  # fmt: skip
    """BPTT, last step first: dgate[t] from dy[t] + dh[t + 1], dh[t] = dgate[t] W_hh; then the
    weight and bias gradients and dx."""
    for t in reversed(range(dy.shape[0])):
        rnn_cell_backward(h[t + 1], dy[t], dh[t + 1], activation, slope, dgate[t])
        hidden_projection_backward(dgate[t], W_hh, dh[t])
    weight_grads(x, W_ih, h, dgate, dgate, dx, dW_ih, dW_hh, db_ih, db_hh, True, need_dx)


def lstm_sequence_forward(x, W_ih, b_ih, W_hh, b_hh, h, c, gates, gi, gh):
    """Every step of the LSTM cell: gh = h[t] W_hhᵀ, then the cell writes gates[t], c[t + 1],
    h[t + 1]."""
    input_projection(x, W_ih, b_ih, gi)
    for t in range(x.shape[0]):
        hidden_projection(h[t], W_hh, b_hh, gh)
        lstm_cell_forward(gi[t], gh, b_ih, b_hh, c[t], gates[t], c[t + 1], h[t + 1])


def lstm_sequence_backward(x, W_ih, W_hh, h, c, gates, dy, dgate, dh, dc, dx, dW_ih, dW_hh,
                           db_ih, db_hh, need_dx):  # fmt: skip
    """BPTT, last step first: the cell turns dy[t] + dh[t + 1] and dc[t + 1] into dgate[t] and
    dc[t]; dh[t] = dgate[t] W_hh; then the weight and bias gradients and dx."""
    for t in reversed(range(dy.shape[0])):
        lstm_cell_backward(gates[t], c[t], c[t + 1], dy[t], dh[t + 1], dc[t + 1], dgate[t], dc[t])
        hidden_projection_backward(dgate[t], W_hh, dh[t])
    weight_grads(x, W_ih, h, dgate, dgate, dx, dW_ih, dW_hh, db_ih, db_hh, True, need_dx)


def gru_sequence_forward(x, W_ih, b_ih, W_hh, b_hh, h, gates, gi, gh):
    """Every step of the GRU cell: gh = h[t] W_hhᵀ, then the cell writes gates[t], h[t + 1]."""
    input_projection(x, W_ih, b_ih, gi)
    for t in range(x.shape[0]):
        hidden_projection(h[t], W_hh, b_hh, gh)
        gru_cell_forward(gi[t], gh, b_ih, b_hh, h[t], gates[t], h[t + 1])


def gru_sequence_backward(x, W_ih, W_hh, h, gates, dy, dgi, dgh, dh, skip, dx, dW_ih, dW_hh,
                          db_ih, db_hh, need_dx):  # fmt: skip
    """BPTT, last step first: the cell turns dy[t] + dh[t + 1] + skip[t + 1] into dgi[t],
    dgh[t] and skip[t]; dh[t] = dgh[t] W_hh; then the weight and bias gradients and dx."""
    for t in reversed(range(dy.shape[0])):
        gru_cell_backward(gates[t], h[t], dy[t], dh[t + 1], skip[t + 1], dgi[t], dgh[t], skip[t])
        hidden_projection_backward(dgh[t], W_hh, dh[t])
    weight_grads(x, W_ih, h, dgi, dgh, dx, dW_ih, dW_hh, db_ih, db_hh, False, need_dx)


@cuda.jit
def swap_first_axes(x, y):
    a, b = cuda.grid(2)
    if b < y.shape[0] and a < y.shape[1]:
        for f in range(y.shape[2]):
            y[b, a, f] = x[a, b, f]


def swap_batch_time(x, y):
    """y[b, a] = x[a, b]: (N, T, F) ↔ (T, N, F). x: (A, B, F); writes y: (B, A, F).
    One thread per (b, a), copying its F features."""
    blocks, threads = launch_2d(y.shape[0], y.shape[1])
    launch(swap_first_axes, blocks, threads, x, y)
