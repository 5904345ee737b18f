"""A training step as a program of events, written with four parts: forward, loss, backward,
update. Each part runs its work and yields an ``Event`` for every layer it passes (at every
depth: the layers inside a block too), so one step can be drained at full speed (``fit``),
followed event by event (the Stepper, the inspector) or read by a script.

    def train_step(model, loss_fn, optimizer, x, target):        # what nn.train_step is
        y = yield from forward(model, x)
        value, dy = yield from loss(loss_fn, y, target, optimizer)
        yield from backward(model, dy)
        yield from update(optimizer)
        return value

A step over several models (a GAN: a generator feeding a discriminator) is written with the
same parts, each naming its model (``model=``) and the part of the step (``part=``); wrap it in
a ``StepProgram`` to hand it to the Stepper or the inspector, which save and restore every model
and optimizer it names.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from numbanet import rng
from numbanet.backend import to_host
from numbanet.losses import BCEWithLogitsLoss
from numbanet.trace import Event


def forward(model, x, model_name="model", part=""):
    """y = model(x) as events: one "forward" event per layer, inside blocks too. Returns y."""
    model.device  # a model half on one device fails here, naming its layers
    return (yield from model.forward_events(x, "", _context(model_name, part)))


def backward(model, dy, need_dx=False, model_name="model", part=""):
    """Backprop dy = ∂L/∂y through ``model`` as events, last layer first. ``need_dx``: also
    compute ∂L/∂x for the model's input (True when another model feeds this one: a GAN's
    generator gets its gradient through the discriminator). Returns dx (None without
    ``need_dx``)."""
    return (yield from model.backward_events(dy, need_dx, "", _context(model_name, part)))


def loss(loss_fn, prediction, target, optimizer=None, model_name="model", part="", terms=None):
    """The loss L(prediction, target) and its gradient ∂L/∂prediction as one "loss" event.
    The event's ``penalty`` is ``optimizer``'s L1/L2 penalty of the weights (before their
    update, like the loss: the penalty's gradient is added to theirs at the update, so loss +
    penalty is the objective the step descends); None without an optimizer. ``terms``: the
    model's objective terms to report beside the loss (``Layer.objective_terms``). Returns (the
    loss as a float, ∂L/∂prediction)."""
    value = loss_fn(prediction, target)
    dy = loss_fn.backward()
    yield Event(
        "loss",
        None,
        repr(loss_fn),
        loss_fn,
        value,
        lambda t=loss_fn.saved["target"]: {
            "prediction": prediction,
            "target": t,
            "grad": dy,
        },
        penalty=optimizer.penalty() if optimizer is not None else None,
        model=model_name,
        part=part,
        terms=terms,
    )
    return value, dy


def update(optimizer, snapshot=False, model_name="model", part=""):
    """The optimizer's update as events, one per layer with params that learns (frozen layers
    are left alone). ``snapshot``: keep a copy of each param before its update, for
    ``tensors()["weight.before"]`` (the Stepper asks for it; a plain loop need not pay)."""
    for path, layer in optimizer.model.named_param_layers():
        if layer.frozen:
            continue
        before = {k: layer.backend.copy(p) for k, p in layer.params.items()} if snapshot else {}
        optimizer.update(layer)
        yield layer.event(
            "update",
            path,
            _context(model_name, part),
            lambda layer=layer, before=before: _update_tensors(optimizer, layer, before),
        )


def train_step(model, loss_fn, optimizer, x, target, snapshot=False):
    """One training step (forward, loss, backward, update) as a generator of ``Event``.

    x: the batch (N, ...); target: what ``loss_fn`` compares the output with.
    snapshot: keep what a person inspecting the step needs — a copy of each param before its
    update (``tensors()["weight.before"]``), the optimizer's L1/L2 penalty of the weights and
    the model's objective terms on the loss event (``event.penalty``, ``event.terms``: a VAE's
    KL); off by default, so that iterating the events costs little more than the plain
    forward/backward/step (``fit`` measures the penalty once per epoch instead).
    Returns (as the generator's value) the loss.
    """
    prediction = yield from forward(model, x)
    terms = model.objective_terms() if snapshot else None
    value, dy = yield from loss(
        loss_fn, prediction, target, optimizer if snapshot else None, terms=terms
    )
    yield from backward(model, dy)
    yield from update(optimizer, snapshot)
    return value


def gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z, snapshot=False):
    """One GAN training step as a generator of events, each naming its network and part.

    real: a batch of real samples (N, ...); z: noise (M, latent_dim) for the generator G.
    D's half: D on the real batch (loss: BCE with logits against 1) and its backward; G makes
    fakes G(z); D on the fakes (loss against 0) and its backward, added to the first
    (``zero_grad``: D's gradient is that of the sum of its two losses); D's update.
    G's half (non-saturating): D is frozen; D on the same fakes, labelled real (loss against 1);
    backward through D, which gives ∂L/∂G(z) and leaves D's grads alone, into G; G's update.
    D's params and optimizer state change in D's update only.
    Returns (as the generator's value) {"d_loss", "g_loss", "d_real", "d_fake"}: D's loss (the
    sum of its two), G's loss, and the mean D(x) and D(G(z)) as probabilities, before the
    updates.
    """
    d, g = "discriminator", "generator"
    dtype = discriminator.dtype
    labels = {value: np.full((len(batch), 1), value, dtype) for value, batch in ((1, real), (0, z))}
    g_labels = np.ones((len(z), 1), dtype)

    discriminator.zero_grad()  # the two backward passes below add up
    try:
        score = yield from forward(discriminator, real, d, "D on real images")
        d_real = float(_sigmoid(to_host(score)).mean())
        loss_real, dy = yield from loss(BCEWithLogitsLoss(), score, labels[1], model_name=d,
                                        part="D: real → 1")  # fmt: skip
        yield from backward(discriminator, dy, False, d, "D's backward (real)")
        fake = yield from forward(generator, z, g, "G makes fakes")
        score = yield from forward(discriminator, fake, d, "D on the fakes")
        d_fake = float(_sigmoid(to_host(score)).mean())
        loss_fake, dy = yield from loss(BCEWithLogitsLoss(), score, labels[0], model_name=d,
                                        part="D: fake → 0")  # fmt: skip
        yield from backward(discriminator, dy, False, d, "D's backward (fakes)")
    finally:
        discriminator.accumulate_grads_(False)
    yield from update(d_optimizer, snapshot, d, "D's update")

    discriminator.requires_grad_(False)  # G's half: the gradient flows through D, D stays put
    try:
        score = yield from forward(discriminator, fake, d, "D on the fakes, for G")
        g_loss, dy = yield from loss(BCEWithLogitsLoss(), score, g_labels, model_name=g,
                                     part="G: fake → 1")  # fmt: skip
        d_fake_input = yield from backward(discriminator, dy, True, d, "backward through D")
        yield from backward(generator, d_fake_input, False, g, "G's backward")
    finally:
        discriminator.requires_grad_(True)
    yield from update(g_optimizer, snapshot, g, "G's update")
    return {"d_loss": loss_real + loss_fake, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake}


def _sigmoid(logits):
    """σ(z) = 1 / (1 + e^−z), in float64 on the host (D's logits as probabilities)."""
    return 1 / (1 + np.exp(-np.asarray(logits, np.float64)))


@dataclass
class StepProgram:
    """A training step over one or more models, for the Stepper and the inspector.

    run: run(*batch, snapshot=...) -> a generator of events (a step written with the parts
         above); batch is what the data gives, e.g. (x, y).
    models: {name: model} every model the step may change; optimizers: {name: optimizer};
    losses: {name: loss function}, shown beside the models. The Stepper saves and restores
    all of them (params, grads, state, optimizer state) to rewind the step exactly.
    """

    run: Callable
    models: dict
    optimizers: dict
    losses: dict = field(default_factory=dict)

    @classmethod
    def single(cls, model, loss_fn, optimizer):
        """The plain step: ``train_step`` of one model, one loss, one optimizer."""

        def run(x, target, snapshot=False):
            return train_step(model, loss_fn, optimizer, x, target, snapshot)

        return cls(run, {"model": model}, {"model": optimizer}, {"model": loss_fn})

    @classmethod
    def gan(cls, generator, discriminator, g_optimizer, d_optimizer, latent_dim):
        """The GAN step (``gan_step``) on each batch of real images, with noise z (N,
        latent_dim) drawn from numbanet's generator (so a rewound step draws the same z)."""

        def run(images, labels=None, snapshot=False):
            z = rng.generator().standard_normal((len(images), latent_dim))
            z = z.astype(generator.dtype)
            return gan_step(generator, discriminator, g_optimizer, d_optimizer, images, z,
                            snapshot)  # fmt: skip

        return cls(
            run,
            {"generator": generator, "discriminator": discriminator},
            {"generator": g_optimizer, "discriminator": d_optimizer},
            {"discriminator": BCEWithLogitsLoss()},
        )


def _context(model_name, part):
    """The Event fields every event of a part carries (nothing for the defaults: the cheapest
    call in the plain step)."""
    if model_name == "model" and not part:
        return None
    return {"model": model_name, "part": part}


def _update_tensors(optimizer, layer, before):
    tensors = {}
    for name, param in layer.params.items():
        tensors[f"{name}.before"] = before.get(name)
        tensors[f"{name}.after"] = param
        tensors[f"{name}.grad"] = layer.grads[name]
        tensors.update(
            {f"{name}.{s}": v for s, v in optimizer.state_of(optimizer.key_of(layer, name)).items()}
        )
    return tensors
