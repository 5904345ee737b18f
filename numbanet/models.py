"""Ready-made models: the classic architectures, built from the layers."""

from numbanet.layers import Flatten, Linear, ReLU, Sequential


def mlp(in_features=784, hidden=(128, 256), n_classes=10, activation=ReLU):
    """A multi-layer perceptron: Flatten, then Linear + activation per hidden width, then Linear
    to the classes. The defaults are the seed MLP 784-128-256-10 with ReLU.
    Input shape: (N, ...) with in_features values per sample. Output shape: (N, n_classes).
    """
    layers, width = [Flatten()], in_features
    for h in hidden:
        layers += [Linear(width, h), activation()]
        width = h
    return Sequential(*layers, Linear(width, n_classes))
