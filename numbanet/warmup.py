"""Compiling ahead of time: one training step of each zoo model on a synthetic batch, so that
Numba's on-disk cache holds every CPU kernel the model's training needs and its first real
step loads them instead of compiling (``numbanet warmup``).

A kernel compiles once per argument type, and a layer picks its kernels by shape as well (a
convolution's direct or im2col path), so each model's batch is shaped as its real data: 64
MNIST images or their 28 rows, 12 windows of 64 characters. The input, target and loss of
each are the ones its docstring trains it with; ``benchmarks/startup.py`` times the same step.
"""

import time

import numpy as np

from numbanet import models as zoo
from numbanet.layers.base import drain
from numbanet.losses import BCEWithLogitsLoss, CrossEntropyLoss
from numbanet.optim import Adam
from numbanet.steps import gan_step, train_step

IMAGES = 64  # images (or row sequences) per batch, as the CNN and RNN benchmarks use
WINDOWS, CONTEXT = 12, 64  # character windows per batch and their length (benchmarks/gpt.py)
VOCAB = 65  # Tiny Shakespeare's characters
CLASSES = 10


def images(rng):
    """A batch of MNIST-shaped images (N, 1, 28, 28), pixels in [0, 1)."""
    return rng.random((IMAGES, 1, 28, 28), dtype=np.float32)


def flat_images(rng):
    """``images`` as (N, 784): what a fully connected autoencoder reconstructs."""
    return images(rng).reshape(IMAGES, -1)


def classify(model, x):
    """One step of a classifier of x into ``CLASSES`` classes, cross-entropy."""
    labels = np.arange(len(x)) % CLASSES
    return train_step(model, CrossEntropyLoss(), Adam(model), x, labels)


def reconstruct(model, x, reduction="mean"):
    """One step of an autoencoder: its output's logits against x itself, BCE with logits."""
    return train_step(model, BCEWithLogitsLoss(reduction=reduction), Adam(model), x, x)


def predict_next(model, rng):
    """One step of a language model on random character windows: at every position, the next
    character."""
    ids = rng.integers(0, VOCAB, (WINDOWS, CONTEXT + 1))
    return train_step(model, CrossEntropyLoss(), Adam(model), ids[:, :-1], ids[:, 1:])


def gan(rng):
    """One ``gan_step`` of ``mnist_gan``: D on real images in [−1, 1] and on G's fakes, then G."""
    generator, discriminator = zoo.mnist_gan()
    real = 2 * images(rng) - 1
    z = rng.standard_normal((IMAGES, 64)).astype(np.float32)  # mnist_gan's latent_dim
    return gan_step(generator, discriminator, Adam(generator), Adam(discriminator), real, z)


# zoo model (its function in numbanet.models): its training step on a synthetic batch; the
# recurrent models with their default cell, the LSTM, and gpt in benchmarks/gpt.py's shape
STEPS = {
    "mlp": lambda rng: classify(zoo.mlp(), images(rng)),
    "lenet5": lambda rng: classify(zoo.lenet5(), images(rng)),
    "seed_cnn": lambda rng: classify(zoo.seed_cnn(), images(rng)),
    "small_vgg": lambda rng: classify(zoo.small_vgg(), images(rng)),
    "small_resnet": lambda rng: classify(zoo.small_resnet(), images(rng)),
    "sequence_classifier": lambda rng: classify(zoo.sequence_classifier(), images(rng)[:, 0]),
    "char_language_model": lambda rng: predict_next(zoo.char_language_model(VOCAB), rng),
    "autoencoder": lambda rng: reconstruct(zoo.autoencoder(), flat_images(rng)),
    "vae": lambda rng: reconstruct(zoo.vae(), flat_images(rng), reduction="sum"),
    "conv_autoencoder": lambda rng: reconstruct(zoo.conv_autoencoder(), images(rng)),
    "mnist_gan": gan,
    "seed_transformer": lambda rng: predict_next(zoo.seed_transformer(VOCAB), rng),
    "gpt": lambda rng: predict_next(zoo.gpt(VOCAB, CONTEXT, 4, 4, 128), rng),
}
MODELS = tuple(STEPS)


def run_step(name, seed=0):
    """Build zoo model ``name`` and run one training step of it on a synthetic batch."""
    drain(STEPS[name](np.random.default_rng(seed)))


def warmup(models=None, progress=True):
    """Run one training step of each model named in ``models`` (default: every one of
    ``MODELS``), compiling what Numba's cache lacks; with a tqdm progress bar if ``progress``.
    Returns {name: seconds}: compiling takes seconds to a minute a model, loading from a warm
    cache a fraction of a second."""
    from tqdm.auto import tqdm

    names = MODELS if models is None else tuple(models)
    unknown = [name for name in names if name not in STEPS]
    if unknown:
        raise ValueError(f"warmup: no zoo model {unknown[0]!r}; models are {', '.join(MODELS)}")
    seconds = {}
    bar = tqdm(names, desc="warmup", unit="model", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        start = time.perf_counter()
        run_step(name)
        seconds[name] = time.perf_counter() - start
    return seconds
