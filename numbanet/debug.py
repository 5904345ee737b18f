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
from typing import Optional

import numpy as np

from numbanet import rng
from numbanet.backend import to_host
from numbanet.steps import StepProgram
from numbanet.train import _as_loader, step_layers


def inside(path, block):
    """True if ``path`` is the block at ``block`` or a layer inside it ("" holds everything)."""
    return not block or path == block or path.startswith(block + ".")


@dataclass(frozen=True)
class PlannedEvent:
    """What an event of a step is, without its tensors: the Stepper's record of a step."""

    phase: str
    path: str
    depth: int
    model: str
    part: str
    name: str

    @classmethod
    def of(cls, event):
        return cls(event.phase, event.path, event.depth, event.model, event.part, event.name)


@dataclass
class Anomaly:
    """Where stepping stopped: which event, which tensor, what went wrong, and the limit.

    kind: "NaN", "Inf", "exploding gradient" or "vanishing gradient".
    value: the gradient's norm (NaN for a non-finite tensor); threshold: the limit it crossed
    (the Stepper's ``explode`` or ``vanish``; None for a non-finite tensor).
    count, size, first: how many values are non-finite, of how many, and the index of the first.
    param: True when the tensor is one of the layer's params, as the step found it (checked at
    the layer's forward, before its output): the weight is the cause, not a symptom.
    """

    phase: str
    index: object
    name: str
    tensor: str
    kind: str
    value: float
    threshold: Optional[float] = None
    count: int = 0
    size: int = 0
    first: tuple = ()
    param: bool = False

    def __str__(self):
        where = f"{self.phase} of {self.name}"
        if self.kind in ("NaN", "Inf"):
            what = f"the param {self.tensor} (as the step found it)" if self.param else self.tensor
            first = ", ".join(str(i) for i in self.first)
            return (
                f"{self.kind} in {what} at the {where}: {self.count:,} of {self.size:,} values "
                f"not finite, the first at [{first}]"
            )
        limit, sign = ("explode", ">") if self.kind == "exploding gradient" else ("vanish", "<")
        return (
            f"{self.kind} at the {where}: ‖{self.tensor}‖ = {self.value:.3g} {sign} "
            f"{limit} = {self.threshold:g}"
        )


class Stepper:
    """A training step that advances one event at a time and can go back.

    model, loss_fn, optimizer: the plain step (``nn.train_step``); or ``program``: any
    ``StepProgram`` (several models and optimizers, e.g. a GAN step), in which case the first
    three stay None.
    data: an (x, y) pair, a Dataset or a DataLoader (batched with ``batch_size``).
    explode / vanish: a gradient whose norm is above ``explode`` or below ``vanish`` stops
    stepping (set ``check_anomalies=False`` to step on regardless).

    The events of a step are learnt by recording them: once when the stepper is made (a whole
    step run and undone, so ``n_events`` and the phase of every coming event are known), and
    again after any step whose events differ from the record.
    """

    def __init__(
        self,
        model=None,
        loss_fn=None,
        optimizer=None,
        data=None,
        batch_size=64,
        shuffle=True,
        seed=0,
        explode=1e3,
        vanish=1e-8,
        check_anomalies=True,
        program=None,
    ):
        if program is None:
            if model is None or loss_fn is None or optimizer is None:
                raise TypeError("Stepper: give model, loss_fn and optimizer, or a program")
            program = StepProgram.single(model, loss_fn, optimizer)
        self.program = program
        self.model = next(iter(program.models.values()))
        self.optimizer = next(iter(program.optimizers.values()))
        self.loss_fn = next(iter(program.losses.values()), None)
        self.loader = _as_loader(data, batch_size, shuffle, seed, "Stepper data")
        self.explode, self.vanish, self.check_anomalies = explode, vanish, check_anomalies
        self._initial = self._capture()
        self._initial_order = copy.deepcopy(self.loader.rng.bit_generator.state)
        self.plan = []
        self.reset()
        self.plan = self._record_plan()

    # ----- where we are ---------------------------------------------------------------------
    @property
    def layers(self):
        """The first model's own layers (a Sequential's), or the model itself."""
        return step_layers(self.model)

    @property
    def n_events(self):
        """The number of events in one step."""
        return len(self.plan)

    @property
    def position(self):
        """Index of the last event taken in the current step (-1: the step has not begun)."""
        return len(self.events) - 1

    @property
    def event(self):
        """The last event taken, or None at the start of a step."""
        return self.events[-1] if self.events else None

    @property
    def next_event(self):
        """What the next event will be, from the recorded plan: a PlannedEvent (phase, path,
        depth, model, part, name), or None at the end of the step."""
        return self.plan[len(self.events)] if len(self.events) < len(self.plan) else None

    @property
    def step_done(self):
        return self._finished

    @property
    def losses(self):
        """The loss of every step so far, the current one included once it passed its loss."""
        current = [e.loss for e in self.events if e.phase == "loss"]
        return self._completed_losses + current[:1]

    @property
    def penalties(self):
        """The optimizer's L1/L2 penalty at every step of ``losses`` (0.0 without l1/l2)."""
        current = [e.penalty for e in self.events if e.phase == "loss"]
        return self._completed_penalties + current[:1]

    # ----- moving ---------------------------------------------------------------------------
    def step(self):
        """Take one event (step *into* blocks: the finest grain); at the end of a step, start the
        next step on the next batch."""
        if self.step_done:
            self.next_batch()
        try:
            event = next(self._events)
        except StopIteration:  # the step was shorter than recorded: the model changed
            self._finished = True
            self.plan = [PlannedEvent.of(e) for e in self.events]
            return self.step()
        self.events.append(event)
        self._peek_end()
        self.anomaly = self._find_anomaly(event) if self.check_anomalies else None
        return event

    def step_over(self):
        """Take the next event, or the whole block it begins at the depth of the last event
        taken (a Residual block at the top: its body, shortcut and add in one go)."""
        if self.step_done:
            self.next_batch()
        level = self.event.depth if self.event is not None else 0
        first = self.next_event
        block = ".".join(first.path.split(".")[: level + 1])
        return self._run_while(
            lambda planned: planned.model == first.model
            and planned.phase == first.phase
            and inside(planned.path, block)
        )

    def step_out(self):
        """Take events to the end of the innermost block that the last event is in and that has
        events left (at the top: to the end of the phase)."""
        current, upcoming = self.event, self.next_event
        if current is None or upcoming is None:
            return self.run_to_phase_end()
        block = current.path
        while "." in block:
            block = block.rsplit(".", 1)[0]
            if upcoming.model == current.model and inside(upcoming.path, block):
                return self._run_while(
                    lambda planned: planned.model == current.model
                    and planned.phase == current.phase
                    and inside(planned.path, block)
                )
        return self.run_to_phase_end()

    def run_to_phase_end(self):
        """Take events until the phase of the next event (forward, loss, backward, update) ends
        (in a step over several models: the phase of that model in that part of the step)."""
        if self.step_done:
            self.next_batch()
        first = self.next_event
        return self._run_while(
            lambda planned: (planned.phase, planned.model, planned.part)
            == (first.phase, first.model, first.part)
        )

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
        """Back to the models, optimizers and batch order as they were when the stepper was
        made."""
        self._restore(self._initial)
        self.loader.rng.bit_generator.state = copy.deepcopy(self._initial_order)
        self._batches = iter(())
        self._completed_losses, self._completed_penalties, self.step_count = [], [], 0
        self.batch = self._next_batch()
        self._begin_step()

    # ----- internals -------------------------------------------------------------------------
    def _run_while(self, belongs):
        """Take the next event, then more while the next one ``belongs`` (a test on the plan)."""
        self.step()
        while not self.anomaly and not self.step_done and belongs(self.next_event):
            self.step()
        return self.event

    def _next_batch(self):
        for _ in range(2):  # a new epoch when the current one is used up
            try:
                return next(self._batches)
            except StopIteration:
                self._batches = iter(self.loader)
        raise ValueError("Stepper: the data has no samples")

    def _begin_step(self):
        self._step_start = self._capture()
        self.events, self.anomaly, self._finished = [], None, False
        self._events = self.program.run(*self.batch, snapshot=True)

    def _peek_end(self):
        """Learn whether the step has ended after the event just taken: at the end of the
        plan, run the generator to its end (it finishes there) and record the plan anew if
        this step's events were not the ones recorded."""
        if len(self.events) < len(self.plan):
            return
        for extra in self._events:  # the program yields more than the plan said
            self.events.append(extra)
        self._finished = True
        recorded = [PlannedEvent.of(e) for e in self.events]
        if recorded != self.plan:
            self.plan = recorded

    def _record_plan(self):
        """Run one whole step on the current batch, note its events, and undo it."""
        saved = self._capture()
        plan = [PlannedEvent.of(event) for event in self.program.run(*self.batch)]
        self._restore(saved)
        self._begin_step()
        return plan

    def _capture(self):
        return {
            "models": {
                name: (model.state_dict(), model.grad_dict())
                for name, model in self.program.models.items()
            },
            "optimizers": {
                name: optimizer.state_dict()
                for name, optimizer in self.program.optimizers.items()
            },
            "rng": copy.deepcopy(rng.generator().bit_generator.state),
        }

    def _restore(self, saved):
        for name, model in self.program.models.items():
            params, grads = saved["models"][name]
            model.load_state_dict(params)
            model.load_grad_dict(grads)
        for name, optimizer in self.program.optimizers.items():
            optimizer.load_state_dict(saved["optimizers"][name])
        rng.generator().bit_generator.state = copy.deepcopy(saved["rng"])

    def _find_anomaly(self, event):
        """The first thing wrong at ``event``: at a forward, the layer's own params first (a NaN
        planted in a weight is named there, not at the outputs it spoils), then every tensor of
        the event in order: NaN or Inf anywhere, a gradient norm above ``explode`` or (for a
        param's gradient) below ``vanish``."""
        tensors = event.tensors()
        params = {}
        if event.phase == "forward" and event.layer is not None:
            params = {name: to_host(value) for name, value in event.layer.params.items()}
        for tensor, value in [*params.items(), *tensors.items()]:
            if not np.issubdtype(value.dtype, np.floating) or value.size == 0:
                continue
            where = (event.phase, event.index, event.name, tensor)
            finite = np.isfinite(value)
            if not finite.all():
                bad = np.flatnonzero(~finite)
                kind = "NaN" if np.isnan(value).any() else "Inf"
                first = tuple(int(i) for i in np.unravel_index(bad[0], value.shape))
                return Anomaly(
                    *where, kind, math.nan, None, len(bad), value.size, first, tensor in params
                )
            if event.phase != "backward" or not tensor.startswith("d"):
                continue
            norm = float(np.linalg.norm(value))
            if norm > self.explode:
                return Anomaly(*where, "exploding gradient", norm, self.explode)
            if tensor != "dx" and norm < self.vanish:
                return Anomaly(*where, "vanishing gradient", norm, self.vanish)
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
