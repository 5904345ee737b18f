"""Chapter 9 exercises (training dynamics): the scales of Xavier's and Kaiming's
initialisations, a warm-up + cosine learning-rate schedule, and the weight gradients of a deep
sigmoid chain, whose norms shrink layer by layer towards the input."""

import math

import numpy as np

from numbanet.exercises.engine import sigmoid
from numbanet.exercises.grading import Exercise, Mistake
from numbanet.layers import Linear, Sequential, Sigmoid


def _init_inputs(rng, fan_in, fan_out):
    return {"fan_in": fan_in, "fan_out": fan_out}


def _init_reference(v):
    # the formulas of layers/init.py: Xavier's U(−a, a) has variance a²/3 = 2/(fan_in + fan_out)
    return math.sqrt(6 / (v["fan_in"] + v["fan_out"])), math.sqrt(2 / v["fan_in"])


init_scales = Exercise(
    name="init_scales",
    chapter=9,
    title="Xavier's bound and Kaiming's standard deviation",
    signature="init_scales(fan_in, fan_out) -> (xavier_bound, kaiming_std)",
    task="Xavier (Glorot) draws W ~ U(−a, a) with a variance that is the mean of 1/fan_in "
    "(forward) and 1/fan_out (backward): Var W = 2/(fan_in + fan_out). Kaiming (He) draws "
    "W ~ N(0, s²) with Var W = 2/fan_in, the 2 making up for ReLU zeroing half its inputs. "
    "Return the bound a and the standard deviation s.",
    question="A uniform U(−a, a) has variance a²/3. Why does Xavier's bound hold a 6 and not a "
    "2? And why does Kaiming's variance hold no fan_out?",
    inputs=_init_inputs,
    args=("fan_in", "fan_out"),
    outputs=("xavier_bound", "kaiming_std"),
    reference=_init_reference,
    cases=({"fan_in": 784, "fan_out": 256}, {"fan_in": 30, "fan_out": 90}),
    mistakes=(
        Mistake(
            "a is the bound of the uniform, not its standard deviation: U(−a, a) has variance "
            "a²/3, so a = √(3 · 2/(fan_in + fan_out))",
            lambda v, r: {"xavier_bound": math.sqrt(2 / (v["fan_in"] + v["fan_out"]))},
        ),
        Mistake(
            "Kaiming's variance is 2/fan_in: the 2 makes up for ReLU zeroing half the units "
            "(1/fan_in is LeCun's, for a layer with no ReLU)",
            lambda v, r: {"kaiming_std": math.sqrt(1 / v["fan_in"])},
        ),
        Mistake(
            "Kaiming returns a standard deviation: the square root of the variance 2/fan_in",
            lambda v, r: {"kaiming_std": 2 / v["fan_in"]},
        ),
        Mistake(
            "Kaiming (fan-in mode, torch's default) divides by fan_in, the inputs of a unit",
            lambda v, r: {"kaiming_std": math.sqrt(2 / v["fan_out"])},
        ),
    ),
)


def _schedule_inputs(rng, epochs, warmup):
    return {"epochs": epochs, "warmup": warmup, "lr": 0.1}


def _warmup_cosine(lr, epochs, warmup, first=1, offset=0):
    """The learning rate of every epoch, (epochs,): a linear warm-up
    lr·(e + first)/warmup for e < warmup, then a cosine from lr down towards 0 over the
    remaining epochs, lr·½(1 + cos(π·(e − warmup + offset)/(epochs − warmup))). The defaults
    are the schedule of the exercise; ``first`` and ``offset`` give its off-by-one variants."""
    e = np.arange(epochs, dtype=np.float64)
    cosine = lr * 0.5 * (1 + np.cos(np.pi * (e - warmup + offset) / (epochs - warmup)))
    return np.where(e < warmup, lr * (e + first) / warmup, cosine)


def _schedule_reference(v):
    return (_warmup_cosine(v["lr"], v["epochs"], v["warmup"]),)


def _each_epoch(fn, v):
    return (np.array([fn(e, v["epochs"], v["warmup"], v["lr"]) for e in range(v["epochs"])]),)


warmup_cosine_lr = Exercise(
    name="warmup_cosine_lr",
    chapter=9,
    title="A warm-up + cosine learning-rate schedule",
    signature="warmup_cosine_lr(epoch, epochs, warmup, lr) -> lr of that epoch",
    task="Epochs count from 0. For the first `warmup` epochs the rate grows linearly, "
    "lr·(epoch + 1)/warmup, reaching lr at epoch warmup − 1; from epoch `warmup` on it follows "
    "half a cosine from lr towards 0 over the remaining epochs: "
    "lr·½(1 + cos(π·(epoch − warmup)/(epochs − warmup))). nn.fit(..., lr_schedule=lambda e: "
    "warmup_cosine_lr(e, epochs, warmup, lr)) trains with it.",
    question="Adam with no warm-up takes its first steps with estimates of the gradient's "
    "variance made from a handful of batches. Why can that make the first steps too large, and "
    "how does a warm-up help?",
    inputs=_schedule_inputs,
    args=("epochs", "warmup", "lr"),
    outputs=("lrs",),
    reference=_schedule_reference,
    run=_each_epoch,
    cases=({"epochs": 12, "warmup": 3}, {"epochs": 7, "warmup": 1}),
    mistakes=(
        Mistake(
            "epochs count from 0: the warm-up is lr·(epoch + 1)/warmup, or the first epoch "
            "trains with a learning rate of 0",
            lambda v, r: {"lrs": _warmup_cosine(v["lr"], v["epochs"], v["warmup"], first=0)},
        ),
        Mistake(
            "the cosine starts where the warm-up ends: its phase is (epoch − warmup)/(epochs − "
            "warmup), 0 at epoch `warmup`",
            lambda v, r: {"lrs": _warmup_cosine(v["lr"], v["epochs"], v["warmup"], offset=1)},
        ),
        Mistake(
            "the cosine runs over the epochs after the warm-up, epochs − warmup of them, "
            "not over all epochs",
            lambda v, r: {
                "lrs": np.where(
                    np.arange(v["epochs"]) < v["warmup"],
                    r["lrs"],
                    v["lr"] * 0.5 * (1 + np.cos(np.pi * np.arange(v["epochs"]) / v["epochs"])),
                )
            },
        ),
        Mistake(
            "lr·cos(…) turns negative; ½(1 + cos(…)) goes from 1 down to 0",
            lambda v, r: {
                "lrs": np.where(np.arange(v["epochs"]) < v["warmup"], r["lrs"],
                                2 * r["lrs"] - v["lr"])  # fmt: skip
            },
        ),
    ),
)

DEPTH = 4  # layers of the graded sigmoid chain


def _chain_inputs(rng):
    widths = (5, 6, 6, 4, 3)
    inputs = {"x": rng.standard_normal((7, widths[0]))}
    for k in range(DEPTH):  # weights large enough that the sigmoids are not all near ½
        inputs[f"W{k + 1}"] = 2 * rng.standard_normal((widths[k + 1], widths[k]))
    inputs["dy"] = rng.standard_normal((7, widths[-1]))
    return inputs


def _weights(v):
    return [v[f"W{k + 1}"] for k in range(DEPTH)]


def _chain_forward(v):
    h = v["x"]
    for W in _weights(v):
        h = sigmoid(h @ W.T)
    return h


def _chain_reference(v):
    """The engine's answer: Linear (no bias) and Sigmoid layers in float64, run backward."""
    model = Sequential(*(layer for W in _weights(v) for layer in
                         (Linear(W.shape[1], W.shape[0], bias=False), Sigmoid())))  # fmt: skip
    model.to(np.float64)
    model.load_state_dict({f"{2 * k}.weight": W for k, W in enumerate(_weights(v))})
    model.forward(v["x"])
    model.backward(v["dy"])
    grads = model.grad_dict()
    return tuple(grads[f"{2 * k}.weight"] for k in range(DEPTH))


def _chain_outputs(v, derivative, transpose=False):
    """{dW1…: gradients} of backprop through the chain with a given σ' (a function of the
    layer's output h), dW transposed if ``transpose``: the reference and its wrong variants."""
    hs = [v["x"]]
    for W in _weights(v):
        hs.append(sigmoid(hs[-1] @ W.T))
    dh, grads = v["dy"], {}
    for k in reversed(range(DEPTH)):
        dz = dh * derivative(hs[k + 1])
        grads[f"dW{k + 1}"] = hs[k].T @ dz if transpose else dz.T @ hs[k]
        dh = dz @ _weights(v)[k]
    return grads


def _run_chain(fn, v):
    return tuple(fn(v["x"], _weights(v), v["dy"]))


sigmoid_chain_backward = Exercise(
    name="sigmoid_chain_backward",
    chapter=9,
    title="The weight gradients of a deep sigmoid chain",
    signature="sigmoid_chain_backward(x, Ws, dy) -> [dW1, dW2, dW3, dW4]",
    task="h₀ = x: (N, D₀); h_k = σ(h_{k−1} W_kᵀ) for k = 1…4, W_k: (D_k, D_{k−1}), no bias; dy "
    "= ∂L/∂h₄. Backprop through the chain and return the list of ∂L/∂W_k, each shaped like "
    "W_k. σ'(z) = σ(z)(1 − σ(z)) = h(1 − h) is at most ¼.",
    question="Each layer multiplies the gradient on its way down by σ' ≤ ¼ and by W_kᵀ. How "
    "large would the weights have to be for the gradient not to shrink, and what happens to "
    "the sigmoids then?",
    inputs=_chain_inputs,
    args=("x", *(f"W{k + 1}" for k in range(DEPTH)), "dy"),
    outputs=tuple(f"dW{k + 1}" for k in range(DEPTH)),
    reference=_chain_reference,
    run=_run_chain,
    forward=_chain_forward,
    upstream=("dy",),
    wrt={f"dW{k + 1}": f"W{k + 1}" for k in range(DEPTH)},
    mistakes=(
        Mistake(
            "σ' at a layer is h(1 − h) of that layer's output h = σ(z); σ(h)(1 − σ(h)) applies "
            "σ of y again",
            lambda v, r: _chain_outputs(v, lambda h: sigmoid(h) * (1 - sigmoid(h))),
        ),
        Mistake(
            "the gradient passes through σ on its way down: multiply by σ' = h(1 − h) before "
            "the weights (dz = dh ⊙ h(1 − h))",
            lambda v, r: _chain_outputs(v, np.ones_like),
        ),
        Mistake(
            "dW is transposed: dW_k = dzᵀ h_{k−1}, (D_k, N)·(N, D_{k−1}), shaped like W_k",
            lambda v, r: _chain_outputs(v, lambda h: h * (1 - h), transpose=True),
        ),
    ),
)

EXERCISES = (init_scales, warmup_cosine_lr, sigmoid_chain_backward)
