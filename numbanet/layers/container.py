"""Containers: layers made of layers."""

from numbanet.layers.base import Layer


def first_learning_index(layers):
    """Index of the first layer with params (len(layers) if none): backprop below it is wasted,
    since no earlier layer has a gradient to receive."""
    return next((i for i, layer in enumerate(layers) if layer.num_params()), len(layers))


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

    def children(self):
        return list(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy, need_dx=True):
        """Backprop through every layer, last first. With need_dx=False, layers below the first
        one with params are skipped (nothing there needs a gradient) and None is returned."""
        stop = 0 if need_dx else first_learning_index(self.layers)
        for index in range(len(self.layers) - 1, stop - 1, -1):
            dy = self.layers[index].backward(dy, need_dx=need_dx or index > stop)
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
