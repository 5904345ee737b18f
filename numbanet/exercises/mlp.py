"""Chapter 1 exercises (the perceptron and the MLP): the backward passes of one neuron, of the
MSE loss, of Linear, and of softmax with cross-entropy."""

import numpy as np

from numbanet.exercises.engine import into_last, one_hot, run_layer, sigmoid, softmax
from numbanet.exercises.grading import Exercise, Mistake
from numbanet.layers import Linear, Sigmoid
from numbanet.losses import CrossEntropyLoss, MSELoss

N, I, J = 4, 3, 5  # batch, in, out: all different, so that a transposed result has a wrong shape


def _sigmoid_inputs(rng):
    x = rng.standard_normal((N, J)) * 2
    return {"x": x, "y": sigmoid(x), "dy": rng.standard_normal((N, J))}


sigmoid_backward = Exercise(
    name="sigmoid_backward",
    chapter=1,
    title="The sigmoid's backward",
    signature="sigmoid_backward(y, dy) -> dx",
    task="y = σ(x) = 1 / (1 + e⁻ˣ) elementwise; given its output y and dy = ∂L/∂y (same shape), "
    "return dx = ∂L/∂x, written with y only: σ′(x) = y (1 − y).",
    question="σ′(x) is at most 1/4. What happens to a gradient that goes back through ten "
    "sigmoid layers, and why does ReLU help?",
    inputs=_sigmoid_inputs,
    args=("y", "dy"),
    outputs=("dx",),
    reference=lambda v: (run_layer(Sigmoid(), v["x"], v["dy"])[1],),
    forward=lambda v: sigmoid(v["x"]),
    upstream=("dy",),
    wrt={"dx": "x"},
    mistakes=(
        Mistake(
            "you took σ of y again: y already is σ(x), so σ′(x) = y (1 − y)",
            lambda v, r: {"dx": v["dy"] * sigmoid(v["y"]) * (1 - sigmoid(v["y"]))},
        ),
        Mistake(
            "multiply by dy: the chain rule gives dx = dy · σ′(x)",
            lambda v, r: {"dx": v["y"] * (1 - v["y"])},
        ),
        Mistake(
            "1 − y² is tanh's derivative; the sigmoid's is y (1 − y)",
            lambda v, r: {"dx": v["dy"] * (1 - v["y"] ** 2)},
        ),
    ),
    kernel="sigmoid_backward",
    as_kernel=into_last,
)


def _mse_inputs(rng):
    return {"y": rng.standard_normal((N, I)), "t": rng.standard_normal((N, I))}


mse_backward = Exercise(
    name="mse_backward",
    chapter=1,
    title="The MSE loss's gradient",
    signature="mse_backward(y, t) -> dy",
    task="L = mean over all N·D elements of (y − t)², for y, t of shape (N, D) (nn.MSELoss). "
    "Return dy = ∂L/∂y, shaped like y.",
    question="Why is MSE on a sigmoid's output a poor loss for classification? Look at its "
    "gradient with respect to z when σ(z) is near 0 but the target is 1.",
    inputs=_mse_inputs,
    args=("y", "t"),
    outputs=("dy",),
    reference=lambda v: (_loss_gradient(MSELoss(), v["y"], v["t"]),),
    forward=lambda v: np.mean((v["y"] - v["t"]) ** 2),
    wrt={"dy": "y"},
    mistakes=(
        Mistake(
            "a forgotten 1/(N·D): the mean divides by every element",
            lambda v, r: {"dy": 2 * (v["y"] - v["t"])},
        ),
        Mistake(
            "divided by the N rows only: MSE's mean is over all N·D elements",
            lambda v, r: {"dy": 2 * (v["y"] - v["t"]) / len(v["y"])},
        ),
        Mistake(
            "the derivative of (y − t)² is 2 (y − t): a forgotten 2",
            lambda v, r: {"dy": r["dy"] / 2},
        ),
    ),
)


def _loss_gradient(loss, prediction, target):
    loss(prediction, target)
    return np.array(loss.backward())


def _linear_inputs(rng):
    return {
        "x": rng.standard_normal((N, I)),
        "W": rng.standard_normal((J, I)),
        "b": rng.standard_normal(J),
        "dy": rng.standard_normal((N, J)),
    }


def _linear_reference(v):
    _, dx, grads = run_layer(Linear(I, J), v["x"], v["dy"], {"weight": v["W"], "bias": v["b"]})
    return dx, grads["weight"], grads["bias"]


def _dense_backward_kernel(fn):
    """The learner's linear_backward with the arguments of the kernel ``dense_backward``."""

    def dense_backward(x, W, dy, dx, dW, db, need_dx):
        dx_, dW_, db_ = fn(x, W, dy)
        dW[...], db[...] = dW_, db_
        if need_dx:
            dx[...] = dx_

    return dense_backward


linear_backward = Exercise(
    name="linear_backward",
    chapter=1,
    title="Backprop through Linear",
    signature="linear_backward(x, W, dy) -> (dx, dW, db)",
    task="y = x Wᵀ + b with x: (N, I), W: (J, I), b: (J,). Given dy = ∂L/∂y: (N, J), return "
    "dx: (N, I), dW: (J, I) and db: (J,), each shaped like what it is the gradient of.",
    question="The loss is a mean over the batch, yet dW has no 1/N in it. Where did the 1/N go?",
    inputs=_linear_inputs,
    args=("x", "W", "dy"),
    outputs=("dx", "dW", "db"),
    reference=_linear_reference,
    forward=lambda v: v["x"] @ v["W"].T + v["b"],
    upstream=("dy",),
    wrt={"dx": "x", "dW": "W", "db": "b"},
    mistakes=(
        Mistake(
            "dW is transposed: dW = dyᵀ x has W's shape (out, in); x.T @ dy gives (in, out)",
            lambda v, r: {"dW": r["dW"].T},
        ),
        Mistake(
            "db summed over the wrong axis: one bias is shared by all N samples, so db sums dy "
            "over the batch (axis 0), one value per output",
            lambda v, r: {"db": v["dy"].sum(axis=1)},
        ),
        Mistake(
            "db averages instead of summing: any 1/N is already in dy (the loss's mean)",
            lambda v, r: {"db": v["dy"].mean(axis=0)},
        ),
    ),
    kernel="dense_backward",
    as_kernel=_dense_backward_kernel,
)


def _cross_entropy_inputs(rng):
    return {"z": rng.standard_normal((N, J)) * 2, "labels": rng.integers(0, J, N)}


def _cross_entropy(v):
    z, labels = v["z"], v["labels"]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(z)), labels].mean()


softmax_cross_entropy_backward = Exercise(
    name="softmax_cross_entropy_backward",
    chapter=1,
    title="Softmax and cross-entropy, backward",
    signature="softmax_cross_entropy_backward(z, labels) -> dz",
    task="L = mean over the N rows of −log softmax(z)[label], z: (N, C) logits, labels: (N,) "
    "ints (nn.CrossEntropyLoss). Return dz = ∂L/∂z: (N, C).",
    question="The gradient is p − y. What is it when the model is confidently right, and when "
    "it is confidently wrong? Compare with MSE on the probabilities.",
    inputs=_cross_entropy_inputs,
    args=("z", "labels"),
    outputs=("dz",),
    reference=lambda v: (_loss_gradient(CrossEntropyLoss(), v["z"], v["labels"]),),
    forward=_cross_entropy,
    wrt={"dz": "z"},
    mistakes=(
        Mistake(
            "a forgotten 1/N: the loss is the mean over the N samples",
            lambda v, r: {"dz": r["dz"] * len(v["z"])},
        ),
        Mistake(
            "subtract the one-hot target: dz = (softmax(z) − onehot(labels)) / N",
            lambda v, r: {"dz": softmax(v["z"]) / len(v["z"])},
        ),
        Mistake(
            "softmax over the wrong axis: each sample's probabilities (a row) sum to 1, so "
            "normalise over axis 1, the classes",
            lambda v, r: {"dz": (softmax(v["z"], axis=0) - one_hot(v["labels"], J)) / len(v["z"])},
        ),
    ),
)

EXERCISES = (sigmoid_backward, mse_backward, linear_backward, softmax_cross_entropy_backward)
