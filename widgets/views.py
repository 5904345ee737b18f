"""Figures of one training-step event, rendered to PNG bytes for the inspector.

Each function takes host NumPy arrays and returns a matplotlib Figure; ``png`` turns a figure
into bytes. Figures are made without pyplot, so nothing depends on a GUI backend.
"""

import io

import numpy as np
from matplotlib.figure import Figure

MAX_ROWS = 16  # samples shown per heatmap
MAX_IMAGES = 8


def png(fig):
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def stats(a):
    """ "mean … std … min … max …" of an array, for titles and tables."""
    if a.size == 0:
        return "empty"
    return f"mean {a.mean():.3g}  std {a.std():.3g}\nmin {a.min():.3g}  max {a.max():.3g}"


def image_grid(a, rows=4, columns=MAX_IMAGES):
    """A 4-D tensor (N, C, H, W) as one picture: a grid of its images, the first ``rows``
    samples down and their first ``columns`` channels across (feature maps of a conv layer's
    output; for a weight (O, C, KH, KW), filters down and input channels across), each framed
    by a NaN border that draws blank."""
    framed = np.pad(a[:rows, :columns], ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    n, c, h, w = framed.shape
    return framed.transpose(0, 2, 1, 3).reshape(n * h, c * w)


def draw_tensor(ax, name, a):
    """A tensor as a picture: images (and feature maps, filters) as a grid, anything else as a
    heatmap of its first rows."""
    a = np.asarray(a, dtype=np.float64)
    images = a.ndim == 4 and a.shape[2] > 1 and a.shape[3] > 1
    if images and a.shape[1] == 1:  # one channel: a row of images
        picture = image_grid(a.transpose(1, 0, 2, 3), rows=1)
    elif images:  # channels: samples (or filters) down, channels across
        picture = image_grid(a)
    else:
        picture = a.reshape(a.shape[0], -1)[:MAX_ROWS] if a.ndim > 1 else a.reshape(1, -1)
    finite = picture[np.isfinite(picture)]
    limit = np.abs(finite).max() if finite.size else 1.0
    cmap = "gray" if images and a.shape[1] == 1 else "RdBu_r"
    vmin = finite.min() if cmap == "gray" and finite.size else -limit
    ax.imshow(
        picture, aspect="auto", cmap=cmap, vmin=vmin, vmax=limit or 1.0, interpolation="nearest"
    )
    ax.set_title(f"{name}\n{tuple(a.shape)}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_histogram(ax, name, a):
    a = np.asarray(a, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    counts, edges = np.histogram(a, bins=40)
    ax.stairs(counts, edges, fill=True, color="tab:blue", alpha=0.8)  # one artist: fast to draw
    ax.set_title(f"{name}\n{stats(a)}", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.locator_params(axis="x", nbins=4)


PANELS = ("tensor", "histogram")  # kinds drawn in the event's row of panels


def event_figure(title, panels):
    """The main picture of an event: its ``panels`` (``View``s of kind "tensor" or
    "histogram": what went in and out, and the distribution of values) side by side."""
    if not panels:  # a layer below the first with params: backprop stops before it
        fig = Figure(figsize=(4, 1.2), layout="constrained")
        ax = fig.subplots()
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"{title}: nothing to compute\n(no earlier layer has params)",
            ha="center",
            va="center",
            fontsize=9,
        )
        return fig
    fig = Figure(figsize=(3.2 * len(panels), 2.8), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, view in zip(axes, panels):
        draw = draw_tensor if view.kind == "tensor" else draw_histogram
        draw(ax, view.title, view.data)
    fig.suptitle(title, fontsize=10)
    return fig


def time_figure(title, views):
    """The views that are not panels, side by side: "states" (each state a heatmap, units down
    and steps across), "curves" (lines over the steps) and "matrices" (heatmaps per head)."""
    columns = sum(len(v.data) if v.kind in ("states", "matrices") else 1 for v in views)
    fig = Figure(figsize=(3.6 * columns, 2.8), layout="constrained")
    axes = iter(fig.subplots(1, columns, squeeze=False)[0])
    for view in views:
        if view.kind == "states":
            for name, states in view.data.items():
                draw_states(fig, next(axes), name, states)
        elif view.kind == "matrices":
            for k, matrix in enumerate(view.data):
                draw_matrix(fig, next(axes), f"{view.title} {k}", matrix, view.options)
        else:
            draw_curves(next(axes), view.title, view.data, view.options.get("log", False))
    fig.suptitle(title, fontsize=9)
    return fig


def draw_states(fig, ax, title, a):
    """A state over time (T, H) as a heatmap: hidden units down, steps across from 1."""
    limit = max(np.abs(a).max(), 1e-30)
    steps, units = a.shape
    image = ax.imshow(
        a.T,
        aspect="auto",
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        interpolation="nearest",
        extent=(0.5, steps + 0.5, units - 0.5, -0.5),  # steps numbered from 1, as h_1 … h_T
    )
    fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=6)
    ax.set_title(f"{title}\n(units × steps)", fontsize=8)
    ax.set_xlabel("step t", fontsize=7)
    ax.set_ylabel("hidden unit", fontsize=7)
    ax.tick_params(labelsize=6)


def draw_matrix(fig, ax, title, matrix, options):
    """One matrix as a heatmap with a colour bar (attention: queries down, keys across),
    ``options["labels"]`` on both axes when given."""
    image = ax.imshow(matrix, cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=6)
    labels = options.get("labels")
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xlabel(options.get("xlabel", ""), fontsize=7)
    ax.set_ylabel(options.get("ylabel", ""), fontsize=7)
    ax.set_title(title, fontsize=8)


def draw_curves(ax, title, curves, log=False):
    """{label: (T,)} as lines over the steps t = 1 … T (on a log scale with ``log``, where a
    line falling towards t = 1 is a vanishing gradient)."""
    for label, values in curves.items():
        values = np.maximum(values, 1e-30) if log else values
        ax.plot(range(1, len(values) + 1), values, "o-", markersize=2, label=label)
    if log:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend(fontsize=6)
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("step t", fontsize=7)
    ax.tick_params(labelsize=6)


def loss_figure(losses, penalties=()):
    """The loss of every step taken so far; with an L1/L2 penalty (one per step, beside the
    losses), the data loss and loss + penalty, the objective the optimizer descends."""
    fig = Figure(figsize=(4, 2.4), layout="constrained")
    ax = fig.subplots()
    steps = range(1, len(losses) + 1)
    penalised = any(penalties)
    ax.plot(steps, losses, "o-", markersize=3, label="data loss")
    if penalised:
        objective = [loss + penalty for loss, penalty in zip(losses, penalties)]
        ax.plot(steps, objective, "o--", markersize=3, label="loss + penalty")
        ax.legend(fontsize=7)
    if not losses:
        ax.text(
            0.5,
            0.5,
            "no loss yet: step to the loss",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    title = "loss curve"
    if losses:
        last = f"{losses[-1]:.4f}" + (f" + penalty {penalties[-1]:.4f}" if penalised else "")
        title += f" (last {last})"
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    return fig


def gradient_flow_figure(norms):
    """Gradient norm per param, in model order: where gradients vanish or explode."""
    fig = Figure(figsize=(4.5, 2.6), layout="constrained")
    ax = fig.subplots()
    names, values = list(norms), [max(v, 1e-30) for v in norms.values()]
    ax.bar(range(len(values)), values, color="tab:orange")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    ax.set_title("gradient flow: ‖∂L/∂param‖", fontsize=9)
    return fig


def terms_figure(terms):
    """Histograms of the terms of one param's update (see ``numbanet.debug.update_terms``),
    the optimizer's state (momentum buffer, Adam's bias-corrected m and v) among them."""
    fig = Figure(figsize=(3 * len(terms), 2.4), layout="constrained")
    axes = fig.subplots(1, len(terms), squeeze=False)[0]
    for ax, (name, a) in zip(axes, terms.items()):
        draw_histogram(ax, name, a)
    return fig


def bptt_figure(norms):
    """Backpropagation through time: ‖∂L/∂h_t‖ at every step t, one line per stacked layer
    (``norms``: {label: (T,)}). A line falling towards t = 1 is a vanishing gradient."""
    fig = Figure(figsize=(4.5, 2.6), layout="constrained")
    draw_curves(fig.subplots(), "BPTT: ‖∂L/∂h_t‖ per step", norms, log=True)
    return fig
