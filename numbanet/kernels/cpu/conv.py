"""2-D convolution (cross-correlation, as torch.nn.Conv2d): y = W ⋆ x + b.

A filter W[o] of shape (C, KH, KW) slides over the image; at every output position it takes
the dot product with the patch of x under it:

    y[n, o, oh, ow] = b[o] + Σ_c Σ_kh Σ_kw W[o, c, kh, kw] · x[n, c, ih, iw]
    ih = oh·stride_h − pad_h + kh·dil_h,   iw = ow·stride_w − pad_w + kw·dil_w

Padding adds zeros around the image (positions outside x read 0), stride skips positions,
dilation spreads the filter's taps apart. The same filter is used at every position (weight
sharing): that is why a conv layer has few params and why dW sums over every position.

Algorithm: im2col + one BLAS GEMM. ``im2col`` copies every patch into a row of
cols: (N·OH·OW, C·KH·KW), so the whole layer is one matrix product rows = cols · W2ᵀ with
W2 = W.reshape(O, C·KH·KW), then a pass that adds the bias and puts rows (N·OH·OW, O) back in
NCHW order. Backward is two more GEMMs on the same cols (dW2 = dyᵀ·cols, dcols = dy·W2) and
``col2im``, which adds each column back into the input pixel it came from. Chosen because the
GEMMs run at BLAS speed on every shape, where direct loops with ``prange`` only win for tiny
channel counts; the copy costs KH·KW times the input in memory, small for the 3×3 and 5×5
filters of the networks taught here.
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.scalar import conv_source, conv_target


@njit(parallel=True, cache=True)
def im2col(x, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, cols):  # fmt: skip
    """cols[(n·OH + oh)·OW + ow, (c·KH + kh)·KW + kw] = x[n, c, ih, iw] (0 outside x).

    x: (N, C, H, W); writes cols: (N·OH·OW, C·KH·KW). One row per output position.
    """
    n_size, c_size, h_size, w_size = x.shape
    for row in prange(n_size * oh_size * ow_size):
        n, oh, ow = row // (oh_size * ow_size), row // ow_size % oh_size, row % ow_size
        for c in range(c_size):
            for kh in range(kh_size):
                ih = conv_source(oh, kh, stride_h, pad_h, dil_h)
                for kw in range(kw_size):
                    iw = conv_source(ow, kw, stride_w, pad_w, dil_w)
                    inside = 0 <= ih < h_size and 0 <= iw < w_size
                    col = (c * kh_size + kh) * kw_size + kw
                    cols[row, col] = x[n, c, ih, iw] if inside else 0


@njit(parallel=True, cache=True)
def col2im(dcols, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, dx):  # fmt: skip
    """dx[n, c, ih, iw] = Σ of dcols over every (output position, tap) that read x[n, c, ih, iw].

    dcols: (N·OH·OW, C·KH·KW); writes dx: (N, C, H, W). Each input pixel gathers its own sum
    (oh = (ih + pad − kh·dil) / stride when that divides evenly), so no two iterations write
    one element and the sum runs in the same order on every device (``conv_target`` inverts
    ``conv_source``: the output position whose tap reads this pixel).
    """
    n_size, c_size, h_size, w_size = dx.shape
    for plane in prange(n_size * c_size):
        n, c = plane // c_size, plane % c_size
        for ih in range(h_size):
            for iw in range(w_size):
                total = dx.dtype.type(0)
                for kh in range(kh_size):
                    oh = conv_target(ih, kh, stride_h, pad_h, dil_h, oh_size)
                    for kw in range(kw_size):
                        ow = conv_target(iw, kw, stride_w, pad_w, dil_w, ow_size)
                        if oh >= 0 and ow >= 0:
                            row = (n * oh_size + oh) * ow_size + ow
                            total += dcols[row, (c * kh_size + kh) * kw_size + kw]
                dx[n, c, ih, iw] = total


@njit(parallel=True, cache=True)
def conv2d_forward(x, W, b, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, cols, rows, y):
    """y = W ⋆ x + b (see the module docstring for the sum).

    x: (N, C, H, W), W: (O, C, KH, KW), b: (O,); pad_h/pad_w: zeros above/left of x (below
    and right follow from y's size); writes y: (N, O, OH, OW) and the scratch arrays
    cols: (N·OH·OW, C·KH·KW) (kept for backward) and rows: (N·OH·OW, O).
    """
    n_size, o_size, oh_size, ow_size = y.shape
    kh_size, kw_size = W.shape[2], W.shape[3]
    im2col(x, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, cols)  # fmt: skip
    np.dot(cols, W.reshape(o_size, -1).T, rows)
    for plane in prange(n_size * o_size):  # rows back to NCHW, with the bias
        n, o = plane // o_size, plane % o_size
        for oh in range(oh_size):
            for ow in range(ow_size):
                y[n, o, oh, ow] = rows[(n * oh_size + oh) * ow_size + ow, o] + b[o]


@njit(parallel=True, cache=True)
def conv2d_backward(cols, W, dy, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, rows, dcols,
                    dx, dW, db, need_dx):  # fmt: skip
    """Gradients of y = W ⋆ x + b given dy = ∂L/∂y, from forward's cols.

    dW2 = dy_rowsᵀ · cols          (O, C·KH·KW): every position a filter was used at adds in
    db[o] = Σ_n Σ_oh Σ_ow dy[n, o, oh, ow]
    dx = col2im(dy_rows · W2)       (N, C, H, W), only if need_dx
    cols: (N·OH·OW, C·KH·KW), W: (O, C, KH, KW), dy: (N, O, OH, OW); writes dW, db, dx and
    the scratch arrays rows: (N·OH·OW, O) (dy as rows) and dcols: cols' shape.
    """
    n_size, o_size, oh_size, ow_size = dy.shape
    for row in prange(n_size * oh_size * ow_size):  # dy as rows (N·OH·OW, O)
        n, oh, ow = row // (oh_size * ow_size), row // ow_size % oh_size, row % ow_size
        for o in range(o_size):
            rows[row, o] = dy[n, o, oh, ow]
    for o in prange(o_size):
        total = dy.dtype.type(0)
        for row in range(rows.shape[0]):
            total += rows[row, o]
        db[o] = total
    W2 = W.reshape(o_size, -1)
    np.dot(rows.T, cols, dW.reshape(o_size, -1))
    if need_dx:
        np.dot(rows, W2, dcols)
        col2im(dcols, W.shape[2], W.shape[3], stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
               oh_size, ow_size, dx)  # fmt: skip
