"""Chapter 5 exercises (regularisation): an L2 penalty inside SGD with momentum, dropout's
backward, and batch normalisation's backward."""

import numpy as np

from numbanet.exercises.backprop import optimizer_inputs, sgd_reference
from numbanet.exercises.engine import into_last, kernel, run_kernel, run_layer
from numbanet.exercises.grading import Exercise, Mistake
from numbanet.layers import BatchNorm1d

EPS = 1e-5  # BatchNorm's ε, torch's default


def _l2_reference(v):
    grad = v["grad"].copy()
    kernel("l2_penalty_backward")(v["param"].reshape(-1), v["l2"], grad.reshape(-1))
    return sgd_reference(v, grad)


def _sgd_with_gradient(v, grad):
    buf = v["momentum"] * v["buf"] + grad
    return {"param": v["param"] - v["lr"] * buf, "buf": buf}


def _decoupled(v, r):
    buf = v["momentum"] * v["buf"] + v["grad"]
    return {"param": v["param"] - v["lr"] * (buf + v["l2"] * v["param"]), "buf": buf}


l2_momentum_step = Exercise(
    name="l2_momentum_step",
    chapter=5,
    title="An L2 penalty in SGD with momentum",
    signature="l2_momentum_step(param, grad, buf, lr, momentum, l2) -> (param, buf)",
    task="The objective is L + λ/2 Σw² (the optimizers' l2=λ). Add the penalty's gradient to "
    "the data gradient, g = grad + λ·param, then take torch's momentum step: b ← μ b + g, "
    "p ← p − lr · b. Return the new param and buffer.",
    question="In plain SGD (μ = 0) with learning rate lr, by what factor does the penalty shrink "
    "a weight that gets no gradient from the data, per step? Compare with the border pixels' "
    "weights in Part 4 of the chapter.",
    inputs=lambda rng: optimizer_inputs(rng, lr=0.1, momentum=0.9, l2=0.05),
    args=("param", "grad", "buf", "lr", "momentum", "l2"),
    outputs=("param", "buf"),
    reference=_l2_reference,
    may_modify=("param", "buf"),
    mistakes=(
        Mistake(
            "the gradient of λ/2 Σw² is λ·w: the ½ cancels against the square's 2",
            lambda v, r: _sgd_with_gradient(v, v["grad"] + v["l2"] / 2 * v["param"]),
        ),
        Mistake(
            "the penalty pulls weights toward 0: add +λ·w to the gradient",
            lambda v, r: _sgd_with_gradient(v, v["grad"] - v["l2"] * v["param"]),
        ),
        Mistake(
            "the penalty's gradient goes into g before the momentum buffer; adding λ·w to the "
            "step afterwards is decoupled weight decay (AdamW's), another method",
            _decoupled,
        ),
    ),
)


def _dropout_inputs(rng):
    p = 0.3
    return {
        "x": rng.standard_normal((4, 5)),
        "mask": (rng.random((4, 5)) >= p).astype(np.uint8),
        "p": p,
        "dy": rng.standard_normal((4, 5)),
    }


def _dropout_reference(v):
    (dx,) = run_kernel(
        "dropout_backward", v["mask"].reshape(-1), v["p"], v["dy"].reshape(-1),
        outputs=[v["dy"].size],
    )  # fmt: skip
    return (dx.reshape(v["dy"].shape),)


dropout_backward = Exercise(
    name="dropout_backward",
    chapter=5,
    title="Dropout's backward",
    signature="dropout_backward(mask, p, dy) -> dx",
    task="Inverted dropout: y = x · mask / (1 − p), mask 1 for a kept unit and 0 for a "
    "dropped one (uint8), p the drop probability. Given the mask forward drew and dy, return dx.",
    question="Why does inverted dropout scale by 1/(1 − p) at training time rather than by "
    "(1 − p) at test time? What would model.eval() have to do otherwise?",
    inputs=_dropout_inputs,
    args=("mask", "p", "dy"),
    outputs=("dx",),
    reference=_dropout_reference,
    forward=lambda v: v["x"] * v["mask"] / (1 - v["p"]),
    upstream=("dy",),
    wrt={"dx": "x"},
    mistakes=(
        Mistake(
            "a forgotten 1/(1 − p): forward scaled the kept units up, so backward scales "
            "their gradient by the same factor",
            lambda v, r: {"dx": v["dy"] * v["mask"]},
        ),
        Mistake(
            "the kept fraction is 1 − p: divide by (1 − p), not by p",
            lambda v, r: {"dx": v["dy"] * v["mask"] / v["p"]},
        ),
        Mistake(
            "the dropped units passed nothing forward, so they get no gradient: multiply by "
            "the mask",
            lambda v, r: {"dx": v["dy"] / (1 - v["p"])},
        ),
        Mistake(
            "the mask marks the kept units (1 = kept)",
            lambda v, r: {"dx": v["dy"] * (1 - v["mask"]) / (1 - v["p"])},
        ),
    ),
    kernel="dropout_backward",
    as_kernel=into_last,
)


def _batchnorm_inputs(rng):
    x = rng.standard_normal((6, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -2.0, 0.5]
    return {
        "x": x,
        "gamma": rng.standard_normal(4),
        "beta": rng.standard_normal(4),
        "mean": x.mean(axis=0),
        "inv_std": 1 / np.sqrt(x.var(axis=0) + EPS),
        "dy": rng.standard_normal((6, 4)),
    }


def _batchnorm(v):
    x = v["x"]
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + EPS)
    return v["gamma"] * x_hat + v["beta"]


def _batchnorm_reference(v):
    layer = BatchNorm1d(v["x"].shape[1], eps=EPS)
    _, dx, grads = run_layer(layer, v["x"], v["dy"], {"weight": v["gamma"], "bias": v["beta"]})
    return dx, grads["weight"], grads["bias"]


def _batch_norm_backward_kernel(fn):
    """The learner's batchnorm_backward with the arguments of ``batch_norm_backward``, whose
    x is (N, C, L): the learner's function sees the N·L rows of (N·L, C)."""

    def batch_norm_backward(
        x, weight, mean, inv_std, dy, use_batch_stats, dx, dweight, dbias, need_dx
    ):  # fmt: skip
        if not use_batch_stats:
            raise NotImplementedError(
                "your batchnorm_backward is the training-mode one (batch statistics); "
                "put the engine's kernel back for evaluation mode"
            )
        n, c, length = x.shape
        rows = x.transpose(0, 2, 1).reshape(-1, c)
        dx_, dweight[...], dbias[...] = fn(
            rows, weight, mean, inv_std, dy.transpose(0, 2, 1).reshape(-1, c)
        )
        if need_dx:
            dx[...] = np.asarray(dx_).reshape(n, length, c).transpose(0, 2, 1)

    return batch_norm_backward


batchnorm_backward = Exercise(
    name="batchnorm_backward",
    chapter=5,
    title="Batch normalisation's backward",
    signature="batchnorm_backward(x, gamma, mean, inv_std, dy) -> (dx, dgamma, dbeta)",
    task="Training mode, x: (N, C): x̂ = (x − μ) · inv_std with the batch's mean μ and "
    "inv_std = 1/√(σ² + ε) per feature (given, as forward saved them), y = γ x̂ + β. Given dy, "
    "return dx: (N, C), dγ: (C,), dβ: (C,). μ and σ² depend on every x of the batch.",
    question="In evaluation mode BatchNorm uses its running statistics. What is dx then, and "
    "why is it so much simpler?",
    inputs=_batchnorm_inputs,
    args=("x", "gamma", "mean", "inv_std", "dy"),
    outputs=("dx", "dgamma", "dbeta"),
    reference=_batchnorm_reference,
    forward=_batchnorm,
    upstream=("dy",),
    wrt={"dx": "x", "dgamma": "gamma", "dbeta": "beta"},
    mistakes=(
        Mistake(
            "dx misses the paths through μ and σ, which depend on every x of the batch: "
            "dx = γ·inv_std/N · (N·dy − Σdy − x̂·Σ(dy·x̂)), sums over the batch",
            lambda v, r: {"dx": v["gamma"] * v["inv_std"] * v["dy"]},
        ),
        Mistake(
            "a forgotten 1/N in dx: the mean and the variance average over the N samples",
            lambda v, r: {"dx": r["dx"] * len(v["x"])},
        ),
        Mistake(
            "dγ and dβ sum over the batch (axis 0): one value per feature",
            lambda v, r: {
                "dgamma": (v["dy"] * (v["x"] - v["mean"]) * v["inv_std"]).sum(axis=1),
                "dbeta": v["dy"].sum(axis=1),
            },
        ),
        Mistake(
            "dγ = Σ dy·x̂, with the normalised x̂, not x",
            lambda v, r: {"dgamma": (v["dy"] * v["x"]).sum(axis=0)},
        ),
    ),
    kernel="batch_norm_backward",
    as_kernel=_batch_norm_backward_kernel,
)

EXERCISES = (l2_momentum_step, dropout_backward, batchnorm_backward)
