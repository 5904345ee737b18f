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
W2 = W.reshape(O, C·KH·KW), then a pass that adds the bias, applies the fused activation and
puts rows (O, N·OH·OW) back in NCHW order. Backward is two more GEMMs on cols
(dW2 = dz_rows·colsᵀ, dcols = W2ᵀ·dz_rows) and ``col2im``, which adds each column back into
the pixels it came from. Chosen because the GEMMs run at BLAS speed on every shape, where
direct loops only win for tiny channel counts; the copy costs KH·KW times the input in
memory, small for the 3×3 and 5×5 filters of the networks taught here.

Stride 1 (most convolutions) uses a *wide* layout: each image is first zero-padded (xp, its
rows Wp wide) and every output row gets Wp columns instead of OW. Then a tap's row of cols for
one image is one contiguous run of xp shifted by kh·dil·Wp + kw·dil — a single long copy
instead of OH copies of OW values — and col2im adds it back the same way. The Wp − OW extra
columns per output row read neighbouring pixels and are simply never used: the epilogue skips
them and backward gives them dz = 0, so they add nothing to dW or dx. The GEMMs grow by Wp/OW;
the long copies gain more than that.

Chunks, one thread each: cols is KH·KW times the input (10.5 MB for the seed CNN's 32 → 64
layer at batch 64), too big for the cache. The kernels take the batch in chunks of M images,
and each thread takes whole chunks through the layer — padding, im2col, the GEMM as one
single-threaded BLAS call, the layout pass — in its own cols[s] and rows[s]
(``forward_chunk``, ``backward_chunk``; backward builds each chunk's cols again from x, and
each thread sums its dW and db apart). A chunk's arrays never leave the core that wrote them,
and the threads meet once per layer instead of after every pass over every chunk (faster than
splitting each pass over the threads, where every GEMM reads what another core wrote). The
kernels read S and M from the shapes of cols and rows, which ``plan.py`` picks: chunks of
about 512 KiB of cols and rows, balanced over the threads (``conv2d_scratch_shapes``). A batch
of one chunk runs on one thread.

Few filters (stride 1, at most DIRECT_MAX_OUT output channels, like LeNet's first layer) skip
im2col: with 6 filters the GEMM has 6 rows, so each column of cols is written, read back and
used for only 6 dot products, and the layer is bound by moving cols (5.7 MB for LeNet's
conv 1 → 6 at batch 64). ``conv_rows_direct`` computes the same wide rows straight from the
padded image (each filter row slid along an image row, ``row_taps``) and
``conv_weight_grad_direct`` the weight gradient likewise (``tap_sums``); dx keeps the GEMM and
col2im. Past 8 filters the GEMM wins.

The figures behind these choices (the layouts, the chunk budget, the direct convolution's
limit) are in benchmarks/RESULTS.md, "figures moved from docstrings".
"""

import numpy as np
from numba import njit, prange, uint64

from numbanet.kernels.cpu.activation import activate
from numbanet.kernels.cpu.dense import add_parts
from numbanet.kernels.cpu.elementwise import zero
from numbanet.kernels.scalar import conv_inside, conv_source, epilogue_grad

DIRECT_MAX_OUT = 8  # direct convolution up to this many filters (module docstring)


@njit(cache=True, error_model="numpy")
def im2col(x, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, cols):  # fmt: skip
    """cols[(c·KH + kh)·KW + kw, (n·OH + oh)·OW + ow] = x[n, c, ih, iw] (0 outside x).

    x: (N, C, H, W); writes cols: (C·KH·KW, N·OH·OW). One row per tap, one column per
    output position. Along a row of outputs only the columns ow in [lo, hi) read inside x
    (``conv_inside``), so the copy needs no test per element. Flat indices rather than row
    views (a view costs two atomic reference counts), cast to unsigned: Numba tests a signed
    index for a negative value to wrap, which for ``start + ow`` (start of unknown sign) stays
    in the loop and keeps it from vectorizing.
    """
    n_size, c_size, h_size, w_size = x.shape
    source, target = x.reshape(-1), cols.reshape(-1)
    for tap in range(c_size * kh_size * kw_size):
        c, kh, kw = tap // (kh_size * kw_size), tap // kw_size % kh_size, tap % kw_size
        lo, hi = conv_inside(kw, stride_w, pad_w, dil_w, w_size, ow_size)
        for n in range(n_size):
            for oh in range(oh_size):
                ih = conv_source(oh, kh, stride_h, pad_h, dil_h)
                at = (tap * n_size * oh_size + n * oh_size + oh) * ow_size
                if ih < 0 or ih >= h_size:
                    for ow in range(ow_size):
                        target[uint64(at + ow)] = 0
                    continue
                for ow in range(lo):
                    target[uint64(at + ow)] = 0
                start = ((n * c_size + c) * h_size + ih) * w_size + kw * dil_w - pad_w
                if stride_w == 1:
                    for ow in range(lo, hi):
                        target[uint64(at + ow)] = source[uint64(start + ow)]
                else:
                    for ow in range(lo, hi):
                        target[uint64(at + ow)] = source[uint64(start + ow * stride_w)]
                for ow in range(hi, ow_size):
                    target[uint64(at + ow)] = 0


@njit(cache=True, error_model="numpy")
def col2im(dcols, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
           ow_size, dx):  # fmt: skip
    """dx[n, c, ih, iw] = Σ of dcols over every (tap, output position) that read x[n, c, ih, iw].

    dcols: (C·KH·KW, N·OH·OW); writes dx: (N, C, H, W). One iteration per image plane (n, c)
    adds each tap's columns into the pixels they came from: no two iterations write one
    element, and each pixel sums its taps in (kh, kw) order, as the GPU twin does. Flat
    unsigned indices and the [lo, hi) range of ``conv_inside``, as in ``im2col`` (the loop
    vectorizes).
    """
    n_size, c_size, h_size, w_size = dx.shape
    source, target = dcols.reshape(-1), dx.reshape(-1)
    for plane in range(n_size * c_size):
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
                        for ow in range(lo, hi):  # unsigned indices, as in im2col
                            target[uint64(start + ow * stride_w)] += source[uint64(at + ow)]


@njit(cache=True, error_model="numpy")
def pad_images(x, pad_h, pad_w, xp):
    """xp = x with zeros around: xp[n, c, pad_h + h, pad_w + w] = x[n, c, h, w], 0 elsewhere.
    x: (N, C, H, W); writes xp: (N, C, Hp, Wp) (Hp − H − pad_h zeros below, likewise right)."""
    n_size, c_size, h_size, w_size = x.shape
    for plane in range(n_size * c_size):
        n, c = plane // c_size, plane % c_size
        xp[n, c] = 0
        for h in range(h_size):  # row views indexed from 0: the copy vectorizes
            inside, row = xp[n, c, pad_h + h, pad_w : pad_w + w_size], x[n, c, h]
            for w in range(w_size):
                inside[w] = row[w]


@njit(cache=True, error_model="numpy")
def crop_images(xp, pad_h, pad_w, x):
    """x = the inside of xp, undoing ``pad_images``: x[n, c, h, w] = xp[n, c, pad_h + h, pad_w + w].
    xp: (N, C, Hp, Wp); writes x: (N, C, H, W)."""
    n_size, c_size, h_size, w_size = x.shape
    for plane in range(n_size * c_size):
        n, c = plane // c_size, plane % c_size
        for h in range(h_size):  # row views, as in pad_images
            inside, row = xp[n, c, pad_h + h, pad_w : pad_w + w_size], x[n, c, h]
            for w in range(w_size):
                row[w] = inside[w]


@njit(inline="always", cache=True, error_model="numpy")
def wide_span(oh_size, ow_size, width):
    """How much of an image's wide row of cols is read from xp: up to the last real output,
    (OH − 1)·Wp + OW; the rest of the OH·Wp columns is never used."""
    return (oh_size - 1) * width + ow_size


@njit(cache=True, error_model="numpy")
def im2col_wide(xp, kh_size, kw_size, dil_h, dil_w, oh_size, ow_size, cols):
    """Stride-1 im2col in the wide layout (module docstring):
    cols[(c·KH + kh)·KW + kw, n·OH·Wp + q] = xp[n, c].flat[q + kh·dil_h·Wp + kw·dil_w].

    xp: (N, C, Hp, Wp), the padded input; writes cols: (C·KH·KW, N·OH·Wp). One contiguous copy
    per (tap, image); columns past the last real output are set to 0.
    """
    n_size, c_size, hp_size, width = xp.shape
    positions, span = oh_size * width, wide_span(oh_size, ow_size, width)
    source, target = xp.reshape(-1), cols.reshape(-1)
    for tap in range(c_size * kh_size * kw_size):
        c, kh, kw = tap // (kh_size * kw_size), tap // kw_size % kh_size, tap % kw_size
        shift = kh * dil_h * width + kw * dil_w
        for n in range(n_size):
            at, start = (tap * n_size + n) * positions, (n * c_size + c) * hp_size * width + shift
            row, run = target[at : at + positions], source[start : start + span]
            for q in range(span):  # on views: indices from 0, so LLVM vectorizes
                row[q] = run[q]
            for q in range(span, positions):
                row[q] = 0


@njit(cache=True, error_model="numpy")
def col2im_wide(dcols, kh_size, kw_size, dil_h, dil_w, oh_size, ow_size, dxp):
    """The inverse walk of ``im2col_wide``: dxp[n, c].flat[q + shift(tap)] += dcols[tap, n·OH·Wp
    + q] over every tap. dcols: (C·KH·KW, N·OH·Wp); writes dxp: (N, C, Hp, Wp). One iteration
    per image plane, taps in (kh, kw) order as the GPU twin."""
    n_size, c_size, hp_size, width = dxp.shape
    positions, span = oh_size * width, wide_span(oh_size, ow_size, width)
    source, target = dcols.reshape(-1), dxp.reshape(-1)
    for plane in range(n_size * c_size):
        n, c = plane // c_size, plane % c_size
        base = plane * hp_size * width
        target[base : base + hp_size * width] = 0
        for kh in range(kh_size):
            for kw in range(kw_size):
                tap = (c * kh_size + kh) * kw_size + kw
                at, start = (tap * n_size + n) * positions, base + kh * dil_h * width + kw * dil_w
                pixels, run = target[start : start + span], source[at : at + span]
                for q in range(span):  # views, as in im2col_wide
                    pixels[q] += run[q]


@njit(inline="always", cache=True, error_model="numpy")
def direct_conv(o_size, stride_h, stride_w):
    """Whether a convolution with o_size filters runs direct (module docstring): stride 1 and
    at most DIRECT_MAX_OUT filters."""
    return stride_h == 1 and stride_w == 1 and o_size <= DIRECT_MAX_OUT


@njit(inline="always", cache=True, error_model="numpy")
def row_taps(acc, run, w, span, kw_size, dil):
    """acc[q] += Σ_kw w[kw] · run[q + kw·dil] for q < span: one filter row slid along one
    image row. Called with kw_size and dil as constants where it can (3×3 and 5×5 filters):
    LLVM then unrolls the taps, keeps the sum in a register and vectorizes over q, reading and
    writing acc once per filter row instead of once per tap."""
    for q in range(span):
        total = acc[q]
        for kw in range(kw_size):
            total += w[kw] * run[q + kw * dil]
        acc[q] = total


@njit(cache=True, error_model="numpy")
def conv_rows_direct(xp, W, dil_h, dil_w, oh_size, ow_size, rows):
    """The wide rows of ``conv2d_forward`` without cols:
    rows[o, n·OH·Wp + q] = Σ_c Σ_kh Σ_kw W[o, c, kh, kw] · xp[n, c].flat[q + kh·dil_h·Wp + kw·dil_w]

    xp: (N, C, Hp, Wp), the padded input; W: (O, C, KH, KW); writes rows: (O, N·OH·Wp), the
    first ``wide_span`` columns of each image (the rest is never read).
    """
    n_size, c_size, hp_size, width = xp.shape
    o_size, kh_size, kw_size = W.shape[0], W.shape[2], W.shape[3]
    positions, span = oh_size * width, wide_span(oh_size, ow_size, width)
    reach = span + (kw_size - 1) * dil_w  # the image pixels one filter row reads
    for n in range(n_size):
        for o in range(o_size):
            acc = rows[o, n * positions : n * positions + span]
            zero(acc)
            for c in range(c_size):
                image = xp[n, c].reshape(-1)
                for kh in range(kh_size):
                    start = kh * dil_h * width
                    run, w = image[start : start + reach], W[o, c, kh]
                    if kw_size == 5 and dil_w == 1:
                        row_taps(acc, run, w, span, 5, 1)
                    elif kw_size == 3 and dil_w == 1:
                        row_taps(acc, run, w, span, 3, 1)
                    else:
                        row_taps(acc, run, w, span, kw_size, dil_w)


@njit(inline="always", cache=True, error_model="numpy")
def tap_sums(d, run, g, span, kw_size, dil):
    """g[kw] += Σ_q d[q] · run[q + kw·dil] for every tap kw: one filter row's weight gradient
    from one image row. For 3- and 5-wide rows the sums sit in named accumulators, so one pass
    reads d once for all taps (rather than one dot product per tap); the caller's fastmath
    "reassoc" lets LLVM vectorize the sums."""
    zero = g.dtype.type(0)
    if kw_size == 5 and dil == 1:
        a0 = a1 = a2 = a3 = a4 = zero
        for q in range(span):
            e = d[q]
            a0 += e * run[q]
            a1 += e * run[q + 1]
            a2 += e * run[q + 2]
            a3 += e * run[q + 3]
            a4 += e * run[q + 4]
        g[0] += a0
        g[1] += a1
        g[2] += a2
        g[3] += a3
        g[4] += a4
    elif kw_size == 3 and dil == 1:
        a0 = a1 = a2 = zero
        for q in range(span):
            e = d[q]
            a0 += e * run[q]
            a1 += e * run[q + 1]
            a2 += e * run[q + 2]
        g[0] += a0
        g[1] += a1
        g[2] += a2
    else:
        for kw in range(kw_size):
            total = zero
            for q in range(span):
                total += d[q] * run[q + kw * dil]
            g[kw] += total


@njit(cache=True, fastmath={"reassoc"}, error_model="numpy")
def conv_weight_grad_direct(xp, rows, dil_h, dil_w, oh_size, ow_size, dW):
    """The weight gradient of ``conv_rows_direct`` without cols:
    dW[o, c, kh, kw] = Σ_n Σ_q rows[o, n·OH·Wp + q] · xp[n, c].flat[q + kh·dil_h·Wp + kw·dil_w]

    xp: (N, C, Hp, Wp), the padded input forward read; rows: (O, N·OH·Wp), dz in the wide
    layout; adds into dW: (O, C, KH, KW) (a thread's partial sum, ``conv2d_backward``).
    """
    n_size, c_size, hp_size, width = xp.shape
    o_size, kh_size, kw_size = dW.shape[0], dW.shape[2], dW.shape[3]
    positions, span = oh_size * width, wide_span(oh_size, ow_size, width)
    reach = span + (kw_size - 1) * dil_w
    for o in range(o_size):
        for n in range(n_size):
            d = rows[o, n * positions : n * positions + span]
            for c in range(c_size):
                image = xp[n, c].reshape(-1)
                for kh in range(kh_size):
                    start = kh * dil_h * width
                    run, g = image[start : start + reach], dW[o, c, kh]
                    tap_sums(d, run, g, span, kw_size, dil_w)


@njit(inline="always", cache=True, error_model="numpy")
def matrix_prefix(buffer, columns):
    """The first buffer.shape[0]·columns elements of a C-contiguous scratch buffer as a
    (buffer.shape[0], columns) matrix: a chunk's work array inside one sized for the largest
    chunk, contiguous as BLAS wants it (a column slice of the buffer would not be)."""
    return buffer.reshape(-1)[: buffer.shape[0] * columns].reshape(buffer.shape[0], columns)


@njit(inline="always", cache=True, error_model="numpy")
def chunk_geometry(padded, wide, oh_size, ow_size, rows):
    """(R, M): R, the columns per output row, is the padded width in the wide layout (stride 1)
    and OW otherwise; M, the images per chunk, is what rows: (O, M·OH·R) holds."""
    width = padded.shape[3] if wide else ow_size
    return width, rows.shape[1] // (oh_size * width)


@njit(cache=True, error_model="numpy")
def rows_to_images(rows, b, y):
    """y[n, o, i, j] = rows[o, (n·OH + i)·R + j] + b[o]: a GEMM's rows back in NCHW order with
    the bias. rows: (O, ≥ N·OH·R); writes y: (N, O, OH, OW). Indexed through a 3-D view of
    rows, so that the inner index is the loop counter alone: Numba's negative-index test folds
    away and the loop vectorizes (a view per output row costs two atomic reference counts)."""
    n_size, o_size, oh_size, ow_size = y.shape
    by_row = rows.reshape(o_size, n_size * oh_size, -1)
    for o in range(o_size):
        bias = b[o]
        for n in range(n_size):
            for i in range(oh_size):
                for j in range(ow_size):
                    y[n, o, i, j] = by_row[o, n * oh_size + i, j] + bias


@njit(cache=True, fastmath={"reassoc"}, error_model="numpy")
def images_to_rows(dy, y, activation, slope, rows, db):
    """dz = dy · f′(z) as rows: rows[o, (n·OH + i)·R + j] = dz[n, o, i, j] (0 in the wide
    layout's unused columns j ≥ OW), and db[o] += Σ_n Σ_i Σ_j dz[n, o, i, j].
    dy, y: (N, O, OH, OW); writes rows: (O, N·OH·R); adds into db: (O,). 3-D view of rows as in
    ``rows_to_images``; the bias sum may be reassociated (fastmath "reassoc"): it vectorizes."""
    n_size, o_size, oh_size, ow_size = dy.shape
    by_row = rows.reshape(o_size, n_size * oh_size, -1)
    width = by_row.shape[2]
    for o in range(o_size):
        total = dy.dtype.type(0)
        for n in range(n_size):
            for i in range(oh_size):
                r = n * oh_size + i
                for j in range(ow_size):
                    dz = dy[n, o, i, j] * epilogue_grad(y[n, o, i, j], activation, slope)
                    by_row[o, r, j] = dz
                    total += dz
                for j in range(ow_size, width):
                    by_row[o, r, j] = 0
        db[o] += total


@njit(inline="always", cache=True, error_model="numpy")
def chunk_layout(x, xp, stride_h, stride_w, oh_size, ow_size, rows):
    """(wide, padded, part_rows) for a chunk of images x with its padded copy xp: whether it
    uses the wide layout (stride 1), the image the taps read (xp, or x itself without padding)
    and the first M·OH·R columns of the thread's rows as an (O, M·OH·R) matrix."""
    wide = stride_h == 1 and stride_w == 1
    padded = xp if xp.size else x
    width = padded.shape[3] if wide else ow_size
    return wide, padded, matrix_prefix(rows, x.shape[0] * oh_size * width)


@njit(inline="always", cache=True, error_model="numpy")
def chunk_cols(x, padded, wide, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h,
               dil_w, oh_size, ow_size, cols, columns):  # fmt: skip
    """im2col of a chunk's images into the first ``columns`` columns of a thread's cols,
    returned as a (C·KH·KW, columns) matrix: the wide layout from the padded image (stride 1),
    else the plain one (``im2col_wide``, ``im2col``)."""
    part = matrix_prefix(cols, columns)
    if wide:
        im2col_wide(padded, kh_size, kw_size, dil_h, dil_w, oh_size, ow_size, part)
    else:
        im2col(x, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
               ow_size, part)  # fmt: skip
    return part


@njit(cache=True, error_model="numpy")
def forward_chunk(x, xp, W, b, activation, slope, stride_h, stride_w, pad_h, pad_w, dil_h,
                  dil_w, cols, rows, y):  # fmt: skip
    """``conv2d_forward`` on one chunk of images, on one thread: pad, im2col (or the direct
    convolution), the GEMM rows = W2 · cols as one single-threaded BLAS call, the rows back in
    NCHW order with the bias, then f in place. x: (M, C, H, W) and xp, y: the chunk's images;
    cols: (C·KH·KW, ≥ M·OH·R), rows: (O, ≥ M·OH·R), the thread's scratch."""
    o_size, oh_size, ow_size = y.shape[1], y.shape[2], y.shape[3]
    kh_size, kw_size = W.shape[2], W.shape[3]
    wide, padded, part_rows = chunk_layout(x, xp, stride_h, stride_w, oh_size, ow_size, rows)
    if wide and xp.size:
        pad_images(x, pad_h, pad_w, xp)
    if direct_conv(o_size, stride_h, stride_w):
        conv_rows_direct(padded, W, dil_h, dil_w, oh_size, ow_size, part_rows)
    else:
        part_cols = chunk_cols(x, padded, wide, kh_size, kw_size, stride_h, stride_w, pad_h,
                               pad_w, dil_h, dil_w, oh_size, ow_size, cols,
                               part_rows.shape[1])  # fmt: skip
        np.dot(W.reshape(o_size, -1), part_cols, part_rows)
    rows_to_images(part_rows, b, y)
    activate(y.reshape(-1), activation, slope)


@njit(parallel=True, cache=True, error_model="numpy")
def conv2d_forward(x, W, b, activation, slope, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                   xp, cols, rows, y):  # fmt: skip
    """y = f(W ⋆ x + b) (see the module docstring for the sum), f the activation numbered
    ``activation`` in ``codes.EPILOGUES`` (0: none) with leaky ReLU's ``slope``.

    x: (N, C, H, W), W: (O, C, KH, KW), b: (O,); pad_h/pad_w: zeros above/left of x (below
    and right follow from y's size); writes y: (N, O, OH, OW) and the scratch arrays
    cols: (S, C·KH·KW, M·OH·R) (untouched by a direct convolution), rows: (S, O, M·OH·R) and,
    with stride 1 and padding, xp: (N, C, Hp, Wp), the padded x (else an empty array). R, the
    columns per output row, is OW, or Wp for stride 1 (the wide layout of the module
    docstring). The batch goes through in chunks of M images, S threads at a time, each
    thread with its own cols[s] and rows[s] taking whole chunks through ``forward_chunk``
    (module docstring: chunks).
    """
    n_size, o_size, oh_size, ow_size = y.shape
    slots = cols.shape[0]
    width, chunk = chunk_geometry(xp if xp.size else x, stride_h == 1 and stride_w == 1,
                                  oh_size, ow_size, rows[0])  # fmt: skip
    for slot in prange(slots):
        for first in range(slot * chunk, n_size, slots * chunk):
            last = min(first + chunk, n_size)
            forward_chunk(x[first:last], xp[first:last], W, b, activation, slope, stride_h,
                          stride_w, pad_h, pad_w, dil_h, dil_w, cols[slot], rows[slot],
                          y[first:last])  # fmt: skip


@njit(cache=True, error_model="numpy")
def input_grad_chunk(part_rows, W, wide, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh_size,
                     ow_size, dcols, dxp, dx):  # fmt: skip
    """dx = col2im(W2ᵀ · rows): the input gradient of a chunk of images from its dz in rows:
    (O, M·OH·R) (the GEMM into the thread's dcols, then ``col2im``, or in the wide layout
    ``col2im_wide`` into the padded dxp, cropped into dx; straight into dx without padding).
    Also the whole forward pass of a transposed convolution (``conv_transpose2d_forward``)."""
    kh_size, kw_size = W.shape[2], W.shape[3]
    part_dcols = matrix_prefix(dcols, part_rows.shape[1])
    np.dot(W.reshape(W.shape[0], -1).T, part_rows, part_dcols)
    if not wide:
        col2im(part_dcols, kh_size, kw_size, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
               oh_size, ow_size, dx)  # fmt: skip
    elif dxp.size:
        col2im_wide(part_dcols, kh_size, kw_size, dil_h, dil_w, oh_size, ow_size, dxp)
        crop_images(dxp, pad_h, pad_w, dx)
    else:
        col2im_wide(part_dcols, kh_size, kw_size, dil_h, dil_w, oh_size, ow_size, dx)


@njit(cache=True, error_model="numpy")
def backward_chunk(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w, dil_h,
                   dil_w, cols, rows, dcols, dxp, dx, dW, product, db, need_dx,
                   need_dw):  # fmt: skip
    """``conv2d_backward`` on one chunk of images, on one thread: dz as rows, this chunk's db
    and (if need_dw) dW added into the thread's partial sums db: (O,) and dW: (O, C, KH, KW)
    (product: (O, C·KH·KW), scratch for the GEMM's result), and the chunk's dx if need_dx.
    x, xp, y, dy, dxp, dx: the chunk's images; cols, rows, dcols: the thread's scratch, as in
    ``forward_chunk``."""
    o_size, oh_size, ow_size = dy.shape[1], dy.shape[2], dy.shape[3]
    kh_size, kw_size = W.shape[2], W.shape[3]
    wide, padded, part_rows = chunk_layout(x, xp, stride_h, stride_w, oh_size, ow_size, rows)
    images_to_rows(dy, y, activation, slope, part_rows, db)
    if need_dw:
        if direct_conv(o_size, stride_h, stride_w):
            conv_weight_grad_direct(padded, part_rows, dil_h, dil_w, oh_size, ow_size, dW)
        else:
            part_cols = chunk_cols(x, padded, wide, kh_size, kw_size, stride_h, stride_w, pad_h,
                                   pad_w, dil_h, dil_w, oh_size, ow_size, cols,
                                   part_rows.shape[1])  # fmt: skip
            np.dot(part_rows, part_cols.T, product)
            add_parts(product.reshape(1, -1), dW.reshape(-1))
    if need_dx:
        input_grad_chunk(part_rows, W, wide, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                         oh_size, ow_size, dcols, dxp, dx)  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def conv2d_gradients(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w,
                     dil_h, dil_w, cols, rows, dcols, dxp, dx, dW, db, need_dx,
                     need_dw):  # fmt: skip
    """``conv2d_backward`` (need_dw) and ``conv2d_input_grad`` (not need_dw: dW is not
    written, db is scratch): S threads take chunks of M images through ``backward_chunk``.
    Each thread sums its chunks' dW and db apart; the S partial sums are added at the end
    (``add_parts``: loops, not NumPy's sum over an axis or a broadcast +=, which in a compiled
    kernel take seconds longer to compile)."""
    n_size, o_size, oh_size, ow_size = dy.shape
    slots = cols.shape[0]
    width, chunk = chunk_geometry(xp if xp.size else x, stride_h == 1 and stride_w == 1,
                                  oh_size, ow_size, rows[0])  # fmt: skip
    c_size, kh_size, kw_size = W.shape[1], W.shape[2], W.shape[3]
    # thread 0 sums into dW and db, the others into weight_sums and bias_sums, added at the end
    partial_weights = slots - 1 if need_dw else 0
    weight_sums = np.zeros((partial_weights, o_size, c_size, kh_size, kw_size), dW.dtype)
    bias_sums = np.zeros((slots - 1, o_size), db.dtype)
    products = np.empty((slots, o_size, c_size * kh_size * kw_size if need_dw else 0), dW.dtype)
    if need_dw:
        dW[:] = 0
    db[:] = 0
    for slot in prange(slots):
        own_dW = dW if slot == 0 or not need_dw else weight_sums[slot - 1]
        own_db = db if slot == 0 else bias_sums[slot - 1]
        for first in range(slot * chunk, n_size, slots * chunk):
            last = min(first + chunk, n_size)
            backward_chunk(x[first:last], xp[first:last], W, y[first:last], activation, slope,
                           dy[first:last], stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                           cols[slot], rows[slot], dcols[slot], dxp[first:last], dx[first:last],
                           own_dW, products[slot], own_db, need_dx, need_dw)  # fmt: skip
    if need_dw:
        add_parts(weight_sums.reshape(slots - 1, -1), dW.reshape(-1))
    add_parts(bias_sums, db)


# conv2d_backward and conv2d_input_grad call conv2d_gradients from Python: compiled, each would
# link all of conv2d_gradients' machine code (the chunk functions, their products and copies)
# into its own and optimize it once more, seconds of a model's first step for a call that
# passes its arguments on (benchmarks/RESULTS.md, "Issue 24, third pass").


def conv2d_backward(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w,
                    dil_h, dil_w, cols, rows, dcols, dxp, dx, dW, db, need_dx):  # fmt: skip
    """Gradients of y = f(W ⋆ x + b) given dy = ∂L/∂y, from forward's x, xp and y:

    dz = dy · f′(z)                 f′ from y (``epilogue_grad``; 1 without an activation)
    dW2 = Σ_chunks dz_rows · colsᵀ  (O, C·KH·KW): every position a filter was used at adds in
    db[o] = Σ_n Σ_oh Σ_ow dz[n, o, oh, ow]
    dx = col2im(W2ᵀ · dz_rows)      (N, C, H, W), only if need_dx
    x: (N, C, H, W) and xp, its padded copy from forward (empty without one); W: (O, C, KH, KW),
    y, dy: (N, O, OH, OW); writes dW, db, dx and the scratch arrays cols, rows, dcols (as
    forward's: S threads taking chunks of M images, ``conv2d_gradients``, cols rebuilt from x
    chunk by chunk, or no cols at all for a direct convolution) and, with stride 1 and padding,
    dxp: (N, C, Hp, Wp) (else an empty array).
    """
    conv2d_gradients(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w,
                     dil_h, dil_w, cols, rows, dcols, dxp, dx, dW, db, need_dx,
                     True)  # fmt: skip


def conv2d_input_grad(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w,
                      dil_h, dil_w, cols, rows, dcols, dxp, dx):  # fmt: skip
    """dx = col2im(W2ᵀ · dz_rows) alone, dz = dy · f′(z): ``conv2d_backward`` without the
    weight and bias gradients, for a frozen layer (``requires_grad_(False)``). Same arguments
    as ``conv2d_backward`` less dW, db and need_dx; cols is not written."""
    conv2d_gradients(x, xp, W, y, activation, slope, dy, stride_h, stride_w, pad_h, pad_w,
                     dil_h, dil_w, cols, rows, dcols, dxp, dx, W, np.empty(W.shape[0], W.dtype),
                     True, False)  # fmt: skip


# ----- the transposed convolution: the input gradient of a convolution as a layer ------------
# A transposed convolution with weight W: (C_in, C_out, KH, KW) maps x: (N, C_in, H, W) to
# y: (N, C_out, OH, OW), OH = (H − 1)·stride − 2·pad + dil·(KH − 1) + output_pad + 1: it is the
# input gradient of the convolution of y-shaped images by W (C_out → C_in channels), whose
# output is x-shaped. Its forward is that convolution's backward to the input (x as dz in rows,
# ``input_grad_chunk``) plus the bias; its backward is that convolution's forward (dx) and
# weight gradient (dW), which the layer (``layers/conv_transpose.py``) gets from
# ``conv2d_forward`` and ``conv2d_backward``, and the bias gradient below.


@njit(cache=True, error_model="numpy")
def add_channel_bias(y, b):
    """y[n, c, h, w] += b[c]. y: (N, C, H, W), b: (C,)."""
    for n in range(y.shape[0]):
        for c in range(y.shape[1]):
            plane, bias = y[n, c].reshape(-1), b[c]
            for i in range(plane.size):
                plane[i] += bias


@njit(cache=True, error_model="numpy")
def transpose_forward_chunk(x, W, b, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, rows, dcols,
                            yp, y, unused):  # fmt: skip
    """``conv_transpose2d_forward`` on one chunk of images, on one thread: x in the layout of
    a convolution's dz rows (``images_to_rows``; unused: (C_in,), where it adds sums nobody
    reads), the convolution's input gradient from them into y (``input_grad_chunk``), + b."""
    wide = stride_h == 1 and stride_w == 1
    h_size, w_size = x.shape[2], x.shape[3]
    width, _ = chunk_geometry(yp if yp.size else y, wide, h_size, w_size, rows)
    part_rows = matrix_prefix(rows, x.shape[0] * h_size * width)
    images_to_rows(x, x, 0, 0.0, part_rows, unused)
    input_grad_chunk(part_rows, W, wide, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, h_size,
                     w_size, dcols, yp, y)  # fmt: skip
    add_channel_bias(y, b)


@njit(parallel=True, cache=True, error_model="numpy")
def conv_transpose2d_forward(x, W, b, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, rows,
                             dcols, yp, y):  # fmt: skip
    """y = W ⋆ᵀ x + b, the transposed convolution (torch.nn.ConvTranspose2d):
    y[n, o, i·s − p + kh·d, j·s − p + kw·d] += x[n, c, i, j] · W[c, o, kh, kw], then + b[o].

    x: (N, C_in, H, W), W: (C_in, C_out, KH, KW), b: (C_out,); pad_h/pad_w: the padding taken
    off the top/left of the full output (the rest follows from y's size, which output padding
    makes larger); writes y: (N, C_out, OH, OW) and the scratch arrays rows: (S, C_in, M·H·R),
    dcols: (S, C_out·KH·KW, M·H·R) and, with stride 1 where y is not the whole wide image, yp:
    (N, C_out, Hp, Wp) (else an empty array), Hp ≥ H + dil_h·(KH − 1) and ≥ pad_h + OH
    (likewise Wp). R: W, or Wp with stride 1 (the wide layout). As ``conv2d_forward``: S threads
    take chunks of M images, each with its own rows[s] and dcols[s] (``transpose_forward_chunk``).
    """
    n_size, c_size, h_size, w_size = x.shape
    slots = rows.shape[0]
    _, chunk = chunk_geometry(yp if yp.size else y, stride_h == 1 and stride_w == 1, h_size,
                              w_size, rows[0])  # fmt: skip
    unused = np.zeros((slots, c_size), x.dtype)
    for slot in prange(slots):
        for first in range(slot * chunk, n_size, slots * chunk):
            last = min(first + chunk, n_size)
            transpose_forward_chunk(x[first:last], W, b, stride_h, stride_w, pad_h, pad_w,
                                    dil_h, dil_w, rows[slot], dcols[slot], yp[first:last],
                                    y[first:last], unused[slot])  # fmt: skip


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def conv_transpose2d_bias_backward(dy, db):
    """db[c] = Σ_n Σ_h Σ_w dy[n, c, h, w]: the bias gradient of a transposed convolution (its
    dx and dW are a convolution's: see above). dy: (N, C, H, W); writes db: (C,). One prange
    iteration per channel; the sum may be reassociated (fastmath "reassoc"): it vectorizes."""
    for c in prange(dy.shape[1]):
        total = dy.dtype.type(0)
        for n in range(dy.shape[0]):
            plane = dy[n, c].reshape(-1)
            for i in range(plane.size):
                total += plane[i]
        db[c] = total
