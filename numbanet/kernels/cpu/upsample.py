"""Nearest-neighbour upsampling of NCHW images by whole factors, and its gradient.

Each input pixel becomes a block of scale_h × scale_w copies of itself:

    y[n, c, i, j] = x[n, c, i // scale_h, j // scale_w]

so backward gives each input pixel the sum of the gradients of its block:

    dx[n, c, h, w] = Σ_{a < scale_h} Σ_{b < scale_w} dy[n, c, h·scale_h + a, w·scale_w + b]
"""

from numba import njit, prange


@njit(parallel=True, cache=True, error_model="numpy")
def upsample_nearest2d_forward(x, scale_h, scale_w, y):
    """y[n, c, i, j] = x[n, c, i // scale_h, j // scale_w]. x: (N, C, H, W); writes
    y: (N, C, H·scale_h, W·scale_w). One prange iteration per (n, c) plane."""
    channels = x.shape[1]
    for plane in prange(x.shape[0] * channels):
        n, c = plane // channels, plane % channels
        for i in range(y.shape[2]):
            h = i // scale_h
            for j in range(y.shape[3]):
                y[n, c, i, j] = x[n, c, h, j // scale_w]


@njit(parallel=True, cache=True, error_model="numpy")
def upsample_nearest2d_backward(dy, scale_h, scale_w, dx):
    """dx[n, c, h, w] = Σ of dy over the scale_h × scale_w block that copied x[n, c, h, w], in
    row-major order. dy: (N, C, H·scale_h, W·scale_w); writes dx: (N, C, H, W). One prange
    iteration per (n, c) plane."""
    channels = dx.shape[1]
    for plane in prange(dx.shape[0] * channels):
        n, c = plane // channels, plane % channels
        for h in range(dx.shape[2]):
            for w in range(dx.shape[3]):
                total = dx.dtype.type(0)
                for a in range(scale_h):
                    for b in range(scale_w):
                        total += dy[n, c, h * scale_h + a, w * scale_w + b]
                dx[n, c, h, w] = total
