"""How the GPU takes a convolution's batch: in one chunk, for the biggest GEMMs it can get (the
CPU twin, ``cpu/plan.py``, splits the batch among its threads)."""


def conv2d_scratch_shapes(x, W, columns):
    """The shapes of the scratch arrays cols: (1, C·KH·KW, N·columns) and rows: (1, O, N·columns)
    that ``conv2d_forward`` and ``conv2d_backward`` take for a convolution of x: (N, C, H, W) by
    W: (O, C, KH, KW) with ``columns`` (OH·R) columns per image: one work area for the whole
    batch."""
    n, taps, out_channels = x.shape[0], W.size // W.shape[0], W.shape[0]
    return (1, taps, n * columns), (1, out_channels, n * columns)
