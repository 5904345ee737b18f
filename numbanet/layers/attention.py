"""Multi-head self-attention: every position of a sequence reads every other (or every earlier)
position, weighted by how well its query matches their keys."""

import math

import numpy as np

from numbanet import rng
from numbanet.layers.base import Layer, View
from numbanet.layers.dropout import drop
from numbanet.layers.init import init_weight_and_bias


class MultiheadAttention(Layer):
    """Multi-head self-attention, as torch.nn.MultiheadAttention(embed_dim, num_heads,
    batch_first=True) called as ``attn(x, x, x)``.

    [Q K V] = x W_inᵀ + b_in;  per head h: O_h = softmax(Q_h K_hᵀ / √D + mask) V_h;
    y = [O_1 … O_H] W_outᵀ + b_out        (D = embed_dim / num_heads features per head)
    Kernels: ``dense_*`` for the two projections, ``heads_split_*`` to give each head its
    contiguous (T, D) blocks, ``attention_scores_*`` (Q Kᵀ), ``attention_softmax_*`` (scaled,
    masked, fused per row) and ``attention_values_*`` (P V), over all (batch, head) pairs at once.
    Input shape:  (N, T, embed_dim)
    Output shape: (N, T, embed_dim)
    Params (torch's ``state_dict`` keys): in_proj_weight (3E, E) (Xavier-uniform),
    in_proj_bias (3E,) = 0, out_proj.weight (E, E) (as a Linear's), out_proj.bias (E,) = 0;
    without ``bias``, no biases.
    ``causal``: position t attends to positions 0..t only (a decoder's self-attention, torch's
    ``is_causal=True``); the mask lives in the softmax kernel, not in a T × T array.
    ``dropout``: in training, drops attention weights with Dropout's counter-based mask.
    ``head_dim`` (ours, default embed_dim / num_heads as torch): D, for Keras's
    ``MultiHeadAttention(key_dim=...)``, whose heads may be wider; then in_proj_weight is
    (3·H·D, E) and out_proj.weight (E, H·D).
    ``saved["attention"]``: the attention weights P (N, H, T, T) of the last forward (before
    dropout), row t the weights position t gave every position.
    """

    formula = {
        "forward": "[Q K V] = x·W_inᵀ + b_in;  O_h = softmax(Q_h·K_hᵀ/√D + mask)·V_h;  "
        "y = [O_1 … O_H]·W_outᵀ + b_out",
        "backward": "dP = dO·Vᵀ, dV = Pᵀ·dO;  dS = P ⊙ (dP − Σⱼ dP ⊙ P)/√D;  dQ = dS·K, "
        "dK = dSᵀ·Q;  dx = d[Q K V]·W_in",
    }

    def __init__(
        self, embed_dim, num_heads, dropout=0.0, bias=True, causal=False, head_dim=None
    ):  # fmt: skip
        super().__init__()
        if embed_dim < 1 or num_heads < 1:
            raise ValueError(
                f"MultiheadAttention: embed_dim and num_heads must be >= 1, "
                f"got {embed_dim} and {num_heads}"
            )
        if head_dim is None and embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim {embed_dim} is not divisible by num_heads "
                f"{num_heads}: each head takes embed_dim / num_heads features (pick num_heads "
                f"among the divisors of {embed_dim})"
            )
        if not 0 <= dropout < 1 or (head_dim is not None and head_dim < 1):
            raise ValueError(
                f"MultiheadAttention: expected dropout in [0, 1) and head_dim >= 1, "
                f"got {dropout} and {head_dim}"
            )
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = int(head_dim) if head_dim is not None else embed_dim // num_heads
        self.dropout, self.bias, self.causal = float(dropout), bool(bias), bool(causal)
        self.custom_head_dim = head_dim is not None
        width, generator = self.num_heads * self.head_dim, rng.generator()
        shapes = {"in_proj_weight": (3 * width, embed_dim), "out_proj.weight": (embed_dim, width)}
        w_in, _ = init_weight_and_bias("xavier", shapes["in_proj_weight"], embed_dim, 3 * width,
                                       generator)  # fmt: skip
        w_out, _ = init_weight_and_bias("torch", shapes["out_proj.weight"], width, embed_dim,
                                        generator)  # fmt: skip
        self.params = {"in_proj_weight": w_in, "out_proj.weight": w_out}
        if self.bias:
            self.params["in_proj_bias"] = np.zeros(3 * width)
            self.params["out_proj.bias"] = np.zeros(embed_dim)
        order = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
        self.params = {k: self.params[k].astype(self.dtype) for k in order if k in self.params}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    @property
    def scale(self):
        """1/√D: keeps the scores' spread near 1 whatever D, so the softmax does not saturate."""
        return self.dtype.type(1 / math.sqrt(self.head_dim))

    def _bias(self, name):
        """(bias, its grad), or a zero vector and a scratch grad without biases."""
        if self.bias:
            return self.params[name], self.grads[name]
        size = (self.params[name.replace("bias", "weight")].shape[0],)
        zero = self._buffers.get(name)
        if zero is None:
            zero = self._buffers[name] = self.backend.zeros(size, self.dtype)
        return zero, self.buffer("unused " + name, size)

    def _pairs(self, heads, group):
        """Group ``group`` (0: Q, 1: K, 2: V) of (G, N, H, T, D) as (N·H, T, D) blocks."""
        _, n, h, t, d = heads.shape
        return heads[group].reshape(n * h, t, d)

    def forward(self, x):
        x = self.as_input(x)
        e, h, d = self.embed_dim, self.num_heads, self.head_dim
        self.check_ndim(x, 3, f"(N, T, {e})")
        n, t, features = x.shape
        if features != e or t < 1:
            raise self.error(
                f"expected input of shape (N, T, {e}) with T >= 1, got {x.shape}"
                + (f": {features} features instead of {e}" if features != e else "")
            )
        k, zero = self.kernels, self.dtype.type(0)
        rows = x.reshape(n * t, e)
        qkv = self.buffer("qkv", (n * t, 3 * h * d))
        w_in, w_out = self.params["in_proj_weight"], self.params["out_proj.weight"]
        k.dense_forward(rows, w_in, self._bias("in_proj_bias")[0], 0, zero, qkv)
        heads = self.buffer("heads", (3, n, h, t, d))
        k.heads_split_forward(qkv.reshape(n, t, 3 * h * d), heads)
        scores = self.buffer("scores", (n * h, t, t))
        k.attention_scores_forward(self._pairs(heads, 0), self._pairs(heads, 1), scores)
        p = self.buffer("attention", (n * h, t, t))
        k.attention_softmax_forward(scores, self.scale, self.causal, p)
        weights = p
        self.saved.pop("mask", None)
        if self.training and self.dropout > 0:
            weights, self.saved["mask"] = drop(self, p, self.dropout, key="dropped ")
        out = self.buffer("out", (1, n, h, t, d))
        k.attention_values_forward(weights, self._pairs(heads, 2), self._pairs(out, 0))
        merged = self.buffer("merged", (n, t, h * d))
        k.heads_split_backward(out, merged)
        y = self.buffer("y", (n * t, e))
        merged_rows = merged.reshape(n * t, h * d)
        k.dense_forward(merged_rows, w_out, self._bias("out_proj.bias")[0], 0, zero, y)
        self.saved.update(
            x=rows, heads=heads, scores=scores.reshape(n, h, t, t),
            attention=p.reshape(n, h, t, t), weights=weights, merged=merged_rows, x_shape=x.shape,
        )  # fmt: skip
        return y.reshape(n, t, e)

    def backward(self, dy, need_dx=True):
        rows, heads, p, weights, merged, shape = self.saved_for_backward(
            "x", "heads", "attention", "weights", "merged", "x_shape"
        )
        n, t, e = shape
        h, d, k = self.num_heads, self.head_dim, self.kernels
        dy = self.as_grad(dy, shape).reshape(n * t, e)
        d_merged = self.buffer("d merged", (n * t, h * d))
        w_in, w_out = self.params["in_proj_weight"], self.params["out_proj.weight"]
        self.dense_gradients(merged, w_out, dy, d_merged, self.grads["out_proj.weight"],
                             self._bias("out_proj.bias")[1], True)  # fmt: skip
        d_out = self.buffer("d out", (1, n, h, t, d))
        k.heads_split_forward(d_merged.reshape(n, t, h * d), d_out)
        d_heads = self.buffer("d heads", (3, n, h, t, d))
        d_weights = self.buffer("d weights", (n * h, t, t))
        k.attention_values_backward(weights, self._pairs(heads, 2), self._pairs(d_out, 0),
                                    d_weights, self._pairs(d_heads, 2))  # fmt: skip
        if "mask" in self.saved:  # through the dropout, in place
            flat = d_weights.reshape(-1)
            k.dropout_backward(self.saved["mask"].reshape(-1), self.dtype.type(self.dropout),
                               flat, flat)  # fmt: skip
        d_scores = self.buffer("d scores", (n * h, t, t))
        k.attention_softmax_backward(p.reshape(n * h, t, t), self.scale, d_weights, d_scores)
        k.attention_scores_backward(self._pairs(heads, 0), self._pairs(heads, 1), d_scores,
                                    self._pairs(d_heads, 0), self._pairs(d_heads, 1))  # fmt: skip
        d_qkv = self.buffer("d qkv", (n * t, 3 * h * d))
        k.heads_split_backward(d_heads, d_qkv.reshape(n, t, 3 * h * d))
        dx = self.buffer("dx", (n * t, e))
        self.dense_gradients(rows, w_in, d_qkv, dx, self.grads["in_proj_weight"],
                             self._bias("in_proj_bias")[1], need_dx)  # fmt: skip
        return dx.reshape(shape) if need_dx else None

    def views(self, phase, tensors):
        """Beside the forward pass, the attention weights of the first sequence, one query ×
        key map per head (with ``causal``, the masked future is the zero upper triangle)."""
        views = super().views(phase, tensors)
        if phase == "forward" and "attention" in self.saved:
            weights = self.backend.to_host(self.saved["attention"])[0]
            options = {"xlabel": "key position", "ylabel": "query position", "positions": True}
            views.append(View("attention, head", weights, "matrices", options))
        return views

    def config(self):
        config = {
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "bias": self.bias,
            "causal": self.causal,
        }
        return config | ({"head_dim": self.head_dim} if self.custom_head_dim else {})

    def __repr__(self):
        options = [f"head_dim={self.head_dim}"] if self.custom_head_dim else []
        options += [f"dropout={self.dropout:g}"] if self.dropout else []
        options += [] if self.bias else ["bias=False"]
        options += ["causal"] if self.causal else []
        return (
            f"MultiheadAttention({', '.join([str(self.embed_dim), str(self.num_heads), *options])})"
        )
