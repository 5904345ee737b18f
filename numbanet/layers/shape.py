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


class Unflatten(Layer):
    """Splits one dim into several, as torch.nn.Unflatten: (N, 784) -> (N, 1, 28, 28) with
    Unflatten(1, (1, 28, 28)). A view, no copy; the inverse of Flatten.
    Input shape: (..., S, ...) with S at ``dim`` (negative counts from the end).
    Output shape: (..., *sizes, ...), where the product of sizes is S; one size may be −1
    (what the others leave).
    """

    formula = {"forward": "y = x.reshape(…, *sizes, …)", "backward": "dx = dy.reshape(x.shape)"}

    def __init__(self, dim, sizes):
        super().__init__()
        self.dim, self.sizes = int(dim), tuple(int(s) for s in sizes)
        if not self.sizes or sum(s == -1 for s in self.sizes) > 1 or min(self.sizes) < -1:
            raise ValueError(
                f"Unflatten: sizes must be sizes >= 0 with at most one -1, got {sizes!r}"
            )

    def output_shape(self, shape):
        """The output's shape for an input of ``shape``, or a clear error."""
        if not -len(shape) <= self.dim < len(shape):
            raise self.error(f"expected an input with dim {self.dim}, got shape {shape}")
        dim = self.dim % len(shape)
        known = math.prod(s for s in self.sizes if s != -1)
        sizes = self.sizes
        if -1 in sizes and known and shape[dim] % known == 0:
            sizes = tuple(shape[dim] // known if s == -1 else s for s in sizes)
        if math.prod(sizes) != shape[dim] or -1 in sizes:
            raise self.error(
                f"cannot split dim {self.dim} of size {shape[dim]} (input {shape}) into "
                f"{self.sizes}: their product must be {shape[dim]}"
            )
        return (*shape[:dim], *sizes, *shape[dim + 1 :])

    def forward(self, x):
        x = self.as_input(x)
        self.saved["x_shape"] = x.shape
        return x.reshape(self.output_shape(x.shape))

    def backward(self, dy, need_dx=True):
        (shape,) = self.saved_for_backward("x_shape")
        return self.as_grad(dy, self.output_shape(shape)).reshape(shape)

    def config(self):
        return {"dim": self.dim, "sizes": list(self.sizes)}

    def __repr__(self):
        return f"Unflatten({self.dim}, {self.sizes})"


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
