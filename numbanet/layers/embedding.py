"""Embeddings: token ids in, learned vectors out (the first layer of a language model), and
position embeddings, which tell an attention layer where each token stands."""

import numpy as np

from numbanet import rng
from numbanet.backend import is_device_array, to_host
from numbanet.layers.base import Layer


class Embedding(Layer):
    """A lookup table of learned vectors, one row per token: y = W[ids], as torch.nn.Embedding.

    y[..., :] = W[ids[...]]            (kernels: ``embedding_forward`` / ``embedding_backward``)
    dW[v] = Σ of dy over the positions holding token v; no dx: ids are not differentiable, so
    backward returns None (an Embedding is a model's first layer).
    Input shape:  int64 token ids of any shape, e.g. (N, T), each in [0, num_embeddings)
    Output shape: (*input shape, embedding_dim), e.g. (N, T, embedding_dim)
    Params: weight (num_embeddings, embedding_dim), drawn from N(0, 1) as torch does.
    ``padding_idx``: a token whose row starts at zero and never learns (its gradient is 0), for
    the padding that makes sequences of different lengths one batch; None for no padding.
    """

    formula = {
        "forward": "y = W[ids]",
        "backward": "dW[v] = Σ dy over the positions of token v  (no dx: ids are integers)",
    }

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(
                f"Embedding: num_embeddings and embedding_dim must be >= 1, "
                f"got {num_embeddings} and {embedding_dim}"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be in [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx %= num_embeddings  # -1 is the last token, as in torch
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = padding_idx
        weight = rng.generator().standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.params["weight"] = weight.astype(self.dtype)
        self.grads["weight"] = np.zeros_like(self.params["weight"])

    def forward(self, x):
        ids = self._token_ids(x)
        flat = self._on_device("ids", ids.reshape(-1))
        y = self.buffer("y", (flat.shape[0], self.embedding_dim))
        self.kernels.embedding_forward(flat, self.params["weight"], y)
        self.saved["ids"] = ids
        return y.reshape(*ids.shape, self.embedding_dim)

    def backward(self, dy, need_dx=True):
        """Fills grads["weight"]; returns None (there is no gradient for integer ids)."""
        (ids,) = self.saved_for_backward("ids")
        dy = self.as_grad(dy, (*ids.shape, self.embedding_dim))
        # group the positions by token (a stable sort): each row of dW then sums its own
        # positions, with no two threads adding into one row (see kernels/cpu/embedding.py)
        flat = ids.reshape(-1)
        order = np.argsort(flat, kind="stable")
        offsets = np.zeros(self.num_embeddings + 1, np.int64)
        np.cumsum(np.bincount(flat, minlength=self.num_embeddings), out=offsets[1:])
        self.kernels.embedding_backward(
            self._on_device("order", order),
            self._on_device("offsets", offsets),
            dy.reshape(flat.shape[0], self.embedding_dim),
            -1 if self.padding_idx is None else self.padding_idx,
            self.grads["weight"],
        )
        return None

    def _token_ids(self, x):
        """x as a host int64 array of ids in [0, num_embeddings), or an error naming the layer."""
        ids = to_host(x) if is_device_array(x) else np.asarray(x)
        if ids.dtype.kind not in "iu":
            raise self.error(
                f"expected integer token ids, got dtype {ids.dtype} "
                f"(convert with .astype(np.int64))"
            )
        if ids.ndim < 1:
            raise self.error(f"expected token ids of shape (N, ...), got a scalar {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise self.error(
                f"expected token ids in [0, {self.num_embeddings - 1}] for a vocabulary of "
                f"{self.num_embeddings}, got ids in [{ids.min()}, {ids.max()}]"
            )
        return np.ascontiguousarray(ids, np.int64)

    def _on_device(self, key, host):
        """A host int64 array on the layer's device (in a buffer reused across steps)."""
        if self.backend.name == "cpu":
            return host
        device = self.buffer(key, host.shape, np.int64)
        self.backend.copy_into(device, host)
        return device

    def config(self):
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "padding_idx": self.padding_idx,
        }

    def __repr__(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{padding})"


POSITION_KINDS = ("learned", "sinusoidal")


def sinusoidal_table(num_positions, dim):
    """The fixed positions of "Attention Is All You Need": P[t, 2i] = sin(t / 10000^(2i/D)),
    P[t, 2i + 1] = cos(t / 10000^(2i/D)), float64 (num_positions, dim). Each pair of columns
    turns at its own rate, so every position gets its own pattern and P[t + k] is a fixed
    rotation of P[t] for every t."""
    t = np.arange(num_positions)[:, None]
    rates = 10000.0 ** (-np.arange(0, dim, 2) / dim)
    table = np.zeros((num_positions, dim))
    table[:, 0::2] = np.sin(t * rates)
    table[:, 1::2] = np.cos(t * rates[: dim // 2])
    return table


class PositionalEmbedding(Layer):
    """Adds a vector per position to a sequence of vectors: attention alone treats its input as
    a set (shuffle the tokens and each output is shuffled alike), so where a token stands must
    be written into the token itself. (Ours: torch has no such layer; nanoGPT adds an
    ``nn.Embedding`` of positions.)

    y[n, t] = x[n, t] + P[t]     (kernels: ``position_embedding_forward`` / ``_backward``)
    dx = dy; dP[t] = Σₙ dy[n, t] (rows past the sequence get 0)
    Input shape:  (N, T, embedding_dim), T <= num_positions
    Output shape: (N, T, embedding_dim)
    ``kind="learned"``: P is a param ``weight`` (num_positions, embedding_dim), drawn from
    N(0, 1) as an Embedding's; ``"sinusoidal"``: P is ``sinusoidal_table``, fixed (no params).
    """

    formula = {"forward": "y[n, t] = x[n, t] + P[t]", "backward": "dx = dy,  dP[t] = Σₙ dy[n, t]"}

    def __init__(self, num_positions, embedding_dim, kind="learned"):
        super().__init__()
        if num_positions < 1 or embedding_dim < 1:
            raise ValueError(
                f"PositionalEmbedding: num_positions and embedding_dim must be >= 1, "
                f"got {num_positions} and {embedding_dim}"
            )
        if kind not in POSITION_KINDS:
            raise ValueError(
                f"PositionalEmbedding: kind must be one of {POSITION_KINDS}, got {kind!r}"
            )
        self.num_positions, self.embedding_dim = int(num_positions), int(embedding_dim)
        self.kind = kind
        shape = (self.num_positions, self.embedding_dim)
        if kind == "learned":
            self.params["weight"] = rng.generator().standard_normal(shape).astype(self.dtype)
            self.grads["weight"] = np.zeros_like(self.params["weight"])
        else:
            self.sinusoids = sinusoidal_table(*shape)  # host float64; on the device in _table

    def _table(self):
        if self.kind == "learned":
            return self.params["weight"]
        if "table" not in self._buffers:
            self._buffers["table"] = self.backend.from_host(self.sinusoids, self.dtype)
        return self._buffers["table"]

    def forward(self, x):
        x = self.as_input(x)
        self.check_ndim(x, 3, f"(N, T, {self.embedding_dim})")
        n, steps, dim = x.shape
        if dim != self.embedding_dim:
            raise self.error(
                f"expected input of shape (N, T, {self.embedding_dim}), got {x.shape}: "
                f"{dim} features instead of {self.embedding_dim}"
            )
        if steps > self.num_positions:
            raise self.error(
                f"a sequence of {steps} positions is longer than the {self.num_positions} "
                f"positions this layer has (num_positions): crop the input to the last "
                f"{self.num_positions} tokens, or build the model with more positions"
            )
        y = self.buffer("y", x.shape)
        self.kernels.position_embedding_forward(x, self._table(), y)
        self.saved["x_shape"] = x.shape
        return y

    def backward(self, dy, need_dx=True):
        (shape,) = self.saved_for_backward("x_shape")
        dy = self.as_grad(dy, shape)
        if self.kind == "learned":
            self.kernels.position_embedding_backward(dy, self.grads["weight"])
        return dy if need_dx else None

    def config(self):
        return {
            "num_positions": self.num_positions,
            "embedding_dim": self.embedding_dim,
            "kind": self.kind,
        }

    def __repr__(self):
        kind = "" if self.kind == "learned" else f", kind={self.kind!r}"
        return f"PositionalEmbedding({self.num_positions}, {self.embedding_dim}{kind})"
