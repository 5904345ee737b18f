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


@scalar
def softplus_neg_abs(x):
    """log(1 + e^-|x|): the stable tail of log-sigmoid and of BCE with logits."""
    return math.log1p(math.exp(-abs(x)))
