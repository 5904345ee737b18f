"""Gradient checking: compare backward with central finite differences, in float64.

For a layer, f(x, θ) = Σ dy ⊙ layer(x) with a random upstream gradient dy (a plain sum would
hide errors that cancel across outputs); for a loss, f = loss(prediction, target).
Each input or param entry v is nudged both ways: ∂f/∂v ≈ (f(v + ε) - f(v - ε)) / 2ε.
The error reported per tensor is max|analytic - numeric| / max(max|analytic|, max|numeric|).
"""

import copy

import numpy as np

from numbanet.layers.base import Layer
from numbanet.losses import Loss


def _relative_error(analytic, numeric):
    scale = max(np.abs(analytic).max(initial=0), np.abs(numeric).max(initial=0), 1e-12)
    return float(np.abs(analytic - numeric).max(initial=0) / scale)


def _numeric_gradient(f, v, eps):
    """Central differences of the scalar function f() with respect to every entry of v."""
    grad = np.zeros_like(v)
    flat, flat_grad = v.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        up = f()
        flat[i] = original - eps
        down = f()
        flat[i] = original
        flat_grad[i] = (up - down) / (2 * eps)
    return grad


def gradcheck(fn, x, target=None, eps=1e-6, seed=0):
    """Max relative error of ``fn``'s backward against finite differences, per tensor.

    fn: a Layer (checked on input x; a float64 copy is made, fn is untouched) or a Loss
    (x is the prediction, ``target`` the target). Returns {"x": err, "weight": err, ...}.
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    if isinstance(fn, Loss):
        loss = copy.deepcopy(fn)
        loss(x, target)
        analytic = np.array(loss.backward())
        return {"x": _relative_error(analytic, _numeric_gradient(lambda: loss(x, target), x, eps))}
    if not isinstance(fn, Layer):
        raise TypeError(f"gradcheck: expected a Layer or a Loss, got {type(fn).__name__}")
    layer = copy.deepcopy(fn).to(np.float64)
    layer.set_path("")  # keys "weight", not "2.weight", for a layer taken out of a model
    dy = rng.standard_normal(np.shape(layer.forward(x)))

    def f():
        return float(np.sum(dy * layer.forward(x)))

    f()
    errors = {"x": _relative_error(np.array(layer.backward(dy)), _numeric_gradient(f, x, eps))}
    analytic = layer.grad_dict()
    for name, param in layer.named_params():
        errors[name] = _relative_error(analytic[name], _numeric_gradient(f, param, eps))
    return errors
