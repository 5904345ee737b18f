"""Pooling: each window of an image summed up by one number, as torch.nn.MaxPool2d, AvgPool2d
and AdaptiveAvgPool2d(1) (NCHW).

A pooling layer slides a kernel_h × kernel_w window over each channel of each image, stride_h
rows and stride_w columns at a time, and writes one number per position of the window: the
largest input under it (max pooling) or their mean (average pooling). It has no weights. It
shrinks the feature maps (a 2 × 2 window with stride 2 halves height and width), so the layers
after it see a wider part of the image for the same cost, and a feature found a pixel to the
side still lands in the same window.

Output (i, j) reads input rows i·stride_h − pad_h + a·dil_h (a < kernel_h) and columns
j·stride_w − pad_w + b·dil_w (b < kernel_w). Padding is a border that max pooling never picks
(it counts as −∞) and that average pooling adds as 0: with count_include_pad (torch's default)
the sum is divided by the whole window, without it by the inputs the window covers. Dilation
spreads the taps of a max-pooling window apart. As torch (floor, no ceil_mode):
    OH = ⌊(H + 2·pad_h − dil_h·(kernel_h − 1) − 1) / stride_h⌋ + 1, and likewise OW.
Global average pooling is the mean over the whole H × W plane: one number per channel.

Backward. The max is one of its inputs: nudging any other input of the window leaves it
unchanged, so ∂y/∂x is 1 for the input that won (the argmax, which forward remembers) and 0
for the rest. Max pooling therefore routes each dy to exactly one input, and an input that
wins several overlapping windows collects the sum of their dy. The mean is Σ x / count, so each
input of a window receives dy / count, summed over every window that holds it.

Every kernel runs one prange iteration per (n, c) plane: planes are independent, and the
iteration that owns a plane writes every output element of it, so no two iterations write one
element. The backward kernels scatter: each output adds its dy (or dy / count) to its window's
inputs, in row-major order of the outputs. The per-window math (``window_max``, ``window_mean``,
...) is in ``kernels/scalar.py``, shared with the CUDA twins in ``kernels/cuda/pool.py``.
"""

from numba import njit, prange

from numbanet.kernels.cpu.elementwise import zero
from numbanet.kernels.scalar import (
    plane_mean,
    pool_divisor,
    window_max,
    window_mean,
    window_span,
)


@njit(inline="always", cache=True, error_model="numpy")
def halving(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w):
    """Whether the window is 2 × 2 with stride 2, no padding and no dilation: MaxPool2d(2) and
    AvgPool2d(2), the pooling of every CNN taught here. The kernels handle it with the sizes
    written as literals, so LLVM unrolls the window and vectorizes along the row, which the
    same loop over sizes it only knows at run time does not."""
    return (kernel_h == 2 and kernel_w == 2 and stride_h == 2 and stride_w == 2 and pad_h == 0
            and pad_w == 0 and dil_h == 1 and dil_w == 1)  # fmt: skip


@njit(inline="always", cache=True, error_model="numpy")
def max_pool_plane(plane, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, y,
                   argmax):  # fmt: skip
    """y, argmax = ``window_max`` at every output of one plane: (H, W) -> (OH, OW).

    Without padding every window lies inside the plane, and a plain running max (the first
    maximum wins ties) with no bounds tests finds it; a window whose sum is NaN holds a NaN (or
    both infinities) and goes to ``window_max``, whose rule lets the NaN win as torch does.
    """
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            if pad_h == 0 and pad_w == 0:
                h, w = i * stride_h, j * stride_w
                best, index, total = plane[h, w], h * plane.shape[1] + w, plane[h, w] * 0
                for a in range(kernel_h):
                    for b in range(kernel_w):
                        v = plane[h + a * dil_h, w + b * dil_w]
                        total += v
                        if v > best:
                            best, index = v, (h + a * dil_h) * plane.shape[1] + w + b * dil_w
                if total == total:
                    y[i, j], argmax[i, j] = best, index
                    continue
            y[i, j], argmax[i, j] = window_max(
                plane, i, j, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w
            )


@njit(parallel=True, cache=True, error_model="numpy")
def max_pool2d_forward(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, y,
                       argmax):  # fmt: skip
    """y[n, c, i, j] = max of x[n, c] over the window of (i, j); argmax[n, c, i, j] = h·W + w of
    that max (the first on ties, as torch). Every window must hold an input (the layer checks).
    x: (N, C, H, W); writes y: (N, C, OH, OW) and argmax: int64 (N, C, OH, OW).
    One iteration per (n, c) plane."""
    channels = x.shape[1]
    common = halving(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    for plane in prange(x.shape[0] * channels):
        n, c = plane // channels, plane % channels
        if common:
            max_pool_plane(x[n, c], 2, 2, 2, 2, 0, 0, 1, 1, y[n, c], argmax[n, c])
        else:
            max_pool_plane(x[n, c], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h,
                           dil_w, y[n, c], argmax[n, c])  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def max_pool2d_backward(argmax, dy, dx):
    """dx[n, c, h, w] = Σ dy[n, c, i, j] over the outputs (i, j) whose argmax is h·W + w (0 for
    an input that won no window). argmax: int64 (N, C, OH, OW), dy: (N, C, OH, OW);
    writes dx: (N, C, H, W). One iteration per (n, c) plane: overlapping windows route to one
    input only within a plane. Flat indices: argmax is already one, so no division per output.
    """
    size, outputs = dx.shape[2] * dx.shape[3], dy.shape[2] * dy.shape[3]
    argmax, dy, dx = argmax.reshape(-1), dy.reshape(-1), dx.reshape(-1)
    for plane in prange(dx.shape[0] // size):
        # the plane's views, indexed from 0: the zeroing loop vectorizes
        inputs = dx[plane * size : (plane + 1) * size]
        routes = argmax[plane * outputs : (plane + 1) * outputs]
        grads = dy[plane * outputs : (plane + 1) * outputs]
        zero(inputs)
        for o in range(routes.shape[0]):  # in row-major order, as on the GPU
            inputs[routes[o]] += grads[o]


@njit(inline="always", cache=True, error_model="numpy")
def avg_pool_plane(plane, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                   count_include_pad, y):  # fmt: skip
    """y = ``window_mean`` at every output of one plane: (H, W) -> (OH, OW). Without padding
    every window lies inside the plane, so its bounds need no clipping and its divisor is the
    window's size: the same sum in the same order, which unrolls for literal sizes."""
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            if pad_h == 0 and pad_w == 0:
                h, w, total = i * stride_h, j * stride_w, plane.dtype.type(0)
                for a in range(kernel_h):
                    for b in range(kernel_w):
                        total += plane[h + a, w + b]
                y[i, j] = total / plane.dtype.type(kernel_h * kernel_w)
            else:
                y[i, j] = window_mean(plane, i, j, kernel_h, kernel_w, stride_h, stride_w,
                                      pad_h, pad_w, count_include_pad)  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def avg_pool2d_forward(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                       count_include_pad, y):  # fmt: skip
    """y[n, c, i, j] = Σ x[n, c] over the window of (i, j) / (kernel_h·kernel_w, or the inputs
    under the window if not count_include_pad). x: (N, C, H, W); writes y: (N, C, OH, OW).
    One iteration per (n, c) plane."""
    channels = x.shape[1]
    common = halving(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, 1, 1)
    for plane in prange(x.shape[0] * channels):
        n, c = plane // channels, plane % channels
        if common:
            avg_pool_plane(x[n, c], 2, 2, 2, 2, 0, 0, count_include_pad, y[n, c])
        else:
            avg_pool_plane(x[n, c], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                           count_include_pad, y[n, c])  # fmt: skip


@njit(inline="always", cache=True, error_model="numpy")
def spread_plane(dy, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, count_include_pad,
                 dx):  # fmt: skip
    """dx = 0, then each output's dy / divisor added over its window: (OH, OW) -> (H, W)."""
    zero(dx.reshape(-1))
    inside = pad_h == 0 and pad_w == 0  # windows need no clipping (see ``avg_pool_plane``)
    for i in range(dy.shape[0]):
        h0, h1 = window_span(i, kernel_h, stride_h, pad_h, dx.shape[0])
        if inside:
            h0, h1 = i * stride_h, i * stride_h + kernel_h
        for j in range(dy.shape[1]):
            w0, w1 = window_span(j, kernel_w, stride_w, pad_w, dx.shape[1])
            if inside:
                w0, w1 = j * stride_w, j * stride_w + kernel_w
            divisor = pool_divisor(h0, h1, w0, w1, kernel_h, kernel_w, count_include_pad)
            share = dy[i, j] / dx.dtype.type(divisor)
            for h in range(h0, h1):
                for w in range(w0, w1):
                    dx[h, w] += share


@njit(parallel=True, cache=True, error_model="numpy")
def avg_pool2d_backward(dy, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                        count_include_pad, dx):  # fmt: skip
    """dx[n, c, h, w] = Σ dy[n, c, i, j] / divisor(i, j) over the windows (i, j) that hold input
    (h, w), divisor as in forward. dy: (N, C, OH, OW); writes dx: (N, C, H, W).
    One iteration per (n, c) plane: it zeroes the plane, then each output spreads its share
    dy / divisor over its window's inputs (one division per output, not per input and window)."""
    channels = dx.shape[1]
    common = halving(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, 1, 1)
    for plane in prange(dx.shape[0] * channels):
        n, c = plane // channels, plane % channels
        if common:
            spread_plane(dy[n, c], 2, 2, 2, 2, 0, 0, count_include_pad, dx[n, c])
        else:
            spread_plane(dy[n, c], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                         count_include_pad, dx[n, c])  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def global_avg_pool2d_forward(x, y):
    """y[n, c, 0, 0] = Σ_hw x[n, c, h, w] / (H·W). x: (N, C, H, W); writes y: (N, C, 1, 1).
    One iteration per (n, c) plane."""
    channels = x.shape[1]
    for plane in prange(x.shape[0] * channels):
        n, c = plane // channels, plane % channels
        y[n, c, 0, 0] = plane_mean(x[n, c])


@njit(parallel=True, cache=True, error_model="numpy")
def global_avg_pool2d_backward(dy, dx):
    """dx[n, c, h, w] = dy[n, c, 0, 0] / (H·W): every input of a plane shares its mean's
    gradient. dy: (N, C, 1, 1); writes dx: (N, C, H, W). One iteration per (n, c) plane."""
    channels, h_size, w_size = dx.shape[1], dx.shape[2], dx.shape[3]
    size = dx.dtype.type(h_size * w_size)
    for plane in prange(dx.shape[0] * channels):
        n, c = plane // channels, plane % channels
        for h in range(h_size):
            for w in range(w_size):
                dx[n, c, h, w] = dy[n, c, 0, 0] / size
