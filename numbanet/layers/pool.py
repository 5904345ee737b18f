"""Pooling layers: each window of an image summed up by its max or its mean, as torch's.

The kernels, and why max pooling sends each gradient to one input, are in
``kernels/cpu/pool.py``.
"""

import functools

import numpy as np

from numbanet.layers.base import Layer


def pair(value, what, layer):
    """(a, b) from an int or a pair of ints, as torch takes kernel_size, stride, padding."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"{layer}: {what} must be an int or a pair of ints, got {value!r}")


def shown(value):
    """An argument as torch's read: 2 for the pair (2, 2), (3, 2) for (3, 2), others as they are."""
    return value[0] if isinstance(value, tuple) and value[0] == value[1] else value


@functools.cache
def padding_only_window(size, out_size, kernel, stride, pad, dil):
    """(i, taps) of the first output along one axis whose dilated window reads padding alone, or
    None. Only dilation can skip over every input: an undilated window of pad <= kernel / 2
    always covers one."""
    for i in range(out_size):
        taps = [i * stride - pad + a * dil for a in range(kernel)]
        if not any(0 <= t < size for t in taps):
            return i, taps
    return None


class _Pool2d(Layer):
    """Shared plumbing of the windowed pools: torch's arguments, the output size, input checks."""

    def __init__(self, kernel_size, stride, padding, dilation):
        super().__init__()
        layer = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", layer)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", layer)
        self.padding = pair(padding, "padding", layer)
        self.dilation = pair(dilation, "dilation", layer)
        if min(self.kernel_size + self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"{layer}: kernel_size, stride and dilation must be >= 1 and padding >= 0, got "
                f"kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                f"dilation={dilation}"
            )
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"{layer}: padding must be at most half of kernel_size (as torch), got "
                f"padding={padding} for kernel_size={kernel_size}"
            )

    def output_size(self, h, w):
        """(OH, OW) for an (h, w) image: ⌊(size + 2·pad − dil·(kernel − 1) − 1) / stride⌋ + 1."""
        return tuple(
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, k, s, p, d in zip(
                (h, w), self.kernel_size, self.stride, self.padding, self.dilation
            )
        )

    def checked_input(self, x):
        """x as an (N, C, H, W) array of the layer's device, and its (OH, OW)."""
        x = self.as_input(x)
        self.check_ndim(x, 4, "(N, C, H, W)")
        h, w = x.shape[2:]
        oh, ow = self.output_size(h, w)
        if oh < 1 or ow < 1:
            (kh, kw), (dh, dw), (ph, pw) = self.kernel_size, self.dilation, self.padding
            window = f"{kh}×{kw} window"
            if self.dilation != (1, 1):
                window += f" (dilated to {dh * (kh - 1) + 1}×{dw * (kw - 1) + 1})"
            raise self.error(
                f"the {h}×{w} image (padded to {h + 2 * ph}×{w + 2 * pw}) of input {x.shape} "
                f"is smaller than the {window}"
            )
        return x, (oh, ow)

    def __repr__(self):
        """The kernel size and the arguments that differ from torch's defaults:
        "MaxPool2d(2)", "AvgPool2d((3, 2), stride=1, padding=1)"."""
        defaults = {"stride": self.kernel_size, "padding": (0, 0), "dilation": (1, 1),
                    "count_include_pad": True}  # fmt: skip
        args = [str(shown(self.kernel_size))] + [
            f"{name}={shown(value)}"
            for name, value in self.config().items()
            if name != "kernel_size" and value != defaults[name]
        ]
        return f"{type(self).__name__}({', '.join(args)})"


class MaxPool2d(_Pool2d):
    """Max pooling: each output is the largest input under its window, as torch.nn.MaxPool2d.

    y[n, c, i, j] = max over a < KH, b < KW of x[n, c, i·sh − ph + a·dh, j·sw − pw + b·dw]
    (padding is never the max; kernels ``max_pool2d_forward`` / ``max_pool2d_backward``)
    Input shape:  (N, C, H, W)
    Output shape: (N, C, OH, OW), OH = ⌊(H + 2·ph − dh·(KH − 1) − 1) / sh⌋ + 1, likewise OW.
    stride defaults to kernel_size (windows side by side). No params.
    """

    formula = {
        "forward": "y[n,c,i,j] = max of x[n,c] over the window of (i, j)",
        "backward": "dx = dy routed to each window's argmax (0 elsewhere)",
    }

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__(kernel_size, stride, padding, dilation)

    def forward(self, x):
        x, (oh, ow) = self.checked_input(x)
        self.check_windows_hold_input(*x.shape[2:], oh, ow)
        y = self.buffer("y", (*x.shape[:2], oh, ow))
        argmax = self.buffer("argmax", y.shape, np.int64)
        geometry = (*self.kernel_size, *self.stride, *self.padding, *self.dilation)
        self.kernels.max_pool2d_forward(x, *geometry, y, argmax)
        self.saved["x_shape"], self.saved["argmax"] = x.shape, argmax
        return y

    def check_windows_hold_input(self, h, w, oh, ow):
        """Raise if a window's dilated taps all fall on padding: its max would be -inf (torch's
        answer), with no input to send the gradient to."""
        for axis, size, out, *geometry in zip(
            ("row", "column"), (h, w), (oh, ow), self.kernel_size, self.stride, self.padding,
            self.dilation,
        ):  # fmt: skip
            found = padding_only_window(size, out, *geometry)
            if found is not None:
                raise self.error(
                    f"the window of output {axis} {found[0]} reads {axis}s {found[1]} of a "
                    f"{size}-{axis} input: padding only; use less padding or dilation"
                )

    def backward(self, dy, need_dx=True):
        x_shape, argmax = self.saved_for_backward("x_shape", "argmax")
        dy = self.as_grad(dy, argmax.shape)
        if not need_dx:
            return None
        dx = self.buffer("dx", x_shape)
        self.kernels.max_pool2d_backward(argmax, dy, dx)
        return dx

    def config(self):
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
        }


class AvgPool2d(_Pool2d):
    """Average pooling: each output is the mean of the inputs under its window, as
    torch.nn.AvgPool2d (ceil_mode=False, no divisor_override).

    y[n, c, i, j] = Σ over the window of x / (KH·KW, or the inputs under the window if not
    count_include_pad)   (padding adds 0; kernels ``avg_pool2d_forward`` / ``_backward``)
    Input shape:  (N, C, H, W)
    Output shape: (N, C, OH, OW), OH = ⌊(H + 2·ph − KH) / sh⌋ + 1, likewise OW.
    stride defaults to kernel_size (windows side by side). No params.
    """

    formula = {
        "forward": "y[n,c,i,j] = mean of x[n,c] over the window of (i, j)",
        "backward": "dx = Σ over the windows holding x of dy / window size",
    }

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, 1)
        self.count_include_pad = bool(count_include_pad)

    def geometry(self):
        """The kernels' kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, count_include_pad."""
        return (*self.kernel_size, *self.stride, *self.padding, self.count_include_pad)

    def forward(self, x):
        x, (oh, ow) = self.checked_input(x)
        y = self.buffer("y", (*x.shape[:2], oh, ow))
        self.kernels.avg_pool2d_forward(x, *self.geometry(), y)
        self.saved["x_shape"] = x.shape
        return y

    def backward(self, dy, need_dx=True):
        (x_shape,) = self.saved_for_backward("x_shape")
        dy = self.as_grad(dy, (*x_shape[:2], *self.output_size(*x_shape[2:])))
        if not need_dx:
            return None
        dx = self.buffer("dx", x_shape)
        self.kernels.avg_pool2d_backward(dy, *self.geometry(), dx)
        return dx

    def config(self):
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "count_include_pad": self.count_include_pad,
        }


class AdaptiveAvgPool2d(Layer):
    """Global average pooling: the mean of each channel's whole image, as
    torch.nn.AdaptiveAvgPool2d(1) (only output size 1 × 1 is supported).

    y[n, c, 0, 0] = Σ_hw x[n, c, h, w] / (H·W)   (kernels ``global_avg_pool2d_forward`` /
    ``global_avg_pool2d_backward``)
    Input shape:  (N, C, H, W)
    Output shape: (N, C, 1, 1)
    """

    formula = {
        "forward": "y[n,c] = mean over H×W of x[n,c]",
        "backward": "dx[n,c,h,w] = dy[n,c] / (H·W)",
    }

    def __init__(self, output_size):
        super().__init__()
        if output_size not in (1, (1, 1), [1, 1]):
            raise ValueError(
                f"AdaptiveAvgPool2d: only output_size 1 or (1, 1) (global average pooling) is "
                f"supported, got {output_size!r}"
            )
        self.output_size = output_size if isinstance(output_size, int) else (1, 1)

    def forward(self, x):
        x = self.as_input(x)
        self.check_ndim(x, 4, "(N, C, H, W)")
        if x.shape[2] < 1 or x.shape[3] < 1:
            raise self.error(f"expected an image of at least 1×1, got input {x.shape}")
        y = self.buffer("y", (*x.shape[:2], 1, 1))
        self.kernels.global_avg_pool2d_forward(x, y)
        self.saved["x_shape"] = x.shape
        return y

    def backward(self, dy, need_dx=True):
        (x_shape,) = self.saved_for_backward("x_shape")
        dy = self.as_grad(dy, (*x_shape[:2], 1, 1))
        if not need_dx:
            return None
        dx = self.buffer("dx", x_shape)
        self.kernels.global_avg_pool2d_backward(dy, dx)
        return dx

    def config(self):
        return {"output_size": self.output_size}

    def __repr__(self):
        return f"AdaptiveAvgPool2d({self.output_size!r})"
