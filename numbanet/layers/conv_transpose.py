"""The transposed convolution: a decoder's learned way up (a GAN's generator, an autoencoder's
decoder), the gradient of a convolution with respect to its input made into a layer."""

from numbanet.layers.base import Layer
from numbanet.layers.conv import image_input, pair


class ConvTranspose2d(Layer):
    """2-D transposed convolution over NCHW images, as torch.nn.ConvTranspose2d (no groups):
    each input pixel adds a copy of its filter, scaled by its value, to the output:

    y[n, o, i·s − p + kh·d, j·s − p + kw·d] += Σ_c x[n, c, i, j] · W[c, o, kh, kw],  then + b[o]

    It is the input gradient of the convolution W ⋆ of y-shaped images (out_channels →
    in_channels): forward runs that convolution's backward to its input (col2im,
    ``conv_transpose2d_forward``), and backward runs that convolution's forward for dx
    (``conv2d_forward``: dx = W ⋆ dy) and its weight gradient for dW (``conv2d_backward``, x as
    the gradient of its output), plus db = Σ dy (``kernels/cpu/conv.py``).
    Input shape:  (N, in_channels, H, W)
    Output shape: (N, out_channels, OH, OW),
                  OH = (H − 1)·stride − 2·padding + dilation·(KH − 1) + output_padding + 1
    Params: weight (in_channels, out_channels, KH, KW) (torch's layout), bias (out_channels,);
    torch's init, whose fan-in here is out_channels·KH·KW. output_padding (less than the stride
    or the dilation) adds rows and columns at the bottom and right: with stride 2 it picks which
    of the two input sizes a Conv2d maps onto one output size this layer gives back.
    """

    formula = {
        "forward": "y = b + Σ_c x[n,c] ⊛ W[c]   (each pixel adds its weighted filter: col2im)",
        "backward": "dx = W ⋆ dy (a convolution),  dW = Σ_positions x·patch(dy),  db = Σ dy",
    }

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
        dilation=1, bias=True, init="torch",
    ):  # fmt: skip
        super().__init__()
        name = "ConvTranspose2d"
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"{name}: in_channels and out_channels must be >= 1, got {in_channels} and "
                f"{out_channels}"
            )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = pair(stride, "stride", name)
        self.padding = pair(padding, "padding", name)
        self.output_padding = pair(output_padding, "output_padding", name)
        self.dilation = pair(dilation, "dilation", name)
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError(
                f"{name}: kernel_size, stride and dilation must be >= 1, got "
                f"{self.kernel_size}, {self.stride}, {self.dilation}"
            )
        if min(self.padding + self.output_padding) < 0:
            raise ValueError(f"{name}: padding and output_padding must be >= 0")
        for extra, s, d in zip(self.output_padding, self.stride, self.dilation):
            if extra >= max(s, d):
                raise ValueError(
                    f"{name}: output_padding must be smaller than the stride or the dilation "
                    f"(as torch), got output_padding={output_padding} with stride={stride}, "
                    f"dilation={dilation}"
                )
        self.bias, self.init = bool(bias), init
        kh, kw = self.kernel_size
        self.add_weight_and_bias((in_channels, out_channels, kh, kw), out_channels * kh * kw,
                                 in_channels * kh * kw, bias, init, out_channels)  # fmt: skip

    def output_size(self, h, w):
        """(OH, OW) for an (h, w) input."""
        return tuple(
            (size - 1) * s - 2 * p + d * (k - 1) + extra + 1
            for size, s, p, d, k, extra in zip(
                (h, w), self.stride, self.padding, self.dilation, self.kernel_size,
                self.output_padding,
            )
        )  # fmt: skip

    def geometry(self):
        """The kernels' stride_h, stride_w, pad_h, pad_w, dil_h, dil_w: the convolution's."""
        return (*self.stride, *self.padding, *self.dilation)

    def wide_shape(self, x_shape, y_shape):
        """With stride 1, the image (N, C_out, Hp, Wp) of the kernels' wide layout that y is cut
        from at (pad_h, pad_w): as tall as the filters reach from the input's rows,
        H + dil·(KH − 1), and as y from the padding on (likewise wide); None with a stride."""
        if self.stride != (1, 1):
            return None
        (n, _, h, w), (oh, ow) = x_shape, y_shape[2:]
        (kh, kw), (dh, dw), (ph, pw) = self.kernel_size, self.dilation, self.padding
        return (
            n,
            self.out_channels,
            max(h + dh * (kh - 1), ph + oh),
            max(w + dw * (kw - 1), pw + ow),
        )

    def padded(self, x_shape, y_shape):
        """The kernels' padded y (forward) or dy (backward), one buffer: the wide image where y
        is only part of it, else an empty array (the kernels write y, or read dy, itself)."""
        shape = self.wide_shape(x_shape, y_shape)
        if shape is not None and (shape != y_shape or self.padding != (0, 0)):
            return self.buffer("padded", shape)
        return self.buffer("padded (none)", (0, 0, 0, 0))

    def work(self, x, y_shape):
        """The kernels' scratch cols: (S, C_out·KH·KW, M·H·R) and rows: (S, C_in, M·H·R) for
        input x, R the wide image's width with stride 1, else W, shaped as the backend's plan
        says for the convolution with this weight (``conv2d_scratch_shapes``): forward's dcols
        and rows, and backward's for that convolution's forward and weight gradient."""
        wide = self.wide_shape(x.shape, y_shape)
        columns = x.shape[2] * (x.shape[3] if wide is None else wide[3])
        shapes = self.backend.plan.conv2d_scratch_shapes(x, self.params["weight"], columns)
        return self.buffer("cols", shapes[0]), self.buffer("rows", shapes[1])

    def forward(self, x):
        x = image_input(self, x)
        n, _, h, w = x.shape
        oh, ow = self.output_size(h, w)
        if oh < 1 or ow < 1:
            raise self.error(
                f"the {h}×{w} input gives an output of {oh}×{ow}: padding {self.padding} takes "
                f"more than the transposed convolution spreads"
            )
        y = self.buffer("y", (n, self.out_channels, oh, ow))
        cols, rows = self.work(x, y.shape)
        bias = self.bias_and_grad(self.out_channels)[0]
        self.kernels.conv_transpose2d_forward(
            x, self.params["weight"], bias, *self.geometry(), rows, cols,
            self.padded(x.shape, y.shape), y,
        )  # fmt: skip
        self.saved["x"], self.saved["y_shape"] = x, y.shape
        return y

    def backward(self, dy, need_dx=True):
        x, y_shape = self.saved_for_backward("x", "y_shape")
        dy = self.as_grad(dy, y_shape)
        weight, geometry = self.params["weight"], self.geometry()
        cols, rows = self.work(x, y_shape)
        dyp, dx = self.padded(x.shape, y_shape), self.buffer("dx", x.shape)
        no_activation = (0, self.dtype.type(0))
        # dx = W ⋆ dy, the convolution's forward; it also pads dy into dyp, which the weight
        # gradient reads, so it runs even when dx is not asked for
        self.kernels.conv2d_forward(
            dy, weight, self.zero_vector(self.in_channels), *no_activation, *geometry, dyp,
            cols, rows, dx,
        )  # fmt: skip
        if self.frozen:  # dx only: nobody wants a frozen layer's weight gradient
            return dx if need_dx else None
        # dW: that convolution's weight gradient, x the gradient of its output (its bias
        # gradient, Σ x, goes to a scratch vector)
        self.kernels.conv2d_backward(
            dy, dyp, weight, x, *no_activation, x, *geometry, cols, rows, cols,
            self.buffer("no dxp", (0, 0, 0, 0)), dx, self.grads["weight"],
            self.buffer("unused input sums", (self.in_channels,)), False,
        )  # fmt: skip
        self.kernels.conv_transpose2d_bias_backward(dy, self.bias_and_grad(self.out_channels)[1])
        return dx if need_dx else None

    def config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "dilation": list(self.dilation),
            "bias": self.bias,
            "init": self.init,
        }

    def __repr__(self):
        def short(v):  # 2 for (2, 2), (1, 2) as it is
            return v[0] if v[0] == v[1] else v

        extras = [
            f"{name}={short(value)}"
            for name, value, default in (
                ("stride", self.stride, (1, 1)),
                ("padding", self.padding, (0, 0)),
                ("output_padding", self.output_padding, (0, 0)),
                ("dilation", self.dilation, (1, 1)),
            )
            if value != default
        ]
        kh, kw = self.kernel_size
        parts = [f"{self.in_channels}→{self.out_channels}", f"{kh}×{kw}", *extras]
        return f"ConvTranspose2d({', '.join(parts)})"
