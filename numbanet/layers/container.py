"""Containers: layers made of layers.

A container's forward and backward are its ``forward_events`` / ``backward_events`` run to the
end (``drain``): the same walk whether a script calls ``model(x)`` or the inspector steps
through the layers inside it one event at a time.
"""

from numbanet.layers.base import Layer, drain, param_key
from numbanet.layers.shape import Identity


def first_learning_index(layers):
    """Index of the first layer that learns (len(layers) if none): backprop below it is
    wasted, since no earlier layer has a gradient to receive."""
    return next((i for i, layer in enumerate(layers) if layer.learns()), len(layers))


class Sequential(Layer):
    """Runs its layers one after another: y = fₙ(…f₂(f₁(x))); backward runs them in reverse.

    Layers are numbered from 0 and their params keyed "0.weight", "0.bias", … as in torch.
    """

    def __init__(self, *layers):
        super().__init__()
        self.layers = []
        for layer in layers:
            self.append(layer)

    def append(self, layer):
        """Add a layer at the end; returns self."""
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential: expected a Layer at position {len(self.layers)}, "
                f"got {type(layer).__name__}"
            )
        self.layers.append(layer)
        self.set_path(self.path)
        return self

    def named_children(self):
        return [(str(index), layer) for index, layer in enumerate(self.layers)]

    def children(self):
        return list(self.layers)  # what named_children gives, without making the names

    def forward(self, x):
        return drain(self.forward_events(x))

    def backward(self, dy, need_dx=True):
        """Backprop through every layer, last first. With need_dx=False, layers below the first
        one that learns are skipped (nothing there needs a gradient) and None is returned."""
        return drain(self.backward_events(dy, need_dx))

    def forward_events(self, x, path="", context=None):
        for index, layer in enumerate(self.layers):
            x = yield from layer.forward_events(x, param_key(path, str(index)), context)
        return x

    def backward_events(self, dy, need_dx=True, path="", context=None):
        # below the first layer that learns, no gradient is needed: dy becomes None there and
        # the layers below are skipped (each still yields its event, saying so)
        stop = 0 if need_dx else first_learning_index(self.layers)
        for index in range(len(self.layers) - 1, -1, -1):
            dy = yield from self.layers[index].backward_events(
                dy, need_dx or index > stop, param_key(path, str(index)), context
            )
        return dy if need_dx else None

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def config(self):
        return {"layers": [{"type": type(l).__name__, "config": l.config()} for l in self.layers]}

    @classmethod
    def from_config(cls, config):
        return cls(*(Layer.registry[c["type"]].from_config(c["config"]) for c in config["layers"]))

    def __repr__(self):
        lines = [f"  ({i}): {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"


class Residual(Layer):
    """A residual block: y = f(x) + shortcut(x), the skip connection of ResNets.

    ``Residual(*layers)`` runs the layers as f (a Sequential if more than one); shortcut is
    the identity, or a layer that matches shapes (e.g. a 1×1 Conv2d with stride 2 when f
    halves the image and changes the channels). Gradients flow back through both paths and
    add up: dx = ∂f/∂x·dy + ∂shortcut/∂x·dy, which is why a deep stack of blocks still passes
    a gradient to its first layers. Params are keyed "body.…" and "shortcut.…" under the block.
    """

    formula = {"forward": "y = f(x) + shortcut(x)", "backward": "dx = f′ᵀ·dy + shortcutᵀ·dy"}

    def __init__(self, *layers, shortcut=None):
        super().__init__()
        if not layers:
            raise ValueError("Residual: expected at least one layer for the block's body f")
        self.body = layers[0] if len(layers) == 1 else Sequential(*layers)
        self.shortcut = Identity() if shortcut is None else shortcut
        for part in (self.body, self.shortcut):
            if not isinstance(part, Layer):
                raise TypeError(f"Residual: expected Layers, got {type(part).__name__}")
        self.set_path(self.path)

    def named_children(self):
        return [("body", self.body), ("shortcut", self.shortcut)]

    def forward(self, x):
        return drain(self.forward_events(x))

    def backward(self, dy, need_dx=True):
        return drain(self.backward_events(dy, need_dx))

    def forward_events(self, x, path="", context=None):
        """The body's events, the shortcut's, then the block's own: the add."""
        fx = yield from self.body.forward_events(x, param_key(path, "body"), context)
        sx = yield from self.shortcut.forward_events(x, param_key(path, "shortcut"), context)
        if fx.shape != sx.shape:
            raise self.error(
                f"the body gives {fx.shape} but the shortcut {sx.shape}: give a shortcut that "
                f"matches, e.g. a 1×1 Conv2d with the body's stride and output channels"
            )
        y = self.buffer("y", fx.shape)
        self.kernels.add(fx.reshape(-1), sx.reshape(-1), y.reshape(-1))
        self.saved["x_shape"], self.saved["y_shape"] = x.shape, y.shape
        yield self.event(
            "forward", path, context, lambda: {"body": fx, "shortcut": sx, "output": y}
        )
        return y

    def backward_events(self, dy, need_dx=True, path="", context=None):
        """dy flows into both paths unchanged; the block's own event adds what comes back:
        dx = ∂f/∂x·dy + ∂shortcut/∂x·dy."""
        if dy is not None:
            x_shape, y_shape = self.saved_for_backward("x_shape", "y_shape")
            dy = self.as_grad(dy, y_shape)
        d_body = yield from self.body.backward_events(dy, need_dx, param_key(path, "body"), context)
        d_shortcut = yield from self.shortcut.backward_events(
            dy, need_dx, param_key(path, "shortcut"), context
        )
        dx = None
        if dy is not None and need_dx:
            dx = self.buffer("dx", x_shape)
            self.kernels.add(d_body.reshape(-1), d_shortcut.reshape(-1), dx.reshape(-1))
        yield self.event(
            "backward",
            path,
            context,
            lambda: {} if dy is None else {"dy": dy, "d body": d_body, "d shortcut": d_shortcut,
                                           "dx": dx},
        )
        return dx

    def config(self):
        return {
            "body": {"type": type(self.body).__name__, "config": self.body.config()},
            "shortcut": {"type": type(self.shortcut).__name__, "config": self.shortcut.config()},
        }

    @classmethod
    def from_config(cls, config):
        def build(spec):
            return Layer.registry[spec["type"]].from_config(spec["config"])

        return cls(build(config["body"]), shortcut=build(config["shortcut"]))

    def __repr__(self):
        body = repr(self.body).replace("\n", "\n  ")
        return f"Residual(\n  {body}\n  + {self.shortcut!r}\n)"
