"""Datasets and batching: generated toy sets, the offline digits default, MNIST/Fashion-MNIST."""

from numbanet.data.datasets import (
    DataError,
    Dataset,
    digits,
    fashion_mnist,
    mnist,
    spirals,
    xor,
)
from numbanet.data.loader import DataLoader
from numbanet.data.plot import plot_images

__all__ = [
    "DataError",
    "DataLoader",
    "Dataset",
    "digits",
    "fashion_mnist",
    "mnist",
    "plot_images",
    "spirals",
    "xor",
]
