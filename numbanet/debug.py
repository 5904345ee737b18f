"""Stepping through training one event at a time, with rewind: the engine of the inspector.

    stepper = nn.debug.Stepper(model, loss_fn, optimizer, (x, y))
    stepper.step()            # one event: a layer's forward, the loss, a backward, an update
    stepper.run_to_phase_end()
    stepper.back()            # rewind one event: params and optimizer state restored exactly
    stepper.anomaly           # set when a tensor turned NaN/Inf or a gradient exploded/vanished

Rewinding restores the params, grads, optimizer state and random generator saved at the start
of the step and replays the step up to the event asked for; the kernels are deterministic, so
the replay reproduces every tensor bit for bit.
"""

import copy
import math
from dataclasses import dataclass

import numpy as np

from numbanet import rng
from numbanet.train import _as_loader, step_layers, train_step


@dataclass
class Anomaly:
    """Where stepping stopped: which event, which tensor, what went wrong."""

    phase: str
    index: object
    name: str
    tensor: str
    kind: str  # "NaN", "Inf", "exploding gradient" or "vanishing gradient"
    value: float

    def __str__(self):
        where = f"{self.phase} of {self.name}"
        if self.kind in ("NaN", "Inf"):
            return f"{self.kind} in {self.tensor} at the {where}"
        return f"{self.kind} at the {where}: |{self.tensor}| = {self.value:.3g}"


class Stepper:
    """A training step that advances one event at a time and can go back.

    data: an (x, y) pair, a Dataset or a DataLoader (batched with ``batch_size``).
    explode / vanish: a gradient whose norm is above ``explode`` or below ``vanish`` stops
    stepping (set ``check_anomalies=False`` to step on regardless).
    """

    def __init__(
        self,
        model,
        loss_fn,
        optimizer,
        data,
        batch_size=64,
        shuffle=True,
        seed=0,
        explode=1e3,
        vanish=1e-8,
        check_anomalies=True,
    ):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.loader = _as_loader(data, batch_size, shuffle, seed, "Stepper data")
        self.explode, self.vanish, self.check_anomalies = explode, vanish, check_anomalies
        self.layers = step_layers(model)
        self.n_events = (
            2 * len(self.layers)
            + 1
            + sum(1 for layer in self.layers for _ in layer.named_param_layers())
        )
        self._initial = self._capture()
        self._initial_order = copy.deepcopy(self.loader.rng.bit_generator.state)
        self.reset()

    # ----- where we are ---------------------------------------------------------------------
    @property
    def position(self):
        """Index of the last event taken in the current step (-1: the step has not begun)."""
        return len(self.events) - 1

    @property
    def event(self):
        """The last event taken, or None at the start of a step."""
        return self.events[-1] if self.events else None

    @property
    def step_done(self):
        return len(self.events) == self.n_events

    @property
    def losses(self):
        """The loss of every step so far, the current one included once it passed its loss."""
        current = [e.loss for e in self.events if e.phase == "loss"]
        return self._completed_losses + current

    @property
    def penalties(self):
        """The optimizer's L1/L2 penalty at every step of ``losses`` (0.0 without l1/l2)."""
        current = [e.penalty for e in self.events if e.phase == "loss"]
        return self._completed_penalties + current

    # ----- moving ---------------------------------------------------------------------------
    def step(self):
        """Take one event; at the end of a step, start the next step on the next batch."""
        if self.step_done:
            self.next_batch()
        event = next(self._events)
        self.events.append(event)
        self.anomaly = self._find_anomaly(event) if self.check_anomalies else None
        return event

    def run_to_phase_end(self):
        """Take events until the phase of the next event (forward, loss, backward, update) ends."""
        phase = "forward" if self.step_done else self._next_phase()
        self.step()
        while not self.anomaly and not self.step_done and self._next_phase() == phase:
            self.step()
        return self.event

    def run_step(self):
        """Take events to the end of the step (the next step if this one is done)."""
        self.step()
        while not self.anomaly and not self.step_done:
            self.step()
        return self.event

    def run_steps(self, n):
        """Run n whole steps (stops early at an anomaly)."""
        for _ in range(n):
            self.run_step()
            if self.anomaly:
                break
        return self.event

    def next_batch(self):
        """Finish the current step if it has begun, then stand at the start of the next one."""
        while self.events and not self.step_done and not self.anomaly:
            self.step()
        self._completed_losses, self._completed_penalties = self.losses, self.penalties
        self.step_count += 1
        self.batch = self._next_batch()
        self._begin_step()

    def goto(self, position):
        """Rewind or advance within the current step to event ``position`` (-1: the start)."""
        if not -1 <= position < self.n_events:
            raise IndexError(f"goto: position must be in [-1, {self.n_events - 1}], got {position}")
        if position < self.position:
            self._restore(self._step_start)
            self._begin_step()
        while self.position < position:
            self.step()
        return self.event

    def back(self):
        """Undo the last event of the current step."""
        return self.goto(max(self.position - 1, -1))

    def reset(self):
        """Back to the model, optimizer and batch order as they were when the stepper was made."""
        self._restore(self._initial)
        self.loader.rng.bit_generator.state = copy.deepcopy(self._initial_order)
        self._batches = iter(())
        self._completed_losses, self._completed_penalties, self.step_count = [], [], 0
        self.batch = self._next_batch()
        self._begin_step()

    # ----- internals -------------------------------------------------------------------------
    def _next_batch(self):
        for _ in range(2):  # a new epoch when the current one is used up
            try:
                return next(self._batches)
            except StopIteration:
                self._batches = iter(self.loader)
        raise ValueError("Stepper: the data has no samples")

    def _begin_step(self):
        self._step_start = self._capture()
        self.events, self.anomaly = [], None
        self._events = train_step(self.model, self.loss_fn, self.optimizer, *self.batch)

    def _next_phase(self):
        order = ["forward"] * len(self.layers) + ["loss"] + ["backward"] * len(self.layers)
        return order[len(self.events)] if len(self.events) < len(order) else "update"

    def _capture(self):
        return {
            "params": self.model.state_dict(),
            "grads": self.model.grad_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": copy.deepcopy(rng.generator().bit_generator.state),
        }

    def _restore(self, saved):
        self.model.load_state_dict(saved["params"])
        self.model.load_grad_dict(saved["grads"])
        self.optimizer.load_state_dict(saved["optimizer"])
        rng.generator().bit_generator.state = copy.deepcopy(saved["rng"])

    def _find_anomaly(self, event):
        for tensor, value in event.tensors().items():
            if not np.issubdtype(value.dtype, np.floating) or value.size == 0:
                continue
            if not np.isfinite(value).all():
                kind = "NaN" if np.isnan(value).any() else "Inf"
                return Anomaly(event.phase, event.index, event.name, tensor, kind, math.nan)
            is_gradient = event.phase == "backward" and tensor.startswith("d")
            norm = float(np.linalg.norm(value)) if is_gradient else None
            if is_gradient and norm > self.explode:
                return Anomaly(
                    event.phase, event.index, event.name, tensor, "exploding gradient", norm
                )
            if is_gradient and tensor != "dx" and norm < self.vanish:
                return Anomaly(
                    event.phase, event.index, event.name, tensor, "vanishing gradient", norm
                )
        return None


def update_terms(optimizer, event):
    """The optimizer update of an "update" event taken apart, per param:
    {param: {term: array}} with the gradient, the penalty and weight-decay terms, the momentum
    or Adam moments (bias-corrected), and the step actually applied (after - before).
    """
    tensors = event.tensors()
    layer = event.layer
    terms = {}
    for name in layer.params:
        before, after, grad = (tensors[f"{name}.{k}"] for k in ("before", "after", "grad"))
        row = {"gradient (incl. penalty)": grad}
        if before.ndim >= 2 and (optimizer.l1 or optimizer.l2):
            row["L1/L2 penalty term"] = optimizer.l1 * np.sign(before) + optimizer.l2 * before
        if optimizer.weight_decay:
            row["weight decay term"] = optimizer.weight_decay * before
        key = optimizer.key_of(layer, name)
        t = optimizer.state[key]["step"]
        if "momentum_buffer" in optimizer.state[key]:
            row["momentum buffer b"] = tensors[f"{name}.momentum_buffer"]
        if "exp_avg" in optimizer.state[key]:
            beta1, beta2 = optimizer.betas
            row["m̂ = m / (1 - β₁ᵗ)"] = tensors[f"{name}.exp_avg"] / (1 - beta1**t)
            row["v̂ = v / (1 - β₂ᵗ)"] = tensors[f"{name}.exp_avg_sq"] / (1 - beta2**t)
        row["step applied (after - before)"] = after - before
        terms[name] = row
    return terms
