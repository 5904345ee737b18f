"""Weight penalties added to the loss: their gradients are added to the weight gradients.

L1: λ Σ|w|   → ∂/∂w = λ sign(w)   (pushes weights to exactly zero: sparse weights)
L2: λ/2 Σw²  → ∂/∂w = λ w         (shrinks every weight in proportion: "weight decay")
"""

from numba import njit, prange


@njit(parallel=True, cache=True, error_model="numpy")
def l1_penalty_backward(param, strength, grad):
    """grad += λ sign(param). param, grad: (n,); writes grad."""
    for i in prange(param.shape[0]):
        if param[i] > 0:
            grad[i] += strength
        elif param[i] < 0:
            grad[i] -= strength


@njit(parallel=True, cache=True, error_model="numpy")
def l2_penalty_backward(param, strength, grad):
    """grad += λ param. param, grad: (n,); writes grad."""
    for i in prange(param.shape[0]):
        grad[i] += strength * param[i]
