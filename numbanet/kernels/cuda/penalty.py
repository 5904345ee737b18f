"""Weight penalties on the GPU: their gradients are added to the weight gradients.

L1: λ Σ|w|   → ∂/∂w = λ sign(w)   (pushes weights to exactly zero: sparse weights)
L2: λ/2 Σw²  → ∂/∂w = λ w         (shrinks every weight in proportion: "weight decay")
"""

from numba import cuda

from numbanet.kernels.cuda.launch import grid_1d


@grid_1d
def l1_penalty_backward(param, strength, grad):
    """grad += λ sign(param). param, grad: (n,); writes grad. One thread per element."""
    i = cuda.grid(1)
    if i < param.shape[0]:
        if param[i] > 0:
            grad[i] += strength
        elif param[i] < 0:
            grad[i] -= strength


@grid_1d
def l2_penalty_backward(param, strength, grad):
    """grad += λ param. param, grad: (n,); writes grad. One thread per element."""
    i = cuda.grid(1)
    if i < param.shape[0]:
        grad[i] += strength * param[i]
