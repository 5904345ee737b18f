"""Optimizer update rules on the GPU, one kernel per rule, exactly as PyTorch defines them.

Each kernel updates one parameter tensor in place (flat views: param, grad and state are
(n,)), one thread per element. Scalars arrive in the param's dtype, so float32 params are
updated in float32 arithmetic, as torch does.
"""

from numba import cuda, float64

from numbanet.kernels.cuda.launch import grid_1d, launch, launch_1d
from numbanet.kernels.scalar import adam_update, sgd_update


@grid_1d
def sgd_step(
    param, grad, momentum_buffer, lr, momentum, dampening, nesterov, weight_decay, first_step
):
    """SGD with momentum, dampening, Nesterov and weight decay (torch.optim.SGD):
    g = grad + wd·p
    b = g on the first step, else μ·b + (1 - dampening)·g      (only if μ != 0)
    p ← p - lr · (g + μ·b if nesterov else b)
    param, grad, momentum_buffer: (n,); writes param, and momentum_buffer if μ != 0.
    One thread per element.
    """
    i = cuda.grid(1)
    if i < param.shape[0]:
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


@grid_1d
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
    One thread per element.
    """
    i = cuda.grid(1)
    if i < param.shape[0]:
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


@cuda.jit
def strided_squares(grad, partial):
    p = cuda.grid(1)
    stride = partial.shape[0]
    if p < stride:
        total = 0.0
        for i in range(p, grad.shape[0], stride):
            g = float64(grad[i])  # squared in float64: float32 squares lose digits
            total += g * g
        partial[p] = total


def squared_norm_partials(grad, partial):
    """partial[p] = Σ_{i ≡ p (mod P)} grad[i]² in float64: ‖grad‖² in P partial sums.
    grad: (n,); writes partial: (P,). One thread per p, striding over grad (neighbouring
    threads read neighbouring elements: coalesced)."""
    launch(strided_squares, *launch_1d(partial.shape[0]), grad, partial)


@grid_1d
def scale_in_place(grad, factor):
    """grad ← factor · grad (gradient clipping's rescale). grad: (n,), written in place.
    One thread per element."""
    i = cuda.grid(1)
    if i < grad.shape[0]:
        grad[i] *= factor
