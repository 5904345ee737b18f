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


def loss(loss_fn, prediction, target, optimizer=None, model_name="model", part=""):
    """The loss L(prediction, target) and its gradient ∂L/∂prediction as one "loss" event.
    The event's ``penalty`` is ``optimizer``'s L1/L2 penalty of the weights (before their
    update, like the loss: the penalty's gradient is added to theirs at the update, so loss +
    penalty is the objective the step descends); None without an optimizer. Returns (the loss
    as a float, ∂L/∂prediction)."""
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


def train_step(model, loss_fn, optimizer, x, target, snapshot=False, penalty=True):
    """One training step (forward, loss, backward, update) as a generator of ``Event``.

    x: the batch (N, ...); target: what ``loss_fn`` compares the output with.
    snapshot: keep a copy of each param before its update (``tensors()["weight.before"]``), for
    a person inspecting the step; off by default, so that iterating the events costs little
    more than the plain forward/backward/step.
    penalty: measure the optimizer's L1/L2 penalty for the loss event (``event.penalty``; free
    without l1/l2; ``fit`` turns it off and measures it once per epoch).
    Returns (as the generator's value) the loss.
    """
    prediction = yield from forward(model, x)
    value, dy = yield from loss(loss_fn, prediction, target, optimizer if penalty else None)
    yield from backward(model, dy)
    yield from update(optimizer, snapshot)
    return value


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
