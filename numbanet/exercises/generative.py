"""Chapter 8 exercises (generative models): the VAE's reparameterization trick forward and
backward, the gradient of its KL term, and the GAN generator's non-saturating loss."""

import numpy as np

from numbanet.exercises.engine import sigmoid
from numbanet.exercises.grading import Exercise, Mistake
from numbanet.losses import BCEWithLogitsLoss

N, Z = 4, 3  # batch, latent size


def _latent_inputs(rng):
    return {
        "mu": rng.standard_normal((N, Z)),
        "logvar": rng.standard_normal((N, Z)) * 0.5,
        "eps": rng.standard_normal((N, Z)),
        "dz": rng.standard_normal((N, Z)),
    }


def _sample(v):
    return v["mu"] + np.exp(v["logvar"] / 2) * v["eps"]


reparameterize = Exercise(
    name="reparameterize",
    chapter=8,
    title="The reparameterization trick",
    signature="reparameterize(mu, logvar, eps) -> z",
    task="The encoder gives μ and logvar = log σ² per latent dimension, (N, Z) each. Draw z from "
    "N(μ, σ²) as a differentiable function of them and of the noise ε ~ N(0, 1) (given): "
    "z = μ + σ·ε.",
    question="Why sample ε and compute μ + σ·ε rather than draw z from N(μ, σ²) directly? "
    "What could backprop not do otherwise?",
    inputs=_latent_inputs,
    args=("mu", "logvar", "eps"),
    outputs=("z",),
    reference=lambda v: (_sample(v),),
    mistakes=(
        Mistake(
            "exp(logvar) is the variance σ²: σ = exp(logvar / 2)",
            lambda v, r: {"z": v["mu"] + np.exp(v["logvar"]) * v["eps"]},
        ),
        Mistake(
            "logvar is log σ², not σ: σ = exp(logvar / 2)",
            lambda v, r: {"z": v["mu"] + v["logvar"] * v["eps"]},
        ),
        Mistake(
            "multiply σ by the noise ε",
            lambda v, r: {"z": v["mu"] + np.exp(v["logvar"] / 2)},
        ),
    ),
)


reparameterize_backward = Exercise(
    name="reparameterize_backward",
    chapter=8,
    title="The reparameterization trick, backward",
    signature="reparameterize_backward(mu, logvar, eps, dz) -> (dmu, dlogvar)",
    task="z = μ + exp(logvar / 2)·ε. Given dz = ∂L/∂z, return dμ and dlogvar, (N, Z) each "
    "(ε is a constant: nothing flows into it).",
    question="The gradient with respect to σ is dz·ε: noisy, with mean 0 where dz does not "
    "depend on ε. What keeps σ from drifting in a VAE? (Look at the KL term.)",
    inputs=_latent_inputs,
    args=("mu", "logvar", "eps", "dz"),
    outputs=("dmu", "dlogvar"),
    reference=lambda v: (v["dz"].copy(), v["dz"] * v["eps"] * np.exp(v["logvar"] / 2) / 2),
    forward=_sample,
    upstream=("dz",),
    wrt={"dmu": "mu", "dlogvar": "logvar"},
    mistakes=(
        Mistake(
            "d/dlogvar exp(logvar / 2) = ½ exp(logvar / 2): a forgotten ½",
            lambda v, r: {"dlogvar": 2 * r["dlogvar"]},
        ),
        Mistake(
            "z depends on σ through σ·ε: the gradient carries ε",
            lambda v, r: {"dlogvar": v["dz"] * np.exp(v["logvar"] / 2) / 2},
        ),
        Mistake(
            "dz·ε is ∂L/∂σ; the encoder outputs logvar: chain through σ = exp(logvar / 2)",
            lambda v, r: {"dlogvar": v["dz"] * v["eps"]},
        ),
    ),
)


def _kl(v):
    mu, logvar = v["mu"], v["logvar"]
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar)) / len(mu)


kl_backward = Exercise(
    name="kl_backward",
    chapter=8,
    title="The KL term's gradient",
    signature="kl_backward(mu, logvar) -> (dmu, dlogvar)",
    task="KL(N(μ, σ²) ‖ N(0, 1)) = −½ Σⱼ (1 + logvar − μ² − exp(logvar)) over the latent "
    "dimensions, averaged over the N samples of the batch. Return its gradients dμ and dlogvar, "
    "(N, Z) each.",
    question="Where is the KL 0? What does its gradient do to an encoder that makes every σ "
    "tiny to encode each image exactly?",
    inputs=_latent_inputs,
    args=("mu", "logvar"),
    outputs=("dmu", "dlogvar"),
    reference=lambda v: (v["mu"] / N, (np.exp(v["logvar"]) - 1) / (2 * N)),
    forward=_kl,
    wrt={"dmu": "mu", "dlogvar": "logvar"},
    mistakes=(
        Mistake(
            "a forgotten 1/N: the KL is averaged over the batch, like the reconstruction loss",
            lambda v, r: {"dmu": r["dmu"] * N, "dlogvar": r["dlogvar"] * N},
        ),
        Mistake(
            "a forgotten ½ in dlogvar: ∂/∂logvar of −½(logvar − exp(logvar)) = ½(exp(logvar) − 1)",
            lambda v, r: {"dlogvar": 2 * r["dlogvar"]},
        ),
    ),
)


def _gan_reference(v):
    loss = BCEWithLogitsLoss()
    loss(v["logits"], np.ones_like(v["logits"]))
    return (np.array(loss.backward()),)


gan_generator_backward = Exercise(
    name="gan_generator_backward",
    chapter=8,
    title="The generator's non-saturating loss",
    signature="gan_generator_backward(logits) -> dlogits",
    task="D's logits l on the fakes, (N, 1). The generator minimises the non-saturating loss "
    "L = −mean log σ(l) (BCE of D's verdict against the label 'real'). Return ∂L/∂l.",
    question="Early in training D rejects the fakes easily: σ(l) ≈ 0. Compare the gradient of "
    "−log σ(l) with that of the original, saturating loss log(1 − σ(l)) there. Which one lets "
    "the generator learn?",
    inputs=lambda rng: {"logits": rng.standard_normal((N, 1)) * 2},
    args=("logits",),
    outputs=("dlogits",),
    reference=_gan_reference,
    forward=lambda v: np.mean(np.logaddexp(0, -v["logits"])),
    wrt={"dlogits": "logits"},
    mistakes=(
        Mistake(
            "that is the gradient of the saturating loss log(1 − σ(l)); the non-saturating "
            "−log σ(l) gives (σ(l) − 1) / N",
            lambda v, r: {"dlogits": -sigmoid(v["logits"]) / N},
        ),
        Mistake(
            "a forgotten 1/N: the loss is a mean over the batch",
            lambda v, r: {"dlogits": r["dlogits"] * N},
        ),
    ),
)

EXERCISES = (reparameterize, reparameterize_backward, kl_backward, gan_generator_backward)
