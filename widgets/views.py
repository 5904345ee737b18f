"""Figures of one training-step event: each a tile, rendered at the size it is shown.

A tile is one matplotlib Figure drawn at ``DPI`` = 96 dots per inch, the CSS pixel, and shown at
its own pixel size, so nothing is blown up and text keeps its size: no text is smaller than
``FONT`` points (12 px). Every heatmap has a colour bar; signed data is drawn on a diverging
map centred at zero (white is 0), other data on a sequential map from 0; images keep their
aspect ratio (each pixel a square of ``zoom`` screen pixels); values that are not finite are
painted magenta and counted in the title, and a histogram says how many it could not place.
Figures are made without pyplot, so nothing depends on a GUI backend.
"""

import base64
import html
import io
import math
import textwrap
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

DPI = 96  # a PNG of w pixels is shown w CSS pixels wide: unscaled
FONT = 9  # points, the smallest text in any tile (12 px at DPI)
TITLE = 10  # points
LINE = 17  # pixels per line of title
PAD = 8
CBAR = 84  # pixels right of a heatmap for its colour bar and its labels
MAX_ROWS = 16  # rows of a heatmap (samples)
MAX_IMAGES = 8
NOT_FINITE = "#ff00ff"  # magenta: on none of the colour maps used


@dataclass
class Tile:
    """One figure as PNG bytes, with what the page and its tests need to know about it.

    width, height: pixels (shown at that size); heatmaps: images drawn in it, of which
    ``colour_bars`` have a colour bar; smallest_font: the smallest text in it, in points.
    """

    title: str
    png: bytes
    width: int
    height: int
    heatmaps: int
    colour_bars: int
    smallest_font: float


def render(fig, title=""):
    """The figure as a Tile: PNG at DPI, its pixel size, and the facts about it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    width, height = (round(v) for v in fig.bbox.size)
    heatmaps = [im for ax in fig.axes for im in ax.images if im.get_gid() != "overlay"]
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    return Tile(
        title,
        buffer.getvalue(),
        width,
        height,
        len(heatmaps),
        sum(im.colorbar is not None for im in heatmaps),
        min(sizes, default=FONT),
    )


def png(fig):
    """The figure as PNG bytes at DPI."""
    return render(fig).png


def canvas(width, height):
    """An empty figure of width × height pixels."""
    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI)


def place(fig, left, top, width, height):
    """Axes at a rectangle given in pixels from the figure's top-left corner."""
    w, h = fig.bbox.size
    return fig.add_axes((left / w, 1 - (top + height) / h, width / w, height / h))


def wrap(text, width_px):
    """``text`` wrapped to lines that fit ``width_px`` pixels at the title's size."""
    columns = max(int(width_px / 7.2), 10)
    return "\n".join(textwrap.fill(line, columns) for line in text.split("\n"))


def title_height(text, width):
    """The pixels ``title_block`` takes for ``text`` in a tile ``width`` pixels wide."""
    return 6 + LINE * (wrap(text, width - 2 * PAD).count("\n") + 1)


def title_block(fig, text, width, color="black"):
    """The tile's title at its top left; returns the pixels it takes."""
    fig.text(PAD / width, 1 - 4 / fig.bbox.height, wrap(text, width - 2 * PAD), ha="left",
             va="top", fontsize=TITLE, color=color)  # fmt: skip
    return title_height(text, width)


def non_finite_note(a):
    """"" when every value is finite, else e.g. "⚠ 3 NaN, 1 +Inf of 2,048 (magenta)"."""
    nan = int(np.isnan(a).sum())
    pos, neg = int(np.isposinf(a).sum()), int(np.isneginf(a).sum())
    parts = [f"{n} {name}" for n, name in ((nan, "NaN"), (pos, "+Inf"), (neg, "−Inf")) if n]
    return f"⚠ {', '.join(parts)} of {a.size:,}" if parts else ""


def shape_text(a):
    return "×".join(str(n) for n in np.shape(a)) or "scalar"


# ----- heatmaps and images ------------------------------------------------------------------
def colour_scale(values, image=False):
    """(colour map, vmin, vmax) for the finite ``values``: signed data on a diverging map
    centred at zero, so white means 0; non-negative data from 0 on a sequential one (grey for
    images, as they are usually drawn)."""
    if values.size and values.min() < 0:
        limit = float(np.abs(values).max())
        return "RdBu_r", -limit, limit
    top = float(values.max()) if values.size else 1.0
    return ("gray" if image else "viridis"), 0.0, top if top > 0 else 1.0


def heatmap(fig, ax, picture, image=False, frame=None, extent=None, colour_bar=None):
    """Draw ``picture`` (2-D) with a colour bar in the rectangle ``colour_bar`` (pixels: left,
    top, width, height). ``frame``: a mask of pixels that are only borders between images
    (drawn blank); values that are not finite are painted magenta over the map."""
    frame = np.zeros(picture.shape, bool) if frame is None else frame
    finite = np.isfinite(picture) & ~frame
    name, vmin, vmax = colour_scale(picture[finite], image)
    cmap = matplotlib.colormaps[name].with_extremes(bad=(0, 0, 0, 0))
    interpolation = "nearest" if image else "antialiased"
    shown = ax.imshow(
        np.ma.masked_array(picture, ~finite), cmap=cmap, vmin=vmin, vmax=vmax,
        interpolation=interpolation, aspect="equal" if image else "auto", extent=extent,
    )  # fmt: skip
    bad = ~np.isfinite(picture) & ~frame
    if bad.any():
        overlay = ax.imshow(
            np.ma.masked_array(np.ones(picture.shape), ~bad), cmap=ListedColormap([NOT_FINITE]),
            interpolation="nearest", aspect=shown.axes.get_aspect(), extent=extent,
        )  # fmt: skip
        overlay.set_gid("overlay")
    bar = fig.colorbar(shown, cax=place(fig, *colour_bar), format=FormatStrFormatter("%.3g"))
    bar.locator = MaxNLocator(5)
    bar.update_ticks()
    bar.ax.tick_params(labelsize=FONT)
    return shown


def image_grid(a, rows=4, columns=MAX_IMAGES):
    """A 4-D tensor (N, C, H, W) as one picture: the first ``rows`` samples down and their
    first ``columns`` channels across (feature maps of a conv layer's output; for a weight
    (O, C, KH, KW), filters down and input channels across), each framed by a NaN border.
    One channel: the first rows × columns images in rows. Returns the picture; its frame is
    where it is NaN and ``a`` was not."""
    a = np.asarray(a, dtype=np.float64)
    if a.shape[1] == 1:  # one channel: images in rows, ``columns`` to a row
        count = min(a.shape[0], rows * columns)
        across = min(count, columns)
        down = math.ceil(count / across)
        padded = np.full((down * across, 1) + a.shape[2:], np.nan)
        padded[:count] = a[:count]
        a = padded.reshape(down, across, *a.shape[2:])
    else:
        a = a[:rows, :columns]
    framed = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    n, c, h, w = framed.shape
    return framed.transpose(0, 2, 1, 3).reshape(n * h, c * w)


def grid_frame(a, rows=4, columns=MAX_IMAGES):
    """The frame mask of ``image_grid(a, rows, columns)``: True on the borders and empty cells."""
    marker = np.zeros(a.shape, dtype=np.float64)
    return np.isnan(image_grid(marker, rows, columns))


def as_images(a, options):
    """``a`` as (N, C, H, W) images if it is images (4-D with H, W > 1), or a batch of 2-D
    samples the view marks ``options["image"]`` (a sequence of rows: (N, T, F) drawn T × F,
    as a digit read row by row); else None."""
    a = np.asarray(a)
    if a.ndim == 4 and a.shape[2] > 1 and a.shape[3] > 1:
        return a
    if options.get("image") and a.ndim == 3:
        return a[:, None]
    return None


def image_figure(title, images, options):
    """Images as images: each pixel a square of ``zoom`` screen pixels (the largest whole
    number that keeps the grid within about 460 × 320), a colour bar beside."""
    rows = options.get("rows", 4)
    picture = image_grid(images, rows)
    frame = grid_frame(images, rows)
    zoom = max(1, min(8, 460 // picture.shape[1], 320 // picture.shape[0]))
    grid_w, grid_h = picture.shape[1] * zoom, picture.shape[0] * zoom
    n, c = images.shape[:2]
    if c == 1:
        shown = f"first {min(n, rows * MAX_IMAGES)} of {n}"
    else:
        shown = f"{min(n, rows)} of {n} down × {min(c, MAX_IMAGES)} of {c} channels across"
    width = max(grid_w + 2 * PAD + CBAR, 260)
    note = non_finite_note(images)
    text = f"{title}  ({shape_text(images if not options.get('image') else images[:, 0])})"
    text += f"\n{shown}" + (f"\n{note}" if note else "")
    top = title_height(text, width)
    fig = canvas(width, top + grid_h + PAD)
    title_block(fig, text, width, "#b00020" if note else "black")
    ax = place(fig, PAD, top, grid_w, grid_h)
    ax.set_axis_off()
    heatmap(fig, ax, picture, image=True, frame=frame,
            colour_bar=(PAD + grid_w + 8, top, 12, grid_h))  # fmt: skip
    return fig


def matrix_figure(title, a, options=None, width=340, height=270):
    """A 2-D array as a heatmap with a colour bar: rows down (samples, units, queries), columns
    across; ``options``: "xlabel", "ylabel", "labels" (ticks on both axes), "extent"."""
    options = options or {}
    a = np.asarray(a, dtype=np.float64)
    note = non_finite_note(a)
    fig = canvas(width, height)
    top = title_block(fig, title + (f"\n{note}" if note else ""), width,
                      "#b00020" if note else "black")  # fmt: skip
    left = PAD + (40 if options.get("ylabel") or options.get("labels") is not None else 0)
    bottom = PAD + (34 if options.get("xlabel") or options.get("labels") is not None else 0)
    box = (left, top, width - left - CBAR, height - top - bottom)
    ax = place(fig, *box)
    heatmap(fig, ax, a, extent=options.get("extent"),
            colour_bar=(box[0] + box[2] + 8, top, 12, box[3]))  # fmt: skip
    labels = options.get("labels")
    if labels is not None:  # at most 32 ticks a side, so that each stays readable
        ticks = range(0, len(labels), -(-len(labels) // 32))
        ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize=FONT)
        ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=FONT)
    elif options.get("extent") is not None:
        ax.tick_params(labelsize=FONT)
        ax.locator_params(nbins=5)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel(options.get("xlabel", ""), fontsize=FONT)
    ax.set_ylabel(options.get("ylabel", ""), fontsize=FONT)
    return fig


def vector_figure(title, a, width=340, height=230):
    """A 1-D tensor (a bias, running statistics) as its values by index: a line, not a
    heatmap, so each value can be read off the axis."""
    a = np.asarray(a, dtype=np.float64)
    note = non_finite_note(a)
    fig = canvas(width, height)
    top = title_block(fig, title + (f"\n{note}" if note else ""), width,
                      "#b00020" if note else "black")  # fmt: skip
    ax = place(fig, 52, top + 4, width - 52 - PAD - 4, height - top - 4 - 40)
    marker = "o" if a.size <= 64 else ""
    ax.plot(np.arange(a.size), a, marker=marker, markersize=3, linewidth=1)
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        ax.plot(bad, np.zeros(bad.size), "x", color=NOT_FINITE, markersize=8, label="not finite")
        ax.legend(fontsize=FONT)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("index", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.yaxis.get_offset_text().set_fontsize(FONT)
    return fig


def tensor_figure(view):
    """A "tensor" view: images as images, a vector as a line, a matrix or the first sample of a
    3-D tensor as a heatmap (the first ``MAX_ROWS`` rows)."""
    a = np.asarray(view.data)
    if a.dtype.kind not in "fc":
        a = a.astype(np.float64)
    images = as_images(a, view.options)
    if images is not None:
        return image_figure(view.title, images, view.options)
    title = f"{view.title}  ({shape_text(a)})"
    if a.ndim == 0:
        return text_figure(title, f"{float(a):.6g}")
    if a.ndim == 1:
        return vector_figure(title, a)
    options = dict(view.options)
    if a.ndim == 3:
        a = a[0]
        title += "\nthe first sample: rows × columns"
        options["ylabel"] = "row"
    elif a.ndim > 3:
        a = a.reshape(a.shape[0], -1)
    if a.shape[0] > MAX_ROWS and options.get("ylabel") == "sample":
        title += f"\nfirst {MAX_ROWS} samples"
        a = a[:MAX_ROWS]
    return matrix_figure(title, a, options)


def text_figure(title, text, width=260, height=120):
    fig = canvas(width, height)
    top = title_block(fig, title, width)
    fig.text(0.5, 1 - (top + (height - top) / 2) / height, text, ha="center", va="center",
             fontsize=14)  # fmt: skip
    return fig


# ----- distributions and curves --------------------------------------------------------------
def stats(a):
    """ "mean … std …\\nmin … max …" of the finite values of an array."""
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return "no finite values"
    return (
        f"mean {finite.mean():.3g}  std {finite.std():.3g}\n"
        f"min {finite.min():.3g}  max {finite.max():.3g}"
    )


def histogram_figure(title, a, width=340, height=250):
    """The distribution of a tensor's values, with its statistics. Values that are not finite
    cannot sit on the axis: the title counts them and says the statistics leave them out."""
    a = np.asarray(a, dtype=np.float64).ravel()
    note = non_finite_note(a)
    text = f"{title}  ({a.size:,} values)\n{stats(a)}"
    if note:
        text += f"\n{note}: statistics of the finite values"
    fig = canvas(width, height)
    top = title_block(fig, text, width, "#b00020" if note else "black")
    ax = place(fig, 52, top + 4, width - 52 - PAD - 4, height - top - 4 - 30)
    finite = a[np.isfinite(a)]
    counts, edges = np.histogram(finite, bins=40) if finite.size else ([0], [0, 1])
    ax.stairs(counts, edges, fill=True, color="tab:blue", alpha=0.8)  # one artist: fast
    if note:
        ax.text(0.98, 0.95, note.split(" of ")[0], transform=ax.transAxes, ha="right",
                va="top", color="white", fontsize=FONT,
                bbox={"facecolor": NOT_FINITE, "edgecolor": "none"})  # fmt: skip
    ax.tick_params(labelsize=FONT)
    ax.locator_params(axis="x", nbins=4)
    ax.xaxis.get_offset_text().set_fontsize(FONT)
    return fig


def curves_figure(title, curves, log=False, width=380, height=260):
    """{label: (T,)} as lines over the steps t = 1 … T (on a log scale with ``log``, where a
    line falling towards t = 1 is a vanishing gradient; a zero stays off the log axis)."""
    fig = canvas(width, height)
    top = title_block(fig, title, width)
    ax = place(fig, 56, top + 4, width - 56 - PAD - 4, height - top - 4 - 40)
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if log:
            values = np.where(values > 0, values, np.nan)
        ax.plot(range(1, len(values) + 1), values, "o-", markersize=3, label=label)
    if log:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend(fontsize=FONT, ncols=min(len(curves), 4))
    ax.set_xlabel("step t", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    return fig


def states_figure(title, a):
    """A state over time (T, H) as a heatmap: hidden units down, steps across from 1."""
    steps, units = a.shape
    options = {"xlabel": "step t", "ylabel": "hidden unit",
               "extent": (0.5, steps + 0.5, units - 0.5, -0.5)}  # fmt: skip
    return matrix_figure(f"{title}  (units × steps)", a.T, options, width=380)


def view_figures(view):
    """The figures of one View, in order (a "states" or "matrices" view gives one per state or
    matrix)."""
    if view.kind == "tensor":
        return [tensor_figure(view)]
    if view.kind == "histogram":
        return [histogram_figure(view.title, view.data)]
    if view.kind == "states":
        return [states_figure(f"{view.title}: {name}", s) for name, s in view.data.items()]
    if view.kind == "matrices":
        return [matrix_figure(f"{view.title} {k}", m, view.options)
                for k, m in enumerate(view.data)]  # fmt: skip
    if view.kind == "curves":
        return [curves_figure(view.title, view.data, view.options.get("log", False))]
    raise ValueError(f"unknown view kind {view.kind!r} of {view.title!r}")


def loss_figure(losses, penalties=()):
    """The loss of every step taken so far; with an L1/L2 penalty (one per step, beside the
    losses), the data loss and loss + penalty, the objective the optimizer descends."""
    width, height = 380, 250
    penalised = any(penalties)
    title = "loss curve"
    if losses:
        last = f"{losses[-1]:.4f}" + (f" + penalty {penalties[-1]:.4f}" if penalised else "")
        title += f": step {len(losses)}, loss {last}"
    fig = canvas(width, height)
    top = title_block(fig, title, width)
    ax = place(fig, 56, top + 4, width - 56 - PAD - 4, height - top - 4 - 40)
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, "o-", markersize=3, label="data loss")
    if penalised:
        objective = [loss + penalty for loss, penalty in zip(losses, penalties)]
        ax.plot(steps, objective, "o--", markersize=3, label="loss + penalty")
        ax.legend(fontsize=FONT)
    if not losses:
        ax.text(0.5, 0.5, "no loss yet: step to the loss", ha="center", va="center",
                transform=ax.transAxes, fontsize=FONT)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, len(losses) + 0.5)
        if len(losses) < 6:
            ax.set_xticks(range(1, len(losses) + 1))
    ax.set_xlabel("step", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    return fig


def gradient_flow_figure(norms, reached=None):
    """‖∂L/∂param‖ per param in model order, on a log scale: where gradients vanish or
    explode. ``reached``: the params backprop has reached in this step; the others are marked
    "not yet" instead of a bar (their gradient is last step's, or none), and a zero gradient is
    written "0" (the log axis cannot hold it)."""
    names = list(norms)
    reached = set(names if reached is None else reached)
    width = min(max(380, 90 + 34 * len(names)), 900)
    height = 300
    fig = canvas(width, height)
    top = title_block(fig, "gradient flow: ‖∂L/∂param‖ this step (log scale)", width)
    ax = place(fig, 60, top + 4, width - 60 - PAD - 4, height - top - 4 - 110)
    values = [norms[n] if n in reached else np.nan for n in names]
    positive = [v for v in values if v > 0]
    ax.bar(range(len(names)), [v if v > 0 else np.nan for v in values], color="tab:orange")
    ax.set_yscale("log")
    floor = min(positive) / 10 if positive else 1e-3
    ax.set_ylim(floor, max(positive) * 10 if positive else 1)
    for i, value in enumerate(values):
        label = "not yet" if np.isnan(value) else "0" if value == 0 else ""
        if label:
            ax.text(i, floor * 1.5, label, ha="center", va="bottom", rotation=90,
                    color="#666", fontsize=FONT)  # fmt: skip
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    return fig


def terms_figure(terms):
    """Histograms of the terms of one param's update (see ``numbanet.debug.update_terms``),
    the optimizer's state (momentum buffer, Adam's bias-corrected m and v) among them, three
    to a row."""
    columns = min(len(terms), 3)
    rows = math.ceil(len(terms) / columns)
    cell_w, cell_h = 230, 190
    width, height = columns * cell_w, rows * cell_h
    fig = canvas(width, height)
    for k, (name, a) in enumerate(terms.items()):
        a = np.asarray(a, dtype=np.float64).ravel()
        x0, y0 = (k % columns) * cell_w, (k // columns) * cell_h
        text = wrap(name, cell_w - 10)
        fig.text((x0 + 6) / width, 1 - (y0 + 4) / height, text, ha="left", va="top",
                 fontsize=FONT)  # fmt: skip
        top = 8 + 15 * (text.count("\n") + 1)
        ax = place(fig, x0 + 44, y0 + top, cell_w - 44 - 12, cell_h - top - 26)
        finite = a[np.isfinite(a)]
        counts, edges = np.histogram(finite, bins=30) if finite.size else ([0], [0, 1])
        ax.stairs(counts, edges, fill=True, color="tab:green", alpha=0.8)
        ax.tick_params(labelsize=FONT)
        ax.locator_params(axis="x", nbins=3)
        ax.xaxis.get_offset_text().set_fontsize(FONT)
    return fig


def probabilities_figure(probabilities, targets, predicted):
    """Predicted probabilities of the first samples (rows) over the classes (columns), the
    target class ringed in white and the predicted class crossed."""
    n, classes = probabilities.shape
    width = min(max(340, 170 + 26 * classes), 640)
    height = 80 + 24 * n
    fig = canvas(width, height)
    top = title_block(fig, f"p(class) of the first {n} samples\n○ target  × predicted", width)
    box = (80, top, width - 80 - CBAR, height - top - 36)
    ax = place(fig, *box)
    heatmap(fig, ax, probabilities, colour_bar=(box[0] + box[2] + 8, top, 12, box[3]))
    rows = np.arange(n)
    ax.scatter(targets, rows, s=160, facecolors="none", edgecolors="white", linewidths=2)
    ax.scatter(predicted, rows, s=60, marker="x", color="#d62728", linewidths=2)
    ax.set_xticks(range(classes))
    ax.set_yticks(rows, [f"sample {i}" for i in rows])
    ax.tick_params(labelsize=FONT)
    ax.set_xlabel("class", fontsize=FONT)
    return fig


# ----- several tiles as one picture ------------------------------------------------------------
def composite(tiles, lines=(), width=980, gap=8):
    """Tiles laid out as a page lays them out (left to right, wrapping at ``width`` pixels),
    under ``lines`` of text, as one PNG: a static picture of what was shown."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    width = max([width] + [t.width + 2 * gap for t in tiles])
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 15)
    spots, x, y, row = [], gap, gap + 22 * len(lines), 0
    for tile in tiles:
        if x > gap and x + tile.width > width - gap:
            x, y, row = gap, y + row + gap, 0
        spots.append((x, y))
        x, row = x + tile.width + gap, max(row, tile.height)
    page = Image.new("RGB", (width, y + row + gap), "white")
    draw = ImageDraw.Draw(page)
    for k, line in enumerate(lines):
        draw.text((gap, gap + 22 * k), line, fill="black", font=font)
    for tile, spot in zip(tiles, spots):
        page.paste(Image.open(io.BytesIO(tile.png)), spot)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def tiles_html(tiles):
    """The tiles as <img> elements at their own size, wrapping like the inspector's row."""
    images = "".join(
        f"<img alt='{html.escape(t.title)}' width='{t.width}' height='{t.height}' "
        f"style='max-width:100%;height:auto' src='data:image/png;base64,"
        f"{base64.b64encode(t.png).decode()}'>"
        for t in tiles
    )
    return f"<div style='display:flex;flex-wrap:wrap;gap:8px'>{images}</div>"


class Picture:
    """Tiles to display in a notebook (as <img>s, or one PNG where HTML is not shown)."""

    def __init__(self, tiles):
        self.tiles = list(tiles)

    def _repr_html_(self):
        return tiles_html(self.tiles)

    def _repr_png_(self):
        return composite(self.tiles)
