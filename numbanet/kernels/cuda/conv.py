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
from numbanet.kernels.cuda.launch import launch, launch_1d, launch_2d, unravel
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
def pad_images(x, pad_h, pad_w, xp):
    """xp[n, c, h, w] = x[n, c, h − pad_h, w − pad_w], 0 outside x. One thread per element of
    xp."""
    i = cuda.grid(1)
    if i < xp.size:
        n, c, h, w = unravel(i, xp.shape)
        h, w = h - pad_h, w - pad_w
        inside = 0 <= h < x.shape[2] and 0 <= w < x.shape[3]
        xp[n, c, h + pad_h, w + pad_w] = x[n, c, h, w] if inside else 0


@cuda.jit
def crop_images(xp, pad_h, pad_w, x):
    """x[n, c, h, w] = xp[n, c, pad_h + h, pad_w + w]. One thread per element of x."""
    i = cuda.grid(1)
    if i < x.size:
        n, c, h, w = unravel(i, x.shape)
        x[n, c, h, w] = xp[n, c, pad_h + h, pad_w + w]


@cuda.jit
def im2col_wide(xp, kh_size, kw_size, dil_h, dil_w, oh_size, ow_size, cols):
    """The wide layout's im2col (stride 1): cols[tap, n·OH·Wp + q] = xp[n, c].flat[q + shift]
    for q < (OH − 1)·Wp + OW, else 0; shift = kh·dil_h·Wp + kw·dil_w. One thread per element
    of cols."""
    position, tap = cuda.grid(2)
    width = xp.shape[3]
    if tap < cols.shape[0] and position < cols.shape[1]:
        n, q = position // (oh_size * width), position % (oh_size * width)
        c, kh, kw = tap // (kh_size * kw_size), tap // kw_size % kh_size, tap % kw_size
        flat = q + kh * dil_h * width + kw * dil_w
        inside = q < (oh_size - 1) * width + ow_size
        cols[tap, position] = xp[n, c, flat // width, flat % width] if inside else 0


@cuda.jit
def col2im_wide(dcols, kh_size, kw_size, dil_h, dil_w, oh_size, ow_size, dxp):
    """dxp[n, c].flat[p] = Σ over taps of dcols[tap, n·OH·Wp + p − shift(tap)] where that
    column is one im2col_wide filled. One thread per pixel of dxp, taps in (kh, kw) order, as
    the CPU twin adds them."""
    i = cuda.grid(1)
    if i < dxp.size:
        n, c, h, w = unravel(i, dxp.shape)
        width = dxp.shape[3]
        total = dxp.dtype.type(0)
        for kh in range(kh_size):
            for kw in range(kw_size):
                q = h * width + w - kh * dil_h * width - kw * dil_w
                if 0 <= q < (oh_size - 1) * width + ow_size:
                    tap = (c * kh_size + kh) * kw_size + kw
                    total += dcols[tap, n * oh_size * width + q]
        dxp[n, c, h, w] = total


@cuda.jit
def rows_to_images(rows, b, activation, slope, y):
    """y[n, o, oh, ow] = f(rows[o, (n·OH + oh)·R + ow] + b[o]), f the activation numbered
    ``activation`` in ``codes.EPILOGUES``, R the columns per output row. One thread per
    element of y."""
    i = cuda.grid(1)
    if i < y.size:
        n, o, oh, ow = unravel(i, y.shape)
        width = rows.shape[1] // (y.shape[0] * y.shape[2])
        z = rows[o, (n * y.shape[2] + oh) * width + ow] + b[o]
        y[n, o, oh, ow] = epilogue(z, activation, slope)


@cuda.jit
def images_to_rows(dy, y, activation, slope, rows):
    """rows[o, (n·OH + oh)·R + ow] = dz = dy[n, o, oh, ow] · f′ (from y), and 0 in the columns
    past OW of the wide layout. One thread per element of rows."""
    position, o = cuda.grid(2)
    oh_size, ow_size = dy.shape[2], dy.shape[3]
    if o < rows.shape[0] and position < rows.shape[1]:
        width = rows.shape[1] // (dy.shape[0] * oh_size)
        n = position // (oh_size * width)
        oh, ow = position // width % oh_size, position % width
        if ow < ow_size:
            grad = epilogue_grad(y[n, o, oh, ow], activation, slope)
            rows[o, position] = dy[n, o, oh, ow] * grad
        else:
            rows[o, position] = 0


@cuda.jit
def row_sum(m, total):
    """total[o] = Σ_j m[o, j]. m: (O, J); writes total: (O,). One thread per row."""
    o = cuda.grid(1)
    if o < total.shape[0]:
        acc = total.dtype.type(0)
        for j in range(m.shape[1]):
            acc += m[o, j]
        total[o] = acc


def im2col_into(x, xp, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                oh_size, ow_size, cols):  # fmt: skip
    """Launch the im2col of x (the wide layout from the padded xp for stride 1) into cols."""
    if stride_h == 1 and stride_w == 1:
        geometry = (dil_h, dil_w, oh_size, ow_size)
        padded = xp if xp.size else x  # no padding: x is its own padded image
        launch(im2col_wide, *launch_2d(*cols.shape), padded, kh_size, kw_size, *geometry, cols)
    else:
        geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
        launch(im2col, *launch_2d(*cols.shape), x, kh_size, kw_size, *geometry, cols)


def input_grad_into(rows, W, vector, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
                    ow_size, dcols, dxp, dx):  # fmt: skip
    """dx = col2im(W2ᵀ · rows) from dz in rows: (O, N·OH·R): the tiled product into dcols, then
    col2im (the wide layout's into the padded dxp, cropped into dx, or straight into dx without
    padding). vector: any 1-D array of W's dtype (the product's bias argument, not read). Also
    the whole forward pass of a transposed convolution (``conv_transpose2d_forward``)."""
    kh_size, kw_size = W.shape[2], W.shape[3]
    matmul(W.reshape(W.shape[0], dcols.shape[0]), rows, vector, True, False, False, dcols)
    if stride_h == 1 and stride_w == 1:
        padded = dxp if dxp.size else dx
        launch(col2im_wide, *launch_1d(padded.size), dcols, kh_size, kw_size, dil_h, dil_w,
               oh_size, ow_size, padded)  # fmt: skip
        if dxp.size:
            launch(crop_images, *launch_1d(dx.size), dxp, pad_h, pad_w, dx)
    else:
        geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
        launch(col2im, *launch_1d(dx.size), dcols, kh_size, kw_size, *geometry, dx)


def conv2d_forward(x, W, b, activation, slope, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                   xp, cols, rows, y):  # fmt: skip
    """y = f(W ⋆ x + b). x: (N, C, H, W), W: (O, C, KH, KW), b: (O,); writes y: (N, O, OH, OW)
    and the scratch arrays cols: (1, C·KH·KW, N·OH·R), rows: (1, O, N·OH·R) and xp (the padded
    x with stride 1 and padding, else empty), as the CPU twin: im2col (the wide layout for
    stride 1), then rows = W2 · cols (W2 = W as (O, C·KH·KW)), then rows to NCHW with the bias
    and the activation f (numbered as in ``codes.EPILOGUES``). The whole batch in one pass:
    the GPU's work arrays hold all N images once (the CPU twin's, chunks of them per thread)."""
    cols, rows = cols[0], rows[0]
    o_size, oh_size, ow_size = y.shape[1], y.shape[2], y.shape[3]
    kh_size, kw_size = W.shape[2], W.shape[3]
    if stride_h == 1 and stride_w == 1 and xp.size:
        launch(pad_images, *launch_1d(xp.size), x, pad_h, pad_w, xp)
    geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
    im2col_into(x, xp, kh_size, kw_size, *geometry, cols)
    matmul(W.reshape(o_size, cols.shape[0]), cols, b, False, False, False, rows)
    launch(rows_to_images, *launch_1d(y.size), rows, b, activation, slope, y)


def conv2d_backward(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w,
                    dil_h, dil_w, cols, rows, dcols, dxp, dx, dW, db, need_dx):  # fmt: skip
    """Gradients of y = f(W ⋆ x + b) given dy = ∂L/∂y, from forward's x, xp (the padded x with
    stride 1 and padding, else empty) and y:
    dz = dy · f′ (from y),  dW2 = dz_rows · colsᵀ,  db = Σ over positions of dz,
    dx = col2im(W2ᵀ · dz_rows) if need_dx.
    W: (O, C, KH, KW), y, dy: (N, O, OH, OW); writes dW, db, dx and the scratch arrays
    cols: (1, C·KH·KW, N·OH·R) (im2col of x again, as the CPU twin rebuilds it),
    rows: (1, O, N·OH·R), dcols: cols' shape and dxp (the padded dx with stride 1 and padding,
    else empty)."""
    cols, rows, dcols = cols[0], rows[0], dcols[0]
    o_size, oh_size, ow_size = dy.shape[1], dy.shape[2], dy.shape[3]
    kh_size, kw_size = W.shape[2], W.shape[3]
    dW2 = dW.reshape(o_size, cols.shape[0])
    geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size, ow_size)
    im2col_into(x, xp, kh_size, kw_size, *geometry, cols)
    launch(images_to_rows, *launch_2d(*rows.shape), dy, y, activation, slope, rows)
    launch(row_sum, *launch_1d(o_size), rows, db)
    matmul(rows, cols, db, False, True, False, dW2)
    if need_dx:
        input_grad_into(rows, W, db, *geometry, dcols, dxp, dx)


def conv2d_input_grad(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w,
                      dil_h, dil_w, cols, rows, dcols, dxp, dx):  # fmt: skip
    """dx = col2im(W2ᵀ · dz_rows) alone, dz = dy · f′ (from y): ``conv2d_backward`` without
    the weight and bias gradients, for a frozen layer (``requires_grad_(False)``). Same
    arguments as ``conv2d_backward`` less dW, db and need_dx; cols is not written."""
    rows, dcols = rows[0], dcols[0]
    geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, dy.shape[2], dy.shape[3])
    launch(images_to_rows, *launch_2d(*rows.shape), dy, y, activation, slope, rows)
    input_grad_into(rows, W, W[0, 0, 0], *geometry, dcols, dxp, dx)


# The transposed convolution (``kernels/cpu/conv.py`` explains it): forward is a convolution's
# input gradient, from x laid out as that convolution's dz rows, plus the bias; its dx and dW
# are a convolution's forward and weight gradient (``conv2d_forward``, ``conv2d_backward``).


@cuda.jit
def add_channel_bias(y, b):
    """y[n, c, h, w] += b[c]. One thread per element of y."""
    i = cuda.grid(1)
    if i < y.size:
        n, c, h, w = unravel(i, y.shape)
        y[n, c, h, w] += b[c]


@cuda.jit
def channel_sums(dy, db):
    """db[c] = Σ_n Σ_h Σ_w dy[n, c, h, w]. One thread per channel."""
    c = cuda.grid(1)
    if c < db.shape[0]:
        total = db.dtype.type(0)
        for n in range(dy.shape[0]):
            for h in range(dy.shape[2]):
                for w in range(dy.shape[3]):
                    total += dy[n, c, h, w]
        db[c] = total


def conv_transpose2d_forward(x, W, b, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, rows,
                             dcols, yp, y):  # fmt: skip
    """y = W ⋆ᵀ x + b, the transposed convolution. x: (N, C_in, H, W), W: (C_in, C_out, KH, KW),
    b: (C_out,); writes y: (N, C_out, OH, OW) and the scratch arrays rows: (1, C_in, N·H·R),
    dcols: (1, C_out·KH·KW, N·H·R) and yp (the wide layout's padded y, or empty), as the CPU
    twin: x as dz rows, the convolution's input gradient into y, then + b. The whole batch in
    one pass."""
    rows, dcols = rows[0], dcols[0]
    launch(images_to_rows, *launch_2d(*rows.shape), x, x, 0, 0.0, rows)
    geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, x.shape[2], x.shape[3])
    input_grad_into(rows, W, b, *geometry, dcols, yp, y)
    launch(add_channel_bias, *launch_1d(y.size), y, b)


def conv_transpose2d_bias_backward(dy, db):
    """db[c] = Σ_n Σ_h Σ_w dy[n, c, h, w]. dy: (N, C, H, W); writes db: (C,). One thread per
    channel."""
    launch(channel_sums, *launch_1d(db.shape[0]), dy, db)
