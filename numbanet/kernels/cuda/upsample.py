"""Nearest-neighbour upsampling on the GPU (``kernels/cpu/upsample.py`` explains it): one
thread per output element copies its source pixel; backward runs one thread per input pixel,
which sums the gradients of its block in the CPU's order (no two threads write one pixel)."""

from numba import cuda

from numbanet.kernels.cuda.launch import launch, launch_1d, unravel


@cuda.jit
def copy_sources(x, scale_h, scale_w, y):
    """y[n, c, i, j] = x[n, c, i // scale_h, j // scale_w]. One thread per element of y."""
    index = cuda.grid(1)
    if index < y.size:
        n, c, i, j = unravel(index, y.shape)
        y[n, c, i, j] = x[n, c, i // scale_h, j // scale_w]


@cuda.jit
def sum_blocks(dy, scale_h, scale_w, dx):
    """dx[n, c, h, w] = Σ dy over the block of (h, w), row-major. One thread per element of dx."""
    index = cuda.grid(1)
    if index < dx.size:
        n, c, h, w = unravel(index, dx.shape)
        total = dx.dtype.type(0)
        for a in range(scale_h):
            for b in range(scale_w):
                total += dy[n, c, h * scale_h + a, w * scale_w + b]
        dx[n, c, h, w] = total


def upsample_nearest2d_forward(x, scale_h, scale_w, y):
    """y[n, c, i, j] = x[n, c, i // scale_h, j // scale_w]. x: (N, C, H, W); writes
    y: (N, C, H·scale_h, W·scale_w). One thread per element of y."""
    launch(copy_sources, *launch_1d(y.size), x, scale_h, scale_w, y)


def upsample_nearest2d_backward(dy, scale_h, scale_w, dx):
    """dx[n, c, h, w] = Σ of dy over the scale_h × scale_w block that copied x[n, c, h, w].
    dy: (N, C, H·scale_h, W·scale_w); writes dx: (N, C, H, W). One thread per element of dx."""
    launch(sum_blocks, *launch_1d(dx.size), dy, scale_h, scale_w, dx)
