"""Batch normalisation on the GPU, forward and backward, on an (N, C, L) view of the input.

Each pass is two launches. The per-channel sums (mean, variance; Σdy, Σdy·x̂) run one block
per channel: the block's threads stride over the channel's M = N·L elements, each adding up
its share, and a shared-memory tree adds the threads' partial sums. Then one thread per
element normalises x (forward) or computes dx (backward) from the per-channel results.
Sums run in float64, as on the CPU (``kernels/cpu/norm.py``).
"""

from numba import cuda, float64

from numbanet.kernels.cuda.launch import THREADS_PER_BLOCK, launch, launch_1d
from numbanet.kernels.scalar import (
    batch_norm_input_grad,
    inverse_std,
    moving_average,
    standardize,
)


def launch_per_channel(x):
    """(blocks, threads) for one block per channel of x (N, C, L), of the fewest threads that
    cover a channel's N·L elements at one each, at most THREADS_PER_BLOCK, and a power of two
    (``block_sum`` halves them)."""
    count = x.shape[0] * x.shape[2]
    threads = min(THREADS_PER_BLOCK, 1 << max(count - 1, 0).bit_length())
    return max(1, x.shape[1]), threads


@cuda.jit(device=True)
def block_sum(value, partial):
    """Σ of ``value`` over the threads of the block, returned to every thread. partial: a
    shared array of THREADS_PER_BLOCK float64. Each round, the first half of the threads adds
    the second half's sums to its own: log2(threads) rounds."""
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if t < half:
            partial[t] += partial[t + half]
        cuda.syncthreads()
        half //= 2
    total = partial[0]
    cuda.syncthreads()  # every thread has read the total before a next sum overwrites it
    return total


@cuda.jit
def channel_statistics(
    x, running_mean, running_var, num_batches_tracked, use_batch_stats, update_running,
    momentum, eps, mean, inv_std,
):  # fmt: skip
    """mean[c], inv_std[c] from the batch (and the running statistics updated) or from the
    running statistics. One block per channel c = blockIdx.x."""
    n, _, length = x.shape
    count = n * length
    c, t = cuda.blockIdx.x, cuda.threadIdx.x
    partial = cuda.shared.array(THREADS_PER_BLOCK, float64)
    if use_batch_stats:
        total = 0.0
        for k in range(t, count, cuda.blockDim.x):
            total += x[k // length, c, k % length]
        batch_mean = block_sum(total, partial) / count
        squares = 0.0
        for k in range(t, count, cuda.blockDim.x):
            squares += (x[k // length, c, k % length] - batch_mean) ** 2
        batch_var = block_sum(squares, partial) / count
        if t == 0:
            mean[c] = batch_mean
            inv_std[c] = inverse_std(batch_var, eps)
            if update_running:
                unbiased = batch_var * count / (count - 1)
                running_mean[c] = moving_average(running_mean[c], batch_mean, momentum)
                running_var[c] = moving_average(running_var[c], unbiased, momentum)
    elif t == 0:
        mean[c] = running_mean[c]
        inv_std[c] = inverse_std(running_var[c], eps)
    if update_running and c == 0 and t == 0:
        num_batches_tracked[0] += 1


@cuda.jit
def normalize_elements(x, weight, bias, mean, inv_std, y):
    """y = γ (x − μ) / σ + β. One thread per element of x (N, C, L)."""
    i = cuda.grid(1)
    _, channels, length = x.shape
    if i < x.size:
        n, c, j = i // (channels * length), i // length % channels, i % length
        y[n, c, j] = standardize(x[n, c, j], mean[c], inv_std[c]) * weight[c] + bias[c]


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
    update_running, the running statistics. One block per channel for the statistics, then
    one thread per element.
    """
    launch(
        channel_statistics, *launch_per_channel(x), x, running_mean, running_var,
        num_batches_tracked, use_batch_stats, update_running, momentum, eps, mean, inv_std,
    )  # fmt: skip
    launch(normalize_elements, *launch_1d(x.size), x, weight, bias, mean, inv_std, y)


@cuda.jit
def channel_grad_sums(x, mean, inv_std, dy, dweight, dbias):
    """dbias[c] = Σ dy, dweight[c] = Σ dy x̂ over the channel. One block per channel."""
    n, _, length = x.shape
    c, t = cuda.blockIdx.x, cuda.threadIdx.x
    partial = cuda.shared.array(THREADS_PER_BLOCK, float64)
    sum_dy = 0.0
    sum_dy_x_hat = 0.0
    for k in range(t, n * length, cuda.blockDim.x):
        i, j = k // length, k % length
        sum_dy += dy[i, c, j]
        sum_dy_x_hat += dy[i, c, j] * standardize(x[i, c, j], mean[c], inv_std[c])
    sum_dy = block_sum(sum_dy, partial)
    sum_dy_x_hat = block_sum(sum_dy_x_hat, partial)
    if t == 0:
        dbias[c] = sum_dy
        dweight[c] = sum_dy_x_hat


@cuda.jit
def input_grad_elements(x, weight, mean, inv_std, dy, dweight, dbias, use_batch_stats, dx):
    """dx from the channel sums (``batch_norm_input_grad``). One thread per element."""
    i = cuda.grid(1)
    n, channels, length = x.shape
    if i < x.size:
        b, c, j = i // (channels * length), i // length % channels, i % length
        x_hat = standardize(x[b, c, j], mean[c], inv_std[c])
        dx[b, c, j] = batch_norm_input_grad(
            dy[b, c, j], x_hat, weight[c], inv_std[c], n * length, dbias[c], dweight[c],
            use_batch_stats,
        )  # fmt: skip


def batch_norm_backward(x, weight, mean, inv_std, dy, use_batch_stats, dx, dweight, dbias, need_dx):
    """dβ = Σ dy, dγ = Σ dy x̂ over (N, L) per channel, x̂ = (x − μ) / σ from the saved mean
    and inv_std; dx = γ/(M σ) (M dy − dβ − x̂ dγ) when forward used the batch statistics
    (use_batch_stats), γ dy / σ when it used the running ones (``batch_norm_input_grad``).
    x, dy, dx: (N, C, L); weight, mean, inv_std, dweight, dbias: (C,). Writes dweight, dbias and,
    if need_dx, dx. One block per channel for the sums, then one thread per element of dx.
    """
    launch(channel_grad_sums, *launch_per_channel(x), x, mean, inv_std, dy, dweight, dbias)
    if need_dx:
        launch(
            input_grad_elements, *launch_1d(x.size), x, weight, mean, inv_std, dy, dweight, dbias,
            use_batch_stats, dx,
        )  # fmt: skip
