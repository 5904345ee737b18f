"""Sequences: picking one time step out of a sequence of outputs (a classifier reads the last).

Kernels see a sequence as (B, T, F): batch-first (N, T, H) is B = N, F = H; time-first
(T, N, H) is B = 1, F = N·H, so one pair of kernels serves both layouts.
"""

from numba import njit, prange


@njit(parallel=True, cache=True, error_model="numpy")
def last_step_forward(x, y):
    """y[b] = x[b, T - 1]. x: (B, T, F); writes y: (B, F). One iteration per b."""
    last = x.shape[1] - 1
    for b in prange(x.shape[0]):
        for f in range(x.shape[2]):
            y[b, f] = x[b, last, f]


@njit(parallel=True, cache=True, error_model="numpy")
def last_step_backward(dy, dx):
    """dx[b, t] = dy[b] at t = T - 1, 0 at every earlier step (they did not reach the output).
    dy: (B, F); writes dx: (B, T, F). One iteration per b."""
    last = dx.shape[1] - 1
    for b in prange(dx.shape[0]):
        for t in range(last):
            for f in range(dx.shape[2]):
                dx[b, t, f] = 0.0
        for f in range(dx.shape[2]):
            dx[b, last, f] = dy[b, f]
