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


class LastTimeStep(Layer):
    """The last step of a sequence: what a many-to-one model (a sequence classifier) reads
    after its recurrent layer. Backward puts dy at the last step and zeros at the others.

    y = x[:, T − 1] (batch_first) or x[T − 1]      (kernels: ``last_step_forward`` / ``_backward``)
    Input shape:  (N, T, H) with batch_first=True (as this library's recurrent layers give),
                  (T, N, H) with batch_first=False
    Output shape: (N, H)
    """

    formula = {"forward": "y = x[:, T−1]", "backward": "dx[:, T−1] = dy,  dx[:, t < T−1] = 0"}

    def __init__(self, batch_first=True):
        super().__init__()
        self.batch_first = bool(batch_first)

    def forward(self, x):
        x = self.as_input(x)
        layout = "(N, T, H)" if self.batch_first else "(T, N, H)"
        self.check_ndim(x, 3, layout)
        if x.shape[1 if self.batch_first else 0] == 0:
            raise self.error(f"expected a sequence of at least one step {layout}, got {x.shape}")
        self.saved["x_shape"] = x.shape
        steps, y = self._steps(x), self.buffer("y", self._output_shape(x.shape))
        self.kernels.last_step_forward(steps, y.reshape(steps.shape[0], steps.shape[2]))
        return y

    def backward(self, dy, need_dx=True):
        (shape,) = self.saved_for_backward("x_shape")
        dy = self.as_grad(dy, self._output_shape(shape))
        if not need_dx:
            return None
        dx = self.buffer("dx", shape)
        steps = self._steps(dx)
        self.kernels.last_step_backward(dy.reshape(steps.shape[0], steps.shape[2]), steps)
        return dx

    def _output_shape(self, shape):
        return (shape[0], shape[2]) if self.batch_first else shape[1:]

    def _steps(self, x):
        """The kernels' (B, T, F) view: (N, T, H) as it is, (T, N, H) as (1, T, N·H)."""
        return x if self.batch_first else x.reshape(1, x.shape[0], x.shape[1] * x.shape[2])

    def config(self):
        return {"batch_first": self.batch_first}

    def __repr__(self):
        return "LastTimeStep()" if self.batch_first else "LastTimeStep(batch_first=False)"
