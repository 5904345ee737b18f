"""A grid of images with their labels (matplotlib, imported only when called)."""

import math

import numpy as np


def plot_images(x, labels=None, predictions=None, ncols=8, max_images=64, cmap="gray"):
    """Draw up to ``max_images`` images in a grid; returns the matplotlib Figure.

    x: (N, 1, H, W), (N, H, W) or (N, H·W) with a square H·W. Titles show the label, and the
    prediction after it when given (in red where it is wrong).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('plot_images needs matplotlib: pip install "numbanet[widgets]"') from exc
    images = np.asarray(x)[:max_images]
    if images.ndim == 4:
        images = images[:, 0]
    elif images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"plot_images: cannot make square images of {images.shape[1]} pixels")
        images = images.reshape(-1, side, side)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.5 * nrows), squeeze=False)
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
