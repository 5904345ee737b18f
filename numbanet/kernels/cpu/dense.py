"""Fully connected (dense, linear) layer: y = f(x Wᵀ + b), f an optional fused activation, and
the matrix products every CPU kernel uses (``gemm``: a b, ``gemm_nt``: a bᵀ, ``gemm_tn``: aᵀ b)."""

import numpy as np
from numba import config, njit, prange

from numbanet.kernels.cpu.activation import activation_in_place
from numbanet.kernels.cpu.elementwise import copy, zero


@njit(parallel=True, cache=True, error_model="numpy")
def dense_forward(x, W, b, activation, slope, y):
    """y[n, j] = f(Σᵢ x[n, i] W[j, i] + b[j]), f the activation numbered ``activation`` in
    ``codes.EPILOGUES`` (0: none) with leaky ReLU's ``slope``.

    x: (N, I), W: (J, I), b: (J,); writes y: (N, J).
    The product is ``gemm_nt`` into y; then the bias is added row by row and f applied in
    place by its own elementwise kernel. (One pass doing both, with the choice of f made per
    element, is slower: the branch keeps the loop from vectorizing.)
    """
    gemm_nt(x, W, y)
    for n in prange(y.shape[0]):
        row = y[n]
        for j in range(row.shape[0]):  # a loop, not y[n] += b: see ``zero``
            row[j] += b[j]
    if activation:
        activation_in_place(y.reshape(-1), activation, slope)


@njit(cache=True, error_model="numpy")
def dense_backward(x, W, dy, dx, dW, db, need_dx):
    """Gradients of y = x Wᵀ + b given dy = ∂L/∂y.

    dW = dyᵀ x        (J, I)
    db[j] = Σₙ dy[n, j]   (J,)
    dx = dy W         (N, I), computed only if need_dx (the first layer's dx is never used).
    x: (N, I), W: (J, I), dy: (N, J); writes dx, dW, db.
    Matrix products are ``gemm_tn`` and ``gemm``; the bias gradient is ``column_sums``.
    """
    gemm_tn(dy, x, dW)
    column_sums(dy, db)
    if need_dx:
        gemm(dy, W, dx)


def dense_input_grad(W, dy, dx):
    """dx = dy W: the input gradient alone, for a frozen layer (``requires_grad_(False)``),
    whose weight gradient nobody wants. W: (J, I), dy: (N, J); writes dx: (N, I).
    ``gemm`` itself, called from Python: a compiled one-line wrapper around it crashes when
    Numba loads it back from its cache."""
    gemm(dy, W, dx)


# Matrix products. BLAS runs on one thread (``numbanet/runtime.py`` says why): these split a
# product over Numba's threads, each part one single-threaded BLAS call, so that matrix products
# and every other kernel share one pool of threads. BLAS packs (copies into its own blocked
# order) each operand of a call, so a part that reads all of one operand packs all of it: each
# product is split along the dimension that makes the parts share the smaller operand. Thin
# parts waste the packing: hence MIN_ROWS. A product too small to repay starting the threads
# is one call on the calling thread (SMALL_PRODUCT). (Figures: benchmarks/RESULTS.md,
# "figures moved from docstrings" and "Issue 24".) Convolutions split their batch over the
# threads instead: ``kernels/cpu/conv.py``.
MIN_ROWS = 16  # rows (or columns) of a split dimension per thread, at least
POOL_SIZE = config.NUMBA_NUM_THREADS  # Numba's threads (the cores, unless NUMBA_NUM_THREADS)
SMALL_PRODUCT = 2**18  # multiply-adds (M·N·K) under which a product is not split


@njit(inline="always", cache=True, error_model="numpy")
def parts_of(size):
    """How many parts to split ``size`` rows into: one per thread of the pool, each ≥ MIN_ROWS
    rows. The pool's size, not ``numba.get_num_threads()``: a kernel that asks for the latter
    cannot be cached (it reads a function pointer at run time), and would compile anew in each
    process; with fewer threads set, the parts just run one after another."""
    return max(1, min(POOL_SIZE, size // MIN_ROWS))


@njit(inline="always", cache=True, error_model="numpy")
def part_bounds(p, parts, size):
    """(first, last): the rows of part p when ``size`` rows are split into ``parts`` parts of
    ⌈size / parts⌉ rows, the last one shorter where it does not divide (last ≤ first: empty)."""
    step = -(-size // parts)
    return p * step, min((p + 1) * step, size)


@njit(parallel=True, cache=True, error_model="numpy")
def gemm(a, b, c):
    """c = a b, the rows of c (and of a) split over the threads: c[rows] = a[rows] b, one BLAS
    call each. a: (M, K), b: (K, N), both C-contiguous; writes c: (M, N) C-contiguous."""
    if c.size * a.shape[1] < SMALL_PRODUCT:
        np.dot(a, b, c)  # one call on this thread: starting the threads would cost more
        return
    parts = parts_of(c.shape[0])
    for p in prange(parts):
        first, last = part_bounds(p, parts, c.shape[0])
        if first < last:
            np.dot(a[first:last], b, c[first:last])


@njit(parallel=True, cache=True, error_model="numpy")
def gemm_nt(a, b, c):
    """c = a bᵀ — a layer's forward, x Wᵀ — split over the threads along the longer side of c:
    its rows (c[rows] = a[rows] bᵀ: the parts share b) or, when c is wider than tall (a small
    batch), its columns (c[:, cols] = a b[cols]ᵀ: the parts share a, the smaller operand then;
    each part's block is made in a scratch block of its own, as BLAS writes only whole rows,
    and copied into c). a: (M, K), b: (N, K), both C-contiguous; writes c: (M, N)."""
    m, n = c.shape
    if m * n * a.shape[1] < SMALL_PRODUCT:
        np.dot(a, b.T, c)
        return
    by_rows = m >= n
    parts = parts_of(m if by_rows else n)
    blocks = np.empty((0 if by_rows else parts, m * -(-n // parts)), c.dtype)
    for p in prange(parts):
        first, last = part_bounds(p, parts, m if by_rows else n)
        if first < last:
            if by_rows:
                np.dot(a[first:last], b.T, c[first:last])
            else:
                block = blocks[p, : m * (last - first)].reshape(m, last - first)
                np.dot(a, b[first:last].T, block)
                copy(block, c[:, first:last])


@njit(inline="always", cache=True, error_model="numpy")
def gemm_rows(a, b, c, rows_per_call):
    """c = a b on the calling thread, in BLAS calls of ``rows_per_call`` rows of a and c (one
    call if 0). a: (M, K), b: (K, N), c: (M, N), rows C-contiguous. Calls small enough take
    OpenBLAS's small-matrix kernel, which reads b as it is instead of packing it first
    (``runtime.small_product_rows`` says when)."""
    step = rows_per_call if rows_per_call > 0 else max(a.shape[0], 1)
    for first in range(0, a.shape[0], step):
        np.dot(a[first : first + step], b, c[first : first + step])


@njit(parallel=True, cache=True, error_model="numpy")
def gemm_tn(a, b, c):
    """c = aᵀ b — a weight gradient, Σ over the rows of a and b — split over the threads along
    the shared rows when there are more of them than rows of c (a large batch): part p adds
    its rows' product into a partial sum, and the partial sums are added up. Otherwise along
    the rows of c: c[rows] = a[:, rows]ᵀ b, the parts sharing b, each copying its columns of
    a into a block of its own first (BLAS takes a block of rows, not of columns, without a
    copy). a: (K, M), b: (K, N), both C-contiguous; writes c: (M, N)."""
    k, m = a.shape
    if k * c.size < SMALL_PRODUCT:
        np.dot(a.T, b, c)
        return
    by_rows = k < m
    parts = parts_of(m if by_rows else k)
    partial = np.empty((0 if by_rows else parts - 1, m, c.shape[1]), c.dtype)
    columns = np.empty((parts if by_rows else 0, k * -(-m // parts)), a.dtype)
    for p in prange(parts):
        if by_rows:
            first, last = part_bounds(p, parts, m)
            if first < last:
                block = columns[p, : k * (last - first)].reshape(k, last - first)
                copy(a[:, first:last], block)
                np.dot(block.T, b, c[first:last])
        else:
            first, last = part_bounds(p, parts, k)
            target = c if p == 0 else partial[p - 1]
            if first < last:
                np.dot(a[first:last].T, b[first:last], target)
            else:  # an empty part (fewer rows than parts): its partial sum is 0
                zero(target.reshape(-1))
    if not by_rows:
        add_parts(partial.reshape(parts - 1, -1), c.reshape(-1))


@njit(inline="always", cache=True, error_model="numpy")
def add_parts(parts, total):
    """total[i] += Σ_p parts[p, i]: partial sums that threads kept apart, added up (in
    parallel when the caller is). parts: (P, M); total: (M,)."""
    for i in prange(total.shape[0]):
        for p in range(parts.shape[0]):
            total[i] += parts[p, i]


# Columns per iteration of column_sums: 64 float32s are four cache lines, whole lines per row.
SUM_BLOCK = 64


@njit(parallel=True, cache=True, error_model="numpy")
def column_sums(a, total):
    """total[j] = Σₙ a[n, j]. a: (N, J); writes total: (J,).

    One iteration per block of SUM_BLOCK columns, adding the rows one after another into the
    block: every row is read in whole cache lines and the inner loop over the block vectorizes.
    (A sum down each column alone reads one float per cache line, and is many times slower.)
    """
    for b in prange((a.shape[1] + SUM_BLOCK - 1) // SUM_BLOCK):
        block = total[b * SUM_BLOCK : (b + 1) * SUM_BLOCK]
        zero(block)
        for n in range(a.shape[0]):
            row = a[n, b * SUM_BLOCK : (b + 1) * SUM_BLOCK]
            for j in range(block.shape[0]):
                block[j] += row[j]
