"""Training loops: fit and evaluate, on top of the step of ``steps.py``.

``train_step`` is the only code path that trains: ``fit`` drains it at full speed, the
inspector advances it one event at a time, so what a learner steps through is exactly what
training does.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from numbanet import metrics, rng
from numbanet.backend import to_host
from numbanet.data import DataLoader, Dataset
from numbanet.data.plot import image_grid, square_side
from numbanet.layers import Sequential
from numbanet.losses import CrossEntropyLoss, MSELoss
from numbanet.layers.base import drain
from numbanet.steps import StepProgram, train_step


def step_layers(model):
    """A model's own layers: a Sequential's layers, or the model itself."""
    return list(model.layers) if isinstance(model, Sequential) else [model]


def _as_loader(data, batch_size, shuffle, seed, what):
    """A DataLoader from a DataLoader, a Dataset or an (x, y) pair."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list, Dataset)) and len(data) == 2:
        x, y = data
        return DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
    raise TypeError(f"{what}: expected a DataLoader or an (x, y) pair, got {type(data).__name__}")


def epoch_bar(epoch, epochs, batches, progress):
    """A tqdm bar for one epoch of ``batches`` batches, shown only if ``progress``; the caller
    updates it by hand. tqdm (asyncio with it) is imported at the first bar, not by
    ``import numbanet``: tens of ms that a script which never fits would pay."""
    from tqdm.auto import tqdm

    return tqdm(total=batches, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                unit="batch")  # fmt: skip


def _count_correct(loss_fn, output, target):
    """(correct, total) predictions in a batch, or None when the loss is not a classifier's."""
    predicted = loss_fn.predictions(output)
    if predicted is None:
        return None
    target = np.asarray(target).reshape(predicted.shape)
    return int((predicted == target).sum()), predicted.size


class TermTotals:
    """The model's objective terms (``Layer.objective_terms``: a VAE's KL, per sample) summed
    over the samples of an epoch or an evaluation, for their averages per sample."""

    def __init__(self):
        self.sums, self.seen = {}, 0

    def add(self, model, batch_size):
        """Add the terms of the model's last forward, on a batch of ``batch_size`` samples."""
        for name, value in model.objective_terms().items():
            self.sums[name] = self.sums.get(name, 0.0) + value * batch_size
        self.seen += batch_size

    def averages(self):
        """{name: the term per sample} over everything added."""
        return {name: total / max(self.seen, 1) for name, total in self.sums.items()}


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch (accuracy is None for regression losses).

    train_loss: the data loss, averaged over the epoch's samples as they were trained on (a
    loss with reduction="sum": its sum per sample, ``Loss.sample_total``); like val_loss it
    leaves out the L1/L2 penalty, so the two compare.
    train_penalty: the optimizer's penalty λ₁Σ|w| + λ₂/2 Σw² of the weights at the end of the
    epoch (0.0 without ``l1``/``l2``). It depends on the weights only, so it is measured once
    per epoch, like the validation loss: per step it would read every weight every step (a
    pass over them on the CPU, a copy on the GPU).
    train_terms / val_terms: {name: one value per epoch} of the terms the model's layers add to
    the objective (a VAE's "kl"), per sample, averaged like the losses ({} for most models).
    ``train_objective`` = train_loss + train_penalty + the train terms, the quantity the
    optimizer descends.
    """

    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    train_penalty: list = field(default_factory=list)
    lr: list = field(default_factory=list)  # the optimizer's learning rate during each epoch
    # fit_program: {loss name: [mean per epoch]}, a loss named by its part of the step or model
    losses: dict = field(default_factory=dict)
    train_terms: dict = field(default_factory=dict)
    val_terms: dict = field(default_factory=dict)

    @property
    def epochs(self):
        return len(self.train_loss)

    @property
    def train_objective(self):
        """Data loss + penalty + objective terms per epoch: the quantity the optimizer
        descended."""
        penalties = self.train_penalty or [0.0] * self.epochs
        terms = [sum(values) for values in zip(*self.train_terms.values())] or [0.0] * self.epochs
        return [sum(parts) for parts in zip(self.train_loss, penalties, terms)]

    def plot(self):
        """Loss and accuracy curves, train against validation: where over- and underfitting
        show. Returns the matplotlib Figure (needs matplotlib: ``pip install "numbanet[widgets]"``).
        """
        import matplotlib.pyplot as plt

        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
        epochs = range(1, self.epochs + 1)
        for ax, train, val, label in (
            (ax_loss, self.train_loss, self.val_loss, "loss"),
            (ax_acc, self.train_accuracy, self.val_accuracy, "accuracy"),
        ):
            if train and train[0] is not None:
                ax.plot(epochs, train, "o-", label=f"train {label}")
            if val and val[0] is not None:
                ax.plot(epochs, val, "s-", label=f"validation {label}")
            if label == "loss" and any(self.train_penalty):
                ax.plot(epochs, self.train_objective, "o--", label="train loss + penalty")
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.legend()
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig


def fit(
    model,
    loss_fn,
    optimizer,
    train_data,
    epochs=1,
    batch_size=64,
    val_data=None,
    shuffle=True,
    seed=None,
    progress=True,
    lr_schedule=None,
):
    """Train ``model`` for ``epochs`` passes over ``train_data``; returns a ``History``.

    train_data / val_data: a DataLoader, a Dataset or an (x, y) pair (batched here with
    ``batch_size``; shuffled every epoch if ``shuffle``, reproducibly with ``seed``).
    progress: show a tqdm progress bar per epoch with the running loss and accuracy, and at
    the epoch's end the L1/L2 penalty when the optimizer has one (loss is the data loss,
    the penalty apart) and the validation loss and accuracy.
    lr_schedule: None (the optimizer's lr throughout), or a function of the epoch (0, 1, ...)
    that gives the learning rate for it, set on the optimizer before the epoch starts, e.g.
    step decay ``lambda epoch: 1e-3 * 0.5 ** epoch``; the optimizer keeps the last one.
    """
    loader = _as_loader(train_data, batch_size, shuffle, seed, "fit train_data")
    loss_fn.check_terms(model)
    history = History()
    penalised = bool(optimizer.l1 or optimizer.l2)
    for epoch in range(epochs):
        if lr_schedule is not None:
            optimizer.lr = _scheduled_lr(lr_schedule, epoch)
        history.lr.append(optimizer.lr)
        model.train()
        start = time.perf_counter()
        total_loss, seen, correct, counted = 0.0, 0, 0, 0
        terms = TermTotals()
        # updated by hand, not wrapped around the loader: iterating a bar closes it at the end,
        # before the epoch's summary (penalty, validation) could be shown on it
        bar = epoch_bar(epoch, epochs, len(loader), progress)
        for xb, yb in loader:
            for event in train_step(model, loss_fn, optimizer, xb, yb):
                if event.phase == "loss":
                    total_loss += loss_fn.sample_total(event.loss, len(xb))
                    seen += len(xb)
                    terms.add(model, len(xb))
                    hits = _count_correct(loss_fn, loss_fn.saved["prediction"], yb)
            if hits is not None:
                correct, counted = correct + hits[0], counted + hits[1]
            bar.update()
            bar.set_postfix(
                loss=f"{total_loss / seen:.4f}",
                refresh=False,
                **{name: f"{value:.4f}" for name, value in terms.averages().items()},
                **({"acc": f"{correct / counted:.4f}"} if counted else {}),
            )
        history.train_loss.append(total_loss / max(seen, 1))
        history.train_penalty.append(optimizer.penalty())
        history.train_accuracy.append(correct / counted if counted else None)
        summary = {"loss": f"{history.train_loss[-1]:.4f}"}
        for name, value in terms.averages().items():
            history.train_terms.setdefault(name, []).append(value)
            summary[name] = f"{value:.4f}"
        if penalised:
            summary["penalty"] = f"{history.train_penalty[-1]:.4f}"
        if counted:
            summary["acc"] = f"{history.train_accuracy[-1]:.4f}"
        if val_data is not None:
            result = evaluate(model, val_data, loss_fn)
            history.val_loss.append(result.loss)
            history.val_accuracy.append(result.accuracy)
            summary["val_loss"] = f"{result.loss:.4f}"
            for name, value in result.terms.items():
                history.val_terms.setdefault(name, []).append(value)
                summary[f"val_{name}"] = f"{value:.4f}"
            if result.accuracy is not None:
                summary["val_acc"] = f"{result.accuracy:.4f}"
        bar.set_postfix(summary)
        history.seconds.append(time.perf_counter() - start)
        bar.close()
    return history


def fit_program(program, train_data, epochs=1, batch_size=64, shuffle=True, seed=None,
                progress=True):  # fmt: skip
    """Run any ``StepProgram`` (a step over one or more models) over ``train_data`` for
    ``epochs`` passes, draining its events as ``fit`` drains ``train_step``; returns a
    ``History`` whose ``losses`` holds, per epoch, the sample-weighted mean of every loss the
    step reports, named by the part of the step it belongs to (or its model).

    train_data: a DataLoader, a Dataset or an (x, y) pair; each batch goes to ``program.run``.
    progress: a tqdm progress bar per epoch with the running mean of every loss.
    """
    loader = _as_loader(train_data, batch_size, shuffle, seed, "fit_program train_data")
    history = History()
    for epoch in range(epochs):
        for model in program.models.values():
            model.train()
        start = time.perf_counter()
        sums, seen = {}, 0
        bar = epoch_bar(epoch, epochs, len(loader), progress)
        for batch in loader:
            size = len(batch[0])
            for event in program.run(*batch):
                if event.phase == "loss":  # its layer is the loss function
                    name = event.part or event.model
                    sums[name] = sums.get(name, 0.0) + event.layer.sample_total(event.loss, size)
            seen += size
            bar.update()
            bar.set_postfix({name: f"{total / seen:.4f}" for name, total in sums.items()},
                            refresh=False)  # fmt: skip
        for name, total in sums.items():
            history.losses.setdefault(name, []).append(total / max(seen, 1))
        history.seconds.append(time.perf_counter() - start)
        bar.close()
    return history


@dataclass
class GanHistory:
    """What ``fit_gan`` measured, one entry per epoch: D's loss (real → 1 plus fake → 0), G's
    loss (fake → 1), the mean D(x) on real images and D(G(z)) on fakes (probabilities, before
    the updates), the seconds, and ``samples``: G's images of the same fixed noise
    ``fixed_noise`` (K, latent_dim) at the end of each epoch (eval mode), to watch them become
    digits (``plot_samples``)."""

    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_real: list = field(default_factory=list)
    d_fake: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    fixed_noise: np.ndarray = None

    @property
    def epochs(self):
        return len(self.d_loss)

    def plot(self):
        """The two losses, and D's mean outputs on real and fake images, per epoch, beside the
        last epoch's samples. Returns the matplotlib Figure (needs matplotlib)."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
        epochs = range(1, self.epochs + 1)
        axes[0].plot(epochs, self.d_loss, "o-", label="D loss")
        axes[0].plot(epochs, self.g_loss, "s-", label="G loss")
        axes[1].plot(epochs, self.d_real, "o-", label="mean D(x), real")
        axes[1].plot(epochs, self.d_fake, "s-", label="mean D(G(z)), fake")
        for ax, label in zip(axes[:2], ("loss", "D's probability of real")):
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.legend()
            ax.grid(alpha=0.3)
        if self.samples and square_side(self.samples[-1]):
            axes[2].imshow(image_grid(self.samples[-1], ncols=8), cmap="gray")
            axes[2].set_title(f"G(fixed z) after epoch {self.epochs}")
        axes[2].axis("off")
        fig.tight_layout()
        return fig

    def plot_samples(self, ncols=8, max_epochs=None):
        """G's images of the fixed noise, one row per epoch (the first epochs at the top), so
        the samples can be watched becoming digits — or collapsing onto a few.

        ncols: how many of the fixed samples to show per epoch. max_epochs: show at most this
        many epochs, spread evenly from the first to the last (default: all). The samples must
        be one-channel square images ((K, 1, H, H), (K, H, H) or (K, H·H)). Returns the
        matplotlib Figure (needs matplotlib).
        """
        import matplotlib.pyplot as plt

        if not self.samples:
            raise ValueError("GanHistory.plot_samples: no samples (fit_gan with fixed_noise=0)")
        epochs = np.arange(self.epochs)
        if max_epochs is not None and max_epochs < len(epochs):
            epochs = np.unique(np.linspace(0, self.epochs - 1, max_epochs).round().astype(int))
        fig, axes = plt.subplots(len(epochs), 1, figsize=(1.1 * ncols, 1.2 * len(epochs)),
                                 squeeze=False)  # fmt: skip
        for ax, epoch in zip(axes[:, 0], epochs):
            ax.imshow(image_grid(self.samples[epoch][:ncols], ncols=ncols), cmap="gray")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_ylabel(f"epoch {epoch + 1}", rotation=0, ha="right", va="center")
        fig.tight_layout()
        return fig


def fit_gan(
    generator,
    discriminator,
    g_optimizer,
    d_optimizer,
    images,
    epochs=1,
    batch_size=64,
    latent_dim=None,
    seed=None,
    progress=True,
    fixed_noise=16,
):
    """Train a GAN: ``gan_step`` over every batch of ``images`` for ``epochs`` passes.

    images: the real samples (N, ...) (or a DataLoader / Dataset / (x, y) pair whose labels
    are ignored), scaled as the generator's output is (tanh: [−1, 1]).
    latent_dim: the size of the noise z (default: the generator's first layer's inputs).
    seed: the batch order and the noise. progress: a tqdm bar per epoch with D's and G's
    losses and the mean D(x) and D(G(z)). Returns a ``GanHistory``.
    fixed_noise: the noise whose images G makes after every epoch, kept in
    ``history.samples``: a count K (K vectors drawn once, after ``seed``), an array
    (K, latent_dim) to compare runs on the same z, or 0 to keep none.
    """
    if latent_dim is None:
        first = next((layer for layer in generator.modules() if layer.params), None)
        latent_dim = getattr(first, "in_features", None)
        if latent_dim is None:
            raise ValueError("fit_gan: give latent_dim (the generator does not start with a Linear)")
    if seed is not None:
        rng.seed(seed)
    if isinstance(images, np.ndarray):
        images = (images, np.zeros(len(images), np.int64))
    loader = _as_loader(images, batch_size, True, seed, "fit_gan images")
    program = StepProgram.gan(generator, discriminator, g_optimizer, d_optimizer, latent_dim)
    history = GanHistory(fixed_noise=_fixed_noise(fixed_noise, latent_dim, generator.dtype))
    keys = ("d_loss", "g_loss", "d_real", "d_fake")
    for epoch in range(epochs):
        generator.train()
        discriminator.train()
        start = time.perf_counter()
        sums, seen = dict.fromkeys(keys, 0.0), 0
        bar = epoch_bar(epoch, epochs, len(loader), progress)
        for xb, _ in loader:
            result = drain(program.run(xb))
            for key in keys:
                sums[key] += result[key] * len(xb)
            seen += len(xb)
            bar.update()
            bar.set_postfix({key: f"{sums[key] / seen:.3f}" for key in keys}, refresh=False)
        for key in keys:
            getattr(history, key).append(sums[key] / max(seen, 1))
        history.seconds.append(time.perf_counter() - start)
        if len(history.fixed_noise):
            history.samples.append(predict(generator, history.fixed_noise))
        bar.close()
    return history


def _fixed_noise(fixed_noise, latent_dim, dtype):
    """fit_gan's fixed noise (K, latent_dim): drawn from numbanet's generator for a count K."""
    if isinstance(fixed_noise, (int, np.integer)) and not isinstance(fixed_noise, bool):
        if fixed_noise < 0:
            raise ValueError(f"fit_gan: fixed_noise must be a count >= 0, got {fixed_noise}")
        return rng.generator().standard_normal((fixed_noise, latent_dim)).astype(dtype)
    noise = np.asarray(fixed_noise)
    if noise.ndim != 2 or noise.shape[1] != latent_dim or noise.dtype.kind != "f":
        raise ValueError(
            f"fit_gan: fixed_noise must be a count or a float array (K, {latent_dim}), "
            f"got {type(fixed_noise).__name__} of shape {noise.shape} and dtype {noise.dtype}"
        )
    return noise.astype(dtype)


def _scheduled_lr(lr_schedule, epoch):
    """lr_schedule(epoch), checked to be a positive number."""
    lr = lr_schedule(epoch)
    if not isinstance(lr, (int, float, np.floating)) or not lr > 0:
        raise ValueError(f"fit: lr_schedule({epoch}) must give a number > 0, got {lr!r}")
    return float(lr)


@dataclass
class Evaluation:
    """What ``evaluate`` measured. The classification metrics are None for regression losses;
    terms: {name: value per sample} of the model's objective terms (a VAE's "kl"), apart from
    the loss as in ``History``."""

    loss: float
    accuracy: float = None
    precision: float = None
    recall: float = None
    f1: float = None
    confusion: np.ndarray = None
    n_samples: int = 0
    terms: dict = field(default_factory=dict)

    def __str__(self):
        loss = f"loss {self.loss:.4f}" + "".join(
            f"  {name} {value:.4f}" for name, value in self.terms.items()
        )
        if self.accuracy is None:
            return f"{loss} on {self.n_samples} samples"
        return (
            f"{loss}  accuracy {self.accuracy:.4f}  precision {self.precision:.4f}"
            f"  recall {self.recall:.4f}  F1 {self.f1:.4f}  ({self.n_samples} samples)"
        )


def evaluate(model, data, loss_fn=None, batch_size=1024):
    """Loss, accuracy, macro precision/recall/F1 and the confusion matrix of ``model`` on ``data``.

    data: a DataLoader, a Dataset or an (x, y) pair. loss_fn: default CrossEntropyLoss for
    integer labels, else MSELoss. Runs in eval mode and restores the model's mode after.
    """
    loader = _as_loader(data, batch_size, False, None, "evaluate data")
    if loss_fn is None:
        loss_fn = CrossEntropyLoss() if np.asarray(loader.y).dtype.kind in "iu" else MSELoss()
    loss_fn.check_terms(model)
    terms = TermTotals()
    was_training = model.training
    model.eval()
    try:
        total_loss, seen, predicted, targets = 0.0, 0, [], []
        for xb, yb in loader:
            output = model.forward(xb)
            total_loss += loss_fn.sample_total(loss_fn(output, yb), len(xb))
            seen += len(xb)
            terms.add(model, len(xb))
            labels = loss_fn.predictions(output)
            n_classes = (
                output.shape[output.ndim - 1] if isinstance(loss_fn, CrossEntropyLoss) else 2
            )
            if labels is not None:
                predicted.append(labels.reshape(-1))
                targets.append(np.asarray(yb).reshape(-1).astype(np.int64))
    finally:
        model.train(was_training)
    result = Evaluation(loss=total_loss / max(seen, 1), n_samples=seen, terms=terms.averages())
    if predicted:
        y_true, y_pred = np.concatenate(targets), np.concatenate(predicted)
        result.accuracy = metrics.accuracy(y_true, y_pred)
        result.precision, result.recall, result.f1 = metrics.precision_recall_f1(
            y_true, y_pred, n_classes
        )
        result.confusion = metrics.confusion_matrix(y_true, y_pred, n_classes)
    return result


def predict(model, x, batch_size=1024):
    """The model's outputs for x in eval mode, as a new array (not a reused buffer)."""
    was_training = model.training
    model.eval()
    try:
        outputs = [
            to_host(model.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else to_host(model.forward(np.asarray(x)))
