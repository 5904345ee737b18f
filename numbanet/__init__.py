"""numbanet: a deep-learning engine whose every kernel is readable Numba code.

import numbanet as nn
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
opt = nn.optim.Adam(model, lr=1e-3)
history = nn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=5)
"""

from numbanet import runtime  # noqa: F401  (first: sets the float mode and threads before any pool starts)
from numbanet import compare, data, debug, io, metrics, models, optim, steps
from numbanet import exercises
from numbanet.backend import BackendError, get_backend
from numbanet.generate import sample
from numbanet.gradcheck import gradcheck
from numbanet.layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    GRU,
    Identity,
    LastTimeStep,
    Layer,
    LayerInputError,
    LSTM,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Reparameterize,
    RNN,
    Residual,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    Unflatten,
    Upsample,
)
from numbanet.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from numbanet.optim import clip_grad_norm
from numbanet.rng import seed
from numbanet.runtime import set_flush_denormal, set_num_threads
from numbanet.trace import Event
from numbanet.steps import StepProgram, gan_step, train_step
from numbanet.train import (
    Evaluation,
    GanHistory,
    History,
    evaluate,
    fit,
    fit_gan,
    fit_program,
    predict,
)

__version__ = "0.1.0"

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BackendError",
    "BatchNorm1d",
    "BatchNorm2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Evaluation",
    "Event",
    "Flatten",
    "GanHistory",
    "GRU",
    "History",
    "Identity",
    "LastTimeStep",
    "Layer",
    "LayerInputError",
    "LSTM",
    "LeakyReLU",
    "Conv2d",
    "ConvTranspose2d",
    "Linear",
    "LogSoftmax",
    "Loss",
    "MSELoss",
    "MaxPool2d",
    "ReLU",
    "Reparameterize",
    "RNN",
    "Residual",
    "Sequential",
    "Sigmoid",
    "StepProgram",
    "Softmax",
    "Tanh",
    "Unflatten",
    "Upsample",
    "clip_grad_norm",
    "compare",
    "data",
    "debug",
    "evaluate",
    "exercises",
    "fit",
    "fit_gan",
    "fit_program",
    "get_backend",
    "gan_step",
    "gradcheck",
    "io",
    "metrics",
    "models",
    "optim",
    "predict",
    "sample",
    "seed",
    "set_flush_denormal",
    "set_num_threads",
    "steps",
    "train_step",
]
