"""Recurrent cells (RNN, LSTM, GRU) on the GPU: one time step's gate math, forward and backward,
fused; the twins of ``numbanet.kernels.cpu.recurrent`` (where the whole scheme is explained).

Every cell kernel runs one thread per (n, hidden unit j): the thread reads that unit's gate
pre-activations from each gate block, applies the shared scalar math of
``numbanet.kernels.scalar`` and writes the unit's state and gates. The matrix products are the
tiled product of ``cuda/dense.py``.
"""

import functools

from numba import cuda

from numbanet.kernels.cuda.dense import matmul
from numbanet.kernels.cuda.launch import launch, launch_2d
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


@per_unit
def rnn_cell_forward(gi, gh, activation, slope, h):
    """h = f(gi + gh), f tanh or relu (numbered as in ``scalar.EPILOGUES``).
    gi, gh: (N, H); writes h: (N, H). One thread per (n, j)."""
    j, n = cuda.grid(2)
    if n < h.shape[0] and j < h.shape[1]:
        h[n, j] = epilogue(gi[n, j] + gh[n, j], activation, slope)


@per_unit
def rnn_cell_backward(h, dy, dh_next, activation, slope, dgate):
    """dgate = (dy + dh_next) · f′ (read from h). h, dy, dh_next: (N, H); writes dgate: (N, H).
    One thread per (n, j)."""
    j, n = cuda.grid(2)
    if n < h.shape[0] and j < h.shape[1]:
        dh = dy[n, j] + dh_next[n, j]
        dgate[n, j] = dh * epilogue_grad(h[n, j], activation, slope)


@per_unit
def lstm_cell_forward(gi, gh, c_prev, gates, c, h):
    """i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g) with a = gi + gh; c = f ⊙ c_prev + i ⊙ g;
    h = o ⊙ tanh(c). gi, gh: (N, 4H); c_prev: (N, H); writes gates: (N, 4H), c, h: (N, H).
    One thread per (n, j), all four gates of unit j."""
    j, n = cuda.grid(2)
    size = h.shape[1]
    if n < h.shape[0] and j < size:
        a_i, a_f = gi[n, j] + gh[n, j], gi[n, size + j] + gh[n, size + j]
        a_g, a_o = (
            gi[n, 2 * size + j] + gh[n, 2 * size + j],
            gi[n, 3 * size + j] + gh[n, 3 * size + j],
        )
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
def gru_cell_forward(gi, gh, h_prev, gates, h):
    """r, z = σ(gi + gh) blocks; n = tanh(gi_n + r ⊙ gh_n); h = (1 − z) ⊙ n + z ⊙ h_prev.
    gi, gh: (N, 3H); h_prev: (N, H); writes gates: (N, 4H) (r, z, n, gh_n), h: (N, H).
    One thread per (n, j), all gates of unit j."""
    j, n = cuda.grid(2)
    size = h.shape[1]
    if n < h.shape[0] and j < size:
        gh_n = gh[n, 2 * size + j]
        r, z, new, h[n, j] = gru_unit(
            gi[n, j] + gh[n, j], gi[n, size + j] + gh[n, size + j], gi[n, 2 * size + j], gh_n,
            h_prev[n, j], False,
        )  # fmt: skip
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


def recurrent_backward(dgh, W_hh, dh_prev):
    """dh_prev = dgh W_hh. dgh: (N, G·H); W_hh: (G·H, H); writes dh_prev: (N, H).
    One tiled matrix product, one thread per element of dh_prev (a row of dh_prev stands in for
    the unread bias)."""
    matmul(dgh, W_hh, dh_prev[0], False, False, False, dh_prev)


@cuda.jit
def swap_batch_time(x, y):
    a, b = cuda.grid(2)
    if b < y.shape[0] and a < y.shape[1]:
        for f in range(y.shape[2]):
            y[b, a, f] = x[a, b, f]


def swap_batch_time_forward(x, y):
    """y[b, a] = x[a, b]: (N, T, F) ↔ (T, N, F). x: (A, B, F); writes y: (B, A, F).
    One thread per (b, a), copying its F features."""
    blocks, threads = launch_2d(y.shape[0], y.shape[1])
    launch(swap_batch_time, blocks, threads, x, y)
