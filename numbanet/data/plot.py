"""Figures of images: a grid with labels, inputs above their reconstructions, an encoder's 2-D
codes by class, and a VAE's samples from the prior and walks through its latent space
(matplotlib, imported only when called)."""

import math

import numpy as np


def _pyplot(who):
    """matplotlib.pyplot, or an ImportError that names ``who`` and how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f'{who} needs matplotlib: pip install "numbanet[widgets]"') from exc
    return plt


def square_side(x):
    """The side H of a batch of one-channel square images (N, 1, H, H), (N, H, H) or (N, H·H),
    or 0 when x is none of these."""
    shape = np.shape(x)
    if len(shape) == 4 and shape[1] == 1 and shape[2] == shape[3]:
        return shape[2]
    if len(shape) == 3 and shape[1] == shape[2]:
        return shape[1]
    if len(shape) == 2 and math.isqrt(shape[1]) ** 2 == shape[1]:
        return math.isqrt(shape[1])
    return 0


def as_images(x, who):
    """x (N, 1, H, W), (N, H, W) or (N, H·W) with a square H·W as (N, H, W); ``who`` names the
    caller in the error for any other shape."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        side = square_side(x)
        if not side:
            raise ValueError(f"{who}: cannot make square images of {x.shape[1]} pixels")
        return x.reshape(len(x), side, side)
    raise ValueError(
        f"{who}: expected one-channel images (N, 1, H, W), (N, H, W) or (N, H·W) with a square "
        f"H·W, got shape {x.shape}"
    )


def image_grid(x, ncols=8):
    """Tile N images into one 2-D array of ceil(N / ncols) rows of ``ncols`` images (blank
    tiles fill the last row), for a single ``imshow``. x: as ``as_images`` takes it.
    Output shape: (rows·H, ncols·W)."""
    images = as_images(x, "image_grid")
    n, h, w = images.shape
    rows = max(1, math.ceil(n / ncols))
    grid = np.zeros((rows * ncols, h, w), images.dtype)
    grid[:n] = images
    return grid.reshape(rows, ncols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, ncols * w)


def plot_images(x, labels=None, predictions=None, ncols=8, max_images=64, cmap="gray", fig=None):
    """Draw up to ``max_images`` images in a grid; returns the matplotlib Figure.

    x: (N, 1, H, W), (N, H, W) or (N, H·W) with a square H·W. labels, predictions: (N,) or
    (N, 1) class labels. Titles show the label, and the prediction after it when given (in red
    where it is wrong). ``fig``: an existing Figure to draw into (cleared first), e.g. a widget's;
    otherwise a new pyplot figure.
    """
    plt = _pyplot("plot_images")
    if labels is not None:
        labels = np.asarray(labels).reshape(len(labels), -1)[:, 0]  # (N, 1) targets print as 0
    if predictions is not None:
        predictions = np.asarray(predictions).reshape(len(predictions), -1)[:, 0]
    images = as_images(np.asarray(x)[:max_images], "plot_images")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    if fig is None:
        fig = plt.figure(figsize=(1.3 * ncols, 1.5 * nrows))
    else:
        fig.clear()
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap)
        title, color = [], "black"
        if labels is not None:
            title.append(str(labels[i]))
        if predictions is not None:
            title.append(f"→{predictions[i]}")
            if labels is not None and predictions[i] != labels[i]:
                color = "red"
        ax.set_title(" ".join(title), fontsize=9, color=color)
    fig.tight_layout()
    return fig


def plot_reconstructions(x, reconstructions, n=8, titles=("input", "reconstruction")):
    """The first ``n`` inputs in a top row above their reconstructions in a bottom row: what an
    autoencoder keeps and what it loses.

    x, reconstructions: (N, 1, H, W), (N, H, W) or (N, H·W) pixels (pass σ(logits) for a model
    that outputs logits), the same N. Returns the Figure: 2 rows of n image axes.
    """
    plt = _pyplot("plot_reconstructions")
    x, reconstructions = as_images(x, "plot_reconstructions"), as_images(
        reconstructions, "plot_reconstructions"
    )
    if x.shape != reconstructions.shape:
        raise ValueError(
            f"plot_reconstructions: expected reconstructions shaped like the inputs {x.shape}, "
            f"got {reconstructions.shape}"
        )
    n = min(n, len(x))
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.4), squeeze=False)
    for row, images, title in zip(axes, (x, reconstructions), titles):
        for ax, image in zip(row, images):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        row[0].set_ylabel(title, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def plot_codes(codes, labels, ax=None, title="codes"):
    """An encoder's 2-D codes as points coloured by class (a digit's label): which classes the
    code space keeps apart and which it mixes.

    codes: (N, 2). labels: (N,) integer classes. ax: an Axes to draw into, else a new figure.
    Returns the Figure: one Axes with one scatter and a colour bar labelled by class.
    """
    plt = _pyplot("plot_codes")
    codes, labels = np.asarray(codes), np.asarray(labels).reshape(-1)
    if codes.ndim != 2 or codes.shape[1] != 2 or len(labels) != len(codes):
        raise ValueError(
            f"plot_codes: expected codes (N, 2) and labels (N,), got {codes.shape} and "
            f"{labels.shape}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.2))
    classes = np.unique(labels)
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, s=4, alpha=0.7,
                        cmap=plt.get_cmap("tab10", len(classes)),
                        vmin=classes[0] - 0.5, vmax=classes[-1] + 0.5)  # fmt: skip
    ax.figure.colorbar(points, ax=ax, ticks=classes, label="class")
    ax.set_xlabel("code 1"), ax.set_ylabel("code 2"), ax.set_title(title)
    return ax.figure


def _split_at_reparameterize(vae):
    """A VAE's layers before and after its Reparameterize layer (the encoder and the decoder)."""
    from numbanet.layers.variational import Reparameterize

    layers = list(vae.layers) if hasattr(vae, "layers") else []
    at = [i for i, layer in enumerate(layers) if isinstance(layer, Reparameterize)]
    if len(at) != 1:
        raise ValueError(
            "a VAE figure expected a Sequential with one Reparameterize layer (nn.models.vae), "
            f"got {type(vae).__name__} with {len(at)}"
        )
    return layers[: at[0]], layers[at[0] + 1 :]


def _run_eval(vae, layers, x):
    """x through ``layers`` (some of the VAE's) in eval mode, as a new host array."""
    from numbanet.backend import to_host

    was_training = vae.training
    vae.eval()
    try:
        for layer in layers:
            x = layer.forward(x)
        return np.array(to_host(x))
    finally:
        vae.train(was_training)


def vae_encode(vae, x):
    """The means μ of a VAE's codes for x: its encoder's output before Reparameterize, eval
    mode. x: (N, ...) what the VAE takes. Output shape: (N, latent_dim)."""
    encoder, _ = _split_at_reparameterize(vae)
    stats = _run_eval(vae, encoder, np.asarray(x))
    return stats[:, : stats.shape[1] // 2]  # [μ | log σ²]


def vae_decode(vae, z):
    """A VAE's images for codes z (N, latent_dim): σ of its decoder's logits, in [0, 1], eval
    mode. Output shape: what the VAE outputs, e.g. (N, 784)."""
    _, decoder = _split_at_reparameterize(vae)
    logits = _run_eval(vae, decoder, np.asarray(z))
    return 1.0 / (1.0 + np.exp(-logits))


def plot_prior_samples(vae, n=32, ncols=8, seed=0):
    """A VAE as a generator: n codes drawn from the prior N(0, I), decoded. Images, not
    reconstructions: no input went in.

    Returns the Figure: one Axes with one image, the n samples tiled ``ncols`` across.
    """
    plt = _pyplot("plot_prior_samples")
    _, decoder = _split_at_reparameterize(vae)
    latent_dim = next(layer for layer in decoder if layer.params).in_features
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(vae.dtype)
    fig, ax = plt.subplots(figsize=(1.0 * ncols, 1.0 * np.ceil(n / ncols)))
    ax.imshow(image_grid(vae_decode(vae, z), ncols), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"decoded z ~ N(0, I), {n} samples"), ax.axis("off")
    return fig


def plot_latent_walk(vae, x_from, x_to, steps=10):
    """The walk between two inputs in a VAE's latent space: their codes' means μ₀ and μ₁,
    the straight line (1 − t)·μ₀ + t·μ₁ for ``steps`` values of t from 0 to 1, decoded.

    x_from, x_to: one input each, shaped as one of the VAE's samples (784,) or (1, 784).
    Returns the Figure: one row of ``steps`` image axes.
    """
    plt = _pyplot("plot_latent_walk")
    ends = np.stack([np.asarray(x_from).reshape(-1), np.asarray(x_to).reshape(-1)])
    mu = vae_encode(vae, ends.astype(vae.dtype))
    t = np.linspace(0.0, 1.0, steps, dtype=mu.dtype)[:, None]
    images = as_images(vae_decode(vae, (1 - t) * mu[0] + t * mu[1]), "plot_latent_walk")
    fig, axes = plt.subplots(1, steps, figsize=(1.0 * steps, 1.3), squeeze=False)
    for ax, image, ti in zip(axes[0], images, t[:, 0]):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"t={ti:.2f}", fontsize=7), ax.axis("off")
    fig.tight_layout()
    return fig
