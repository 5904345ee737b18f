"""CPU against CUDA in Jupyter: the comparison table, where two outputs differ, and which GPU
block and thread computed each element.

    from numbanet.widgets import CompareView
    CompareView(kernels=["dense_forward", "relu_forward"])

The table is ``numbanet.compare.run``'s. Choosing one of its rows reruns that kernel once on
each backend, on the same inputs, and draws one of its arrays twice: |cuda − cpu| element by
element, and the launch geometry — each element coloured by the block whose thread computed
it, and numbered with that thread's index.
"""

import html
import math

import ipywidgets as w
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from numbanet import compare
from numbanet.widgets import views

ANNOTATE = 400  # arrays up to this many elements get each element's thread index written in
BLOCK_COLOURS = 10  # block b is drawn in colour b mod 10 of "tab10"; outlines part equal colours
OUTLINE = 150  # block outlines on pictures up to this many cells a side; beyond, lines hide cells


def owner_of_elements(launch, shape):
    """Which block and which thread of ``launch`` computed each element of an array of ``shape``.

    launch: a ``Launch`` (its ``blocks`` and ``threads``, (x,) or (x, y)); shape: the array's.
    Returns (block_ids, thread_ids): int arrays of shape (*shape, d), d = len(launch.threads),
    holding the (x,) or (x, y) values ``cuda.blockIdx`` and ``cuda.threadIdx`` had in that thread.

    A 1-D launch (``grid_1d``) runs one thread per index i of the first axis: block
    i // threads, thread i % threads — for a row kernel's (R, C) output a whole row is one
    thread's. A 2-D launch (``grid_2d``, the tiled matmul) runs x along the columns and y down
    the rows, so element (i, j) is block (j // tx, i // ty), thread (j % tx, i % ty).
    """
    dims = len(launch.threads)
    if dims > len(shape):
        raise ValueError(f"a {dims}-D launch cannot compute an array of shape {tuple(shape)}")
    index = np.indices(shape)
    along_grid = np.stack([index[0]] if dims == 1 else [index[1], index[0]], axis=-1)
    threads = np.array(launch.threads)
    return along_grid // threads, along_grid % threads


def covers(launch, shape):
    """True if the grid of ``launch`` just covers an array of ``shape`` — its first axis for a 1-D
    grid, its (columns, rows) for a 2-D one: a thread for every index and no block to spare."""
    dims = len(launch.threads)
    if dims > len(shape):
        return False
    extents = shape[:1] if dims == 1 else (shape[1], shape[0])
    return all(
        (blocks - 1) * threads < n <= blocks * threads
        for blocks, threads, n in zip(launch.blocks, launch.threads, extents)
    )


def launch_of(launches, shape):
    """The launch that computed an output of ``shape``, or None.

    Every launcher sizes its grid from the array it writes (or from that array's rows), so it
    is the launch whose grid just covers it. Grids of the array's own rank are tried first: a
    (J, I) gradient comes from a 2-D matmul, not from a 1-D launch that happens to cover J rows.
    """
    same_rank_first = sorted(launches, key=lambda launch: len(launch.threads) != len(shape))
    return next((launch for launch in same_rank_first if covers(launch, shape)), None)


def as_grid(a, fill):
    """An array as a 2-D picture: a 2-D array as it is, a 1-D one row-major in a near-square
    grid whose cells past its end hold ``fill``."""
    if a.ndim == 2:
        return a
    width = max(1, math.ceil(math.sqrt(a.size)))
    padding = np.full(math.ceil(a.size / width) * width - a.size, fill, a.dtype)
    return np.concatenate([a.ravel(), padding]).reshape(-1, width)


def difference_figure(diff, summary, name):
    """|cuda − cpu| of one array as a heatmap with a colorbar, a 1-D array in a near-square grid.
    diff: the absolute differences (any shape); summary: their ``numbanet.compare.Difference``."""
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(
        as_grid(diff, np.nan),
        cmap="viridis",
        vmin=0,
        vmax=summary.max_abs or 1.0,  # all equal: one colour, not a division by zero
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, label="|cuda − cpu|")
    ax.set_title(
        f"{name} {tuple(diff.shape)}: where CUDA differs from the CPU\n"
        f"max abs {summary.max_abs:.2e}, max ULPs {summary.max_ulps:.0f}",
        fontsize=9,
    )
    return fig


def block_boundaries(grid):
    """The unit segments between neighbouring cells of the 2-D ``grid`` that hold different
    values: the outlines of its regions, as LineCollection segments in imshow's coordinates."""
    rows, cols = np.nonzero(grid[:, 1:] != grid[:, :-1])  # a wall right of (row, col)
    vertical = [[(c + 0.5, r - 0.5), (c + 0.5, r + 0.5)] for r, c in zip(rows, cols)]
    rows, cols = np.nonzero(grid[1:, :] != grid[:-1, :])  # a wall below (row, col)
    horizontal = [[(c - 0.5, r + 0.5), (c + 0.5, r + 0.5)] for r, c in zip(rows, cols)]
    return vertical + horizontal


def geometry_figure(launch, shape, name):
    """Which block (colour, outlined) and which thread (number, for small arrays) of ``launch``
    computed each element of the array ``name`` of ``shape``; launch None: none wrote it."""
    fig = Figure(figsize=(5, 1.2), layout="constrained")
    ax = fig.subplots()
    ax.set_xticks([])
    ax.set_yticks([])
    if launch is None:
        ax.axis("off")
        ax.text(0.5, 0.5, f"{name}: read, never written", ha="center", va="center", fontsize=9)
        return fig
    block_ids, thread_ids = owner_of_elements(launch, shape)
    dims = len(launch.threads)
    # one number per block, x fastest, as CUDA numbers them
    block_number = sum(block_ids[..., d] * math.prod(launch.blocks[:d]) for d in range(dims))
    grid = as_grid(block_number, -1)
    # cells wide enough for a 9-pt "(12, 15)" (2-D) or "127" (1-D), and the title's 9-pt lines
    cell_width = 0.62 if dims == 2 else 0.42
    fig.set_size_inches(
        min(max(cell_width * grid.shape[1], 6.5), 12), min(max(0.3 * grid.shape[0] + 0.9, 3), 10)
    )
    colours = np.ma.masked_less(grid, 0) % BLOCK_COLOURS  # masked: cells past a 1-D array's end
    ax.imshow(
        colours,
        cmap="tab10",
        vmin=-0.5,
        vmax=BLOCK_COLOURS - 0.5,
        alpha=0.55,
        aspect="auto",
        interpolation="nearest",
    )
    if max(grid.shape) <= OUTLINE:
        ax.add_collection(LineCollection(block_boundaries(grid), colors="black", linewidths=1.2))
    if block_number.size <= ANNOTATE:
        flat = thread_ids.reshape(-1, dims)
        # an integer per thread, a tuple (x, y) in 2-D: "10,11" would read as a decimal
        labels = np.array([str(t[0]) if dims == 1 else f"({', '.join(map(str, t))})" for t in flat])
        for (r, c), label in np.ndenumerate(as_grid(labels.reshape(block_number.shape), "")):
            ax.text(c, r, label, ha="center", va="center", fontsize=9)
    rows_per_thread = dims < len(shape)  # a row kernel: each thread owns a whole row
    work = shape[0] if dims == 1 else shape[0] * shape[1]
    threads = math.prod(launch.blocks) * math.prod(launch.threads)
    ax.set_title(
        f"{name} {tuple(shape)}: launch {launch}\n"
        f"colour = block, number = thread index{' (x, y)' if dims == 2 else ''}\n"
        f"{threads} threads for {work} {'rows' if rows_per_thread else 'elements'}: "
        f"{threads - work} fall outside and write nothing (the `if i < n` guard)",
        fontsize=9,
    )
    return fig


def table_html(rows):
    """The comparison as an HTML table (``numbanet.compare.COLUMNS``), one line per
    ``KernelRow``, with "ok" in colour."""
    ok_column = compare.COLUMNS.index("ok")
    ok_colours = {"yes": "green", "NO": "#b00020"}

    def cell(index, text):
        text = html.escape(text)
        if index == ok_column:
            return f"<span style='color:{ok_colours[text]}'><b>{text}</b></span>"
        return text

    head = "".join(f"<th>{h}</th>" for h in compare.COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{cell(i, text)}</td>" for i, text in enumerate(compare.row_cells(row)))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


class CompareView:
    """Every kernel on the CPU and on CUDA: the table, and for the chosen row and array, where
    the two results differ and which GPU block and thread computed each element.

    rows: ``KernelRow`` list (``numbanet.compare.run``'s); None runs ``run(kernels, dtypes)``.
    ``choice`` picks the row, ``array`` one of its kernel's array arguments (default: the last
    one it writes); ``kernel_run`` is the chosen row's ``numbanet.compare.KernelRun`` and
    ``difference`` the |cuda − cpu| of the chosen array, as drawn.
    """

    def __init__(self, rows=None, kernels=None, dtypes=("float32",)):
        self.rows = list(rows) if rows is not None else compare.run(kernels, dtypes, progress=False)
        if not self.rows:
            raise ValueError("CompareView: no rows to show")
        self.header = w.HTML(f"<pre>{html.escape(compare.header())}</pre>")
        self.table = w.HTML(table_html(self.rows))
        self.choice = w.Dropdown(
            options=[
                (f"{row.case}  {'×'.join(map(str, row.shape))}  {row.dtype}", index)
                for index, row in enumerate(self.rows)
            ],
            description="kernel",
            layout=w.Layout(width="420px"),
        )
        self.array = w.Dropdown(description="array")
        self.difference_image = w.Image(format="png")
        self.geometry_image = w.Image(format="png")
        self.kernel_run = self.difference = None
        self._choosing = False  # True while a new row's arrays are put in the array dropdown
        self.choice.observe(lambda _: self.choose(), names="value")
        self.array.observe(lambda _: self._choosing or self.render(), names="value")
        self.widget = w.VBox(
            [
                self.header,
                self.table,
                w.HBox([self.choice, self.array]),
                w.HBox([self.difference_image, self.geometry_image]),
            ]
        )
        self.choose()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def choose(self):
        """Rerun the chosen row's kernel on both backends and draw its last written array."""
        row = self.rows[self.choice.value]
        self.kernel_run = run = compare.run_on_both(row.case, row.shape, row.dtype)
        labels = {name: "written" if name in run.written else "read" for name in run.names}
        self._choosing = True
        try:
            self.array.options = [(f"{name} ({labels[name]})", name) for name in run.names]
            self.array.value = (run.written or run.names)[-1]
        finally:
            self._choosing = False
        self.render()

    def render(self):
        """Draw the chosen array: |cuda − cpu| and the launch that computed it."""
        run, name = self.kernel_run, self.array.value
        cpu, gpu = run.cpu[name], run.gpu[name]
        self.difference = np.abs(gpu.astype(np.float64) - cpu.astype(np.float64))
        summary = compare.difference(cpu, gpu)
        self.difference_image.value = views.png(difference_figure(self.difference, summary, name))
        launch = launch_of(run.launches, cpu.shape) if name in run.written else None
        self.geometry_image.value = views.png(geometry_figure(launch, cpu.shape, name))
