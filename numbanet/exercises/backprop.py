"""Chapter 2 exercises (stepping through backprop): ReLU's backward and the two update rules the
inspector takes apart, SGD with momentum and Adam."""

import math

import numpy as np

from numbanet.exercises.engine import into_last, kernel, run_layer
from numbanet.exercises.grading import Exercise, Mistake
from numbanet.layers import ReLU

SHAPE = (4, 5)


def _relu_inputs(rng):
    x = rng.standard_normal(SHAPE)
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink at 0
    return {"x": x, "dy": rng.standard_normal(SHAPE)}


relu_backward = Exercise(
    name="relu_backward",
    chapter=2,
    title="ReLU's backward",
    signature="relu_backward(x, dy) -> dx",
    task="y = max(x, 0) elementwise. Given the forward input x and dy = ∂L/∂y, return "
    "dx = ∂L/∂x (0 where x ≤ 0).",
    question="A ReLU unit whose input is negative for every sample passes no gradient back: "
    "its weights stop learning (a 'dead' ReLU). How can a unit get there, and what could bring "
    "it back?",
    inputs=_relu_inputs,
    args=("x", "dy"),
    outputs=("dx",),
    reference=lambda v: (run_layer(ReLU(), v["x"], v["dy"])[1],),
    forward=lambda v: np.maximum(v["x"], 0),
    upstream=("dy",),
    wrt={"dx": "x"},
    mistakes=(
        Mistake(
            "the mask comes from the forward input (x > 0), not from dy",
            lambda v, r: {"dx": v["dy"] * (v["dy"] > 0)},
        ),
        Mistake("multiply the mask [x > 0] by dy", lambda v, r: {"dx": (v["x"] > 0) * 1.0}),
        Mistake(
            "multiply dy by the step [x > 0], the derivative, not by relu(x)",
            lambda v, r: {"dx": v["dy"] * np.maximum(v["x"], 0)},
        ),
    ),
    kernel="relu_backward",
    as_kernel=into_last,
)


def optimizer_inputs(rng, **scalars):
    return {
        "param": rng.standard_normal(SHAPE),
        "grad": rng.standard_normal(SHAPE),
        "buf": rng.standard_normal(SHAPE) * 0.5,
        **scalars,
    }


def sgd_reference(v, grad=None):
    """(param, buf) after the engine's ``sgd_step`` (momentum, after the first step) with
    ``grad`` (default ``v["grad"]``)."""
    param, buf = v["param"].copy(), v["buf"].copy()
    grad = v["grad"] if grad is None else grad
    kernel("sgd_step")(
        param.reshape(-1), grad.reshape(-1), buf.reshape(-1), v["lr"], v["momentum"],
        0.0, False, 0.0, False,
    )  # fmt: skip
    return param, buf


def _sgd_inputs(rng):
    return optimizer_inputs(rng, lr=0.1, momentum=0.9)


sgd_momentum_step = Exercise(
    name="sgd_momentum_step",
    chapter=2,
    title="One step of SGD with momentum",
    signature="sgd_momentum_step(param, grad, buf, lr, momentum) -> (param, buf)",
    task="torch's SGD with momentum μ, after its first step: b ← μ b + g, then p ← p − lr · b. "
    "Return the new param and the new buffer (updating the arrays in place is fine).",
    question="With μ = 0.9 and the same gradient g at every step, what step does SGD settle "
    "to? (Sum the geometric series.) What does that mean for the learning rate you choose?",
    inputs=_sgd_inputs,
    args=("param", "grad", "buf", "lr", "momentum"),
    outputs=("param", "buf"),
    reference=sgd_reference,
    may_modify=("param", "buf"),
    mistakes=(
        Mistake(
            "the step uses the new buffer b = μ b + g, not the gradient g",
            lambda v, r: {"param": v["param"] - v["lr"] * v["grad"]},
        ),
        Mistake(
            "torch's momentum adds the whole gradient: b = μ b + g (b = μ b + (1 − μ) g is "
            "what dampening = μ gives)",
            lambda v, r: {"buf": v["momentum"] * v["buf"] + (1 - v["momentum"]) * v["grad"]},
        ),
        Mistake(
            "update b first, then step with the new b",
            lambda v, r: {"param": v["param"] - v["lr"] * v["buf"]},
        ),
    ),
)


def _adam_inputs(rng):
    v = optimizer_inputs(rng, t=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-3)
    v["m"], v["v"] = v.pop("buf"), rng.random(SHAPE) * 0.1
    return v


def _adam_reference(v):
    param, m, sq = v["param"].copy(), v["m"].copy(), v["v"].copy()
    t, lr, beta1, beta2 = v["t"], v["lr"], v["beta1"], v["beta2"]
    kernel("adam_step")(
        param.reshape(-1), v["grad"].reshape(-1), m.reshape(-1), sq.reshape(-1), lr, beta1,
        beta2, v["eps"], 0.0, False, lr / (1 - beta1**t), math.sqrt(1 - beta2**t),
    )  # fmt: skip
    return param, m, sq


def _adam_without_correction(v, r):
    return {"param": v["param"] - v["lr"] * r["m"] / (np.sqrt(r["v"]) + v["eps"])}


def _adam_eps_inside(v, r):
    m_hat = r["m"] / (1 - v["beta1"] ** v["t"])
    v_hat = r["v"] / (1 - v["beta2"] ** v["t"])
    return {"param": v["param"] - v["lr"] * m_hat / np.sqrt(v_hat + v["eps"])}


adam_step = Exercise(
    name="adam_step",
    chapter=2,
    title="One step of Adam",
    signature="adam_step(param, grad, m, v, t, lr, beta1, beta2, eps) -> (param, m, v)",
    task="torch's Adam at step t (t = 1 for the first): m ← β₁ m + (1 − β₁) g, "
    "v ← β₂ v + (1 − β₂) g², m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ), p ← p − lr · m̂ / (√v̂ + ε). "
    "Return the new param, m and v. (ε is 1e-3 here, larger than usual, so that its place shows.)",
    question="Adam's step is about lr in size whatever the scale of the gradient. Why? What "
    "does that mean for a param whose gradient is tiny but always of the same sign?",
    inputs=_adam_inputs,
    args=("param", "grad", "m", "v", "t", "lr", "beta1", "beta2", "eps"),
    outputs=("param", "m", "v"),
    reference=_adam_reference,
    may_modify=("param", "m", "v"),
    mistakes=(
        Mistake(
            "a forgotten bias correction: divide m by (1 − β₁ᵗ) and v by (1 − β₂ᵗ) before the "
            "step (both start at 0, so early on they are too small)",
            _adam_without_correction,
        ),
        Mistake(
            "v is the running mean of the squared gradient g², not of g",
            lambda v, r: {"v": v["beta2"] * v["v"] + (1 - v["beta2"]) * v["grad"]},
        ),
        Mistake("ε goes outside the square root: √v̂ + ε", _adam_eps_inside),
    ),
)

EXERCISES = (relu_backward, sgd_momentum_step, adam_step)
