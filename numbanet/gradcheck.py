"""Gradient checking: compare backward with central finite differences, in float64.

For a layer, f(x, θ) = Σ dy ⊙ layer(x) with a random upstream gradient dy (a plain sum would
hide errors that cancel across outputs), plus the terms the layer adds to the objective (a
VAE's KL, whose gradient its backward adds: ``objective_addition``); for a loss,
f = loss(prediction, target).
Each input or param entry v is nudged both ways: ∂f/∂v ≈ (f(v + ε) - f(v - ε)) / 2ε.
The error reported per tensor is max|analytic - numeric| / max(max|analytic|, max|numeric|).

A layer that draws random numbers in its forward (Dropout in training) would draw a new mask at
every one of those forwards, and the differences would measure the change of mask, not the
gradient: numbanet's generator is put back to one saved state before every forward, so each
sees the same mask, and restored afterwards, so a check leaves the caller's random stream as it
found it.
"""

import copy

import numpy as np

from numbanet import rng as numbanet_rng
from numbanet.backend import to_host
from numbanet.layers.base import Layer, objective_addition
from numbanet.losses import Loss


def _relative_error(analytic, numeric):
    scale = max(np.abs(analytic).max(initial=0), np.abs(numeric).max(initial=0), 1e-12)
    return float(np.abs(analytic - numeric).max(initial=0) / scale)


def numeric_gradient(f, v, eps=1e-6, entries=None):
    """∂f/∂v by central differences of the scalar function f(), perturbing v in place: at the
    flat ``entries`` of v (one value each), or at every entry (shaped like v) if None.
    v must be contiguous, so that its flat view is v itself."""
    flat = v.reshape(-1)
    chosen = np.arange(v.size) if entries is None else entries
    grad = np.zeros(len(chosen))
    for k, i in enumerate(chosen):
        original = flat[i]
        flat[i] = original + eps
        up = f()
        flat[i] = original - eps
        down = f()
        flat[i] = original
        grad[k] = (up - down) / (2 * eps)
    return grad.reshape(v.shape) if entries is None else grad


def gradcheck(fn, x, target=None, eps=1e-6, seed=0, max_entries=None):
    """Max relative error of ``fn``'s backward against finite differences, per tensor.

    fn: a Layer (checked on input x; a float64 copy is made on the CPU, fn is untouched, on
    either device) or a Loss (x is the prediction, ``target`` the target). Integer x (an
    Embedding's token ids) is not differentiable: it is kept as it is, and only the params are
    checked.
    Returns {"x": err, "weight": err, ...}.
    max_entries: check at most this many randomly chosen entries of each tensor (two forward
    passes per entry make a full check of a big layer slow); None checks every entry.
    """
    rng = np.random.default_rng(seed)

    def check(analytic, f, v):
        entries = np.arange(v.size)
        if max_entries is not None and v.size > max_entries:
            entries = rng.choice(v.size, max_entries, replace=False)
        numeric = numeric_gradient(f, v, eps, entries)
        return _relative_error(np.asarray(analytic).reshape(-1)[entries], numeric)

    x = np.array(to_host(x))
    if isinstance(fn, Loss) or x.dtype.kind not in "iu":
        x = x.astype(np.float64)
    if isinstance(fn, Loss):
        # a fresh copy on the CPU: the loss's buffers (maybe on the GPU) are not copied
        loss = copy.deepcopy(fn, {id(fn._buffers): {}, id(fn.saved): {}, id(fn.backend): None})
        target = to_host(target)
        loss(x, target)
        return {"x": check(np.array(loss.backward()), lambda: loss(x, target), x)}
    if not isinstance(fn, Layer):
        raise TypeError(f"gradcheck: expected a Layer or a Loss, got {type(fn).__name__}")
    layer = fn.clone("cpu").to(np.float64)
    bit_generator = numbanet_rng.generator().bit_generator
    caller_state = copy.deepcopy(bit_generator.state)

    def forward():
        bit_generator.state = copy.deepcopy(caller_state)  # the same dropout mask every time
        return layer.forward(x)

    try:
        dy = rng.standard_normal(np.shape(forward()))
        batch = x.shape[0] if x.ndim else 1

        def f():
            return float(np.sum(dy * forward())) + objective_addition(layer, batch)

        f()
        dx = layer.backward(dy)
        errors = {} if dx is None else {"x": check(np.array(dx), f, x)}
        analytic = layer.grad_dict()
        for name, param in layer.named_params():
            errors[name] = check(analytic[name], f, param)
    finally:
        bit_generator.state = caller_state
    return errors
