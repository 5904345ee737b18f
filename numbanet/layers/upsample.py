"""Upsampling: images made larger by a whole factor, each pixel repeated (a decoder's way up)."""

import numbers

from numbanet.layers.base import Layer


def whole_factors(scale_factor):
    """(scale_h, scale_w) from a whole number or a pair of them (2 and 2.0 alike), or an error."""
    values = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
    if len(values) == 2 and all(
        isinstance(v, numbers.Real) and v >= 1 and float(v).is_integer() for v in values
    ):
        return int(values[0]), int(values[1])
    raise ValueError(
        f"Upsample: scale_factor must be a whole number >= 1 or a pair of them, got "
        f"{scale_factor!r} (fractional factors are not supported)"
    )


class Upsample(Layer):
    """Nearest-neighbour upsampling by whole factors, as torch.nn.Upsample(scale_factor=s,
    mode="nearest"): each pixel becomes an s_h × s_w block of copies of itself.

    y[n, c, i, j] = x[n, c, ⌊i / s_h⌋, ⌊j / s_w⌋]
    (kernels ``upsample_nearest2d_forward`` / ``_backward`` in ``kernels/cpu/upsample.py``)
    Input shape:  (N, C, H, W)
    Output shape: (N, C, H·s_h, W·s_w)
    """

    formula = {
        "forward": "y[n,c,i,j] = x[n,c,⌊i/s⌋,⌊j/s⌋]   (each pixel an s×s block)",
        "backward": "dx[n,c,h,w] = Σ dy over the block of (h, w)",
    }

    def __init__(self, scale_factor, mode="nearest"):
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"Upsample: mode must be 'nearest' (the only one here), got {mode!r}")
        self.scale_factor, self.mode = whole_factors(scale_factor), mode

    def output_shape(self, shape):
        n, c, h, w = shape
        return n, c, h * self.scale_factor[0], w * self.scale_factor[1]

    def forward(self, x):
        x = self.as_input(x)
        self.check_ndim(x, 4, "(N, C, H, W)")
        y = self.buffer("y", self.output_shape(x.shape))
        self.kernels.upsample_nearest2d_forward(x, *self.scale_factor, y)
        self.saved["x_shape"] = x.shape
        return y

    def backward(self, dy, need_dx=True):
        (shape,) = self.saved_for_backward("x_shape")
        dy = self.as_grad(dy, self.output_shape(shape))
        if not need_dx:
            return None
        dx = self.buffer("dx", shape)
        self.kernels.upsample_nearest2d_backward(dy, *self.scale_factor, dx)
        return dx

    def config(self):
        return {"scale_factor": list(self.scale_factor), "mode": self.mode}

    def __repr__(self):
        sh, sw = self.scale_factor
        return f"Upsample(scale_factor={sh if sh == sw else (sh, sw)})"
