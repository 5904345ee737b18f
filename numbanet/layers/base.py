"""The Layer contract that every layer follows (explicit backprop, as textbooks teach it).

    layer.params : dict name -> array         layer.grads : same keys, same shapes
    layer.state  : dict name -> array         non-trainable tensors saved with the model
                                               (BatchNorm's running statistics; torch's buffers)
    layer.forward(x) -> y                      keeps in ``layer.saved`` what backward needs
    layer.backward(dy) -> dx                   overwrites ``layer.grads``; adds into them after
                                               ``zero_grad()``; leaves them alone when frozen
    layer.forward_events(x), backward_events(dy)   the same passes as generators of events,
                                               one per layer at every depth (the training step)
    layer.objective_terms() -> {name: float}   terms the layer added to the objective at its
                                               last forward (a VAE's KL), per sample; {} for most

Outputs and gradients live in buffers the layer owns and reuses every step (no allocation on
the hot path): ``y = layer(x)`` stays valid until the layer's next forward; copy it to keep it.
"""

import contextlib
import copy
import difflib
import functools
from dataclasses import dataclass, field

import numpy as np

from numbanet import rng
from numbanet.backend import BackendError, get_backend, is_device_array, to_host
from numbanet.layers.init import init_weight_and_bias
from numbanet.trace import Event

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass
class View:
    """One picture of an event for the inspector: ``data`` (host arrays) and how to draw it.

    kind: "tensor"    images as images ((N, C, H, W), filters), a vector as a line, a matrix
                      (or the first sample of a 3-D tensor) as a heatmap;
          "histogram" the distribution of the values;
          "states"    {title: (T, H)} heatmaps, units down and time steps across;
          "curves"    {label: (T,)} lines over the time steps (``options["log"]``: log scale);
          "matrices"  (K, R, C): K heatmaps side by side (attention: heads × queries × keys);
          "note"      a line of text (``data``: the text), e.g. why a tensor is absent.
    options: hints for the drawing: "group" (the param or state the view belongs to: the
    inspector shows one group at a time and a selector over them; views without a group are
    always shown), "image" (a (N, T, F) batch drawn as N pictures of T × F, e.g. a digit read
    row by row), "rows" (images down in a grid), "xlabel", "ylabel" ("sample" for a batch:
    its first rows are shown), "labels" (tick labels), "log" (a log scale), "positions" (the
    axes are the positions of the first input sequence: the inspector, given a ``vocab``,
    writes that sequence's tokens on them).
    """

    title: str
    data: object
    kind: str = "tensor"
    options: dict = field(default_factory=dict)


def drain(events):
    """Run a generator of events to its end and return its value (a pass without a watcher)."""
    while True:
        try:
            next(events)
        except StopIteration as stop:
            return stop.value


def _honouring_grad_mode(backward):
    """Wrap a layer's ``backward`` so that freezing and accumulation work for every layer
    alike, without each layer knowing: while the layer is frozen or accumulating, its own
    ``grads`` are swapped for scratch buffers during the call; a frozen layer then drops them
    (its grads and the optimizer never see them), an accumulating one adds them to its grads:
    g ← g + ∂L/∂w."""

    @functools.wraps(backward)
    def run(self, dy, need_dx=True, *args, **kwargs):
        if not self.params or not (self.frozen or self.accumulate_grads) or self._grads_swapped:
            return backward(self, dy, need_dx, *args, **kwargs)
        if self.frozen and not need_dx:
            return None  # nothing to give below, nothing to keep here
        grads = self.grads
        self.grads = {k: self.buffer(f"scratch d{k}", g.shape) for k, g in grads.items()}
        self._grads_swapped = True
        try:
            dx = backward(self, dy, need_dx, *args, **kwargs)
        finally:
            scratch, self.grads, self._grads_swapped = self.grads, grads, False
        if not self.frozen:
            for name, grad in grads.items():
                flat = grad.reshape(-1)
                self.kernels.add(flat, scratch[name].reshape(-1), flat)
        return dx

    return run


def param_key(prefix, name):
    """The key of ``name`` under a layer at ``prefix``: "weight" at the top, "2.weight" or
    "1.body.0.weight" inside a model — torch's ``state_dict`` keys."""
    return f"{prefix}.{name}" if prefix else name


def objective_addition(model, batch_size):
    """What the terms that ``model``'s layers added at their last forward add to the loss of a
    batch of ``batch_size``, in the loss's units: a layer's terms times N if it sums them over
    the batch, as they are if it averages them (``Layer.objective_terms``, per sample). The
    objective a step descends is loss + objective_addition(model, N); 0.0 for most models."""
    total = 0.0
    for layer in model.modules():
        if layer.objective_reduction is not None:
            scale = batch_size if layer.objective_reduction == "sum" else 1
            total += scale * sum(layer.objective_terms().values())
    return total


class LayerInputError(ValueError):
    """A layer was given an input it cannot take; the message names the layer and the fix."""


class LearnerKernel:
    """A learner's Python function standing in for a compiled kernel (``Layer.use_kernel``).

    Called with the kernel's own arguments (inputs first, preallocated outputs last), it must
    write the outputs in place and return nothing, as every kernel does; ``calls`` counts how
    often the layer ran it.
    """

    def __init__(self, name, function):
        self.name, self.function, self.calls = name, function, 0

    def __call__(self, *args):
        self.calls += 1
        try:
            result = self.function(*args)
        except Exception as exc:
            exc.add_note(f"(in your kernel {self.name!r}, plugged in with use_kernel)")
            raise
        if result is not None:
            raise TypeError(
                f"your kernel {self.name!r} returned a {type(result).__name__}: a kernel writes "
                f"its outputs in place (dW[...] = dy.T @ x) and returns None"
            )

    def __repr__(self):
        return f"LearnerKernel({self.name!r}, {getattr(self.function, '__name__', '?')})"


class PluggedKernels:
    """``layer.kernels`` of a layer with learners' kernels plugged in: those by name, every
    other kernel from the layer's device as before. The plug-in is for the CPU: on another
    device, asking for a plugged kernel is an error that says how to go back."""

    def __init__(self, layer, plugged):
        self.layer, self.plugged = layer, plugged

    def __getattr__(self, name):
        plugged, layer = self.__dict__.get("plugged"), self.__dict__.get("layer")
        if plugged is None or name.startswith("__"):  # copy/pickle probing a bare instance
            raise AttributeError(name)
        kernel = plugged.get(name)
        if kernel is None:
            return getattr(layer.backend.kernels, name)
        if layer.backend.name != "cpu":
            raise BackendError(
                f"{layer.name}: your kernel {name!r} is a Python function for the cpu, and the "
                f"layer is on {layer.backend.name}: move the model with model.to('cpu'), or "
                f"unplug it with use_kernel({name!r}, None)"
            )
        return kernel


class _DeviceKernels:
    """``Layer.kernels``: the compiled kernels of the layer's device. A non-data descriptor,
    so that a layer with a learner's kernel plugged in shadows it with a ``PluggedKernels`` in
    its own ``__dict__``, and a layer without one pays one small call, as a property costs."""

    def __get__(self, layer, owner=None):
        return self if layer is None else layer.backend.kernels


class Layer:
    """Base class of every layer and container.

    Subclasses implement ``forward(x)`` and ``backward(dy, need_dx=True)``; ``config()`` returns
    the constructor arguments so that a saved model can be rebuilt.
    """

    registry = {}  # class name -> class, used to rebuild saved models
    formula = {"forward": "", "backward": ""}  # the layer's math in one line, for the inspector

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            Layer.registry[cls.__name__] = cls
        if "backward" in cls.__dict__:
            cls.backward = _honouring_grad_mode(cls.__dict__["backward"])

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.state = {}  # non-trainable tensors kept in state_dict (running statistics)
        self.saved = {}  # tensors forward keeps for backward, by name (the inspector shows them)
        self.training = True
        self.backend = get_backend("cpu")
        self.dtype = np.dtype(np.float32)
        self.path = ""  # where the layer sits in its model ("2", "1.0"), set by containers
        self.frozen = False  # requires_grad_(False): backward gives dx only, grads stay as they are
        self.accumulate_grads = False  # zero_grad(): backward adds into grads
        self._grads_swapped = False
        self._buffers = {}
        self._places = {}  # path -> (index, depth) of the layer's events there (``event``)

    # ----- the contract ---------------------------------------------------------------------
    def forward(self, x):
        """y = f(x); keeps what backward needs."""
        raise NotImplementedError

    def backward(self, dy, need_dx=True):
        """Given dy = ∂L/∂y, fills ``grads`` and returns dx = ∂L/∂x (None if not need_dx)."""
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    # ----- the passes as events (what the training step walks) ------------------------------
    def forward_events(self, x, path="", context=None):
        """The forward pass as a generator of events; returns y. A layer yields one "forward"
        event (its input and output); containers override this to yield the events of the
        layers inside them, so a step can be followed into a block. ``path`` is the layer's
        place in the model the step walks ("" at its top); ``context`` holds the other fields
        of the events (the model's name, the part of the step)."""
        y = self.forward(x)
        yield self.event("forward", path, context, lambda: {"input": x, "output": y})
        return y

    def backward_events(self, dy, need_dx=True, path="", context=None):
        """The backward pass as a generator of events; returns dx. ``dy=None`` means that no
        gradient reaches the layer (it lies below every layer that learns): it is skipped, and
        its event says so with no tensors."""
        dx = None if dy is None else self.backward(dy, need_dx=need_dx)

        def tensors():
            if dy is None:
                return {}
            grads = {} if self.frozen else {f"d{k}": g for k, g in self.grads.items()}
            return {"dy": dy, "dx": dx, **grads}

        yield self.event("backward", path, context, tensors)
        return dx

    def event(self, phase, path, context, tensors):
        """An Event of this layer at ``path`` (its index: the model's layer it belongs to)."""
        place = self._places.get(path)
        if place is None:  # (index, depth) of a path, worked out once: a step makes many events
            head = path.split(".", 1)[0]
            place = self._places[path] = (int(head) if head.isdigit() else 0, path.count("."))
        index, depth = place
        # positional, name None (made from the layer and path when first read): the cheapest call
        event = Event(phase, index, None, self, None, tensors, None, path, depth)
        if context is not None:
            for field_name, value in context.items():  # the model's name, the part of the step
                setattr(event, field_name, value)
        return event

    # ----- what the inspector shows ------------------------------------------------------------
    def views(self, phase, tensors):
        """What the inspector draws beside this layer's "forward" or "backward" event: a list of
        ``View``s made from the event's host ``tensors`` (``event.tensors()``). This draws what
        every layer has: the batch in and out (a conv layer's feature maps as images), and for
        each param its picture and histogram (a conv weight as its filters) and for each 1-D
        state tensor (running statistics) its values, grouped by tensor (the inspector shows
        one group at a time); backward, dy, dx and each param's gradient likewise. A layer
        with more to show extends the list."""
        batch = {"ylabel": "sample"}
        if phase == "forward":
            views = [View(name, value, options=batch) for name, value in tensors.items()]
            if "output" in tensors:
                views.append(View("output", tensors["output"], "histogram"))
            for name, value in self.params.items():
                value = self.backend.to_host(value)
                title = f"{name}: filters (out × in)" if value.ndim == 4 else name
                views += [
                    View(title, value, options={"group": name, "rows": 8}),
                    View(name, value, "histogram", {"group": name}),
                ]
            for name, value in self.state.items():
                if value.ndim == 1:
                    title = name.replace("_", " ")
                    views.append(View(title, self.backend.to_host(value), options={"group": title}))
            return views
        if not tensors:
            return [View("backward", "skipped: no layer before this one learns, so backprop "
                         "needs no gradient here", "note")]  # fmt: skip
        grads = [f"d{name}" for name in self.params if f"d{name}" in tensors]
        views = [View(name, value, options=batch) for name, value in tensors.items()
                 if name not in grads]  # fmt: skip
        if "dx" not in tensors:
            views.append(View("dx", "dx is not computed: no layer before this one learns, so "
                              "backprop stops here", "note"))  # fmt: skip
        for name in grads:
            views += [
                View(name, tensors[name], options={"group": name, "rows": 8}),
                View(name, tensors[name], "histogram", {"group": name}),
            ]
        return views

    def keep_for_views(self):
        """Keep what ``views`` needs beyond what backward keeps (the inspector calls this once;
        a recurrent layer then keeps ∂L/∂h_t of every step)."""

    # ----- what trains -----------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze (True) this layer and every layer inside it, as torch's
        ``requires_grad_``: a frozen layer's backward still gives dx (the gradient flows through
        it to the layers below) but computes no weight gradient into its grads, and optimizers
        leave its params and state alone. Returns self."""
        for layer in self.modules():
            layer.frozen = not requires_grad
        return self

    def zero_grad(self, accumulate=True):
        """Set every gradient to zero and, with ``accumulate`` (the default, as torch), make
        backward add into grads from now on (g ← g + ∂L/∂w), so that two backward passes — two
        half batches, or a real and a fake batch — give the sum of their gradients.
        ``zero_grad(accumulate=False)`` goes back to overwriting. Returns self."""
        for layer in self.modules():
            for grad in layer.grads.values():
                layer.backend.copy_into(grad, np.zeros(grad.shape, grad.dtype))
        return self.accumulate_grads_(accumulate)

    def accumulate_grads_(self, accumulate=True):
        """Make backward add into grads (True) or overwrite them (False), for this layer and
        every layer inside it, leaving the grads as they are. Returns self."""
        for layer in self.modules():
            layer.accumulate_grads = accumulate
        return self

    def learns(self):
        """True if this layer or one inside it has params that are not frozen."""
        return any(layer.params and not layer.frozen for layer in self.modules())

    def config(self):
        """Constructor arguments, as a JSON-able dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ----- helpers for layer implementations ------------------------------------------------
    kernels = _DeviceKernels()

    def use_kernel(self, name, function):
        """Run ``function``, a learner's Python function, in place of the CPU kernel ``name``
        in this layer and every layer inside it; ``function=None`` puts the compiled kernel
        back. ``function`` takes the kernel's own arguments (its docstring lists them: inputs
        first, preallocated outputs last) and writes the outputs in place, returning None:

            def dense_backward(x, W, dy, dx, dW, db, need_dx):
                dW[...] = dy.T @ x
                db[...] = dy.sum(axis=0)
                if need_dx:
                    dx[...] = dy @ W

        It stays plugged in through ``clone`` and ``gradcheck``, in ``fit``, the Stepper and
        the inspector; it is not saved with the model. CPU only. Returns self.
        """
        if function is not None:
            if self.device != "cpu":
                raise BackendError(
                    f"use_kernel: {self.name} is on {self.device}; a plugged-in kernel is a "
                    f"Python function for the cpu: model.to('cpu') first"
                )
            if not callable(function):
                raise TypeError(f"use_kernel: expected a function, got {type(function).__name__}")
            known = vars(get_backend("cpu").kernels)
            if name not in known:
                close = difflib.get_close_matches(name, known, n=3)
                raise ValueError(
                    f"use_kernel: no kernel named {name!r}"
                    + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")
                )
        for layer in self.modules():
            own = layer.__dict__.get("kernels")
            plugged = dict(own.plugged) if own is not None else {}
            if function is None:
                plugged.pop(name, None)
            else:
                plugged[name] = LearnerKernel(name, function)
            if plugged:
                layer.kernels = PluggedKernels(layer, plugged)
            else:
                layer.__dict__.pop("kernels", None)
        return self

    @contextlib.contextmanager
    def using_kernel(self, name, function):
        """``use_kernel(name, function)`` for the length of a ``with`` block, then every layer's
        kernels as they were before it."""
        before = [(layer, layer.__dict__.get("kernels")) for layer in self.modules()]
        self.use_kernel(name, function)
        try:
            yield self
        finally:
            for layer, kernels in before:
                if kernels is None:
                    layer.__dict__.pop("kernels", None)
                else:
                    layer.kernels = kernels

    def plugged_kernels(self):
        """{kernel name: LearnerKernel} plugged into this layer (``use_kernel``); {} if none."""
        own = self.__dict__.get("kernels")
        return dict(own.plugged) if own is not None else {}

    @property
    def name(self):
        """The layer as the user sees it in errors and events: "2: Linear(128→256)", and a
        container by its type ("1: Residual")."""
        return self.label(self.path)

    def label(self, path):
        """The layer's name at ``path``: "path: Linear(128→256)", a container by its type."""
        text = type(self).__name__ if self.children() else repr(self)  # containers: one line
        return f"{path}: {text}" if path else text

    def error(self, message):
        """A LayerInputError that names this layer."""
        return LayerInputError(f"{self.name}: {message}")

    def as_input(self, x, what="input"):
        """x as a C-contiguous array of the layer's dtype on the layer's device.

        Host data (lists, other dtypes, views) is converted; on the GPU, host data is copied into
        a device buffer the layer reuses. An array already on another device is an error: a model
        is moved whole (``model.to``), never half.
        """
        if is_device_array(x):
            if not self.backend.owns(x):
                raise self.error(
                    f"expected {what} on the cpu (the layer's device), got an array on the GPU "
                    f"{x.shape}: move the whole model with model.to('cuda'), or copy the data "
                    f"to the host with .copy_to_host()"
                )
            if x.dtype == self.dtype and x.is_c_contiguous():
                return x
            raise self.error(
                f"expected a C-contiguous {what} of dtype {self.dtype} on the GPU, "
                f"got dtype {x.dtype}"
            )
        if (
            self.backend.name == "cpu"
            and isinstance(x, np.ndarray)
            and x.dtype == self.dtype
            and x.flags.c_contiguous
        ):
            return x
        try:
            host = np.ascontiguousarray(x, self.dtype)
        except (TypeError, ValueError) as exc:
            raise self.error(f"expected a numeric array as {what}, got {type(x).__name__}") from exc
        if self.backend.name == "cpu" or host.ndim == 0:
            return self.backend.from_host(host, self.dtype)
        device = self.buffer(f"{what} from host", host.shape)
        self.backend.copy_into(device, host)
        return device

    def check_ndim(self, x, ndim, layout):
        """Raise unless x has ``ndim`` dims; ``layout`` reads like "(N, 784)"."""
        if x.ndim != ndim:
            raise self.error(f"expected input of shape {layout}, got {x.shape} ({x.ndim}-D)")

    def buffer(self, key, shape, dtype=None):
        """A reusable array of ``shape`` (and ``dtype``, default the layer's) kept by the layer
        under ``key``, on the layer's device.

        The buffer is allocated once for the largest batch seen and sliced for smaller ones,
        so a short last batch allocates nothing.
        """
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        buf = self._buffers.get(key)
        if (
            buf is None
            or buf.shape[1:] != shape[1:]
            or buf.shape[0] < shape[0]
            or (buf.dtype != dtype)
        ):
            buf = self.backend.empty(shape, dtype)
            self._buffers[key] = buf
        return buf[: shape[0]] if buf.shape[0] != shape[0] else buf

    def add_weight_and_bias(self, weight_shape, fan_in, fan_out, bias, init, bias_size=None):
        """Create ``params["weight"]`` of ``weight_shape`` (and ``params["bias"]`` of
        (bias_size,), default (weight_shape[0],), if ``bias``) under the ``init`` scheme of
        ``layers/init.py``, drawn from numbanet's seeded generator, with zero grads."""
        weight, b = init_weight_and_bias(
            init, weight_shape, fan_in, fan_out, rng.generator(), bias_size
        )
        self.params["weight"] = weight.astype(self.dtype)
        self.grads["weight"] = np.zeros_like(self.params["weight"])
        if bias:
            self.params["bias"] = b.astype(self.dtype)
            self.grads["bias"] = np.zeros_like(self.params["bias"])

    def dense_gradients(self, x, weight, dy, dx, weight_grad, bias_grad, need_dx):
        """A product y = x Wᵀ + b's backward (x: (N, I), weight: (J, I), dy: (N, J)):
        ``dense_backward`` (dW, db, and dx if need_dx), or, while this layer is frozen, dx
        alone (``dense_input_grad``): nobody wants a frozen layer's weight gradient."""
        if not self.frozen:
            self.kernels.dense_backward(x, weight, dy, dx, weight_grad, bias_grad, need_dx)
        elif need_dx:
            self.kernels.dense_input_grad(weight, dy, dx)

    def bias_and_grad(self, size=None):
        """The bias and its gradient buffer; without a bias, a zero vector (kernels add it) and
        a scratch buffer (kernels write it; nobody reads it) of ``size`` (default: the weight's
        first dim)."""
        if "bias" in self.params:
            return self.params["bias"], self.grads["bias"]
        size = self.params["weight"].shape[0] if size is None else size
        return self.zero_vector(size), self.buffer("unused_bias_grad", (size,))

    def zero_vector(self, size):
        """``size`` zeros on the layer's device, made once: what kernels add where there is no
        bias."""
        key = f"zeros {size}"
        if key not in self._buffers:
            self._buffers[key] = self.backend.zeros((size,), self.dtype)
        return self._buffers[key]

    def saved_for_backward(self, *names):
        """The tensors forward saved, or a clear error if forward has not run."""
        if not all(name in self.saved for name in names):
            raise self.error("backward called before forward: run forward on a batch first")
        return [self.saved[name] for name in names]

    def as_grad(self, dy, shape):
        """dy as an array of the layer's dtype, checked to have the output's shape."""
        dy = self.as_input(dy, what="gradient dy")
        if dy.shape != shape:
            raise self.error(f"expected dy of the output's shape {shape}, got {dy.shape}")
        return dy

    # ----- terms a layer adds to the objective ----------------------------------------------
    # How a layer that adds a term reduces it over the batch, "mean" or "sum", as the loss
    # reduces its own (``Loss.check_terms``); None for the layers that add none.
    objective_reduction = None

    def objective_terms(self):
        """{name: value} of the terms that this layer and the layers inside it added to the
        objective at their last forward, each per sample of the batch: the units ``fit`` and
        ``evaluate`` report a loss in (a "sum" loss divided by the batch size, a "mean" one as
        it is). Terms of one name add up; most layers add none ({}).

        A layer adds a term (``Reparameterize``: {"kl": …}) by overriding this, setting
        ``objective_reduction``, and adding the term's gradient to dx in its backward, reduced
        over the batch as that says: the objective a step descends is then the loss plus the
        terms (``objective_addition``), with no call from the step. The step reads the terms
        only to report them.
        """
        terms = {}
        for child in self.children():
            for name, value in child.objective_terms().items():
                terms[name] = terms.get(name, 0.0) + value
        return terms

    # ----- structure -------------------------------------------------------------------------
    def named_children(self):
        """(name, sub-layer) pairs (containers override): "0", "1", … in a Sequential,
        "body" and "shortcut" in a Residual. The names make the ``state_dict`` keys."""
        return []

    def diagram_children(self):
        """(name, sub-layer) pairs as data flows through them, for the inspector's diagram: the
        names continue the paths the layer's events carry. ``named_children`` unless a layer's
        parts are wired by a block of its own (``TransformerEncoderLayer``)."""
        return self.named_children()

    def children(self):
        """Sub-layers, in order."""
        return [child for _, child in self.named_children()]

    def set_path(self, path):
        """Place the layer at ``path`` in its model ("2", "1.body.0"), for its name in events and
        errors; children become "path.<name>". Keys of params never depend on it: a model put
        inside another keeps its own ``state_dict`` keys and its optimizer state."""
        self.path = path
        for name, child in self.named_children():
            child.set_path(param_key(path, name))

    def named_modules(self, prefix=""):
        """(key prefix, layer) for this layer and every layer inside it, depth first; the prefix
        is relative to this layer ("" for itself, "0", "1.body", …)."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(param_key(prefix, name))

    def modules(self):
        """This layer and every layer inside it, depth first, as a list (``named_modules``
        without the prefixes)."""
        return [layer for _, layer in self.named_modules()]

    def named_params(self):
        """(key, array) for every param, with torch's state_dict keys ("0.weight")."""
        for prefix, layer in self.named_modules():
            for name, value in layer.params.items():
                yield param_key(prefix, name), value

    def named_tensors(self):
        """(key, array) for every param and state tensor: what ``state_dict`` holds."""
        for prefix, layer in self.named_modules():
            for table in (layer.params, layer.state):
                for name, value in table.items():
                    yield param_key(prefix, name), value

    def named_param_layers(self):
        """(key prefix, layer) for every layer that holds params, in forward order."""
        for prefix, layer in self.named_modules():
            if layer.params:
                yield prefix, layer

    def num_params(self):
        """The number of trainable scalars."""
        return sum(value.size for _, value in self.named_params())

    # ----- modes, devices, state -------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active, batch statistics); returns self."""
        for layer in self.modules():
            layer.training = mode
        return self

    def eval(self):
        """Evaluation mode; returns self."""
        return self.train(False)

    @property
    def device(self):
        """The device every param and buffer of the layer lives on: "cpu" or "cuda".

        Raises BackendError for a model with layers on both devices (moved in part).
        """
        leaves = [layer for layer in self.modules() if not layer.children()]  # containers
        used = {layer.backend.name for layer in leaves}  # hold no arrays of their own
        if len(used) > 1:  # the layers' names only now: the check runs at every forward
            devices = {}
            for layer in leaves:
                devices.setdefault(layer.backend.name, []).append(layer.name)
            where = "; ".join(f"on {d}: {', '.join(names)}" for d, names in devices.items())
            raise BackendError(
                f"{type(self).__name__}: the model is half on one device ({where}); move it "
                f"whole with model.to('cpu') or model.to('cuda')"
            )
        return next(iter(used), self.backend.name)

    def to(self, target):
        """Move to a device ("cpu", "cuda") or convert to a dtype (np.float32, "float64").

        Params and state keep their values (integer state keeps its dtype); grads are zeroed;
        saved tensors and buffers are dropped.
        An optimizer's state follows its params at the next update. Returns self.
        """
        if isinstance(target, str) and target not in ("float32", "float64"):
            backend, dtype = get_backend(target), self.dtype
        else:
            backend, dtype = self.backend, np.dtype(target)
            if dtype not in FLOAT_DTYPES:
                raise ValueError(f"to: expected float32 or float64, got {dtype}")
        for layer in self.modules():
            for name, value in layer.params.items():
                layer.params[name] = backend.from_host(to_host(value), dtype)
                layer.grads[name] = backend.zeros(value.shape, dtype)
            for name, value in layer.state.items():
                kind = dtype if value.dtype.kind == "f" else value.dtype
                layer.state[name] = backend.from_host(to_host(value), kind)
            layer.backend, layer.dtype = backend, dtype
            layer.saved.clear()
            layer._buffers.clear()
        return self

    def clone(self, device=None):
        """A copy of the layer with its own params and grads (saved tensors and buffers are
        not copied), on ``device`` (default: this layer's)."""
        memo = {}
        for layer in self.modules():
            memo[id(layer.backend)] = get_backend("cpu")
            memo[id(layer.saved)], memo[id(layer._buffers)] = {}, {}
            for table in (layer.params, layer.grads, layer.state):
                for value in table.values():
                    memo[id(value)] = to_host(value)
        return copy.deepcopy(self, memo).to(device or self.device)

    def state_dict(self):
        """{key: host copy} of every param and state tensor, keys as torch's ("0.weight",
        "0.bias", "1.running_mean")."""
        return {key: to_host(value) for key, value in self.named_tensors()}

    def grad_dict(self):
        """{key: host copy of the gradient}, the same keys as ``state_dict``."""
        return {
            param_key(prefix, name): to_host(grad)
            for prefix, layer in self.named_modules()
            for name, grad in layer.grads.items()
        }

    def load_grad_dict(self, grads):
        """Copy gradients from {key: array} (the keys of ``grad_dict``) into ``grads``."""
        for prefix, layer in self.named_modules():
            for name, grad in layer.grads.items():
                layer.backend.copy_into(grad, grads[param_key(prefix, name)])

    def load_state_dict(self, state):
        """Copy params and state from {key: array} into the model's own arrays.

        Every key and shape is checked before anything is copied, so a bad dict changes nothing.
        """
        own = dict(self.named_tensors())
        missing = sorted(own.keys() - state.keys())
        unexpected = sorted(state.keys() - own.keys())
        if missing or unexpected:
            raise ValueError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        converted = {}
        for key, value in own.items():
            try:
                converted[key] = np.asarray(to_host(state[key]), dtype=value.dtype)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"load_state_dict: {key!r} is not numeric") from exc
            if converted[key].shape != value.shape:
                raise ValueError(
                    f"load_state_dict: {key!r} expected shape {value.shape}, "
                    f"got {converted[key].shape}"
                )
        for prefix, layer in self.named_modules():
            for table in (layer.params, layer.state):
                for name, value in table.items():
                    layer.backend.copy_into(value, converted[param_key(prefix, name)])
