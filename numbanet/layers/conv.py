"""The 2-D convolution layer."""

from numbanet.layers.base import Layer
from numbanet.layers.fused import FusedActivation


def image_input(layer, x):
    """x as an (N, in_channels, H, W) array on the layer's device, or an error that says so."""
    x = layer.as_input(x)
    layer.check_ndim(x, 4, f"(N, {layer.in_channels}, H, W)")
    if x.shape[1] != layer.in_channels:
        raise layer.error(
            f"expected input of shape (N, {layer.in_channels}, H, W), got {x.shape}: "
            f"{x.shape[1]} channels instead of {layer.in_channels}"
        )
    return x


def pair(value, what, layer="Conv2d"):
    """(a, b) from an int or a 2-tuple, as torch takes kernel_size, stride, padding, dilation."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(isinstance(v, int) for v in value):
            return tuple(value)
    raise ValueError(f"{layer}: {what} must be an int or a pair of ints, got {value!r}")


class Conv2d(FusedActivation, Layer):
    """2-D convolution over NCHW images, as torch.nn.Conv2d (no groups):

    y[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, c]
    (kernels: ``conv2d_forward`` / ``conv2d_backward`` in ``kernels/cpu/conv.py``, where the
    sliding window, padding, stride, dilation and weight sharing are explained)
    Input shape:  (N, in_channels, H, W)
    Output shape: (N, out_channels, OH, OW),
                  OH = ⌊(H + pad_top + pad_bottom − dilation·(KH − 1) − 1) / stride⌋ + 1
    Params: weight (out_channels, in_channels, KH, KW), bias (out_channels,).
    padding: an int, a pair, "valid" (no padding) or "same" (output as large as the input;
    stride 1 only; an odd total pad puts the extra zero below/right, as torch does).
    activation: None, or "relu", "leaky_relu" (with ``negative_slope``), "sigmoid", "tanh"
    applied as the output is written: y = f(W ⋆ x + b) (``layers/fused.py``).
    """

    @property
    def formula(self):
        if self.activation is None:
            return {
                "forward": "y[n,o] = b[o] + Σ_c W[o,c] ⋆ x[n,c]   (a dot product per window)",
                "backward": "dW = Σ_positions dy·patch,  db = Σ dy,  dx = Σ_windows dy·W (col2im)",
            }
        return {
            "forward": f"y[n,o] = {self.activation}(b[o] + Σ_c W[o,c] ⋆ x[n,c])",
            "backward": f"dz = dy · {self.activation}′ (from y);  dW = Σ_positions dz·patch,  "
            "db = Σ dz,  dx = Σ_windows dz·W",
        }

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
        bias=True, init="torch", activation=None, negative_slope=0.01,
    ):  # fmt: skip
        super().__init__()
        self.set_activation(activation, negative_slope)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"Conv2d: in_channels and out_channels must be >= 1, "
                f"got {in_channels} and {out_channels}"
            )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError(
                f"Conv2d: kernel_size, stride and dilation must be >= 1, got "
                f"{self.kernel_size}, {self.stride}, {self.dilation}"
            )
        if padding == "same" and self.stride != (1, 1):
            raise ValueError(f"Conv2d: padding='same' needs stride 1 (as torch), got {stride}")
        self.padding = padding if padding in ("same", "valid") else pair(padding, "padding")
        if isinstance(self.padding, tuple) and min(self.padding) < 0:
            raise ValueError(f"Conv2d: padding must be >= 0, got {padding}")
        self.bias, self.init = bool(bias), init
        kh, kw = self.kernel_size
        fan_in, fan_out = in_channels * kh * kw, out_channels * kh * kw
        self.add_weight_and_bias((out_channels, in_channels, kh, kw), fan_in, fan_out, bias, init)

    def pads(self):
        """((top, bottom), (left, right)) zeros around the image."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            return tuple((t // 2, t - t // 2) for t in totals)
        return tuple((p, p) for p in self.padding)

    def output_size(self, h, w):
        """(OH, OW) for an (h, w) image."""
        return tuple(
            (size + sum(pad) - d * (k - 1) - 1) // s + 1
            for size, pad, d, k, s in zip(
                (h, w), self.pads(), self.dilation, self.kernel_size, self.stride
            )
        )

    def forward(self, x):
        x = image_input(self, x)
        n, _, h, w = x.shape
        oh, ow = self.output_size(h, w)
        if oh < 1 or ow < 1:
            (top, bottom), (left, right) = self.pads()
            raise self.error(
                f"the {h}×{w} image (padded to {h + top + bottom}×{w + left + right}) is "
                f"smaller than the {self.kernel_size[0]}×{self.kernel_size[1]} kernel with "
                f"dilation {self.dilation}"
            )
        y = self.buffer("y", (n, self.out_channels, oh, ow))
        xp = self.padded("xp", x)
        weight, bias = self.params["weight"], self.bias_and_grad()[0]
        self.kernels.conv2d_forward(
            x, weight, bias, *self.epilogue(), *self.geometry(), xp, *self.work(x, oh), y
        )
        self.saved["x"], self.saved["xp"], self.saved["y"] = x, xp, y
        return y

    def work(self, x, oh):
        """The kernels' scratch arrays cols and rows for input x, shaped as the backend's plan
        says (``conv2d_scratch_shapes``: on the CPU, one pair per thread, each holding a chunk
        of images). Shared by forward and backward, which rebuilds cols chunk by chunk."""
        columns = oh * self.row_width(x.shape)
        shapes = self.backend.plan.conv2d_scratch_shapes(x, self.params["weight"], columns)
        return self.buffer("cols", shapes[0]), self.buffer("rows", shapes[1])

    def wide(self):
        """Stride 1 uses the kernels' wide column layout (``kernels/cpu/conv.py``)."""
        return self.stride == (1, 1)

    def padded_shape(self, x_shape):
        """(N, C, Hp, Wp): x with the padding around it."""
        (top, bottom), (left, right) = self.pads()
        n, c, h, w = x_shape
        return n, c, h + top + bottom, w + left + right

    def row_width(self, x_shape):
        """Columns of cols per output row: the padded width Wp in the wide layout, else OW."""
        if self.wide():
            return self.padded_shape(x_shape)[3]
        return self.output_size(*x_shape[2:])[1]

    def padded(self, key, x):
        """The kernels' padded copy of an input-shaped array (a buffer) in the wide layout with
        padding; else an empty array (the kernels then read x itself)."""
        shape = self.padded_shape(x.shape)
        if self.wide() and shape != x.shape:
            return self.buffer(key, shape)
        return self.buffer(key + " (none)", (0, 0, 0, 0))

    def geometry(self):
        """The kernels' stride_h, stride_w, pad_h, pad_w (top, left), dil_h, dil_w."""
        (top, _), (left, _) = self.pads()
        return (*self.stride, top, left, *self.dilation)

    def backward(self, dy, need_dx=True):
        x, xp, y = self.saved_for_backward("x", "xp", "y")
        dy = self.as_grad(dy, y.shape)
        dx = self.buffer("dx", x.shape)
        cols, rows = self.work(x, y.shape[2])
        work = cols, rows, self.buffer("dcols", cols.shape), self.padded("dxp", dx), dx
        inputs = x, xp, self.params["weight"], y, *self.epilogue(), dy, *self.geometry()
        if not self.frozen:
            grads = self.grads["weight"], self.bias_and_grad()[1]
            self.kernels.conv2d_backward(*inputs, *work, *grads, need_dx)
        elif need_dx:  # dx only: nobody wants a frozen layer's weight gradient
            self.kernels.conv2d_input_grad(*inputs, *work)
        return dx if need_dx else None

    def config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "dilation": list(self.dilation),
            "bias": self.bias,
            "init": self.init,
        } | self.activation_config()

    def __repr__(self):
        def short(v):  # 2 for (2, 2), (1, 2) as it is
            return v[0] if isinstance(v, tuple) and v[0] == v[1] else v

        extras = [f"stride={short(self.stride)}"] if self.stride != (1, 1) else []
        if self.padding not in ((0, 0), "valid"):
            extras.append(f"padding={short(self.padding)!r}")
        if self.dilation != (1, 1):
            extras.append(f"dilation={short(self.dilation)}")
        kh, kw = self.kernel_size
        parts = [f"{self.in_channels}→{self.out_channels}", f"{kh}×{kw}", *extras]
        return f"Conv2d({', '.join(parts)}{self.activation_suffix()})"
