"""Launch configurations: how many blocks of how many threads cover an array.

A CUDA kernel runs as a grid of thread blocks. Every kernel here gives each thread one output
element or one row and lets threads past the end of the array do nothing, so a grid only has
to cover the array. ``grid_1d`` and ``grid_2d`` compile a kernel body and wrap it in a
function with the CPU kernel's name and arguments, which picks the grid from its first
argument and launches: that is what makes the CUDA kernels a drop-in kernel table.

A block never has more threads than the array has items. On a GPU that changes nothing; in
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where every CUDA thread is a Python
thread, it keeps small arrays fast.
"""

import contextlib
import functools
import math
from dataclasses import dataclass

from numba import cuda

THREADS_PER_BLOCK = 128
"""Threads per block of a 1-D grid: a multiple of the 32-thread warp, small enough that
several blocks fit on one multiprocessor."""

TILE = 16
"""Side of the square blocks of a 2-D grid, and of the tiles of the matrix product."""


def launch_1d(n):
    """(blocks, threads) for one thread per index 0 <= i < n."""
    threads = max(1, min(THREADS_PER_BLOCK, n))
    return max(1, math.ceil(n / threads)), threads


def launch_2d(rows, cols):
    """(blocks, threads) for one thread per (row, col) of a rows × cols array.

    x, the fastest-varying thread index, runs along a row, so neighbouring threads touch
    neighbouring addresses of a row-major array (coalesced memory access).
    """
    threads = (max(1, min(TILE, cols)), max(1, min(TILE, rows)))
    return (max(1, math.ceil(cols / threads[0])), max(1, math.ceil(rows / threads[1]))), threads


def launch_tiles(rows, cols):
    """(blocks, threads) of full TILE × TILE blocks covering a rows × cols array: a kernel that
    shares tiles needs every block whole, one thread per element of its tile. An empty array
    still gets one block (a grid of no blocks is a launch error), whose threads write nothing."""
    return (max(1, math.ceil(cols / TILE)), max(1, math.ceil(rows / TILE))), (TILE, TILE)


@dataclass(frozen=True)
class Launch:
    """One kernel launch: its name and its grid of ``blocks`` blocks of ``threads`` threads
    ((x,) or (x, y) tuples)."""

    kernel: str
    blocks: tuple
    threads: tuple

    def __str__(self):
        return (
            f"{self.kernel} {'×'.join(map(str, self.blocks))} × {'×'.join(map(str, self.threads))}"
        )


def _as_dims(size):
    return (size,) if isinstance(size, int) else tuple(size)


_recorders = []  # the lists of launches that ``recording_launches`` blocks are collecting


def launch(kernel, blocks, threads, *args):
    """kernel[blocks, threads](*args), noted by every ``recording_launches`` in progress."""
    for record in _recorders:
        record.append(Launch(kernel.py_func.__name__, _as_dims(blocks), _as_dims(threads)))
    kernel[blocks, threads](*args)


@contextlib.contextmanager
def recording_launches():
    """Collect the ``Launch`` of every kernel launched inside the block into the list it gives:
    the launch geometry that ``numbanet compare`` reports."""
    record = []
    _recorders.append(record)
    try:
        yield record
    finally:
        _recorders.remove(record)


def grid_1d(body):
    """Compile ``body`` as a kernel launched with one thread per index of the first axis of its
    first argument (an element of a 1-D array, a row of a 2-D one)."""
    kernel = cuda.jit(body)

    @functools.wraps(body)
    def launcher(first, *rest):
        blocks, threads = launch_1d(first.shape[0])
        launch(kernel, blocks, threads, first, *rest)

    launcher.kernel = kernel
    return launcher


def grid_2d(body):
    """Compile ``body`` as a kernel launched with one thread per element of its first argument,
    a 2-D array; in the body ``col, row = cuda.grid(2)``."""
    kernel = cuda.jit(body)

    @functools.wraps(body)
    def launcher(first, *rest):
        blocks, threads = launch_2d(*first.shape)
        launch(kernel, blocks, threads, first, *rest)

    launcher.kernel = kernel
    return launcher


@cuda.jit(device=True)
def unravel(index, shape):
    """(n, c, h, w) of the flat row-major ``index`` into an array of 4-D ``shape``: what a
    one-thread-per-element kernel over an NCHW array works on."""
    w, index = index % shape[3], index // shape[3]
    h, index = index % shape[2], index // shape[2]
    return index // shape[1], index % shape[1], h, w


def device(function):
    """A ``scalar`` function that takes arrays, compiled as a device function from its Python
    body: Numba's CUDA simulator cannot pass its arrays to an @njit function."""
    return cuda.jit(device=True)(function.py_func)
