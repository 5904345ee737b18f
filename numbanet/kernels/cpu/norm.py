"""Batch normalisation, forward and backward, on an (N, C, L) view of the input.

One kernel family serves BatchNorm1d and BatchNorm2d: the layer reshapes (N, C) to (N, C, 1)
and (N, C, H, W) to (N, C, H·W), and every statistic is taken per channel c over its
M = N·L elements. Sums run in float64 whatever the dtype: a float32 sum of M terms would lose
digits as M grows, and the float64 sum makes the mean and variance exact to float32 precision.
"""

from numba import njit, prange

from numbanet.kernels.scalar import (
    batch_norm_input_grad,
    inverse_std,
    moving_average,
    standardize,
)


@njit(parallel=True, cache=True, error_model="numpy")
def batch_norm_forward(
    x, weight, bias, running_mean, running_var, num_batches_tracked,
    use_batch_stats, update_running, momentum, eps, y, mean, inv_std,
):  # fmt: skip
    """y = γ (x − μ) / √(σ² + ε) + β per channel.

    use_batch_stats: μ, σ² are the batch's mean and biased variance over (N, L) (training, or
    no running statistics); else the running statistics (evaluation).
    update_running: running ← momentum · batch + (1 − momentum) · running, with the unbiased
    variance σ² M / (M − 1) (needs M > 1), and num_batches_tracked += 1 (as torch).
    x, y: (N, C, L); weight, bias, running_mean, running_var, mean, inv_std: (C,);
    num_batches_tracked: (1,) int64. Writes y, mean (μ), inv_std (1 / √(σ² + ε)) and, if
    update_running, the running statistics. One prange iteration per channel.
    """
    n, channels, length = x.shape
    count = n * length
    for c in prange(channels):
        if use_batch_stats:
            total = 0.0
            for i in range(n):
                for j in range(length):
                    total += x[i, c, j]
            batch_mean = total / count
            squares = 0.0  # Σ (x − μ)², two-pass: no cancellation as in Σx² − Mμ²
            for i in range(n):
                for j in range(length):
                    squares += (x[i, c, j] - batch_mean) ** 2
            batch_var = squares / count
            mean[c] = batch_mean
            inv_std[c] = inverse_std(batch_var, eps)
            if update_running:
                unbiased = batch_var * count / (count - 1)
                running_mean[c] = moving_average(running_mean[c], batch_mean, momentum)
                running_var[c] = moving_average(running_var[c], unbiased, momentum)
        else:
            mean[c] = running_mean[c]
            inv_std[c] = inverse_std(running_var[c], eps)
        for i in range(n):
            for j in range(length):
                y[i, c, j] = standardize(x[i, c, j], mean[c], inv_std[c]) * weight[c] + bias[c]
    if update_running:
        num_batches_tracked[0] += 1


@njit(parallel=True, cache=True, error_model="numpy")
def batch_norm_backward(
    x, weight, mean, inv_std, dy, use_batch_stats, dx, dweight, dbias, need_dx
):  # fmt: skip
    """dβ = Σ dy, dγ = Σ dy x̂ over (N, L) per channel, x̂ = (x − μ) / σ from the saved mean
    and inv_std; dx = γ/(M σ) (M dy − dβ − x̂ dγ) when forward used the batch statistics
    (use_batch_stats), γ dy / σ when it used the running ones (``batch_norm_input_grad``).
    x, dy, dx: (N, C, L); weight, mean, inv_std, dweight, dbias: (C,). Writes dweight, dbias and,
    if need_dx, dx. One prange iteration per channel.
    """
    n, channels, length = x.shape
    count = n * length
    for c in prange(channels):
        sum_dy = 0.0
        sum_dy_x_hat = 0.0
        for i in range(n):
            for j in range(length):
                sum_dy += dy[i, c, j]
                sum_dy_x_hat += dy[i, c, j] * standardize(x[i, c, j], mean[c], inv_std[c])
        dbias[c] = sum_dy
        dweight[c] = sum_dy_x_hat
        if need_dx:
            for i in range(n):
                for j in range(length):
                    x_hat = standardize(x[i, c, j], mean[c], inv_std[c])
                    dx[i, c, j] = batch_norm_input_grad(
                        dy[i, c, j], x_hat, weight[c], inv_std[c], count, dbias[c], dweight[c],
                        use_batch_stats,
                    )  # fmt: skip
