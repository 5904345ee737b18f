"""The Transformer encoder block: self-attention and a position-wise MLP, each wrapped in a
residual connection and a layer norm — built from those layers, so a learner can step into it."""

from numbanet.layers.activation import GELU, ReLU
from numbanet.layers.attention import MultiheadAttention
from numbanet.layers.base import Layer, param_key
from numbanet.layers.container import Residual, Sequential
from numbanet.layers.dense import Linear
from numbanet.layers.dropout import Dropout
from numbanet.layers.norm import LayerNorm

ACTIVATIONS = {"relu": ReLU, "gelu": GELU}


class TransformerEncoderLayer(Layer):
    """torch.nn.TransformerEncoderLayer(d_model, nhead, ..., batch_first=True): self-attention
    then a two-layer MLP applied at every position, each added back to its input.

    post-norm (default):  x = norm1(x + dropout1(self_attn(x)))
                          x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))
    pre-norm (norm_first): x = x + dropout1(self_attn(norm1(x)))
                          x = x + dropout2(linear2(dropout(act(linear1(norm2(x))))))
    Input shape:  (N, T, d_model)
    Output shape: (N, T, d_model)
    The block is ``self.block``, a Sequential of ``Residual`` blocks and norms around the parts
    (post-norm: Residual(self_attn, dropout1), norm1, Residual(linear1, act, dropout, linear2,
    dropout2), norm2), which forward and backward run. The parts keep torch's names
    (``named_children``), so params are keyed as torch's: self_attn.in_proj_weight, …,
    linear1.weight, linear2.weight, norm1.weight, norm2.bias, and a torch block's state_dict
    loads as it is. ``causal``: the attention is causal (torch's ``is_causal=True`` with a
    causal ``src_mask``), for a decoder-only language model.
    """

    formula = {
        "forward": "post-norm: x = LN(x + MHA(x)); y = LN(x + W₂·act(W₁x + b₁) + b₂)   "
        "(pre-norm: x = x + MHA(LN(x)); y = x + MLP(LN(x)))",
        "backward": "through each Residual: dx = dy + (∂f/∂x)ᵀ·dy, the parts in reverse",
    }

    def __init__(
        self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
        layer_norm_eps=1e-5, norm_first=False, causal=False,
    ):  # fmt: skip
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"TransformerEncoderLayer: activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {activation!r}"
            )
        self.activation_name, self.norm_first = activation, bool(norm_first)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, causal=causal)
        self.linear1 = Linear(d_model, dim_feedforward)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.activation = ACTIVATIONS[activation]()
        mlp = (self.linear1, self.activation, self.dropout, self.linear2, self.dropout2)
        if self.norm_first:
            self.block = Sequential(
                Residual(self.norm1, self.self_attn, self.dropout1), Residual(self.norm2, *mlp)
            )
        else:
            self.block = Sequential(
                Residual(self.self_attn, self.dropout1), self.norm1, Residual(*mlp), self.norm2
            )
        self.set_path(self.path)

    def named_children(self):
        """The parts under torch's names (torch's order), which make the state_dict keys."""
        names = ("self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1",
                 "dropout2", "activation")  # fmt: skip
        return [(name, getattr(self, name)) for name in names]

    def diagram_children(self):
        """The wiring block's residual blocks and norms ("block.0", …), the paths of the events."""
        return [(f"block.{key}", child) for key, child in self.block.named_children()]

    def named_modules(self, prefix=""):
        """This block, its parts (``named_children``), then the Sequential and Residual blocks
        that wire them (and the residuals' identity shortcuts), under "block…" prefixes: they
        hold no params, so the keys stay torch's, and moving or copying the model reaches them
        too."""
        yield from super().named_modules(prefix)
        parts = {id(part) for part in self.children()}
        for key, layer in self.block.named_modules(param_key(prefix, "block")):
            if id(layer) not in parts:
                yield key, layer

    def set_path(self, path):
        self.block.set_path(param_key(path, "block"))
        super().set_path(path)  # then the parts' paths under their own names

    def forward(self, x):
        return self.block.forward(x)

    def forward_events(self, x, path="", context=None):
        """The wiring block's events: a learner steps into the residual blocks, the attention,
        the norms and the MLP (paths "…block.0.body.0", …)."""
        return (yield from self.block.forward_events(x, param_key(path, "block"), context))

    def backward_events(self, dy, need_dx=True, path="", context=None):
        return (yield from self.block.backward_events(dy, need_dx, param_key(path, "block"),
                                                      context))  # fmt: skip

    def backward(self, dy, need_dx=True):
        return self.block.backward(dy, need_dx=need_dx)

    def config(self):
        attn = self.self_attn
        return {
            "d_model": attn.embed_dim,
            "nhead": attn.num_heads,
            "dim_feedforward": self.linear1.out_features,
            "dropout": self.dropout.p,
            "activation": self.activation_name,
            "layer_norm_eps": self.norm1.eps,
            "norm_first": self.norm_first,
            "causal": attn.causal,
        }

    def __repr__(self):
        config = self.config()
        options = [f"{config['d_model']}, {config['nhead']}", f"ff={config['dim_feedforward']}"]
        options += [f"dropout={config['dropout']:g}", config["activation"]]
        options += ["norm_first"] * self.norm_first + ["causal"] * config["causal"]
        return f"TransformerEncoderLayer({', '.join(options)})"
