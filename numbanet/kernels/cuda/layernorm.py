"""Layer normalisation on the GPU, forward and backward, on an (R, D) view of the input.

Rows are short (a token's features), so one thread owns a row: it computes the row's mean and
variance and writes its output (forward) or its dx (backward) without talking to other threads.
dγ and dβ sum over rows: one thread per column, looping over the rows in the CPU's order. Row
sums run in float64, as on the CPU (``kernels/cpu/layernorm.py``).
"""

from numba import cuda

from numbanet.kernels.cuda.launch import device, launch, launch_1d
from numbanet.kernels.scalar import layer_norm_row, layer_norm_row_grad, standardize

normalize_row = device(layer_norm_row)
row_grad = device(layer_norm_row_grad)


@cuda.jit
def normalize_rows(x, weight, bias, eps, y, mean, rstd):
    r = cuda.grid(1)
    if r < x.shape[0]:
        mean[r], rstd[r] = normalize_row(x[r], weight, bias, eps, y[r])


@cuda.jit
def row_input_grads(x, weight, mean, rstd, dy, dx):
    r = cuda.grid(1)
    if r < x.shape[0]:
        row_grad(x[r], weight, mean[r], rstd[r], dy[r], dx[r])


@cuda.jit
def column_grad_sums(x, mean, rstd, dy, dweight, dbias):
    d = cuda.grid(1)
    if d < x.shape[1]:
        sum_dy, sum_dy_x_hat = dy.dtype.type(0), dy.dtype.type(0)
        for r in range(x.shape[0]):
            sum_dy += dy[r, d]
            sum_dy_x_hat += dy[r, d] * standardize(x[r, d], mean[r], rstd[r])
        dbias[d], dweight[d] = sum_dy, sum_dy_x_hat


def layer_norm_forward(x, weight, bias, eps, y, mean, rstd):
    """y[r] = γ (x[r] − μ_r) / √(σ²_r + ε) + β, μ_r and σ²_r (biased) over row r's D features.
    x, y: (R, D); weight, bias: (D,); writes y, mean (R,), rstd (R,) = 1/√(σ² + ε).
    One thread per row."""
    launch(normalize_rows, *launch_1d(x.shape[0]), x, weight, bias, eps, y, mean, rstd)


def layer_norm_backward(x, weight, mean, rstd, dy, dx, dweight, dbias, need_dx):
    """dβ = Σ_r dy[r], dγ = Σ_r dy[r] x̂[r]; dx[r] = rstd_r (g − mean(g) − x̂[r] mean(g x̂[r]))
    with g = γ dy[r] (only if need_dx). x, dy, dx: (R, D); weight, dweight, dbias: (D,); mean,
    rstd: (R,). Writes dweight, dbias and, if need_dx, dx. One thread per column for dγ and dβ,
    then one thread per row for dx."""
    launch(column_grad_sums, *launch_1d(x.shape[1]), x, mean, rstd, dy, dweight, dbias)
    if need_dx:
        launch(row_input_grads, *launch_1d(x.shape[0]), x, weight, mean, rstd, dy, dx)
