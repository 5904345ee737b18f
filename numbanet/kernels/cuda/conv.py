"""2-D convolution on the GPU: y = W ⋆ x + b, by im2col and the tiled matrix product.

The same algorithm as the CPU twin (``kernels/cpu/conv.py`` explains convolution and why
im2col): one thread per element of cols copies a pixel of a patch, the dense layer's tiled
matrix product multiplies cols by the filters, one thread per output element puts the rows
back in NCHW order with the bias. Backward: one thread per element transposes dy into rows,
one thread per filter sums the bias gradient, two tiled products give dW and dcols, and
``col2im`` runs one thread per input pixel, gathering the columns that read it (no two
threads write one pixel, so no atomics).
"""

from numba import cuda

from numbanet.kernels.cuda.dense import column_sum, matmul
from numbanet.kernels.cuda.launch import launch, launch_1d, launch_2d
from numbanet.kernels.scalar import conv_source, conv_target


@cuda.jit
def im2col(x, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, cols):  # fmt: skip
    """cols[(n·OH + oh)·OW + ow, (c·KH + kh)·KW + kw] = x[n, c, ih, iw] (0 outside x).
    x: (N, C, H, W); writes cols: (N·OH·OW, C·KH·KW). One thread per element of cols."""
    col, row = cuda.grid(2)
    if row < cols.shape[0] and col < cols.shape[1]:
        n, oh, ow = row // (oh_size * ow_size), row // ow_size % oh_size, row % ow_size
        c, kh, kw = col // (kh_size * kw_size), col // kw_size % kh_size, col % kw_size
        ih = conv_source(oh, kh, stride_h, pad_h, dil_h)
        iw = conv_source(ow, kw, stride_w, pad_w, dil_w)
        inside = 0 <= ih < x.shape[2] and 0 <= iw < x.shape[3]
        cols[row, col] = x[n, c, ih, iw] if inside else 0


@cuda.jit
def col2im(dcols, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, dx):  # fmt: skip
    """dx[n, c, ih, iw] = Σ of dcols over every (output position, tap) that read that pixel.
    dcols: (N·OH·OW, C·KH·KW); writes dx: (N, C, H, W). One thread per pixel of dx."""
    i = cuda.grid(1)
    c_size, h_size, w_size = dx.shape[1], dx.shape[2], dx.shape[3]
    if i < dx.size:
        n, c = i // (c_size * h_size * w_size), i // (h_size * w_size) % c_size
        ih, iw = i // w_size % h_size, i % w_size
        total = dx.dtype.type(0)
        for kh in range(kh_size):
            oh = conv_target(ih, kh, stride_h, pad_h, dil_h, oh_size)
            for kw in range(kw_size):
                ow = conv_target(iw, kw, stride_w, pad_w, dil_w, ow_size)
                if oh >= 0 and ow >= 0:
                    row = (n * oh_size + oh) * ow_size + ow
                    total += dcols[row, (c * kh_size + kh) * kw_size + kw]
        dx[n, c, ih, iw] = total


@cuda.jit
def rows_to_images(rows, b, y):
    """y[n, o, oh, ow] = rows[(n·OH + oh)·OW + ow, o] + b[o]. One thread per element of y."""
    i = cuda.grid(1)
    o_size, oh_size, ow_size = y.shape[1], y.shape[2], y.shape[3]
    if i < y.size:
        n, o = i // (o_size * oh_size * ow_size), i // (oh_size * ow_size) % o_size
        oh, ow = i // ow_size % oh_size, i % ow_size
        y[n, o, oh, ow] = rows[(n * oh_size + oh) * ow_size + ow, o] + b[o]


@cuda.jit
def images_to_rows(dy, rows):
    """rows[(n·OH + oh)·OW + ow, o] = dy[n, o, oh, ow]. One thread per element of rows."""
    o, row = cuda.grid(2)
    oh_size, ow_size = dy.shape[2], dy.shape[3]
    if row < rows.shape[0] and o < rows.shape[1]:
        n, oh, ow = row // (oh_size * ow_size), row // ow_size % oh_size, row % ow_size
        rows[row, o] = dy[n, o, oh, ow]


def conv2d_forward(x, W, b, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, cols, rows, y):
    """y = W ⋆ x + b. x: (N, C, H, W), W: (O, C, KH, KW), b: (O,); writes y: (N, O, OH, OW)
    and the scratch arrays cols: (N·OH·OW, C·KH·KW) (kept for backward), rows: (N·OH·OW, O).
    im2col, then rows = cols · W2ᵀ (W2 = W as (O, C·KH·KW)), then rows to NCHW plus bias."""
    o_size, oh_size, ow_size = y.shape[1], y.shape[2], y.shape[3]
    geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
    launch(im2col, *launch_2d(*cols.shape), x, W.shape[2], W.shape[3], *geometry, cols)
    matmul(cols, W.reshape(o_size, cols.shape[1]), b, False, True, False, rows)
    launch(rows_to_images, *launch_1d(y.size), rows, b, y)


def conv2d_backward(cols, W, dy, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, rows, dcols,
                    dx, dW, db, need_dx):  # fmt: skip
    """Gradients of y = W ⋆ x + b given dy = ∂L/∂y, from forward's cols:
    dW2 = dy_rowsᵀ · cols,  db = Σ over positions of dy,  dx = col2im(dy_rows · W2) if need_dx.
    cols: (N·OH·OW, C·KH·KW), W: (O, C, KH, KW), dy: (N, O, OH, OW); writes dW, db, dx and
    the scratch arrays rows: (N·OH·OW, O) and dcols: cols' shape."""
    o_size, oh_size, ow_size = dy.shape[1], dy.shape[2], dy.shape[3]
    W2, dW2 = W.reshape(o_size, cols.shape[1]), dW.reshape(o_size, cols.shape[1])
    launch(images_to_rows, *launch_2d(*rows.shape), dy, rows)
    launch(column_sum, *launch_1d(o_size), rows, db)
    matmul(rows, cols, db, True, False, False, dW2)
    if need_dx:
        matmul(rows, W2, db, False, False, False, dcols)
        geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
        launch(col2im, *launch_1d(dx.size), dcols, W.shape[2], W.shape[3], *geometry, dx)
