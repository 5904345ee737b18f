"""The fully connected layer."""

import numpy as np

from numbanet import rng
from numbanet.layers.base import Layer
from numbanet.layers.init import init_weight_and_bias


class Linear(Layer):
    """Fully connected layer: every output is a weighted sum of every input.

    y = x Wᵀ + b          (kernels: ``dense_forward`` / ``dense_backward``)
    Input shape:  (N, in_features)
    Output shape: (N, out_features)
    Params: weight (out_features, in_features), bias (out_features,), as torch.nn.Linear.
    ``init``: "torch" (default, as torch), "xavier" or "kaiming" (see ``layers/init.py``).
    """

    formula = {"forward": "y = x·Wᵀ + b", "backward": "dW = dyᵀ·x,  db = Σₙ dy,  dx = dy·W"}

    def __init__(self, in_features, out_features, bias=True, init="torch"):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear: in_features and out_features must be >= 1, "
                f"got {in_features} and {out_features}"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.bias, self.init = bool(bias), init
        weight, b = init_weight_and_bias(
            init, (out_features, in_features), in_features, out_features, rng.generator()
        )
        self.params["weight"] = weight.astype(self.dtype)
        self.grads["weight"] = np.zeros_like(self.params["weight"])
        if self.bias:
            self.params["bias"] = b.astype(self.dtype)
            self.grads["bias"] = np.zeros_like(self.params["bias"])

    def _bias_and_grad(self):
        """The bias and its gradient buffer; without a bias, a zero vector and a scratch buffer."""
        if self.bias:
            return self.params["bias"], self.grads["bias"]
        if "zero_bias" not in self._buffers:
            self._buffers["zero_bias"] = self.backend.zeros((self.out_features,), self.dtype)
        return self._buffers["zero_bias"], self.buffer("unused_bias_grad", (self.out_features,))

    def forward(self, x):
        x = self.as_input(x)
        self.check_ndim(x, 2, f"(N, {self.in_features})")
        if x.shape[1] != self.in_features:
            raise self.error(
                f"expected input of shape (N, {self.in_features}), got {x.shape}: "
                f"{x.shape[1]} features instead of {self.in_features}"
            )
        y = self.buffer("y", (x.shape[0], self.out_features))
        self.kernels.dense_forward(x, self.params["weight"], self._bias_and_grad()[0], y)
        self.saved["x"] = x
        return y

    def backward(self, dy, need_dx=True):
        (x,) = self.saved_for_backward("x")
        dy = self.as_grad(dy, (x.shape[0], self.out_features))
        dx = self.buffer("dx", x.shape)
        self.kernels.dense_backward(
            x,
            self.params["weight"],
            dy,
            dx,
            self.grads["weight"],
            self._bias_and_grad()[1],
            need_dx,
        )
        return dx if need_dx else None

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "init": self.init,
        }

    def __repr__(self):
        return f"Linear({self.in_features}→{self.out_features})"
