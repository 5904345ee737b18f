"""Normalisation layers: values standardised, then scaled and shifted by learned γ and β.

Batch normalisation standardises each channel by its batch statistics (running statistics stand
in for the batch's at evaluation); BatchNorm1d and BatchNorm2d differ only in the input shapes
they take: both hand the kernels (``kernels/cpu/norm.py``) an (N, C, L) view, statistics per
channel over N·L elements. Layer normalisation standardises each sample's (each token's)
features by their own statistics, the same in training and evaluation
(``kernels/cpu/layernorm.py``).
"""

import math

import numpy as np

from numbanet.layers.base import Layer, View


def unit_weight_and_zero_bias(layer, size):
    """γ = 1 and β = 0, (size,) arrays on the layer's device made once: what the kernels take
    for a layer without affine params."""
    for key, value in (("unit weight", 1), ("zero bias", 0)):
        if key not in layer._buffers:
            host = np.full(size, value, layer.dtype)
            layer._buffers[key] = layer.backend.from_host(host, layer.dtype)
    return layer._buffers["unit weight"], layer._buffers["zero bias"]


class _BatchNorm(Layer):
    """Shared plumbing of BatchNorm1d and BatchNorm2d.

    ``saved``: x, and the mean μ and inv_std 1/√(σ² + ε) per channel that forward normalised
    with (the batch's in training, the running statistics in evaluation).
    momentum=None (torch's cumulative average) is not supported.
    """

    layouts = {}  # input rank -> its layout in errors, e.g. {2: "(N, {C})"}

    formula = {
        "forward": "y = γ·(x − μ)/√(σ² + ε) + β   (μ, σ² of the batch; eval: running μ, σ²)",
        "backward": "dβ = Σdy,  dγ = Σdy·x̂,  dx = γ/(M·σ)·(M·dy − dβ − x̂·dγ)   (eval: γ·dy/σ)",
    }

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        kind = type(self).__name__
        if int(num_features) < 1:
            raise ValueError(f"{kind}: num_features must be >= 1, got {num_features}")
        if momentum is None:
            raise ValueError(
                f"{kind}: momentum=None (a cumulative average of every batch) is not supported; "
                "give a number in [0, 1] such as the default 0.1"
            )
        if not 0 <= momentum <= 1 or not eps > 0:
            raise ValueError(
                f"{kind}: expected momentum in [0, 1] and eps > 0, got {momentum} and {eps}"
            )
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        channels = self.num_features
        if self.affine:
            self.params["weight"] = np.ones(channels, self.dtype)
            self.params["bias"] = np.zeros(channels, self.dtype)
            self.grads = {name: np.zeros(channels, self.dtype) for name in self.params}
        if self.track_running_stats:
            self.state["running_mean"] = np.zeros(channels, self.dtype)
            self.state["running_var"] = np.ones(channels, self.dtype)
            self.state["num_batches_tracked"] = np.zeros((), np.int64)
        self.used_batch_stats = True  # what the last forward normalised with (for backward)

    def _channels_view(self, x):
        """x as (N, C, L), after checking its rank and channel count."""
        if x.ndim not in self.layouts:
            expected = " or ".join(s.format(C=self.num_features) for s in self.layouts.values())
            raise self.error(f"expected input of shape {expected}, got {x.shape} ({x.ndim}-D)")
        if x.shape[1] != self.num_features:
            raise self.error(
                f"expected {self.num_features} channels in dim 1, got {x.shape[1]} "
                f"(input of shape {x.shape})"
            )
        return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))

    def _weight_and_bias(self):
        if self.affine:
            return self.params["weight"], self.params["bias"]
        return unit_weight_and_zero_bias(self, self.num_features)

    def _running_stats(self):
        """running_mean, running_var and the (1,) count the kernels update; without running
        statistics, scratch arrays the kernels never touch (update_running is False)."""
        if self.track_running_stats:
            count = self.state["num_batches_tracked"].reshape(1)
            return self.state["running_mean"], self.state["running_var"], count
        channels = (self.num_features,)
        unused = self.buffer("unused running stat", channels)
        return unused, unused, self.buffer("unused count", (1,), np.int64)

    def forward(self, x):
        x = self.as_input(x)
        view = self._channels_view(x)
        n, channels, length = view.shape
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats and n * length < 2:
            raise self.error(
                f"expected more than 1 value per channel to take batch statistics, got input of "
                f"shape {x.shape}: use a larger batch, or model.eval() for the running statistics"
            )
        y = self.buffer("y", x.shape)
        mean = self.buffer("mean", (channels,))
        inv_std = self.buffer("inv_std", (channels,))
        self.kernels.batch_norm_forward(
            view,
            *self._weight_and_bias(),
            *self._running_stats(),
            use_batch_stats,
            self.training and self.track_running_stats,
            self.dtype.type(self.momentum),
            self.dtype.type(self.eps),
            y.reshape(view.shape),
            mean,
            inv_std,
        )
        self.used_batch_stats = use_batch_stats
        self.saved.update(x=x, mean=mean, inv_std=inv_std)
        return y

    def backward(self, dy, need_dx=True):
        x, mean, inv_std = self.saved_for_backward("x", "mean", "inv_std")
        dy = self.as_grad(dy, x.shape)
        view = self._channels_view(x)
        dx = self.buffer("dx", x.shape)
        channels = (self.num_features,)
        if self.affine:
            dweight, dbias = self.grads["weight"], self.grads["bias"]
        else:
            dweight, dbias = (
                self.buffer("unused dweight", channels),
                self.buffer("unused dbias", channels),
            )
        self.kernels.batch_norm_backward(
            view,
            self._weight_and_bias()[0],
            mean,
            inv_std,
            dy.reshape(view.shape),
            self.used_batch_stats,
            dx.reshape(view.shape),
            dweight,
            dbias,
            need_dx,
        )
        return dx if need_dx else None

    def config(self):
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
        }

    def __repr__(self):
        defaults = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
        options = [
            f"{k}={v}" for k, v in self.config().items() if k in defaults and v != defaults[k]
        ]
        return f"{type(self).__name__}({', '.join([str(self.num_features), *options])})"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features (after a Linear layer) or of channels of sequences.

    y = γ (x − μ) / √(σ² + ε) + β per feature c, μ and σ² (biased) over the batch (and L) in
    training, the running statistics in evaluation; running ← (1 − momentum) running +
    momentum · batch (the variance unbiased), as torch.nn.BatchNorm1d.
    Input shape:  (N, C) or (N, C, L)
    Output shape: the input's
    Params: weight γ (C,) = 1, bias β (C,) = 0 (if affine). State: running_mean (C,) = 0,
    running_var (C,) = 1, num_batches_tracked () int64 (if track_running_stats).
    """

    layouts = {2: "(N, {C})", 3: "(N, {C}, L)"}


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of the channels of images (after a Conv2d layer).

    y = γ (x − μ) / √(σ² + ε) + β per channel c, μ and σ² (biased) over (N, H, W) in
    training, the running statistics in evaluation; running ← (1 − momentum) running +
    momentum · batch (the variance unbiased), as torch.nn.BatchNorm2d.
    Input shape:  (N, C, H, W)
    Output shape: (N, C, H, W)
    Params: weight γ (C,) = 1, bias β (C,) = 0 (if affine). State: running_mean (C,) = 0,
    running_var (C,) = 1, num_batches_tracked () int64 (if track_running_stats).
    """

    layouts = {4: "(N, {C}, H, W)"}


class LayerNorm(Layer):
    """Layer normalisation, as torch.nn.LayerNorm over the last dim: each row (a token's, or a
    sample's, features) standardised by its own mean and variance, so it needs no batch and
    acts the same in training and evaluation (the normalisation of Transformers).

    y = γ (x − μ) / √(σ² + ε) + β, μ and σ² (biased) over the last dim of each row
    (kernels: ``layer_norm_forward`` / ``layer_norm_backward``, one pass per row)
    Input shape:  (..., D), D = normalized_shape
    Output shape: the input's
    Params: weight γ (D,) = 1, bias β (D,) = 0 (if elementwise_affine).
    ``saved``: x as rows (R, D), and per row its mean and rstd = 1/√(σ² + ε).
    """

    formula = {
        "forward": "y = γ·(x − μ)/√(σ² + ε) + β   (μ, σ² of each row, over its D features)",
        "backward": "dβ = Σ dy,  dγ = Σ dy·x̂,  dx = (g − mean(g) − x̂·mean(g·x̂))/σ,  g = γ·dy",
    }

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        shape = normalized_shape
        if isinstance(shape, (tuple, list)) and len(shape) == 1:
            shape = shape[0]  # torch's (D,) for the last dim
        if isinstance(shape, (tuple, list)) or int(shape) < 1 or not eps > 0:
            raise ValueError(
                f"LayerNorm: expected normalized_shape an int >= 1 (the last dim; several dims "
                f"are not supported) and eps > 0, got {normalized_shape!r} and {eps}"
            )
        self.normalized_shape, self.eps = int(shape), float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.params["weight"] = np.ones(self.normalized_shape, self.dtype)
            self.params["bias"] = np.zeros(self.normalized_shape, self.dtype)
            self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}

    def _rows(self, x):
        """x as rows (R, D), after checking its last dim."""
        width = self.normalized_shape
        if x.ndim < 1 or x.shape[x.ndim - 1] != width:
            raise self.error(
                f"expected input of shape (..., {width}) ({width} features in the last dim), "
                f"got {x.shape}"
            )
        return x.reshape(-1, width)

    def _weight_and_bias(self):
        if self.elementwise_affine:
            return self.params["weight"], self.params["bias"]
        return unit_weight_and_zero_bias(self, self.normalized_shape)

    def forward(self, x):
        x = self.as_input(x)
        rows = self._rows(x)
        y = self.buffer("y", rows.shape)
        mean, rstd = self.buffer("mean", rows.shape[:1]), self.buffer("rstd", rows.shape[:1])
        self.kernels.layer_norm_forward(
            rows, *self._weight_and_bias(), self.dtype.type(self.eps), y, mean, rstd
        )
        self.saved.update(x=rows, mean=mean, rstd=rstd, x_shape=x.shape)
        return y.reshape(x.shape)

    def backward(self, dy, need_dx=True):
        rows, mean, rstd, shape = self.saved_for_backward("x", "mean", "rstd", "x_shape")
        dy = self.as_grad(dy, shape).reshape(rows.shape)
        dx = self.buffer("dx", rows.shape)
        size = (self.normalized_shape,)
        if self.elementwise_affine:
            dweight, dbias = self.grads["weight"], self.grads["bias"]
        else:
            dweight, dbias = self.buffer("unused dweight", size), self.buffer("unused dbias", size)
        self.kernels.layer_norm_backward(
            rows, self._weight_and_bias()[0], mean, rstd, dy, dx, dweight, dbias, need_dx
        )
        return dx.reshape(shape) if need_dx else None

    def views(self, phase, tensors):
        """Beside the forward pass, each row's mean and standard deviation before the norm and
        after it (before γ and β: 0 and 1), for the first sample's rows."""
        views = super().views(phase, tensors)
        if phase == "forward" and "input" in tensors:
            x, y = tensors["input"], tensors["output"]
            first = 0 if x.ndim > 2 else slice(None)  # (N, T, D): the first sequence's rows
            before = x.reshape(len(x), -1, self.normalized_shape)[first].reshape(-1, x.shape[-1])
            after = y.reshape(len(y), -1, self.normalized_shape)[first].reshape(-1, y.shape[-1])
            views.append(View("per row: mean and std", {
                "mean before": before.mean(axis=1), "std before": before.std(axis=1),
                "mean after": after.mean(axis=1), "std after": after.std(axis=1),
            }, "curves"))  # fmt: skip
        return views

    def config(self):
        return {
            "normalized_shape": self.normalized_shape,
            "eps": self.eps,
            "elementwise_affine": self.elementwise_affine,
        }

    def __repr__(self):
        options = "" if self.eps == 1e-5 else f", eps={self.eps:g}"
        options += "" if self.elementwise_affine else ", elementwise_affine=False"
        return f"LayerNorm({self.normalized_shape}{options})"
