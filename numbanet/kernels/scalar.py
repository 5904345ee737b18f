"""Per-element math, written once and inlined into every kernel that needs it.

Each function is compiled with ``njit(inline="always")`` so a kernel that calls it pays no
call overhead; the CUDA backend compiles the same functions as device functions.
"""

import math

from numba import njit

scalar = njit(inline="always", cache=True)


@scalar
def relu(x):
    """max(x, 0)."""
    return x if x > 0 else 0.0


@scalar
def relu_grad(x):
    """d relu / dx = 1 if x > 0 else 0 (torch's choice at x == 0: the subgradient 0)."""
    return 1.0 if x > 0 else 0.0


@scalar
def leaky_relu(x, slope):
    """x if x > 0 else slope * x."""
    return x if x > 0 else slope * x


@scalar
def leaky_relu_grad(x, slope):
    """1 if x > 0 else slope."""
    return 1.0 if x > 0 else slope


@scalar
def sigmoid(x):
    """1 / (1 + e^-x), computed without overflow: e^-x is only taken for x >= 0."""
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


# The activations a dense kernel can apply to its output in the same pass (its "epilogue"),
# by code: a kernel argument must be a number, not a function.
NO_ACTIVATION, RELU, LEAKY_RELU, SIGMOID, TANH = range(5)
EPILOGUES = {None: NO_ACTIVATION, "relu": RELU, "leaky_relu": LEAKY_RELU, "sigmoid": SIGMOID,
             "tanh": TANH}  # fmt: skip


@scalar
def epilogue(z, kind, slope):
    """The activation numbered ``kind`` in EPILOGUES applied to z (kind 0: z itself); slope is
    leaky ReLU's."""
    if kind == RELU:
        return relu(z)
    if kind == LEAKY_RELU:
        return leaky_relu(z, slope)
    if kind == SIGMOID:
        return sigmoid(z)
    if kind == TANH:
        return math.tanh(z)
    return z


@scalar
def softplus_neg_abs(x):
    """log(1 + e^-|x|): the stable tail of log-sigmoid and of BCE with logits."""
    return math.log1p(math.exp(-abs(x)))


# torch clamps log(p) at -100 in BCE, so a confident wrong answer costs 100, not inf.
LOG_CLAMP = -100.0


@scalar
def binary_cross_entropy(p, t):
    """-(t log p + (1 - t) log(1 - p)), each log clamped at -100 as torch does."""
    log_p = max(math.log(p) if p > 0 else LOG_CLAMP, LOG_CLAMP)
    log_q = max(math.log(1 - p) if p < 1 else LOG_CLAMP, LOG_CLAMP)
    return -(t * log_p + (1 - t) * log_q)


# torch's lower bound on p(1 - p) in the BCE gradient, which would otherwise divide by zero.
BCE_GRAD_EPS = 1e-12


@scalar
def binary_cross_entropy_grad(p, t):
    """∂/∂p of binary_cross_entropy: (p - t) / max(p (1 - p), 1e-12)."""
    return (p - t) / max(p * (1 - p), BCE_GRAD_EPS)


@scalar
def sgd_update(p, g, b, lr, momentum, dampening, nesterov, weight_decay, first_step):
    """One element of torch's SGD: returns (new p, new momentum buffer b).
    g += wd·p;  b = g at the first step, else μ·b + (1 - dampening)·g;
    p ← p - lr · (g + μ·b if nesterov else b)   (b unused and returned as is when μ = 0)
    """
    g = g + weight_decay * p
    if momentum != 0:
        b = g if first_step else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b
    return p - lr * g, b


@scalar
def adam_update(
    p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step_size, bias_correction2_sqrt
):
    """One element of torch's Adam (decoupled=False) or AdamW (True): returns (p, m, v).
    AdamW: p ← p (1 - lr·wd)           Adam: g = g + wd·p
    m ← m + (1 - β₁)(g - m)             v ← β₂ v + (1 - β₂) g²
    p ← p - step_size · m / (√v / bias_correction2_sqrt + ε)
    """
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = m + (1 - beta1) * (g - m)
    v = beta2 * v + (1 - beta2) * g * g
    return p - step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps), m, v
