"""Pooling on the GPU: max, average and global average pooling of NCHW images, forward and
backward (``kernels/cpu/pool.py`` explains pooling and its gradients).

The math of one window is the CPU's: the functions of ``kernels/scalar.py``, compiled here
as device functions from their Python bodies. Forward kernels run one thread per output
element, its (n, c, i, j) decoded from the flat thread index.

Backward, the CPU scatters (each output adds to its window's inputs), which on the GPU would
make threads of overlapping windows write one input at once. Average pooling's backward runs
one thread per input element instead, which gathers dy / count from the windows that hold it,
in the CPU's order of the outputs. Max pooling's backward is given only the argmax, not the
window geometry, so an input cannot find the windows that chose it; it runs one thread per
(n, c) plane, which zeroes its plane and adds each dy at its argmax in the CPU's order. No
atomics either way, and the same sums as the CPU bit for bit (atomic adds from one thread per
output would add overlapping windows' dy in whatever order the threads run).
"""

from numba import cuda

from numbanet.kernels import scalar
from numbanet.kernels.cuda.launch import device, launch, launch_1d, unravel
from numbanet.kernels.scalar import pool_divisor, window_span


window_max = device(scalar.window_max)
window_mean = device(scalar.window_mean)
route_to_argmax = device(scalar.route_to_argmax)
plane_mean = device(scalar.plane_mean)


@cuda.jit(device=True)
def windows_holding(h, kernel, stride, pad, out_size):
    """[first, stop) of the outputs along one axis whose undilated window holds input h:
    i·stride − pad <= h < i·stride − pad + kernel, solved for i inside [0, out_size)."""
    reach = h + pad - kernel + 1  # the first window start that still reaches h
    first = 0 if reach <= 0 else (reach + stride - 1) // stride
    return first, min((h + pad) // stride + 1, out_size)


@cuda.jit(device=True)
def window_mean_grad(dy, h, w, h_size, w_size, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                     pad_w, count_include_pad):  # fmt: skip
    """∂L/∂x[h, w] of an average pool of an (h_size, w_size) plane: Σ dy[i, j] / divisor(i, j)
    over the outputs (i, j) whose windows hold input (h, w), in row-major order. dy: (OH, OW)."""
    i0, i1 = windows_holding(h, kernel_h, stride_h, pad_h, dy.shape[0])
    j0, j1 = windows_holding(w, kernel_w, stride_w, pad_w, dy.shape[1])
    total = dy.dtype.type(0)
    for i in range(i0, i1):
        h0, h1 = window_span(i, kernel_h, stride_h, pad_h, h_size)
        for j in range(j0, j1):
            w0, w1 = window_span(j, kernel_w, stride_w, pad_w, w_size)
            divisor = pool_divisor(h0, h1, w0, w1, kernel_h, kernel_w, count_include_pad)
            total += dy[i, j] / dy.dtype.type(divisor)
    return total


@cuda.jit
def max_pool_outputs(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, y,
                     argmax):  # fmt: skip
    """y, argmax[n, c, i, j] = ``window_max`` of x[n, c] at (i, j). One thread per element of y."""
    index = cuda.grid(1)
    if index < y.size:
        n, c, i, j = unravel(index, y.shape)
        y[n, c, i, j], argmax[n, c, i, j] = window_max(
            x[n, c], i, j, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w
        )


@cuda.jit
def max_pool_planes(argmax, dy, dx):
    """dx[n, c] = dy[n, c] routed to argmax[n, c]. One thread per (n, c) plane."""
    plane = cuda.grid(1)
    if plane < dx.shape[0] * dx.shape[1]:
        n, c = plane // dx.shape[1], plane % dx.shape[1]
        route_to_argmax(argmax[n, c], dy[n, c], dx[n, c])


@cuda.jit
def avg_pool_outputs(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, count_include_pad,
                     y):  # fmt: skip
    """y[n, c, i, j] = ``window_mean`` of x[n, c] at (i, j). One thread per element of y."""
    index = cuda.grid(1)
    if index < y.size:
        n, c, i, j = unravel(index, y.shape)
        y[n, c, i, j] = window_mean(
            x[n, c], i, j, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
            count_include_pad,
        )  # fmt: skip


@cuda.jit
def avg_pool_inputs(dy, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, count_include_pad,
                    dx):  # fmt: skip
    """dx[n, c, h, w] = ``window_mean_grad`` of dy[n, c] at (h, w). One thread per element of
    dx."""
    index = cuda.grid(1)
    if index < dx.size:
        n, c, h, w = unravel(index, dx.shape)
        dx[n, c, h, w] = window_mean_grad(
            dy[n, c], h, w, dx.shape[2], dx.shape[3], kernel_h, kernel_w, stride_h, stride_w,
            pad_h, pad_w, count_include_pad,
        )  # fmt: skip


@cuda.jit
def plane_means(x, y):
    """y[n, c, 0, 0] = ``plane_mean`` of x[n, c]. One thread per element of y."""
    index = cuda.grid(1)
    if index < y.size:
        n, c, _, _ = unravel(index, y.shape)
        y[n, c, 0, 0] = plane_mean(x[n, c])


@cuda.jit
def spread_plane_grads(dy, dx):
    """dx[n, c, h, w] = dy[n, c, 0, 0] / (H·W). One thread per element of dx."""
    index = cuda.grid(1)
    if index < dx.size:
        n, c, h, w = unravel(index, dx.shape)
        dx[n, c, h, w] = dy[n, c, 0, 0] / dx.dtype.type(dx.shape[2] * dx.shape[3])


def max_pool2d_forward(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, y,
                       argmax):  # fmt: skip
    """y[n, c, i, j] = max of x[n, c] over the window of (i, j); argmax[n, c, i, j] = h·W + w of
    that max (the first on ties, as torch). x: (N, C, H, W); writes y: (N, C, OH, OW) and
    argmax: int64 (N, C, OH, OW). One thread per element of y."""
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    launch(max_pool_outputs, *launch_1d(y.size), x, *geometry, y, argmax)


def max_pool2d_backward(argmax, dy, dx):
    """dx[n, c, h, w] = Σ dy[n, c, i, j] over the outputs (i, j) whose argmax is h·W + w.
    argmax: int64 (N, C, OH, OW), dy: (N, C, OH, OW); writes dx: (N, C, H, W).
    One thread per (n, c) plane (the module docstring says why)."""
    launch(max_pool_planes, *launch_1d(dx.shape[0] * dx.shape[1]), argmax, dy, dx)


def avg_pool2d_forward(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                       count_include_pad, y):  # fmt: skip
    """y[n, c, i, j] = Σ x[n, c] over the window of (i, j) / (kernel_h·kernel_w, or the inputs
    under the window if not count_include_pad). x: (N, C, H, W); writes y: (N, C, OH, OW).
    One thread per element of y."""
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, count_include_pad)
    launch(avg_pool_outputs, *launch_1d(y.size), x, *geometry, y)


def avg_pool2d_backward(dy, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                        count_include_pad, dx):  # fmt: skip
    """dx[n, c, h, w] = Σ dy[n, c, i, j] / divisor(i, j) over the windows (i, j) that hold input
    (h, w). dy: (N, C, OH, OW); writes dx: (N, C, H, W). One thread per element of dx."""
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, count_include_pad)
    launch(avg_pool_inputs, *launch_1d(dx.size), dy, *geometry, dx)


def global_avg_pool2d_forward(x, y):
    """y[n, c, 0, 0] = Σ_hw x[n, c, h, w] / (H·W). x: (N, C, H, W); writes y: (N, C, 1, 1).
    One thread per (n, c)."""
    launch(plane_means, *launch_1d(y.size), x, y)


def global_avg_pool2d_backward(dy, dx):
    """dx[n, c, h, w] = dy[n, c, 0, 0] / (H·W). dy: (N, C, 1, 1); writes dx: (N, C, H, W).
    One thread per element of dx."""
    launch(spread_plane_grads, *launch_1d(dx.size), dy, dx)
