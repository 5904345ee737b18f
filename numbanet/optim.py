"""Optimizers: how each param moves given its gradient (SGD, Adam, AdamW, as torch defines them).

    opt = nn.optim.Adam(model, lr=1e-3)
    opt.step()              # every param of the model, from its grad
    opt.update(layer)       # one layer's params: what the training step does layer by layer

``l1=`` and ``l2=`` add a penalty λ₁Σ|w| + λ₂/2 Σw² on the weights (params with 2 or more dims,
not biases) to the loss: its gradient is added to the weights' grads before the update, so
``layer.grads`` after an update include it. The update rules live in ``kernels/cpu/optim.py``
(``kernels/cuda/optim.py`` on the GPU). The state (momentum buffers, Adam's moments) lives on
the params' device and follows the params when the model moves (``model.to``), at their next
update.
"""

import math

import numpy as np

from numbanet.backend import backend_of, to_host
from numbanet.layers.base import Layer, param_key


class Optimizer:
    """Base class: per-param state keyed like the model's state_dict, one kernel per update."""

    formula = ""  # the update rule in one line, for the inspector

    def __init__(self, model, lr, l1=0.0, l2=0.0):
        if not isinstance(model, Layer):
            raise TypeError(
                f"{type(self).__name__}: expected a model (a Layer), got {type(model).__name__}"
            )
        if lr <= 0 or l1 < 0 or l2 < 0:
            raise ValueError(
                f"{type(self).__name__}: expected lr > 0, l1 >= 0, l2 >= 0, "
                f"got lr={lr}, l1={l1}, l2={l2}"
            )
        self.model = model
        self.lr, self.l1, self.l2 = float(lr), float(l1), float(l2)
        self.state = {}  # param key ("0.weight") -> {"step": int, state arrays}
        self._keys = {}  # (layer, param name) -> its key in ``state``, fixed when first seen
        self._placed = {}  # param key -> the backend its state was last moved to (``update``)
        self._scalars = (None, ())  # (dtype and values, the values as scalars): ``scalars``
        self._learn_keys()

    def _learn_keys(self):
        """Key every param of the model that has no key yet by its place in the model now.
        Keys are fixed from then on, so putting the model inside another (which renames its
        layers' paths) keeps each param's state."""
        for prefix, layer in self.model.named_param_layers():
            for name in layer.params:
                self._keys.setdefault((layer, name), param_key(prefix, name))

    def key_of(self, layer, name):
        """The key of ``layer.params[name]`` in ``state`` and ``state_dict`` ("0.weight")."""
        key = self._keys.get((layer, name))
        if key is None:  # a layer added to the model after the optimizer was made
            self._learn_keys()
            key = self._keys.get((layer, name))
        if key is None:
            raise ValueError(
                f"{type(self).__name__}: {layer.name} is not in the model this optimizer updates"
            )
        return key

    def step(self):
        """Update every param of the model from its current grad."""
        for _, layer in self.model.named_param_layers():
            self.update(layer)

    def update(self, layer):
        """Update one layer's params from its grads (the penalty gradient is added first)."""
        for name, param in layer.params.items():
            grad = layer.grads[name]
            if param.ndim >= 2:
                if self.l1:
                    layer.kernels.l1_penalty_backward(param.reshape(-1), self.l1, grad.reshape(-1))
                if self.l2:
                    layer.kernels.l2_penalty_backward(param.reshape(-1), self.l2, grad.reshape(-1))
            key = self.key_of(layer, name)
            state = self.state.get(key)
            if state is None:
                state = self.state[key] = self.init_state(layer, param)
            if self._placed.get(key) is not layer.backend:  # new state, or the model moved
                self._follow_param(state, layer.backend)
                self._placed[key] = layer.backend
            state["step"] += 1
            self.update_param(
                layer.kernels, param.reshape(-1), grad.reshape(-1), state, param.dtype.type,
                self.decays(param),
            )  # fmt: skip

    def decays(self, param):
        """Whether weight decay applies to ``param`` (every param, unless an optimizer says)."""
        return True

    def scalars(self, scalar, *values):
        """``values`` as scalars of the params' dtype (``scalar``: np.float32 or np.float64),
        for the update kernel. The last ones are kept for the next param: the params of a step
        share them, and a NumPy scalar takes about half a µs to make (8 of them per param were
        a tenth of the update's Python)."""
        key = (scalar, values)
        if self._scalars[0] != key:
            self._scalars = (key, tuple(scalar(value) for value in values))
        return self._scalars[1]

    @staticmethod
    def _follow_param(state, backend):
        """Move a param's state arrays to ``backend``'s device if the model moved since."""
        for name, value in state.items():
            if name != "step" and not backend.owns(value):
                state[name] = backend.from_host(to_host(value), value.dtype)

    def penalty(self):
        """The current penalty value λ₁Σ|w| + λ₂/2 Σw² over the weights (params with 2 or more
        dims), summed in float64 on the host; 0.0 at no cost without l1/l2. The training step
        reports it beside the data loss (``Event.penalty``, ``History.train_penalty``)."""
        if not (self.l1 or self.l2):
            return 0.0
        weights = [to_host(p) for _, p in self.model.named_params() if p.ndim >= 2]
        return float(
            sum(
                self.l1 * np.abs(w).sum(dtype=np.float64)
                + self.l2 / 2 * np.square(w, dtype=np.float64).sum()
                for w in weights
            )
        )

    def state_of(self, key):
        """{name: host copy} of the state arrays of one param (empty before its first update)."""
        state = self.state.get(key, {})
        return {name: to_host(value) for name, value in state.items() if name != "step"}

    # ----- saving and loading ---------------------------------------------------------------
    def config(self):
        """Hyperparameters, as constructor keyword arguments."""
        return {"lr": self.lr, "l1": self.l1, "l2": self.l2}

    def state_dict(self):
        """{"config": hyperparameters, "state": {param key: {"step": n, name: array}}}."""
        return {
            "config": self.config(),
            "state": {
                key: {
                    name: (value if name == "step" else to_host(value)) for name, value in s.items()
                }
                for key, s in self.state.items()
            },
        }

    def load_state_dict(self, saved):
        """Restore hyperparameters and state; everything is checked before anything changes."""
        params = dict(self.model.named_params())
        where = f"{type(self).__name__}.load_state_dict"
        if set(saved["config"]) != set(self.config()):
            expected, got = sorted(self.config()), sorted(saved["config"])
            raise ValueError(f"{where}: expected config keys {expected}, got {got}")
        for key, state in saved["state"].items():
            if key not in params:
                raise ValueError(f"{where}: state for unknown param {key!r}")
            for name, value in state.items():
                if name != "step" and np.shape(value) != params[key].shape:
                    raise ValueError(
                        f"{where}: {key}.{name} expected shape {params[key].shape}, "
                        f"got {np.shape(value)}"
                    )
        for name, value in saved["config"].items():
            setattr(self, name, tuple(value) if isinstance(value, list) else value)
        self._placed.clear()
        self.state = {
            key: {
                name: (
                    int(v)
                    if name == "step"
                    else backend_of(params[key]).from_host(
                        np.asarray(to_host(v), params[key].dtype), params[key].dtype
                    )
                )
                for name, v in state.items()
            }
            for key, state in saved["state"].items()
        }

    def __repr__(self):
        args = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.config().items()
        )
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as torch.optim.SGD:
    b ← μ b + (1 - dampening) g;  p ← p - lr · (g + μ b if nesterov else b)   (b = g at step 1)
    weight_decay adds wd·p to g. With momentum=0 this is plain p ← p - lr·g.
    """

    formula = "b ← μ·b + (1−d)·g;  p ← p − lr·(g + μ·b if nesterov else b)"

    def __init__(
        self,
        model,
        lr=0.01,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        weight_decay=0.0,
        l1=0.0,
        l2=0.0,
    ):
        super().__init__(model, lr, l1, l2)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0 (as in torch)")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.nesterov, self.weight_decay = bool(nesterov), float(weight_decay)

    def init_state(self, layer, param):
        state = {"step": 0}
        if self.momentum:
            state["momentum_buffer"] = layer.backend.zeros(param.shape, param.dtype)
        return state

    def update_param(self, kernels, param, grad, state, scalar, decay):
        buffer = state["momentum_buffer"].reshape(-1) if self.momentum else param
        lr, momentum, dampening, weight_decay = self.scalars(
            scalar, self.lr, self.momentum, self.dampening, self.weight_decay if decay else 0
        )
        kernels.sgd_step(
            param, grad, buffer, lr, momentum, dampening, self.nesterov, weight_decay,
            state["step"] == 1,
        )  # fmt: skip

    def config(self):
        return {
            **super().config(),
            "momentum": self.momentum,
            "dampening": self.dampening,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }


class Adam(Optimizer):
    """Adam, as torch.optim.Adam: running means of the gradient (m) and of its square (v),
    bias-corrected; each param moves by about lr in the direction of m / √v.
    m ← β₁ m + (1 - β₁) g;  v ← β₂ v + (1 - β₂) g²;  p ← p - lr m̂ / (√v̂ + ε)
    weight_decay adds wd·p to g (L2 through the gradient; see AdamW for decoupled decay).
    decay_weights_only: weight decay on the weights only (params with 2 or more dims), not on
    biases and norms' γ and β — the grouping of GPT-2 and nanoGPT (torch: two param groups).
    """

    decoupled = False
    formula = "m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − lr·m̂ / (√v̂ + ε)"

    def __init__(
        self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, l1=0.0, l2=0.0,
        decay_weights_only=False,
    ):  # fmt: skip
        super().__init__(model, lr, l1, l2)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self.decay_weights_only = bool(decay_weights_only)

    def decays(self, param):
        return not self.decay_weights_only or param.ndim >= 2

    def init_state(self, layer, param):
        return {
            "step": 0,
            "exp_avg": layer.backend.zeros(param.shape, param.dtype),
            "exp_avg_sq": layer.backend.zeros(param.shape, param.dtype),
        }

    def update_param(self, kernels, param, grad, state, scalar, decay):
        beta1, beta2 = self.betas
        # the bias corrections in double precision, as torch computes them
        step_size = self.lr / (1 - beta1 ** state["step"])
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** state["step"])
        lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt = self.scalars(
            scalar, self.lr, beta1, beta2, self.eps, self.weight_decay if decay else 0,
            step_size, bias_correction2_sqrt,
        )  # fmt: skip
        kernels.adam_step(
            param, grad, state["exp_avg"].reshape(-1), state["exp_avg_sq"].reshape(-1), lr,
            beta1, beta2, eps, weight_decay, self.decoupled, step_size, bias_correction2_sqrt,
        )  # fmt: skip

    def config(self):
        return {
            **super().config(),
            "betas": list(self.betas),
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "decay_weights_only": self.decay_weights_only,
        }


class AdamW(Adam):
    """AdamW, as torch.optim.AdamW: Adam with decoupled weight decay p ← p (1 - lr·wd),
    applied to the param directly instead of through the gradient. Default weight_decay 0.01.
    """

    decoupled = True
    formula = "p ← p(1 − lr·wd);  m, v as Adam;  p ← p − lr·m̂ / (√v̂ + ε)"

    def __init__(
        self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, l1=0.0, l2=0.0,
        decay_weights_only=False,
    ):  # fmt: skip
        super().__init__(model, lr, betas, eps, weight_decay, l1, l2, decay_weights_only)


NORM_PARTIAL_SUMS = 1024
"""How many partial sums the squared norm of one gradient is split into (threads on the GPU)."""


def clip_grad_norm(model, max_norm):
    """Rescale every gradient of ``model`` so that their joint L2 norm is at most ``max_norm``,
    as torch.nn.utils.clip_grad_norm_ (call it between ``model.backward`` and ``opt.step``):

    total = √(Σ over every grad of Σ g²);    g ← g · max_norm / (total + 1e-6) if that is < 1

    It keeps the direction of the step and bounds its size: the usual cure for the exploding
    gradients of recurrent networks. Returns ``total``, the norm before clipping (a float).
    Kernels: ``squared_norm_partials`` (partial sums, added up on the host) and
    ``scale_in_place``; on the GPU, the partial sums are the only copy to the host (one per
    step), and the gradients never leave the device.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"clip_grad_norm: expected a model (a Layer), got {type(model).__name__}")
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm}")
    grads = [
        (layer.kernels, grad.reshape(-1))
        for layer in model.modules()
        for grad in layer.grads.values()
    ]
    # every grad's partial sums in one buffer, read back (from the GPU: one copy) and added up
    # at once; for a grad shorter than NORM_PARTIAL_SUMS the kernel writes 0 to the partial
    # sums past its length (sums over no elements), so every row is whole
    partial = model.buffer("grad norm partial sums", (len(grads), NORM_PARTIAL_SUMS), np.float64)
    for row, (kernels, grad) in enumerate(grads):
        kernels.squared_norm_partials(grad, partial[row])
    squares = float(to_host(partial).sum()) if grads else 0.0
    total = math.sqrt(squares)
    clip_coef = max_norm / (total + 1e-6)
    if clip_coef < 1:
        for kernels, grad in grads:
            kernels.scale_in_place(grad, grad.dtype.type(clip_coef))
    return total


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}
