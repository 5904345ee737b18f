"""2-D convolution on the GPU: y = W ⋆ x + b, by im2col and the tiled matrix product.

The same algorithm as the CPU twin (``kernels/cpu/conv.py`` explains convolution and why
im2col): one thread per element of cols copies a pixel of a patch, the dense layer's tiled
matrix product multiplies cols by the filters, one thread per output element puts the rows
back in NCHW order with the bias and the fused activation. Backward: one thread per element
transposes dy (times the activation's derivative) into rows,
one thread per filter sums the bias gradient, two tiled products give dW and dcols, and
``col2im`` runs one thread per input pixel, gathering the columns that read it (no two
threads write one pixel, so no atomics).
"""

from numba import cuda

from numbanet.kernels.cuda.dense import matmul
from numbanet.kernels.cuda.launch import launch, launch_1d, launch_2d
from numbanet.kernels.scalar import conv_source, conv_target, epilogue, epilogue_grad


@cuda.jit
def im2col(x, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, cols):  # fmt: skip
    """cols[(c·KH + kh)·KW + kw, (n·OH + oh)·OW + ow] = x[n, c, ih, iw] (0 outside x).
    x: (N, C, H, W); writes cols: (C·KH·KW, N·OH·OW). One thread per element of cols."""
    position, tap = cuda.grid(2)
    if tap < cols.shape[0] and position < cols.shape[1]:
        n = position // (oh_size * ow_size)
        oh, ow = position // ow_size % oh_size, position % ow_size
        c, kh, kw = tap // (kh_size * kw_size), tap // kw_size % kh_size, tap % kw_size
        ih = conv_source(oh, kh, stride_h, pad_h, dil_h)
        iw = conv_source(ow, kw, stride_w, pad_w, dil_w)
        inside = 0 <= ih < x.shape[2] and 0 <= iw < x.shape[3]
        cols[tap, position] = x[n, c, ih, iw] if inside else 0


@cuda.jit
def col2im(dcols, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, dx):  # fmt: skip
    """dx[n, c, ih, iw] = Σ of dcols over every (tap, output position) that read that pixel.
    dcols: (C·KH·KW, N·OH·OW); writes dx: (N, C, H, W). One thread per pixel of dx, summing
    its taps in (kh, kw) order, as the CPU twin does."""
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
                    tap = (c * kh_size + kh) * kw_size + kw
                    total += dcols[tap, (n * oh_size + oh) * ow_size + ow]
        dx[n, c, ih, iw] = total


@cuda.jit
def rows_to_images(rows, b, activation, slope, y):
    """y[n, o, oh, ow] = f(rows[o, (n·OH + oh)·OW + ow] + b[o]), f the activation numbered
    ``activation`` in ``scalar.EPILOGUES``. One thread per element of y."""
    i = cuda.grid(1)
    o_size, positions = y.shape[1], y.shape[2] * y.shape[3]
    if i < y.size:
        n, o, p = i // (o_size * positions), i // positions % o_size, i % positions
        z = rows[o, n * positions + p] + b[o]
        y[n, o, p // y.shape[3], p % y.shape[3]] = epilogue(z, activation, slope)


@cuda.jit
def images_to_rows(dy, y, activation, slope, rows):
    """rows[o, (n·OH + oh)·OW + ow] = dz = dy[n, o, oh, ow] · f′ (from y). One thread per
    element of rows."""
    position, o = cuda.grid(2)
    oh_size, ow_size = dy.shape[2], dy.shape[3]
    if o < rows.shape[0] and position < rows.shape[1]:
        n = position // (oh_size * ow_size)
        oh, ow = position // ow_size % oh_size, position % ow_size
        grad = epilogue_grad(y[n, o, oh, ow], activation, slope)
        rows[o, position] = dy[n, o, oh, ow] * grad


@cuda.jit
def row_sum(m, total):
    """total[o] = Σ_j m[o, j]. m: (O, J); writes total: (O,). One thread per row."""
    o = cuda.grid(1)
    if o < total.shape[0]:
        acc = total.dtype.type(0)
        for j in range(m.shape[1]):
            acc += m[o, j]
        total[o] = acc


def conv2d_forward(x, W, b, activation, slope, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                   cols, rows, y):  # fmt: skip
    """y = f(W ⋆ x + b). x: (N, C, H, W), W: (O, C, KH, KW), b: (O,); writes y: (N, O, OH, OW)
    and the scratch arrays cols: (C·KH·KW, N·OH·OW) (kept for backward), rows: (O, N·OH·OW).
    im2col, then rows = W2 · cols (W2 = W as (O, C·KH·KW)), then rows to NCHW with the bias
    and the activation f (numbered as in ``scalar.EPILOGUES``)."""
    o_size, oh_size, ow_size = y.shape[1], y.shape[2], y.shape[3]
    geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
    launch(im2col, *launch_2d(*cols.shape), x, W.shape[2], W.shape[3], *geometry, cols)
    matmul(W.reshape(o_size, cols.shape[0]), cols, b, False, False, False, rows)
    launch(rows_to_images, *launch_1d(y.size), rows, b, activation, slope, y)


def conv2d_backward(cols, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w, dil_h,
                    dil_w, rows, dcols, dx, dW, db, need_dx):  # fmt: skip
    """Gradients of y = f(W ⋆ x + b) given dy = ∂L/∂y, from forward's cols and y:
    dz = dy · f′ (from y),  dW2 = dz_rows · colsᵀ,  db = Σ over positions of dz,
    dx = col2im(W2ᵀ · dz_rows) if need_dx.
    cols: (C·KH·KW, N·OH·OW), W: (O, C, KH, KW), y, dy: (N, O, OH, OW); writes dW, db, dx and
    the scratch arrays rows: (O, N·OH·OW) and dcols: cols' shape."""
    o_size, oh_size, ow_size = dy.shape[1], dy.shape[2], dy.shape[3]
    W2, dW2 = W.reshape(o_size, cols.shape[0]), dW.reshape(o_size, cols.shape[0])
    launch(images_to_rows, *launch_2d(*rows.shape), dy, y, activation, slope, rows)
    launch(row_sum, *launch_1d(o_size), rows, db)
    matmul(rows, cols, db, False, True, False, dW2)
    if need_dx:
        matmul(W2, rows, db, True, False, False, dcols)
        geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
        launch(col2im, *launch_1d(dx.size), dcols, W.shape[2], W.shape[3], *geometry, dx)
