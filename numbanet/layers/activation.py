"""Activation layers: the nonlinearities between the linear maps.

Each layer names the kernels that hold its math (``kernels/cpu/activation.py``) and whether
backward needs the input x (ReLU: the gradient depends on the sign of x) or the output y
(sigmoid, tanh, softmax: the derivative is cheapest written in terms of y).
"""

import numpy as np

from numbanet.kernels.codes import GELU_FORMS
from numbanet.layers.base import Layer, View


class _Activation(Layer):
    """Shared plumbing: run ``<kernel>_forward`` / ``<kernel>_backward`` on flat or row views."""

    kernel = ""  # kernel family name, e.g. "relu" -> relu_forward, relu_backward
    saves = "x"  # "x" or "y": what backward is written in terms of
    rows = False  # True: the kernel works on rows (R, C) of the last dim (softmax)

    def scalars(self):
        """Extra scalar arguments of the kernels (LeakyReLU's slope)."""
        return ()

    def _view(self, a):
        return a.reshape(-1, a.shape[-1]) if self.rows else a.reshape(-1)

    def forward(self, x):
        x = self.as_input(x)
        if self.rows and (x.ndim == 0 or x.shape[-1] == 0):
            raise self.error(
                f"expected input with at least one class in its last dim, got {x.shape}"
            )
        y = self.buffer("y", x.shape)
        getattr(self.kernels, self.kernel + "_forward")(
            self._view(x), *self.scalars(), self._view(y)
        )
        self.saved["x"], self.saved["y"] = x, y
        return y

    def backward(self, dy, need_dx=True):
        (kept,) = self.saved_for_backward(self.saves)
        dy = self.as_grad(dy, kept.shape)
        dx = self.buffer("dx", kept.shape)
        getattr(self.kernels, self.kernel + "_backward")(
            self._view(kept), *self.scalars(), self._view(dy), self._view(dx)
        )
        return dx

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    """Rectified linear unit: y = max(x, 0); ∂y/∂x = 1 if x > 0 else 0.
    Input: any shape. Output: same shape.
    """

    kernel, saves = "relu", "x"
    formula = {"forward": "y = max(x, 0)", "backward": "dx = dy · [x > 0]"}

    def views(self, phase, tensors):
        """Beside the backward pass, the mask [x > 0] that dy goes through: dx = dy · mask
        (1 where x is NaN too, as the kernel: a NaN passes on)."""
        views = super().views(phase, tensors)
        if phase == "backward" and "dy" in tensors:
            x = self.backend.to_host(self.saved["x"])
            mask = View("mask [x > 0]", (~(x <= 0)).astype(np.float32), options={"ylabel": "sample"})
            views.insert(1, mask)
            for view in views:
                if view.title == "dx":
                    view.title = "dx = dy · mask"
        return views


class LeakyReLU(_Activation):
    """Leaky ReLU: y = x if x > 0 else slope·x, so negative inputs still pass a gradient.
    Input: any shape. Output: same shape.
    """

    kernel, saves = "leaky_relu", "x"
    formula = {"forward": "y = x if x > 0 else α·x", "backward": "dx = dy if x > 0 else α·dy"}

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def scalars(self):
        return (self.negative_slope,)

    def config(self):
        return {"negative_slope": self.negative_slope}

    def __repr__(self):
        return f"LeakyReLU({self.negative_slope:g})"


class Sigmoid(_Activation):
    """Logistic sigmoid: y = 1 / (1 + e^-x); ∂y/∂x = y (1 - y).
    Input: any shape. Output: same shape, values in (0, 1).
    """

    kernel, saves = "sigmoid", "y"
    formula = {"forward": "y = 1 / (1 + e⁻ˣ)", "backward": "dx = dy · y·(1 − y)"}


class Tanh(_Activation):
    """Hyperbolic tangent: y = tanh(x); ∂y/∂x = 1 - y².
    Input: any shape. Output: same shape, values in (-1, 1).
    """

    kernel, saves = "tanh", "y"
    formula = {"forward": "y = tanh(x)", "backward": "dx = dy · (1 − y²)"}


class GELU(_Activation):
    """Gaussian error linear unit, as torch.nn.GELU: y = x·Φ(x), Φ the standard normal CDF — the
    input weighted by how likely a standard normal is to be below it (the MLP activation of
    BERT and GPT). ``approximate="none"``: Φ through erf; ``"tanh"``: GPT-2's approximation
    Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))).
    Input: any shape. Output: same shape.
    """

    kernel, saves = "gelu", "x"

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in GELU_FORMS:
            raise ValueError(
                f"GELU: approximate must be one of {sorted(GELU_FORMS)}, got {approximate!r}"
            )
        self.approximate = approximate

    @property
    def formula(self):
        if self.approximate == "tanh":
            return {
                "forward": "y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))",
                "backward": "dx = dy·(½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 0.134145x²)),  t = tanh(…)",
            }
        return {"forward": "y = x·Φ(x) = ½x(1 + erf(x/√2))", "backward": "dx = dy·(Φ(x) + x·φ(x))"}

    def scalars(self):
        return (GELU_FORMS[self.approximate],)

    def config(self):
        return {"approximate": self.approximate}

    def __repr__(self):
        return "GELU()" if self.approximate == "none" else f"GELU(approximate={self.approximate!r})"


class _RowActivation(_Activation):
    rows = True

    def __init__(self, dim=-1):
        super().__init__()
        if dim != -1:
            raise ValueError(
                f"{type(self).__name__}: only dim=-1 (the last dim) is supported, got {dim}"
            )
        self.dim = dim

    def config(self):
        return {"dim": self.dim}


class Softmax(_RowActivation):
    """Softmax over the last dim: y_c = e^x_c / Σₖ e^x_k; dx = y (dy - Σ dy·y).
    Input: (..., C). Output: same shape, each row sums to 1.
    For classification, feed logits to CrossEntropyLoss instead (it fuses the softmax).
    """

    kernel, saves = "softmax", "y"
    formula = {"forward": "y_c = e^x_c / Σₖ e^x_k", "backward": "dx = y · (dy − Σ dy·y)"}


class LogSoftmax(_RowActivation):
    """Log-softmax over the last dim: y_c = x_c - log Σₖ e^x_k (stable: no log of 0).
    Input: (..., C). Output: same shape.
    """

    kernel, saves = "log_softmax", "y"
    formula = {"forward": "y_c = x_c − log Σₖ e^x_k", "backward": "dx = dy − e^y · Σ dy"}
