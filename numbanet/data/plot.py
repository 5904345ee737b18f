"""A grid of images with their labels (matplotlib, imported only when called)."""

import math

import numpy as np


def plot_images(x, labels=None, predictions=None, ncols=8, max_images=64, cmap="gray", fig=None):
    """Draw up to ``max_images`` images in a grid; returns the matplotlib Figure.

    x: (N, 1, H, W), (N, H, W) or (N, H·W) with a square H·W. labels, predictions: (N,) or
    (N, 1) class labels. Titles show the label, and the prediction after it when given (in red
    where it is wrong). ``fig``: an existing Figure to draw into (cleared first), e.g. a widget's;
    otherwise a new pyplot figure.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('plot_images needs matplotlib: pip install "numbanet[widgets]"') from exc
    if labels is not None:
        labels = np.asarray(labels).reshape(len(labels), -1)[:, 0]  # (N, 1) targets print as 0
    if predictions is not None:
        predictions = np.asarray(predictions).reshape(len(predictions), -1)[:, 0]
    images = np.asarray(x)[:max_images]
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    elif images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"plot_images: cannot make square images of {images.shape[1]} pixels")
        images = images.reshape(-1, side, side)
    elif images.ndim != 3:
        raise ValueError(
            f"plot_images: expected (N, 1, H, W), (N, H, W) or (N, H·W) images, got {np.shape(x)}"
        )
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
