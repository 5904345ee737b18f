"""Chapter 3 exercises (CPU against CUDA): which thread computes which element. The checker runs
the learner's index arithmetic for every block and thread of a launch, as Numba's CUDA simulator
would, and records which thread computed each element (``owner``, -1 for none) and how many did
(``coverage``: 1 everywhere when the mapping is right)."""

import math

import numpy as np

from numbanet.exercises.grading import Dim3, Exercise, Mistake


def _launch_2d(fn, v):
    """Run ``fn(blockIdx, threadIdx, blockDim) -> (row, col)`` for every thread of the grid
    that covers a (rows, cols) matrix; threads outside it write nothing (the kernel's guard)."""
    rows, cols, block = v["rows"], v["cols"], v["block_dim"]
    grid = Dim3(math.ceil(cols / block.x), math.ceil(rows / block.y))
    coverage, owner = np.zeros((rows, cols)), np.full((rows, cols), -1.0)
    for by in range(grid.y):
        for bx in range(grid.x):
            for ty in range(block.y):
                for tx in range(block.x):
                    row, col = fn(Dim3(bx, by), Dim3(tx, ty), block)
                    if 0 <= row < rows and 0 <= col < cols:
                        coverage[row, col] += 1
                        owner[row, col] = ((by * grid.x + bx) * block.y + ty) * block.x + tx
    return coverage, owner


def _right_2d(block_idx, thread_idx, block_dim):
    return (
        block_idx.y * block_dim.y + thread_idx.y,
        block_idx.x * block_dim.x + thread_idx.x,
    )


thread_to_element = Exercise(
    name="thread_to_element",
    chapter=3,
    title="From (block, thread) to the element of a matrix",
    signature="thread_to_element(block_idx, thread_idx, block_dim) -> (row, col)",
    task="A 2-D launch over a (rows, cols) matrix, one thread per element, as numbanet's CUDA "
    "kernels do: each argument has .x and .y, as CUDA's blockIdx, threadIdx and blockDim; x runs "
    "along the columns. Return the (row, col) this thread computes. (Threads past the edge are "
    "skipped by the kernel's guard.)",
    question="Why does it matter for speed which of row and col comes from threadIdx.x? Think "
    "of the 32 threads of a warp reading memory together.",
    inputs=lambda rng, block: {"rows": 5, "cols": 7, "block_dim": Dim3(*block, 1)},
    cases=({"block": (4, 2)}, {"block": (2, 4)}),
    args=(),
    outputs=("coverage", "owner"),
    run=_launch_2d,
    reference=lambda v: _launch_2d(_right_2d, v),
    mistakes=(
        Mistake(
            "x and y swapped: threadIdx.x runs fastest, and neighbouring threads should touch "
            "neighbouring elements of a row, so col = blockIdx.x·blockDim.x + threadIdx.x and "
            "row comes from y",
            solution=lambda b, t, d: (b.x * d.x + t.x, b.y * d.y + t.y),
        ),
        Mistake(
            "a forgotten block offset: the global index is blockIdx·blockDim + threadIdx; "
            "without it every block computes the same corner",
            solution=lambda b, t, d: (t.y, t.x),
        ),
        Mistake(
            "multiplied by the other axis's block size: row = blockIdx.y·blockDim.y + "
            "threadIdx.y, col = blockIdx.x·blockDim.x + threadIdx.x",
            solution=lambda b, t, d: (b.y * d.x + t.y, b.x * d.y + t.x),
        ),
    ),
)


grid_size = Exercise(
    name="grid_size",
    chapter=3,
    title="How many blocks",
    signature="grid_size(rows, cols, block_dim) -> (grid_x, grid_y)",
    task="Blocks of block_dim.x × block_dim.y threads, one thread per element of a (rows, cols) "
    "matrix, x along the columns. Return the number of blocks along x and along y so that "
    "every element has a thread.",
    question="The last blocks stick out past the matrix. What does every kernel in "
    "numbanet/kernels/cuda/ do so that those threads write nothing?",
    inputs=lambda rng, rows, cols: {"rows": rows, "cols": cols, "block_dim": Dim3(4, 2, 1)},
    cases=({"rows": 5, "cols": 7}, {"rows": 8, "cols": 8}, {"rows": 1, "cols": 33}),
    args=("rows", "cols", "block_dim"),
    outputs=("grid_x", "grid_y"),
    reference=lambda v: (-(-v["cols"] // v["block_dim"].x), -(-v["rows"] // v["block_dim"].y)),
    mistakes=(
        Mistake(
            "floor division leaves the last, partial block out: round up, "
            "(cols + block_dim.x − 1) // block_dim.x, and let the guard skip the extra threads",
            lambda v, r: {
                "grid_x": v["cols"] // v["block_dim"].x,
                "grid_y": v["rows"] // v["block_dim"].y,
            },
        ),
        Mistake(
            "one block too many when the size divides evenly: (cols + block_dim.x − 1) // "
            "block_dim.x rounds up only when needed",
            lambda v, r: {
                "grid_x": v["cols"] // v["block_dim"].x + 1,
                "grid_y": v["rows"] // v["block_dim"].y + 1,
            },
        ),
        Mistake(
            "x and y swapped: grid_x counts blocks along the columns, grid_y along the rows",
            lambda v, r: {
                "grid_x": -(-v["rows"] // v["block_dim"].x),
                "grid_y": -(-v["cols"] // v["block_dim"].y),
            },
        ),
    ),
)


def _stride_loop(fn, v):
    """Run ``fn(thread, n_threads, n)`` for every thread; record who took each element."""
    n, threads = v["n"], v["n_threads"]
    coverage, owner = np.zeros(n), np.full(n, -1.0)
    for thread in range(threads):
        for i in fn(thread, threads, n):
            if not 0 <= i < n:
                raise IndexError(f"thread {thread} asked for element {i} of an array of {n}")
            coverage[i] += 1
            owner[i] = thread
    return coverage, owner


grid_stride_loop = Exercise(
    name="grid_stride_loop",
    chapter=3,
    title="A grid-stride loop",
    signature="grid_stride_indices(thread, n_threads, n) -> the indices this thread takes",
    task="n elements, fewer threads (n_threads of them, thread = 0 … n_threads − 1). In a "
    "grid-stride loop each thread takes the elements thread, thread + n_threads, thread + "
    "2·n_threads, … below n. Return them (a range or a list).",
    question="grad_norm_sq_forward (kernels/cpu/optim.py) sums with the same stride on the CPU "
    "as on the GPU, though a CPU thread would rather read a contiguous run. Why do both "
    "devices use one order?",
    inputs=lambda rng: {"n": 20, "n_threads": 6},
    args=(),
    outputs=("coverage", "owner"),
    run=_stride_loop,
    reference=lambda v: _stride_loop(lambda t, threads, n: range(t, n, threads), v),
    mistakes=(
        Mistake(
            "contiguous chunks cover every element, but then neighbouring threads read "
            "far-apart memory: in a grid-stride loop thread t takes t, t + n_threads, …, so the "
            "threads of a warp read neighbouring elements together",
            solution=lambda t, threads, n: range(
                t * -(-n // threads), min(n, (t + 1) * -(-n // threads))
            ),
        ),
        Mistake(
            "step by n_threads: range(thread, n, n_threads); a step of 1 gives each element to "
            "many threads",
            solution=lambda t, threads, n: range(t, n),
        ),
    ),
)

EXERCISES = (thread_to_element, grid_size, grid_stride_loop)
