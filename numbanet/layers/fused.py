"""An activation fused into the layer before it (its epilogue): y = f(z) in the layer's own pass."""

from numbanet.kernels.codes import EPILOGUES


class FusedActivation:
    """Mixed into a layer whose kernel can apply an activation f to its output z on the way out
    (Linear, Conv2d): the same numbers as the layer followed by the activation layer, one pass
    over y fewer (and one event fewer to step). Backward gets f′ from y, so z is not kept.
    ``activation``: None, "relu", "leaky_relu" (with ``negative_slope``), "sigmoid" or "tanh".
    """

    def set_activation(self, activation, negative_slope):
        if activation not in EPILOGUES:
            choices = ", ".join(repr(a) for a in EPILOGUES)
            raise ValueError(
                f"{type(self).__name__}: activation must be one of {choices}, got {activation!r}"
            )
        self.activation, self.negative_slope = activation, float(negative_slope)

    def epilogue(self):
        """The kernels' (activation number, slope in the layer's dtype)."""
        return EPILOGUES[self.activation], self.dtype.type(self.negative_slope)

    def activation_config(self):
        if self.activation is None:
            return {}
        return {"activation": self.activation, "negative_slope": self.negative_slope}

    def activation_suffix(self):
        """ ", relu" for the layer's repr, "" without an activation."""
        return f", {self.activation}" if self.activation else ""
