"""The same model trained a few steps on both devices: do the params end up equal?"""

import time
from dataclasses import dataclass, field

import numpy as np

from numbanet import rng
from numbanet.backend import cuda_simulated, get_backend
from numbanet.compare.kernels import TOLERANCE, difference
from numbanet.data import DataLoader, digits
from numbanet.losses import CrossEntropyLoss
from numbanet.models import mlp
from numbanet.optim import OPTIMIZERS
from numbanet.train import train_step


@dataclass
class ParamRow:
    """One param after training on both devices: how far the GPU's is from the CPU's."""

    key: str
    shape: tuple
    max_abs: float
    max_rel: float
    max_ulps: float


@dataclass
class ModelComparison:
    """What ``run_model`` found: per-param differences, each device's losses and time."""

    model: str
    optimizer: str
    dtype: str
    steps: int
    batch_size: int
    rows: list = field(default_factory=list)
    cpu_losses: list = field(default_factory=list)
    gpu_losses: list = field(default_factory=list)
    cpu_seconds: float = 0.0
    gpu_seconds: float = 0.0

    @property
    def max_rel(self):
        """The worst relative difference over every param."""
        return max((row.max_rel for row in self.rows), default=0.0)


def run_model(
    steps=5, batch_size=16, hidden=None, optimizer="adam", lr=1e-3, dtype="float32", seed=0
):
    """Train the same MLP on digits (8×8 images) for ``steps`` steps on the CPU and on CUDA,
    from the same initial params on the same batches; returns a ``ModelComparison``.

    hidden: the hidden widths (default: the seed MLP's 128, 256 on a GPU; 16 in the simulator,
    where every CUDA thread is a Python thread). optimizer: "sgd", "adam" or "adamw".
    """
    get_backend("cuda")  # no GPU and no simulator: a clear error before any work
    hidden = hidden or ((16,) if cuda_simulated() else (128, 256))
    train, _ = digits()
    comparison = ModelComparison(
        f"mlp(64, {tuple(hidden)}, 10)", optimizer, np.dtype(dtype).name, steps, batch_size
    )
    params = {}
    for device in ("cpu", "cuda"):
        rng.seed(seed)
        model = mlp(64, hidden, 10).to(np.dtype(dtype)).to(device)
        opt = OPTIMIZERS[optimizer](model, lr=lr)
        loss_fn, losses = CrossEntropyLoss(), []
        batches = iter(DataLoader(train.x, train.y, batch_size=batch_size, shuffle=True, seed=seed))
        start = time.perf_counter()
        for _ in range(steps):
            x, y = next(batches)
            for event in train_step(model, loss_fn, opt, x, y, snapshot=False):
                if event.phase == "loss":
                    losses.append(event.loss)
        get_backend(device).synchronize()
        seconds = time.perf_counter() - start
        params[device] = model.state_dict()
        if device == "cpu":
            comparison.cpu_losses, comparison.cpu_seconds = losses, seconds
        else:
            comparison.gpu_losses, comparison.gpu_seconds = losses, seconds
    for key, expected in params["cpu"].items():
        d = difference(expected, params["cuda"][key])
        comparison.rows.append(ParamRow(key, expected.shape, d.max_abs, d.max_rel, d.max_ulps))
    return comparison


def model_tolerance(dtype, steps):
    """How far params may drift apart after ``steps`` steps: each step's rounding differences
    feed the next, so the kernel tolerance grows with the steps taken."""
    return TOLERANCE[np.dtype(dtype).name] * 10 * max(steps, 1)
