"""Chapter 7 exercises (attention): scaled dot-product attention forward, the softmax's backward
row by row (with a causal mask), and attention's whole backward. One head, batch first:
Q, K, V: (N, T, d); the weights P: (N, T, T), queries down, keys across."""

import numpy as np

from numbanet.exercises.engine import run_kernel, softmax
from numbanet.exercises.grading import Exercise, Mistake

N, T, D = 2, 4, 3
CAUSAL = ({"causal": False}, {"causal": True})


def masked(S, causal):
    """S with the scores of future keys (j > i) set to −∞ when ``causal``."""
    if not causal:
        return S
    return np.where(np.triu(np.ones(S.shape[-2:], bool), k=1), -np.inf, S)


def attention(Q, K, V, causal, scale=True, axis=-1, mask_after=False):
    """(out, P) of scaled dot-product attention; the keyword arguments make the mistakes."""
    S = Q @ K.swapaxes(-1, -2) / (np.sqrt(Q.shape[-1]) if scale else 1)
    if mask_after:
        P = softmax(S, axis) * np.tril(np.ones(S.shape[-2:]))
    else:
        P = softmax(masked(S, causal), axis)
    return P @ V, P


def _qkv(rng, causal, **more):
    return {
        "Q": rng.standard_normal((N, T, D)),
        "K": rng.standard_normal((N, T, D)),
        "V": rng.standard_normal((N, T, D)),
        "causal": causal,
        **more,
    }


def _variant(**mistake):
    def outputs(v, r):
        out, P = attention(v["Q"], v["K"], v["V"], v["causal"], **mistake)
        return {"out": out, "P": P}

    return outputs


attention_forward = Exercise(
    name="attention_forward",
    chapter=7,
    title="Scaled dot-product attention",
    signature="attention_forward(Q, K, V, causal) -> (out, P)",
    task="Q, K, V: (N, T, d). Scores S = Q Kᵀ / √d: (N, T, T); with causal=True query i may "
    "only look at keys j ≤ i (set the other scores to −∞); P = softmax of S over the keys; "
    "out = P V: (N, T, d). Return out and P.",
    question="Why divide the scores by √d? What happens to the softmax, and to its gradient, "
    "when d is large and the scores are not scaled?",
    inputs=_qkv,
    cases=CAUSAL,
    args=("Q", "K", "V", "causal"),
    outputs=("out", "P"),
    reference=lambda v: attention(v["Q"], v["K"], v["V"], v["causal"]),
    mistakes=(
        Mistake("a forgotten 1/√d: scale the scores before the softmax", _variant(scale=False)),
        Mistake(
            "softmax over the wrong axis: each query's weights over the keys sum to 1 (the "
            "last axis)",
            _variant(axis=-2),
        ),
        Mistake(
            "the causal mask is missing: query i may only look at keys j ≤ i",
            lambda v, r: _variant()(v | {"causal": False}, r) if v["causal"] else {},
        ),
        Mistake(
            "the mask was applied after the softmax, so the weights of a row no longer sum to "
            "1: set the masked scores to −∞ before it",
            lambda v, r: _variant(mask_after=True)(v, r) if v["causal"] else {},
        ),
    ),
)


def _softmax_inputs(rng, causal):
    S = rng.standard_normal((N, T, T))
    return {"S": S, "P": softmax(masked(S, causal)), "dP": rng.standard_normal((N, T, T)),
            "causal": causal}  # fmt: skip


def _softmax_reference(v):
    (dS,) = run_kernel("softmax_backward", v["P"].reshape(-1, T), v["dP"].reshape(-1, T),
                       outputs=[(N * T, T)])  # fmt: skip
    return (dS.reshape(N, T, T),)


attention_softmax_backward = Exercise(
    name="attention_softmax_backward",
    chapter=7,
    title="The attention softmax's backward",
    signature="attention_softmax_backward(P, dP) -> dS",
    task="P = softmax(S) over the last axis (the keys), row by row, P, S: (N, T, T), maybe "
    "with a causal mask (P = 0 for j > i). Given dP = ∂L/∂P, return dS = ∂L/∂S: "
    "dS = P ⊙ (dP − Σⱼ P ⊙ dP), the sum over each row, kept as a column.",
    question="Under the causal mask the scores of future keys were −∞. Why does dS come out 0 "
    "there without applying the mask again in backward?",
    inputs=_softmax_inputs,
    cases=CAUSAL,
    args=("P", "dP"),
    outputs=("dS",),
    reference=_softmax_reference,
    forward=lambda v: softmax(masked(v["S"], v["causal"])),
    upstream=("dP",),
    wrt={"dS": "S"},
    mistakes=(
        Mistake(
            "the sum runs over each row (the keys, the last axis): each row of P is its own "
            "softmax",
            lambda v, r: {
                "dS": v["P"] * (v["dP"] - (v["P"] * v["dP"]).sum(axis=-2, keepdims=True))
            },
        ),
        Mistake(
            "the softmax's outputs are coupled (a row sums to 1): dS = P ⊙ (dP − Σⱼ P ⊙ dP), "
            "not P ⊙ dP",
            lambda v, r: {"dS": v["P"] * v["dP"]},
        ),
        Mistake(
            "the sum is weighted by P: Σⱼ P ⊙ dP, not Σⱼ dP",
            lambda v, r: {"dS": v["P"] * (v["dP"] - v["dP"].sum(axis=-1, keepdims=True))},
        ),
    ),
)


def attention_grads(v, transpose_dv=True, scale=True, transpose_dk=True):
    """(dQ, dK, dV) of attention with upstream dO; the keyword arguments make the mistakes."""
    Q, K, V, dO = v["Q"], v["K"], v["V"], v["dO"]
    _, P = attention(Q, K, V, v["causal"])
    dV = (P.swapaxes(-1, -2) if transpose_dv else P) @ dO
    dP = dO @ V.swapaxes(-1, -2)
    dS = P * (dP - (P * dP).sum(axis=-1, keepdims=True))
    dS = dS / (np.sqrt(Q.shape[-1]) if scale else 1)
    dK = (dS.swapaxes(-1, -2) if transpose_dk else dS) @ Q
    return dS @ K, dK, dV


attention_backward = Exercise(
    name="attention_backward",
    chapter=7,
    title="Attention's backward",
    signature="attention_backward(Q, K, V, dO, causal) -> (dQ, dK, dV)",
    task="out = softmax(Q Kᵀ / √d, masked if causal) V, as in attention_forward. Given "
    "dO = ∂L/∂out: (N, T, d), return dQ, dK, dV, each shaped like its input. Go back one "
    "product at a time: dV, dP, dS (your softmax backward), then dQ and dK.",
    question="Backward needs P, a T × T matrix per head and per sequence. How does that memory "
    "grow with the length T, and how do implementations such as FlashAttention avoid keeping it?",
    inputs=lambda rng, causal: _qkv(rng, causal, dO=rng.standard_normal((N, T, D))),
    cases=CAUSAL,
    args=("Q", "K", "V", "dO", "causal"),
    outputs=("dQ", "dK", "dV"),
    reference=attention_grads,
    forward=lambda v: attention(v["Q"], v["K"], v["V"], v["causal"])[0],
    upstream=("dO",),
    wrt={"dQ": "Q", "dK": "K", "dV": "V"},
    mistakes=(
        Mistake(
            "dV = Pᵀ dO: every value gets the gradient of each query that looked at it",
            lambda v, r: {"dV": attention_grads(v, transpose_dv=False)[2]},
        ),
        Mistake(
            "dQ and dK miss the 1/√d of the scores",
            lambda v, r: dict(zip(("dQ", "dK"), attention_grads(v, scale=False)[:2])),
        ),
        Mistake(
            "dK = dSᵀ Q: the keys run along dS's columns",
            lambda v, r: {"dK": attention_grads(v, transpose_dk=False)[1]},
        ),
    ),
)

EXERCISES = (attention_forward, attention_softmax_backward, attention_backward)
