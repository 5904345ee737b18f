"""Layer normalisation, forward and backward, on an (R, D) view of the input: each row (one
token's features) standardised by its own mean and variance over its D features.

Unlike batch normalisation, the statistics belong to one row, so a row is one iteration of
work: forward fuses the mean, the variance and the scaled, shifted output in one pass over the
row held in cache, and backward fuses the row's two sums with its dx. Only dγ and dβ sum over
rows, which a second loop does by blocks of columns (as ``dense.column_sums``). Row sums run in
float64 whatever the dtype, as batch norm's do, and may be reassociated (fastmath "reassoc"):
a sum in strict order is a chain of dependent adds that does not vectorize.
"""

from numba import njit, prange

from numbanet.kernels.cpu.dense import SUM_BLOCK
from numbanet.kernels.cpu.elementwise import zero
from numbanet.kernels.scalar import layer_norm_row, layer_norm_row_grad, standardize


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def layer_norm_forward(x, weight, bias, eps, y, mean, rstd):
    """y[r] = γ (x[r] − μ_r) / √(σ²_r + ε) + β, μ_r and σ²_r (biased) the mean and variance of
    row r (``scalar.layer_norm_row``). x, y: (R, D); weight γ, bias β: (D,); writes y, mean (R,)
    and rstd (R,) = 1/√(σ² + ε). One prange iteration per row.
    """
    for r in prange(x.shape[0]):
        mean[r], rstd[r] = layer_norm_row(x[r], weight, bias, eps, y[r])


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def layer_norm_backward(x, weight, mean, rstd, dy, dx, dweight, dbias, need_dx):
    """Gradients of y = γ x̂ + β, x̂ = (x − μ) · rstd per row, given dy.

    dβ = Σ_r dy[r],  dγ = Σ_r dy[r] x̂[r]                                        (D,)
    dx[r] = rstd_r (g − mean(g) − x̂[r] mean(g x̂[r])),  g = γ dy[r]  (only if need_dx)  (R, D)
    x, dy, dx: (R, D); weight, dweight, dbias: (D,); mean, rstd: (R,) as forward saved them.
    Writes dweight, dbias and, if need_dx, dx. dx: one prange iteration per row
    (``scalar.layer_norm_row_grad``); dγ, dβ: one per block of SUM_BLOCK columns, adding the
    rows one after another.
    """
    width = x.shape[1]
    if need_dx:
        for r in prange(x.shape[0]):
            layer_norm_row_grad(x[r], weight, mean[r], rstd[r], dy[r], dx[r])
    for b in prange((width + SUM_BLOCK - 1) // SUM_BLOCK):
        # slices of the block and of each row: LLVM then sees the arrays apart and vectorizes
        # (indexing the arrays themselves does not: benchmarks/RESULTS.md, Transformer kernels)
        first, last = b * SUM_BLOCK, min((b + 1) * SUM_BLOCK, width)
        block_w, block_b = dweight[first:last], dbias[first:last]
        zero(block_w)
        zero(block_b)
        for r in range(x.shape[0]):
            x_row, dy_row = x[r, first:last], dy[r, first:last]
            for d in range(block_w.shape[0]):
                block_b[d] += dy_row[d]
                block_w[d] += dy_row[d] * standardize(x_row[d], mean[r], rstd[r])
