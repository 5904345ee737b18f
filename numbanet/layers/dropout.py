"""Dropout: in training, zero a random fraction p of the activations and scale up the rest."""

import numpy as np

from numbanet import rng
from numbanet.layers.base import Layer, View


def drop(layer, x, p, key=""):
    """(y, mask): inverted dropout of x with probability p into ``layer``'s buffers "<key>y" and
    "<key>mask", the mask drawn by the kernel from a fresh 64-bit seed of numbanet's generator.
    What Dropout does, and what a layer that drops inside itself (attention weights) calls."""
    y = layer.buffer(key + "y", x.shape)
    mask = layer.buffer(key + "mask", x.shape, np.uint8)
    seed = rng.generator().integers(2**64, dtype=np.uint64)
    layer.kernels.dropout_forward(
        x.reshape(-1), layer.dtype.type(p), seed, y.reshape(-1), mask.reshape(-1)
    )
    return y, mask


class Dropout(Layer):
    """Inverted dropout, as torch.nn.Dropout: each element is kept with probability 1 − p and
    divided by 1 − p, so the expected output equals the input and evaluation is the identity.

    y = x · m / (1 − p), m ~ Bernoulli(1 − p) per element (training); y = x (evaluation)
    Input shape:  any
    Output shape: the input's
    Each forward draws a 64-bit seed from numbanet's generator (``numbanet.seed`` makes masks
    reproducible, and rewinding a step replays its mask); the kernels derive the mask from it,
    the same on the CPU and the GPU (``kernels/cpu/dropout.py``). The mask is kept in
    ``saved["mask"]`` (uint8, 1 = kept).
    """

    formula = {
        "forward": "y = x·m/(1 − p),  m ~ Bernoulli(1 − p)   (eval: y = x)",
        "backward": "dx = dy·m/(1 − p)",
    }

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p (the probability to drop) must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        x = self.as_input(x)
        self.saved["x_shape"] = x.shape
        if not self.training or self.p == 0:
            self.saved.pop("mask", None)  # nothing dropped: backward passes dy through
            return x
        y, mask = drop(self, x, self.p)
        self.saved["mask"] = mask
        return y

    def backward(self, dy, need_dx=True):
        (shape,) = self.saved_for_backward("x_shape")
        dy = self.as_grad(dy, shape)
        if "mask" not in self.saved:
            return dy
        dx = self.buffer("dx", shape)
        self.kernels.dropout_backward(
            self.saved["mask"].reshape(-1), self.dtype.type(self.p), dy.reshape(-1), dx.reshape(-1)
        )
        return dx

    def views(self, phase, tensors):
        """Beside the forward pass, the mask that was drawn (1 = kept)."""
        views = super().views(phase, tensors)
        if phase == "forward" and "mask" in self.saved:
            views.append(View("dropout mask (1 = kept)", self.backend.to_host(self.saved["mask"])))
        return views

    def config(self):
        return {"p": self.p}

    def __repr__(self):
        return f"Dropout(p={self.p:g})"
