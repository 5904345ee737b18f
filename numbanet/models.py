"""Ready-made models: the classic architectures, built from the layers."""

from numbanet.layers import Flatten, Linear, ReLU, Sequential


def mlp(in_features=784, hidden=(128, 256), n_classes=10, activation=ReLU, fuse=False):
    """A multi-layer perceptron: Flatten, then Linear + activation per hidden width, then Linear
    to the classes. The defaults are the seed MLP 784-128-256-10 with ReLU.
    fuse: fold each activation into its Linear (``Linear(..., activation="relu")``): the same
    numbers with fewer passes over memory, and one layer (one inspector event) per hidden width.
    Input shape: (N, ...) with in_features values per sample. Output shape: (N, n_classes).
    """
    layers, width = [Flatten()], in_features
    for h in hidden:
        if fuse:
            layers.append(Linear(width, h, activation=activation.kernel))
        else:
            layers += [Linear(width, h), activation()]
        width = h
    return Sequential(*layers, Linear(width, n_classes))
