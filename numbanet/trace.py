"""Events: what one training step reports as it runs, for the inspector and for tests.

A step yields, in order: one "forward" event per layer, one "loss" event, one "backward"
event per layer (last layer first) and one "update" event per layer that has params.
Containers yield the events of the layers inside them (a Residual block's body, shortcut and
its own "add"), each with its ``path`` in the model and its ``depth`` (0 for a model's own
layers), so a step can be followed at any depth. A step over several models (a GAN) names the
model of every event (``event.model``) and what part of the step it belongs to (``event.part``).
``event.tensors()`` copies the tensors that event touched to host NumPy arrays (from the GPU
for a model on "cuda"); nothing is copied unless it is called. Call it before advancing to the
next step: later steps overwrite the buffers it reads.
"""

from numbanet.backend import to_host

PHASES = ("forward", "loss", "backward", "update")


class Event:
    """One stage of a training step.

    phase: "forward", "loss", "backward" or "update".
    index: the layer's position in the model (None for the loss).
    name:  human-readable, e.g. "2: Linear(128→256)" or "CrossEntropyLoss()" (None: the
           layer's label at ``path``, made when first read).
    layer: the layer (the loss function for the loss); loss: the loss value (loss event only).
    penalty: the optimizer's L1/L2 penalty λ₁Σ|w| + λ₂/2 Σw² of the weights the loss was
    computed with (loss event only, in a step run with ``snapshot=True`` as the Stepper runs it;
    0.0 without ``l1``/``l2``; None without snapshots, as ``fit`` runs the step: it reports the
    penalty once per epoch).
    ``loss`` stays the data loss, comparable with a validation loss; ``loss + penalty`` is what
    the update descends.
    path:  where the layer sits in its model, relative to the model ("2", "1.body.0"; "" for the
           loss and for a model that is one layer); depth: how deep (0: one of the model's own
           layers, 1 inside one of them, ...).
    model: the name of the model the event belongs to ("model", or "generator" and
           "discriminator" in a GAN step); part: the part of the step it belongs to, in words
           ("" in a plain training step; "D on real images" in a GAN step).
    terms: the terms the model's layers added to the objective (``Layer.objective_terms``: a
           VAE's {"kl": …}, per sample), on the loss event of a step run with ``snapshot``.
    """

    __slots__ = ("phase", "index", "_name", "layer", "loss", "_tensors", "penalty", "path",
                 "depth", "model", "part", "terms")  # fmt: skip

    def __init__(self, phase, index, name, layer=None, loss=None, _tensors=dict, penalty=None,
                 path="", depth=0, model="model", part="", terms=None):  # fmt: skip
        self.phase, self.index, self._name, self.layer = phase, index, name, layer
        self.loss, self._tensors, self.penalty = loss, _tensors, penalty
        self.path, self.depth, self.model, self.part = path, depth, model, part
        self.terms = terms

    @property
    def name(self):
        if self._name is None:  # made on demand: a step drained at full speed never needs it
            self._name = self.layer.label(self.path)
        return self._name

    def __repr__(self):
        return f"Event({self.phase!r}, {self.index!r}, {self.name!r}, model={self.model!r})"

    def shapes(self):
        """{name: shape} of the tensors this event touched, without copying them."""
        return {name: value.shape for name, value in self._tensors().items() if value is not None}

    def tensors(self):
        """{name: host NumPy copy} of the tensors this event touched.

        forward:  input, output (a Residual's "add": body, shortcut, output)
        loss:     prediction, target, grad (∂L/∂prediction)
        backward: dy (∂L/∂output), dx (∂L/∂input; absent where no earlier layer has params,
                  so nothing needs it; layers before the first with params skip backward),
                  d<param> for each param (e.g. dweight, dbias)
        update:   for each param p: p.after, p.grad, the optimizer state p.<name>
                  (momentum_buffer, exp_avg, exp_avg_sq), and p.before when the step was run
                  with ``snapshot=True`` (the Stepper runs it so)
        """
        return {
            name: to_host(value) for name, value in self._tensors().items() if value is not None
        }
