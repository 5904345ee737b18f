"""Chapter 6 exercises (recurrent networks): the LSTM cell's backward, one step of BPTT through
an Elman RNN cell, and gradient clipping by global norm."""

import numpy as np

from numbanet.exercises.engine import run_kernel, sigmoid
from numbanet.exercises.grading import Exercise, Mistake
from numbanet.kernels.codes import TANH
from numbanet.layers import Linear, Sequential
from numbanet.optim import clip_grad_norm as engine_clip_grad_norm

N, I, H = 3, 2, 4


def lstm_gates(a):
    """i, f, g, o = σ, σ, tanh, σ of the four blocks of the pre-activations a: (N, 4H)."""
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    return sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)


def _lstm_cell(v):
    i, f, g, o = lstm_gates(v["a"])
    c = f * v["c_prev"] + i * g
    return o * np.tanh(c), c


def _lstm_inputs(rng):
    v = {"a": rng.standard_normal((N, 4 * H)), "c_prev": rng.standard_normal((N, H))}
    v["gates"] = np.concatenate(lstm_gates(v["a"]), axis=1)
    v["c"] = _lstm_cell(v)[1]
    v["dh"], v["dc_next"] = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    return v


def _lstm_reference(v):
    return run_kernel(
        "lstm_cell_backward", v["gates"], v["c_prev"], v["c"], v["dh"], np.zeros((N, H)),
        v["dc_next"], outputs=[(N, 4 * H), (N, H)],
    )  # fmt: skip


def _lstm_variant(v, r, dc_next=True, tanh_grad=True, order="ifgo", keep_f=True):
    """What the learner gets with one part of the LSTM backward left out or changed."""
    i, f, g, o = np.split(v["gates"], 4, axis=1)
    tanh_c = np.tanh(v["c"])
    dc = v["dh"] * o * ((1 - tanh_c**2) if tanh_grad else 1) + (v["dc_next"] if dc_next else 0)
    blocks = {
        "i": dc * g * i * (1 - i),
        "f": dc * v["c_prev"] * f * (1 - f),
        "g": dc * i * (1 - g**2),
        "o": v["dh"] * tanh_c * o * (1 - o),
    }
    return {
        "dgates": np.concatenate([blocks[k] for k in order], axis=1),
        "dc_prev": dc * f if keep_f else dc,
    }


lstm_cell_backward = Exercise(
    name="lstm_cell_backward",
    chapter=6,
    title="The LSTM cell's backward",
    signature="lstm_cell_backward(gates, c_prev, c, dh, dc_next) -> (dgates, dc_prev)",
    task="One step of an LSTM: gates: (N, 4H) holds i, f, g, o (after σ, σ, tanh, σ; blocks of "
    "H columns in that order, as torch), c = f·c_prev + i·g, h = o·tanh(c). Given dh = ∂L/∂h "
    "and dc_next (what reaches c from the next step), return dgates: (N, 4H), the gradient of "
    "the four pre-activations (i's block first), and dc_prev: (N, H).",
    question="The gradient reaching c_prev is dc·f. Why does that let an LSTM carry a gradient "
    "across many steps where an RNN's vanishes (Part 3)?",
    inputs=_lstm_inputs,
    args=("gates", "c_prev", "c", "dh", "dc_next"),
    outputs=("dgates", "dc_prev"),
    reference=_lstm_reference,
    forward=_lstm_cell,
    upstream=("dh", "dc_next"),
    wrt={"dgates": "a", "dc_prev": "c_prev"},
    mistakes=(
        Mistake(
            "c also reaches the loss through the next step: dc = dc_next + dh·o·(1 − tanh²c)",
            lambda v, r: _lstm_variant(v, r, dc_next=False),
        ),
        Mistake(
            "h = o·tanh(c): the path from h to c goes through tanh, so dc gets dh·o·(1 − tanh²c)",
            lambda v, r: _lstm_variant(v, r, tanh_grad=False),
        ),
        Mistake(
            "gate order: numbanet and torch lay the four blocks out as i, f, g, o",
            lambda v, r: _lstm_variant(v, r, order="ifog"),
        ),
        Mistake(
            "c = f·c_prev + i·g, so dc_prev = dc·f",
            lambda v, r: {"dc_prev": _lstm_variant(v, r, keep_f=False)["dc_prev"]},
        ),
    ),
)


def _rnn_inputs(rng):
    v = {
        "x": rng.standard_normal((N, I)),
        "h_prev": rng.standard_normal((N, H)),
        "W_ih": rng.standard_normal((H, I)),
        "W_hh": rng.standard_normal((H, H)) * 0.5,
        "b": rng.standard_normal(H) * 0.1,
        "dh": rng.standard_normal((N, H)),
    }
    v["h"] = _rnn_cell(v)
    return v


def _rnn_cell(v):
    return np.tanh(v["x"] @ v["W_ih"].T + v["h_prev"] @ v["W_hh"].T + v["b"])


def _da(v):
    """The gradient of the pre-activation a, through tanh′(a) = 1 − h²."""
    return v["dh"] * (1 - v["h"] ** 2)


def _rnn_grads(v, da):
    return da @ v["W_ih"], da @ v["W_hh"], da.T @ v["x"], da.T @ v["h_prev"], da.sum(axis=0)


def _tanh_of_h(v, r):
    da = v["dh"] * (1 - np.tanh(v["h"]) ** 2)
    return dict(zip(("dx", "dh_prev", "dW_ih", "dW_hh", "db"), _rnn_grads(v, da)))


def _rnn_reference(v):
    (da,) = run_kernel("rnn_cell_backward", v["h"], v["dh"], np.zeros((N, H)), TANH, 0.0,
                       outputs=[(N, H)])  # fmt: skip
    return _rnn_grads(v, da)


rnn_cell_backward = Exercise(
    name="rnn_cell_backward",
    chapter=6,
    title="One step of backprop through time",
    signature="rnn_cell_backward(x, h_prev, h, W_ih, W_hh, dh) -> (dx, dh_prev, dW_ih, dW_hh, db)",
    task="An Elman cell: h = tanh(x W_ihᵀ + h_prev W_hhᵀ + b), x: (N, I), h_prev, h: (N, H), "
    "W_ih: (H, I), W_hh: (H, H). Given dh = ∂L/∂h (everything that reaches h), return dx, "
    "dh_prev, dW_ih, dW_hh and db: (H,) (torch's bias_ih and bias_hh both get it).",
    question="BPTT adds up the dW_hh of every step. Why one matrix for all steps, and what does "
    "the sum do to the gradient's size over a long sequence?",
    inputs=_rnn_inputs,
    args=("x", "h_prev", "h", "W_ih", "W_hh", "dh"),
    outputs=("dx", "dh_prev", "dW_ih", "dW_hh", "db"),
    reference=_rnn_reference,
    forward=_rnn_cell,
    upstream=("dh",),
    wrt={"dx": "x", "dh_prev": "h_prev", "dW_ih": "W_ih", "dW_hh": "W_hh", "db": "b"},
    mistakes=(
        Mistake("h already is tanh(a): tanh′(a) = 1 − h², not 1 − tanh(h)²", _tanh_of_h),
        Mistake(
            "dW_hh is transposed: dW_hh = daᵀ h_prev (square, so the shape cannot tell)",
            lambda v, r: {"dW_hh": r["dW_hh"].T},
        ),
        Mistake(
            "dh_prev = da · W_hh: the forward multiplied h_prev by W_hhᵀ",
            lambda v, r: {"dh_prev": _da(v) @ v["W_hh"].T},
        ),
        Mistake(
            "db sums da over the batch (axis 0), one value per hidden unit",
            lambda v, r: {"db": _da(v).sum(axis=1)},
        ),
    ),
)


SHAPES = ((4, 3), (4,), (2, 4), (2,))  # a Linear(3, 4) and a Linear(4, 2): weight, bias each
_OUTPUTS = ("0.weight", "0.bias", "1.weight", "1.bias")


def _clip_reference(v):
    model = Sequential(Linear(3, 4), Linear(4, 2)).to(np.float64)
    keys = list(model.grad_dict())
    model.load_grad_dict(dict(zip(keys, v["grads"])))
    engine_clip_grad_norm(model, v["max_norm"])
    return tuple(model.grad_dict().values())


def _scaled(v, factor):
    return dict(zip(_OUTPUTS, (g * factor(g) for g in v["grads"])))


def _total(v):
    return np.sqrt(sum(np.sum(g**2) for g in v["grads"]))


clip_grad_norm = Exercise(
    name="clip_grad_norm",
    chapter=6,
    title="Clipping gradients by their global norm",
    signature="clip_grad_norm(grads, max_norm) -> list of the clipped grads",
    task="grads: a list of arrays (every gradient of a model). total = √(Σ over all of them of "
    "Σ g²); if max_norm / (total + 1e-6) < 1, multiply every gradient by that factor, else "
    "leave them as they are (torch's clip_grad_norm_). Return the list, in the same order.",
    question="Clipping keeps the direction of the step and bounds its size. Why is that better, "
    "for an RNN whose gradient explodes now and then, than a smaller learning rate?",
    inputs=lambda rng, max_norm: {
        "grads": [rng.standard_normal(shape) for shape in SHAPES],
        "max_norm": max_norm,
    },
    cases=({"max_norm": 1.0}, {"max_norm": 100.0}),
    args=("grads", "max_norm"),
    outputs=_OUTPUTS,
    reference=_clip_reference,
    may_modify=("grads",),
    mistakes=(
        Mistake(
            "clip by the norm of all gradients together: clipping each tensor by its own norm "
            "changes the direction of the step",
            lambda v, r: _scaled(
                v, lambda g: min(1.0, v["max_norm"] / (np.sqrt(np.sum(g**2)) + 1e-6))
            ),
        ),
        Mistake(
            "np.clip clips each value (clipping by value); clipping by norm rescales every "
            "gradient by one factor, keeping the direction",
            lambda v, r: dict(
                zip(_OUTPUTS, (np.clip(g, -v["max_norm"], v["max_norm"]) for g in v["grads"]))
            ),
        ),
        Mistake(
            "leave the gradients alone when their norm is already below max_norm",
            lambda v, r: _scaled(v, lambda g: v["max_norm"] / (_total(v) + 1e-6)),
        ),
    ),
)

EXERCISES = (lstm_cell_backward, rnn_cell_backward, clip_grad_norm)
