"""2-D convolution (cross-correlation, as torch.nn.Conv2d): y = W ⋆ x + b.

A filter W[o] of shape (C, KH, KW) slides over the image; at every output position it takes
the dot product with the patch of x under it:

    y[n, o, oh, ow] = b[o] + Σ_c Σ_kh Σ_kw W[o, c, kh, kw] · x[n, c, ih, iw]
    ih = oh·stride_h − pad_h + kh·dil_h,   iw = ow·stride_w − pad_w + kw·dil_w

Padding adds zeros around the image (positions outside x read 0), stride skips positions,
dilation spreads the filter's taps apart. The same filter is used at every position (weight
sharing): that is why a conv layer has few params and why dW sums over every position.

Algorithm: im2col + one BLAS GEMM. ``im2col`` copies every patch into a column of
cols: (C·KH·KW, N·OH·OW), so the whole layer is one matrix product rows = W2 · cols with
W2 = W.reshape(O, C·KH·KW), then a pass that adds the bias and puts rows (O, N·OH·OW) back in
NCHW order. Backward is two more GEMMs on the same cols (dW2 = dy_rows·colsᵀ, dcols =
W2ᵀ·dy_rows) and ``col2im``, which adds each column back into the pixels it came from. Chosen
because the GEMMs run at BLAS speed on every shape, where direct loops only win for tiny
channel counts; the copy costs KH·KW times the input in memory, small for the 3×3 and 5×5
filters of the networks taught here. A row of cols is one tap (c, kh, kw) over every output
position, so im2col and col2im walk x and cols along contiguous rows (for stride 1).
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.scalar import conv_inside, conv_source, epilogue, epilogue_grad


@njit(parallel=True, cache=True)
def im2col(x, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, cols):  # fmt: skip
    """cols[(c·KH + kh)·KW + kw, (n·OH + oh)·OW + ow] = x[n, c, ih, iw] (0 outside x).

    x: (N, C, H, W); writes cols: (C·KH·KW, N·OH·OW). One row per tap, one column per
    output position. Along a row of outputs only the columns ow in [lo, hi) read inside x
    (``conv_inside``), so the copy needs no test per element; flat indices rather than row
    views (a view costs two atomic reference counts) and a stride-1 loop of its own let the
    copy vectorize: 1.4–2× faster than testing each element.
    """
    n_size, c_size, h_size, w_size = x.shape
    source, target = x.reshape(-1), cols.reshape(-1)
    for tap in prange(c_size * kh_size * kw_size):
        c, kh, kw = tap // (kh_size * kw_size), tap // kw_size % kh_size, tap % kw_size
        lo, hi = conv_inside(kw, stride_w, pad_w, dil_w, w_size, ow_size)
        for n in range(n_size):
            for oh in range(oh_size):
                ih = conv_source(oh, kh, stride_h, pad_h, dil_h)
                at = (tap * n_size * oh_size + n * oh_size + oh) * ow_size
                if ih < 0 or ih >= h_size:
                    for ow in range(ow_size):
                        target[at + ow] = 0
                    continue
                for ow in range(lo):
                    target[at + ow] = 0
                start = ((n * c_size + c) * h_size + ih) * w_size + kw * dil_w - pad_w
                if stride_w == 1:
                    for ow in range(lo, hi):
                        target[at + ow] = source[start + ow]
                else:
                    for ow in range(lo, hi):
                        target[at + ow] = source[start + ow * stride_w]
                for ow in range(hi, ow_size):
                    target[at + ow] = 0


@njit(parallel=True, cache=True)
def col2im(dcols, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, dx):  # fmt: skip
    """dx[n, c, ih, iw] = Σ of dcols over every (tap, output position) that read x[n, c, ih, iw].

    dcols: (C·KH·KW, N·OH·OW); writes dx: (N, C, H, W). One iteration per image plane (n, c)
    adds each tap's columns into the pixels they came from: no two iterations write one
    element, and each pixel sums its taps in (kh, kw) order, as the GPU twin does. Flat
    indices and the [lo, hi) range of ``conv_inside``, as in ``im2col``.
    """
    n_size, c_size, h_size, w_size = dx.shape
    source, target = dcols.reshape(-1), dx.reshape(-1)
    for plane in prange(n_size * c_size):
        n, c = plane // c_size, plane % c_size
        target[plane * h_size * w_size : (plane + 1) * h_size * w_size] = 0
        for kh in range(kh_size):
            for kw in range(kw_size):
                tap = (c * kh_size + kh) * kw_size + kw
                lo, hi = conv_inside(kw, stride_w, pad_w, dil_w, w_size, ow_size)
                for oh in range(oh_size):
                    ih = conv_source(oh, kh, stride_h, pad_h, dil_h)
                    if 0 <= ih < h_size:
                        at = (tap * n_size * oh_size + n * oh_size + oh) * ow_size
                        start = (plane * h_size + ih) * w_size + kw * dil_w - pad_w
                        for ow in range(lo, hi):
                            target[start + ow * stride_w] += source[at + ow]


@njit(parallel=True, cache=True)
def conv2d_forward(x, W, b, activation, slope, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                   cols, rows, y):  # fmt: skip
    """y = f(W ⋆ x + b) (see the module docstring for the sum), f the activation numbered
    ``activation`` in ``scalar.EPILOGUES`` (0: none) with leaky ReLU's ``slope``.

    x: (N, C, H, W), W: (O, C, KH, KW), b: (O,); pad_h/pad_w: zeros above/left of x (below
    and right follow from y's size); writes y: (N, O, OH, OW) and the scratch arrays
    cols: (C·KH·KW, N·OH·OW) (kept for backward) and rows: (O, N·OH·OW).
    The pass that puts rows back in NCHW order adds the bias and applies f on the way (the
    epilogue): a fused activation costs no pass over y of its own.
    """
    n_size, o_size, oh_size, ow_size = y.shape
    positions = oh_size * ow_size
    im2col(x, W.shape[2], W.shape[3], stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, cols)  # fmt: skip
    np.dot(W.reshape(o_size, -1), cols, rows)
    planes = y.reshape(n_size, o_size, positions)
    for o in prange(o_size):  # rows back to NCHW, with the bias and f
        bias = b[o]  # hoisted, with plain counters inside: the inner loop vectorizes
        for n in range(n_size):
            start = n * positions
            for p in range(positions):
                planes[n, o, p] = epilogue(rows[o, start + p] + bias, activation, slope)


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def conv2d_backward(cols, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w, dil_h,
                    dil_w, rows, dcols, dx, dW, db, need_dx):  # fmt: skip
    """Gradients of y = f(W ⋆ x + b) given dy = ∂L/∂y, from forward's cols and y:

    dz = dy · f′(z)                 f′ from y (``epilogue_grad``; 1 without an activation)
    dW2 = dz_rows · colsᵀ          (O, C·KH·KW): every position a filter was used at adds in
    db[o] = Σ_n Σ_oh Σ_ow dz[n, o, oh, ow]
    dx = col2im(W2ᵀ · dz_rows)      (N, C, H, W), only if need_dx
    cols: (C·KH·KW, N·OH·OW), W: (O, C, KH, KW), y, dy: (N, O, OH, OW); writes dW, db, dx and
    the scratch arrays rows: (O, N·OH·OW) (dz as rows) and dcols: cols' shape.
    """
    n_size, o_size, oh_size, ow_size = dy.shape
    positions = oh_size * ow_size
    dy_planes = dy.reshape(n_size, o_size, positions)
    y_planes = y.reshape(n_size, o_size, positions)
    for o in prange(o_size):  # dz as rows (O, N·OH·OW), and the bias gradient
        total = dy.dtype.type(0)
        for n in range(n_size):
            start = n * positions
            for p in range(positions):
                dz = dy_planes[n, o, p] * epilogue_grad(y_planes[n, o, p], activation, slope)
                rows[o, start + p] = dz
                total += dz
        db[o] = total
    W2 = W.reshape(o_size, -1)
    np.dot(rows, cols.T, dW.reshape(o_size, -1))
    if need_dx:
        np.dot(W2.T, rows, dcols)
        col2im(dcols, W.shape[2], W.shape[3], stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
               oh_size, ow_size, dx)  # fmt: skip
