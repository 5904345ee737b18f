"""Layers: the Layer contract (``base``) and one module per family of layers."""

from numbanet.layers.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from numbanet.layers.base import Layer, LayerInputError
from numbanet.layers.container import Residual, Sequential
from numbanet.layers.conv import Conv2d
from numbanet.layers.dense import Linear
from numbanet.layers.shape import Flatten, Identity

__all__ = [
    "Conv2d",
    "Flatten",
    "Identity",
    "Layer",
    "LayerInputError",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
