"""Optimizer update rules, one kernel per rule, exactly as PyTorch defines them.

Each kernel updates one parameter tensor in place (flat views: param, grad and state are
(n,)), one iteration per element. Scalars arrive in the param's dtype, so float32 params are
updated in float32 arithmetic, as torch does.
"""

import math

from numba import njit, prange


@njit(parallel=True, cache=True)
def sgd_step(
    param, grad, momentum_buffer, lr, momentum, dampening, nesterov, weight_decay, first_step
):
    """SGD with momentum, dampening, Nesterov and weight decay (torch.optim.SGD):
    g = grad + wd·p
    b = g on the first step, else μ·b + (1 - dampening)·g      (only if μ != 0)
    p ← p - lr · (g + μ·b if nesterov else b)
    param, grad, momentum_buffer: (n,); writes param and momentum_buffer.
    """
    for i in prange(param.shape[0]):
        g = grad[i] + weight_decay * param[i]
        if momentum != 0:
            b = g if first_step else momentum * momentum_buffer[i] + (1 - dampening) * g
            momentum_buffer[i] = b
            g = g + momentum * b if nesterov else b
        param[i] -= lr * g


@njit(parallel=True, cache=True)
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
        p = param[i]
        g = grad[i]
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = exp_avg[i] + (1 - beta1) * (g - exp_avg[i])
        v = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] = p - step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps)
