"""How the CPU splits a convolution's batch among its threads: the scratch arrays a layer owns.

The CPU's convolution kernels take the batch in chunks of M images, each of ``POOL_SIZE``
threads taking whole chunks through the layer in its own work area (``conv.py``: chunks). A
chunk's im2col columns and GEMM rows are sized to stay in the core's cache, so the chunk size
M depends on the layer's shape; the kernels read S and M from the shapes of the scratch arrays
they are given, and a layer gets those shapes from here (``backend.plan``), without knowing
about threads. The CUDA twin (``cuda/plan.py``) takes the whole batch in one chunk.
"""

from numbanet.kernels.cpu.dense import POOL_SIZE

# A chunk's cols and rows take about this many bytes: small enough for the GEMMs to read them
# from cache, big enough that each thread has few chunks (benchmarks/RESULTS.md, "figures moved
# from docstrings": the budgets measured per layer and per model).
CHUNK_BYTES = 1 << 19


def balanced_chunk(n, threads, most):
    """Images per chunk, at most ``most``, for n images taken a chunk at a time by ``threads``
    threads in turn: the size that gives the busiest thread the fewest images (chunk k goes to
    thread k mod threads), the larger on a tie. 64 images on 2 threads, at most 5 a chunk: 4
    (16 chunks, 32 images each) rather than 5 (13 chunks: 34 and 30)."""

    def busiest(m):
        return -(-(-(-n // m)) // threads) * m

    return min(range(1, min(most, n) + 1), key=lambda m: (busiest(m), -m))


def conv2d_scratch_shapes(x, W, columns):
    """The shapes of the scratch arrays cols: (S, C·KH·KW, M·columns) and rows: (S, O, M·columns)
    that ``conv2d_forward`` and ``conv2d_backward`` take for a convolution of x: (N, C, H, W) by
    W: (O, C, KH, KW) with ``columns`` (OH·R) columns per image: one pair per thread that takes
    chunks of M images, M as many images as keep a chunk's cols and rows within CHUNK_BYTES,
    balanced over the threads, and no more threads S than there are chunks."""
    n, taps, out_channels = x.shape[0], W.size // W.shape[0], W.shape[0]
    per_image = (taps + out_channels) * columns * x.itemsize
    m = balanced_chunk(n, POOL_SIZE, max(1, CHUNK_BYTES // per_image))
    slots = min(POOL_SIZE, -(-n // m))
    return (slots, taps, m * columns), (slots, out_channels, m * columns)
