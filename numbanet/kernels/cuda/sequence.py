"""Sequences on the GPU: picking the last time step out of a sequence of outputs.

Kernels see a sequence as (B, T, F) (see ``kernels/cpu/sequence.py``); one thread per
element of the output, y or dx.
"""

from numba import cuda

from numbanet.kernels.cuda.launch import launch, launch_1d, launch_2d


@cuda.jit
def copy_last_outputs(x, y):
    f, b = cuda.grid(2)
    if b < y.shape[0] and f < y.shape[1]:
        y[b, f] = x[b, x.shape[1] - 1, f]


@cuda.jit
def spread_to_last_outputs(dy, dx):
    i = cuda.grid(1)
    steps, features = dx.shape[1], dx.shape[2]
    if i < dx.shape[0] * steps * features:
        b, t, f = i // (steps * features), (i // features) % steps, i % features
        dx[b, t, f] = dy[b, f] if t == steps - 1 else 0.0


def last_step_forward(x, y):
    """y[b] = x[b, T - 1]. x: (B, T, F); writes y: (B, F). One thread per (b, f)."""
    launch(copy_last_outputs, *launch_2d(*y.shape), x, y)


def last_step_backward(dy, dx):
    """dx[b, t] = dy[b] at t = T - 1, else 0. dy: (B, F); writes dx: (B, T, F).
    One thread per element of dx."""
    launch(spread_to_last_outputs, *launch_1d(dx.size), dy, dx)
