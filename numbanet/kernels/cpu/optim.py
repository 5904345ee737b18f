"""Optimizer update rules, one kernel per rule, exactly as PyTorch defines them.

Each kernel updates one parameter tensor in place (flat views: param, grad and state are
(n,)), one iteration per element. Scalars arrive in the param's dtype, so float32 params are
updated in float32 arithmetic, as torch does.
"""

from numba import float64, njit, prange

from numbanet.kernels.cpu.dense import SUM_BLOCK
from numbanet.kernels.cpu.elementwise import zero
from numbanet.kernels.scalar import adam_update, sgd_update


@njit(parallel=True, cache=True, error_model="numpy")
def sgd_step(
    param, grad, momentum_buffer, lr, momentum, dampening, nesterov, weight_decay, first_step
):
    """SGD with momentum, dampening, Nesterov and weight decay (torch.optim.SGD):
    g = grad + wd·p
    b = g on the first step, else μ·b + (1 - dampening)·g      (only if μ != 0)
    p ← p - lr · (g + μ·b if nesterov else b)
    param, grad, momentum_buffer: (n,); writes param, and momentum_buffer if μ != 0.
    """
    for i in prange(param.shape[0]):
        param[i], buffer = sgd_update(
            param[i],
            grad[i],
            momentum_buffer[i],
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
            first_step,
        )
        if momentum != 0:  # without momentum the buffer is unused: param may stand in for it
            momentum_buffer[i] = buffer


@njit(parallel=True, cache=True, error_model="numpy")
def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    decoupled,
    step_size,
    bias_correction2_sqrt,
):
    """Adam (decoupled=False) and AdamW (decoupled=True), as torch.optim.Adam/AdamW:
    AdamW: p ← p (1 - lr·wd)           Adam: g = grad + wd·p
    m ← m + (1 - β₁)(g - m)             v ← β₂ v + (1 - β₂) g²
    p ← p - step_size · m / (√v / bias_correction2_sqrt + ε)
    with step_size = lr / (1 - β₁ᵗ) and bias_correction2_sqrt = √(1 - β₂ᵗ) at step t.
    param, grad, exp_avg (m), exp_avg_sq (v): (n,); writes param, exp_avg, exp_avg_sq.
    """
    for i in prange(param.shape[0]):
        param[i], exp_avg[i], exp_avg_sq[i] = adam_update(
            param[i],
            grad[i],
            exp_avg[i],
            exp_avg_sq[i],
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            step_size,
            bias_correction2_sqrt,
        )


@njit(parallel=True, cache=True, error_model="numpy")
def squared_norm_partials(grad, partial):
    """The squared norm ‖grad‖² in P partial sums (their sum is the norm², for gradient clipping):
    partial[p] = Σ_{i ≡ p (mod P)} grad[i]², summed in float64. Strided, so that on the GPU
    neighbouring threads read neighbouring elements; the same order on both devices.
    grad: (n,); writes partial: (P,). One iteration per block of SUM_BLOCK partial sums, which
    reads grad as rows of P (row r holds grad[r·P : (r + 1)·P]) and adds each row's slice of
    the block in: every partial still adds its elements in the GPU's order, but the reads are
    contiguous and vectorize (one partial at a time reads grad P elements apart, 4 KiB strides:
    benchmarks/RESULTS.md, Transformer kernels).
    """
    n, stride = grad.shape[0], partial.shape[0]
    for b in prange((stride + SUM_BLOCK - 1) // SUM_BLOCK):
        first, last = b * SUM_BLOCK, min((b + 1) * SUM_BLOCK, stride)
        block = partial[first:last]
        zero(block)
        for start in range(first, n, stride):  # this block's columns of each row
            row = grad[start : min(start + last - first, n)]
            for k in range(row.shape[0]):
                g = float64(row[k])  # squared in float64: float32 squares lose digits
                block[k] += g * g


@njit(parallel=True, cache=True, error_model="numpy")
def scale_in_place(grad, factor):
    """grad ← factor · grad (gradient clipping's rescale). grad: (n,), written in place."""
    for i in prange(grad.shape[0]):
        grad[i] *= factor
