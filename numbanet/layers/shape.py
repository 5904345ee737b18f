"""Layers that only reshape or pass data through: no math, no params."""

import math

from numbanet.layers.base import Layer


class Flatten(Layer):
    """Flattens every dim after the batch dim: (N, C, H, W) -> (N, C·H·W). A view, no copy.
    Input shape: (N, ...). Output shape: (N, product of the rest).
    """

    formula = {"forward": "y = x.reshape(N, −1)", "backward": "dx = dy.reshape(x.shape)"}

    def forward(self, x):
        x = self.as_input(x)
        if x.ndim < 1:
            raise self.error(f"expected input of shape (N, ...), got a scalar {x.shape}")
        self.saved["x_shape"] = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, dy, need_dx=True):
        (shape,) = self.saved_for_backward("x_shape")
        dy = self.as_grad(dy, (shape[0], math.prod(shape[1:])))
        return dy.reshape(shape)

    def __repr__(self):
        return "Flatten()"


class Identity(Layer):
    """y = x: a placeholder layer (e.g. an optional layer switched off)."""

    formula = {"forward": "y = x", "backward": "dx = dy"}

    def forward(self, x):
        x = self.as_input(x)
        self.saved["x_shape"] = x.shape
        return x

    def backward(self, dy, need_dx=True):
        (shape,) = self.saved_for_backward("x_shape")
        return self.as_grad(dy, shape)

    def __repr__(self):
        return "Identity()"
