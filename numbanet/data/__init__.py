"""Datasets and batching: generated toy sets, the offline digits default, MNIST/Fashion-MNIST,
and text for character-level language models."""

from numbanet.data.datasets import (
    DataError,
    Dataset,
    digits,
    fashion_mnist,
    mnist,
    spirals,
    standardize,
    xor,
)
from numbanet.data.loader import DataLoader
from numbanet.data.plot import (
    plot_codes,
    plot_images,
    plot_latent_walk,
    plot_prior_samples,
    plot_reconstructions,
    vae_decode,
    vae_encode,
)
from numbanet.data.text import CharVocab, sequence_windows, text_file, tiny_shakespeare

__all__ = [
    "CharVocab",
    "DataError",
    "DataLoader",
    "Dataset",
    "digits",
    "fashion_mnist",
    "mnist",
    "plot_codes",
    "plot_images",
    "plot_latent_walk",
    "plot_prior_samples",
    "plot_reconstructions",
    "sequence_windows",
    "spirals",
    "standardize",
    "text_file",
    "tiny_shakespeare",
    "vae_decode",
    "vae_encode",
    "xor",
]
