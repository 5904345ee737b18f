"""Layers: the Layer contract (``base``) and one module per family of layers."""

from numbanet.layers.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from numbanet.layers.base import Layer, LayerInputError
from numbanet.layers.container import Residual, Sequential
from numbanet.layers.conv import Conv2d
from numbanet.layers.conv_transpose import ConvTranspose2d
from numbanet.layers.dense import Linear
from numbanet.layers.dropout import Dropout
from numbanet.layers.embedding import Embedding
from numbanet.layers.norm import BatchNorm1d, BatchNorm2d
from numbanet.layers.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from numbanet.layers.recurrent import GRU, LSTM, RNN
from numbanet.layers.shape import Flatten, Identity, LastTimeStep, Unflatten
from numbanet.layers.upsample import Upsample
from numbanet.layers.variational import Reparameterize

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "Identity",
    "LastTimeStep",
    "Layer",
    "LayerInputError",
    "LSTM",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "ReLU",
    "Reparameterize",
    "RNN",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
    "Upsample",
]
