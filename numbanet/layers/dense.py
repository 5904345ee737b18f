"""The fully connected layer."""

from numbanet.layers.base import Layer
from numbanet.layers.fused import FusedActivation


class Linear(FusedActivation, Layer):
    """Fully connected layer: every output is a weighted sum of every input.

    y = x Wᵀ + b          (kernels: ``dense_forward`` / ``dense_backward``)
    Input shape:  (N, in_features), or (N, ..., in_features): the same weights at every
                  position of the leading dims (each time step of a sequence), as torch does
    Output shape: (N, out_features), or (N, ..., out_features)
    Params: weight (out_features, in_features), bias (out_features,), as torch.nn.Linear.
    ``init``: "torch" (default, as torch), "xavier" or "kaiming" (see ``layers/init.py``).
    ``activation``: None, or "relu", "leaky_relu" (with ``negative_slope``), "sigmoid", "tanh"
    fused into the layer: y = f(x Wᵀ + b) in one kernel pass (``layers/fused.py``).
    """

    def __init__(
        self, in_features, out_features, bias=True, init="torch", activation=None,
        negative_slope=0.01,
    ):  # fmt: skip
        super().__init__()
        self.set_activation(activation, negative_slope)
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear: in_features and out_features must be >= 1, "
                f"got {in_features} and {out_features}"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.bias, self.init = bool(bias), init
        self.add_weight_and_bias(
            (out_features, in_features), in_features, out_features, self.bias, init
        )

    @property
    def formula(self):
        if self.activation is None:
            return {"forward": "y = x·Wᵀ + b", "backward": "dW = dyᵀ·x,  db = Σₙ dy,  dx = dy·W"}
        return {
            "forward": f"y = {self.activation}(x·Wᵀ + b)",
            "backward": f"dz = dy · {self.activation}′ (from y);  dW = dzᵀ·x,  db = Σₙ dz,  "
            "dx = dz·W",
        }

    def forward(self, x):
        x = self.as_input(x)
        layout = f"(N, {self.in_features}) or (N, ..., {self.in_features})"
        if x.ndim < 2:
            raise self.error(f"expected input of shape {layout}, got {x.shape} ({x.ndim}-D)")
        *_, features = x.shape  # not shape[-1]: the CUDA simulator's shapes take no negative index
        if features != self.in_features:
            raise self.error(
                f"expected input of shape {layout}, got {x.shape}: "
                f"{features} features instead of {self.in_features}"
            )
        # the kernels see one row per position: (N, ..., in) as (N·..., in), a view
        rows = x.reshape(-1, self.in_features)
        y = self.buffer("y", (rows.shape[0], self.out_features))
        weight, bias = self.params["weight"], self.bias_and_grad()[0]
        self.kernels.dense_forward(rows, weight, bias, *self.epilogue(), y)
        self.saved["x"], self.saved["y"] = rows, y
        self.saved["x_shape"] = x.shape
        return y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dy, need_dx=True):
        x, y, x_shape = self.saved_for_backward("x", "y", "x_shape")
        dy = self.as_grad(dy, (*x_shape[:-1], self.out_features)).reshape(y.shape)
        if self.activation is not None:
            dy = self._through_activation(y, dy)
        dx = self.buffer("dx", x.shape)
        weight, grads = self.params["weight"], (self.grads["weight"], self.bias_and_grad()[1])
        self.dense_gradients(x, weight, dy, dx, *grads, need_dx)
        return dx.reshape(x_shape) if need_dx else None

    def _through_activation(self, y, dy):
        """dz = dy · f′(z), by the activation's own backward kernel, written in terms of the
        output y: sigmoid and tanh's are; ReLU's and leaky ReLU's test z > 0, which is y > 0."""
        dz = self.buffer("dz", y.shape)
        scalars = (self.dtype.type(self.negative_slope),) if self.activation == "leaky_relu" else ()
        backward = getattr(self.kernels, self.activation + "_backward")
        backward(y.reshape(-1), *scalars, dy.reshape(-1), dz.reshape(-1))
        return dz

    def config(self):
        config = {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "init": self.init,
        }
        return config | self.activation_config()

    def __repr__(self):
        return f"Linear({self.in_features}→{self.out_features}{self.activation_suffix()})"
