"""Optimizer update rules, one kernel per rule, exactly as PyTorch defines them.

Each kernel updates one parameter tensor in place (flat views: param, grad and state are
(n,)), one iteration per element. Every value written is flushed to zero when it would be
subnormal (|v| < ``tiny``, the smallest normal float): after a few hundred steps Adam's
second moment and many weights drift into that range, where x86 arithmetic is ~100x slower.
The flush changes results only below 1.2e-38 (float32) and keeps training fast everywhere.
"""

import math

from numba import njit, prange

from numbanet.kernels.scalar import flush_subnormal


@njit(parallel=True, cache=True)
def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, nesterov, weight_decay,
             first_step, tiny):
    """SGD with momentum, dampening, Nesterov and weight decay (torch.optim.SGD):
    g = grad + wd·p
    b = g on the first step, else μ·b + (1 - dampening)·g      (only if μ != 0)
    p ← p - lr · (g + μ·b if nesterov else b)
    param, grad, momentum_buffer: (n,); writes param and momentum_buffer.
    """
    for i in prange(param.shape[0]):
        g = grad[i] + weight_decay * param[i]
        if momentum != 0:
            if first_step:
                b = g
            else:
                b = momentum * momentum_buffer[i] + (1 - dampening) * g
            momentum_buffer[i] = flush_subnormal(b, tiny)
            g = g + momentum * b if nesterov else b
        param[i] = flush_subnormal(param[i] - lr * g, tiny)


@njit(parallel=True, cache=True)
def adam_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
              decoupled, step, tiny):
    """Adam (decoupled=False) and AdamW (decoupled=True), as torch.optim.Adam/AdamW:
    AdamW: p ← p (1 - lr·wd)           Adam: g = grad + wd·p
    m ← m + (1 - β₁)(g - m)             v ← β₂ v + (1 - β₂) g²
    p ← p - lr / (1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)
    param, grad, exp_avg (m), exp_avg_sq (v): (n,); writes param, exp_avg, exp_avg_sq.
    """
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    for i in prange(param.shape[0]):
        p = param[i]
        g = grad[i]
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = flush_subnormal(exp_avg[i] + (1 - beta1) * (g - exp_avg[i]), tiny)
        v = flush_subnormal(beta2 * exp_avg_sq[i] + (1 - beta2) * g * g, tiny)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] = flush_subnormal(p - step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps), tiny)
