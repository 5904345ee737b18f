"""Losses: each forward kernel writes one loss per row, each backward kernel writes ∂L/∂prediction.

The loss layer sums the rows and applies the reduction; ``scale`` is 1/N for a mean over N
rows (or elements) and 1 for a sum. Every prediction is (N, D) here (the loss passes a 2-D view).
"""

from numba import njit, prange

from numbanet.kernels.scalar import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    sigmoid,
    softmax_row,
    softplus_neg_abs,
)


@njit(parallel=True, cache=True, error_model="numpy")
def mse_forward(y, t, row_loss):
    """row_loss[n] = Σ_d (y[n, d] - t[n, d])². y, t: (N, D); writes row_loss: (N,)."""
    for n in prange(y.shape[0]):
        total = 0.0
        for d in range(y.shape[1]):
            diff = y[n, d] - t[n, d]
            total += diff * diff
        row_loss[n] = total


@njit(parallel=True, cache=True, error_model="numpy")
def mse_backward(y, t, scale, dy):
    """dy = 2 (y - t) · scale. y, t, dy: (N, D); one iteration per row."""
    for n in prange(y.shape[0]):
        for d in range(y.shape[1]):
            dy[n, d] = 2 * (y[n, d] - t[n, d]) * scale


@njit(parallel=True, cache=True, error_model="numpy")
def bce_forward(p, t, row_loss):
    """row_loss[n] = -Σ_d t log p + (1 - t) log(1 - p), each log clamped at -100.
    p (probabilities), t: (N, D); writes row_loss: (N,).
    """
    for n in prange(p.shape[0]):
        total = 0.0
        for d in range(p.shape[1]):
            total += binary_cross_entropy(p[n, d], t[n, d])
        row_loss[n] = total


@njit(parallel=True, cache=True, error_model="numpy")
def bce_backward(p, t, scale, dp):
    """dp = (p - t) / max(p (1 - p), 1e-12) · scale. p, t, dp: (N, D)."""
    for n in prange(p.shape[0]):
        for d in range(p.shape[1]):
            dp[n, d] = binary_cross_entropy_grad(p[n, d], t[n, d]) * scale


@njit(parallel=True, cache=True, error_model="numpy")
def bce_with_logits_forward(z, t, row_loss):
    """row_loss[n] = Σ_d max(z, 0) - z t + log(1 + e^-|z|): BCE of σ(z), never taking log 0.
    z (logits), t: (N, D); writes row_loss: (N,).
    """
    for n in prange(z.shape[0]):
        total = 0.0
        for d in range(z.shape[1]):
            total += max(z[n, d], 0.0) - z[n, d] * t[n, d] + softplus_neg_abs(z[n, d])
        row_loss[n] = total


@njit(parallel=True, cache=True, error_model="numpy")
def bce_with_logits_backward(z, t, scale, dz):
    """dz = (σ(z) - t) · scale. z, t, dz: (N, D)."""
    for n in prange(z.shape[0]):
        for d in range(z.shape[1]):
            dz[n, d] = (sigmoid(z[n, d]) - t[n, d]) * scale


@njit(parallel=True, cache=True, error_model="numpy")
def softmax_cross_entropy_forward(z, labels, probs, row_loss):
    """Softmax and cross-entropy fused in one pass over each row of logits:
    row_loss[n] = log Σₖ e^z[n, k] - z[n, labels[n]]   (log-sum-exp with the max subtracted)
    probs[n] = softmax(z[n]), kept for the backward pass.
    z: (N, C), labels: (N,) ints in [0, C); writes probs: (N, C), row_loss: (N,).
    """
    for n in prange(z.shape[0]):
        row_loss[n] = softmax_row(z[n], probs[n]) - z[n, labels[n]]


@njit(parallel=True, cache=True, error_model="numpy")
def softmax_cross_entropy_backward(probs, labels, scale, dz):
    """dz[n, c] = (probs[n, c] - [c == labels[n]]) · scale: the famous "p - y".
    probs: (N, C), labels: (N,); writes dz: (N, C).
    """
    for n in prange(probs.shape[0]):
        for c in range(probs.shape[1]):
            dz[n, c] = probs[n, c] * scale
        dz[n, labels[n]] -= scale
