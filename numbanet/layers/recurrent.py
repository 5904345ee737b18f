"""Recurrent layers: RNN, LSTM and GRU, with torch's conventions and full backpropagation
through time (the kernels, and how the work is split between GEMMs and fused cells, are in
``kernels/cpu/recurrent.py``).

One forward takes a whole sequence and returns the top layer's output at every step, so a
recurrent layer sits in a Sequential like any other. The state is kept beside it:

    y = layer.forward(x, state=None)   state: the initial state h_0 (LSTM: the pair (h_0, c_0)),
                                       each (num_layers, N, H); None means zeros
    layer.final_state                  h_n (LSTM: (h_n, c_n)), as torch returns them; overwritten
                                       by the next forward, and may be passed straight back to it
    dx = layer.backward(dy, need_dx=True, final_state_grad=None)
                                       BPTT through all T steps; final_state_grad: ∂L/∂h_n (LSTM:
                                       the pair), if the loss reads the final state too
    layer.state_grad                   ∂L/∂h_0 (LSTM: (∂L/∂h_0, ∂L/∂c_0)), for truncated BPTT
    layer.keep_step_grads = True       backward also keeps ∂L/∂h_t of every step, saved["dh_l{k}"]
                                       (T, N, H) for stacked layer k (the inspector's BPTT view)

Truncated BPTT: feed ``final_state`` (copied, or from ``numbanet.backend.to_host``) as the next
chunk's ``state``; gradients stop at the chunk boundary because backward never goes past h_0.
Not supported (torch has them): bidirectional, dropout between layers, proj_size, unbatched 2-D
input.
"""

import math

import numpy as np

from numbanet import rng
from numbanet.kernels.codes import EPILOGUES
from numbanet.layers.base import Layer, View


class _Recurrent(Layer):
    """What RNN, LSTM and GRU share: params, shape checks, the time loop and BPTT.

    A subclass says how many gate blocks its weights hold (``gates``), how many per-unit values
    its cell keeps for backward (``kept``), whether it carries a cell state (``has_cell``) or a
    second gradient backward (``carries``), and runs its time-loop kernels
    (``sequence_forward`` / ``sequence_backward``).
    """

    gates = 1  # gate blocks in W_ih and W_hh: (gates·H, ·)
    kept = 0  # values per hidden unit the cell keeps for backward (beside h, and LSTM's c)
    has_cell = False  # LSTM: a cell state c beside h
    carries = False  # backward carries a second gradient from step to step (LSTM's dc, GRU's skip)
    separate_dgh = False  # GRU: ∂L/∂gh is not ∂L/∂gi (r scales gh_n), so it has its own buffer
    # backward keeps ∂L/∂h_t of every step in saved["dh_l{k}"] (T, N, H), for the inspector's
    # BPTT view; off in training, which needs only the weight gradients
    keep_step_grads = False
    gate_names = ()  # the gate blocks' names, in the order the weights and saved gates hold them

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        kind = type(self).__name__
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"{kind}: input_size, hidden_size and num_layers must be >= 1, "
                f"got {input_size}, {hidden_size} and {num_layers}"
            )
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bool(bias)
        self.batch_first = bool(batch_first)
        # torch's init: every weight and bias ~ U(−1/√H, 1/√H), drawn in state_dict order
        bound = 1 / math.sqrt(self.hidden_size)
        generator = rng.generator()
        rows = self.gates * self.hidden_size
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self.hidden_size
            shapes = {
                f"weight_ih_l{layer}": (rows, width),
                f"weight_hh_l{layer}": (rows, hidden_size),
            }
            if self.bias:
                shapes |= {f"bias_ih_l{layer}": (rows,), f"bias_hh_l{layer}": (rows,)}
            for name, shape in shapes.items():
                self.params[name] = generator.uniform(-bound, bound, shape).astype(self.dtype)
                self.grads[name] = np.zeros_like(self.params[name])

    # ----- what a cell says about itself ----------------------------------------------------
    def sequence_forward(self, x, gi, gh, layer):
        """Run the forward kernel of stacked ``layer`` on its input x (T, N, I) into the saved
        states (gi: (T, N, G·H), gh: (N, G·H) scratch)."""
        raise NotImplementedError

    def sequence_backward(self, dy, dgi, dgh, dh, carry, dx, need_dx, layer):
        """Run the backward kernel of stacked ``layer``: dy (T, N, H); dh, carry (T + 1, N, H)
        with the last step given (``kernels/cpu/recurrent.py``); fills its gradients, and dx."""
        raise NotImplementedError

    def parameters_of(self, layer):
        """(W_ih, b_ih, W_hh, b_hh) of stacked ``layer`` (zero biases without bias)."""
        w_ih, b_ih, _, _ = self.weights(layer, "ih")
        w_hh, b_hh, _, _ = self.weights(layer, "hh")
        return w_ih, b_ih, w_hh, b_hh

    def gradients_of(self, layer):
        """(W_ih, W_hh, dW_ih, dW_hh, db_ih, db_hh) of stacked ``layer``: what backward reads and
        writes."""
        w_ih, _, dw_ih, db_ih = self.weights(layer, "ih")
        w_hh, _, dw_hh, db_hh = self.weights(layer, "hh")
        return w_ih, w_hh, dw_ih, dw_hh, db_ih, db_hh

    # ----- helpers ---------------------------------------------------------------------------
    def weights(self, layer, kind):
        """(weight, bias, weight grad, bias grad) of ``kind`` "ih" or "hh" of ``layer``; without
        biases, a zero bias and a scratch gradient (kernels write it; nobody reads it)."""
        weight = f"weight_{kind}_l{layer}"
        bias = f"bias_{kind}_l{layer}"
        if self.bias:
            return self.params[weight], self.params[bias], self.grads[weight], self.grads[bias]
        rows = (self.gates * self.hidden_size,)
        if "zero_bias" not in self._buffers:
            self._buffers["zero_bias"] = self.backend.zeros(rows, self.dtype)
        scratch = self.buffer("unused_bias_grad", rows)
        return self.params[weight], self._buffers["zero_bias"], self.grads[weight], scratch

    def zeros(self, key, shape):
        """A zero array of ``shape`` kept under ``key`` (read only, so it stays zero)."""
        if key not in self._buffers or self._buffers[key].shape != shape:
            self._buffers[key] = self.backend.zeros(shape, self.dtype)
        return self._buffers[key]

    def layout(self):
        return "(N, T, {})" if self.batch_first else "(T, N, {})"

    def state_arrays(self, state, batch, what):
        """The state ``what`` ("initial state" or "final state grad") as a list of one or two
        (num_layers, N, H) arrays on the layer's device (zeros if None), checked."""
        names = ("h", "c") if self.has_cell else ("h",)
        shape = (self.num_layers, batch, self.hidden_size)
        if state is None:
            return [self.zeros(f"zero_{what}", shape)] * len(names)
        if self.has_cell:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise self.error(
                    f"expected the {what} as a pair (h, c) of arrays of shape "
                    f"(num_layers, N, H) = {shape}, got {type(state).__name__}"
                )
        else:
            state = [state]
        arrays = []
        for name, array in zip(names, state):
            array = self.as_input(array, what=f"{what} {name}")
            if array.shape != shape:
                raise self.error(
                    f"expected the {what} {name} of shape (num_layers, N, H) = {shape}, "
                    f"got {array.shape}"
                )
            arrays.append(array)
        return arrays

    # ----- forward ---------------------------------------------------------------------------
    def __call__(self, x, state=None):
        return self.forward(x, state)

    def forward(self, x, state=None):
        x = self.as_input(x)
        self.check_ndim(x, 3, self.layout().format(self.input_size))
        if x.shape[2] != self.input_size:
            raise self.error(
                f"expected input of shape {self.layout().format(self.input_size)}, got "
                f"{x.shape}: {x.shape[2]} features instead of {self.input_size}"
            )
        steps, batch = (x.shape[1], x.shape[0]) if self.batch_first else x.shape[:2]
        if steps < 1 or batch < 1:
            raise self.error(f"expected at least one step and one sequence, got {x.shape}")
        if self.batch_first:  # the kernels work time-major: a step is one (N, I) block
            x_steps = self.buffer("x_steps", (steps, batch, self.input_size))
            self.kernels.swap_batch_time(x, x_steps)
            x = x_steps
        initial = self.state_arrays(state, batch, "initial state")
        size, rows = self.hidden_size, self.gates * self.hidden_size
        # every layer's h_0 (and c_0) first: ``state`` may be the final_state buffers
        for layer in range(self.num_layers):
            for name, array in zip(("h", "c"), initial):
                sequence = self.buffer(f"{name}_l{layer}", (steps + 1, batch, size))
                self.backend.copy_into(sequence[0], array[layer])
                self.saved[f"{name}_l{layer}"] = sequence
            if self.kept:
                self.saved[f"gates_l{layer}"] = self.buffer(
                    f"gates_l{layer}", (steps, batch, self.kept * size)
                )
        gi = self.buffer("gi", (steps, batch, rows))
        gh = self.buffer("gh", (batch, rows))
        inputs = x
        for layer in range(self.num_layers):
            self.saved[f"x_l{layer}"] = inputs
            self.sequence_forward(inputs, gi, gh, layer)
            inputs = self.saved[f"h_l{layer}"][1:]
        self._keep_final_state(steps)
        self.saved["steps"], self.saved["batch"] = steps, batch
        if not self.batch_first:
            return inputs
        y = self.buffer("y", (batch, steps, size))
        self.kernels.swap_batch_time(inputs, y)
        return y

    def _keep_final_state(self, steps):
        """h_n (and c_n), (num_layers, N, H) each: every layer's state after the last step."""
        for name in ("h", "c") if self.has_cell else ("h",):
            sequences = [self.saved[f"{name}_l{layer}"] for layer in range(self.num_layers)]
            final = self.buffer(f"{name}_n", (self.num_layers, *sequences[0].shape[1:]))
            for layer, sequence in enumerate(sequences):
                self.backend.copy_into(final[layer], sequence[steps])
            self.saved[f"{name}_n"] = final

    @property
    def final_state(self):
        """h_n (LSTM: the pair (h_n, c_n)) of the last forward, (num_layers, N, H) each."""
        return self._state_pair("h_n", "c_n", "forward")

    @property
    def state_grad(self):
        """∂L/∂h_0 (LSTM: the pair (∂L/∂h_0, ∂L/∂c_0)) of the last backward."""
        return self._state_pair("dh_0", "dc_0", "backward")

    def _state_pair(self, h_name, c_name, where):
        names = (h_name, c_name) if self.has_cell else (h_name,)
        if not all(name in self.saved for name in names):
            raise self.error(f"no {h_name} yet: run {where} first")
        arrays = tuple(self.saved[name] for name in names)
        return arrays if self.has_cell else arrays[0]

    # ----- backward --------------------------------------------------------------------------
    def backward(self, dy, need_dx=True, final_state_grad=None):
        """BPTT: dy (the output's shape) is ∂L/∂y at every step; final_state_grad, if given, is
        ∂L/∂h_n (LSTM: the pair). Fills grads and ``state_grad``; returns dx (None if not
        need_dx)."""
        steps, batch = self.saved_for_backward("steps", "batch")
        size, rows = self.hidden_size, self.gates * self.hidden_size
        y_shape = (batch, steps, size) if self.batch_first else (steps, batch, size)
        dy = self.as_grad(dy, y_shape)
        if self.batch_first:
            dy_steps = self.buffer("dy_steps", (steps, batch, size))
            self.kernels.swap_batch_time(dy, dy_steps)
            dy = dy_steps
        finals = self.state_arrays(final_state_grad, batch, "final state grad")
        state_grads = [
            self.buffer(name, (self.num_layers, batch, size))
            for name in ("dh_0", "dc_0")[: len(finals)]
        ]
        dgi = self.buffer("dgi", (steps, batch, rows))
        dgh = self.buffer("dgh", (steps, batch, rows)) if self.separate_dgh else dgi
        # what reaches each h_t through W_hh (and the carried gradient), the last from beyond
        dh = self.buffer("dh_chain", (steps + 1, batch, size))
        carry = self.buffer("carry_chain", (steps + 1, batch, size)) if self.carries else None
        for layer in reversed(range(self.num_layers)):
            self.backend.copy_into(dh[steps], finals[0][layer])
            if self.carries:  # LSTM: ∂L/∂c_n; GRU: nothing yet went straight through z
                last = finals[1][layer] if self.has_cell else self.zeros("zero_step", (batch, size))
                self.backend.copy_into(carry[steps], last)
            # the first layer's dx is never needed inside; the layers above need theirs
            dx = self.buffer(f"dx_l{layer}", self.saved[f"x_l{layer}"].shape)
            self.sequence_backward(dy, dgi, dgh, dh, carry, dx, need_dx or layer > 0, layer)
            self._store_state_grads(state_grads, layer, dh[0], carry[0] if self.carries else None)
            if self.keep_step_grads:
                step_grads = self.buffer(f"dh_l{layer}", (steps, batch, size))
                self._keep_step_grads(dy, dh[1:], carry[1:] if self.carries else None, step_grads)
                self.saved[f"dh_l{layer}"] = step_grads
            dy = dx
        self.saved.update(zip(("dh_0", "dc_0"), state_grads))
        if not need_dx:
            return None
        if not self.batch_first:
            return dy
        dx = self.buffer("dx", (batch, steps, self.input_size))
        self.kernels.swap_batch_time(dy, dx)
        return dx

    def _keep_step_grads(self, dy, dh_through_w, carry, dh):
        """dh = ∂L/∂h_t of every step (T, N, H): the loss's gradient at each output + what the
        next step sent back through W_hh (GRU adds ``carry``, what went straight through z)."""
        self.kernels.add(dy.reshape(-1), dh_through_w.reshape(-1), dh.reshape(-1))

    def _store_state_grads(self, state_grads, layer, dh_through_w, carry):
        """∂L/∂h_0 of ``layer`` (and ∂L/∂c_0) from what step 0 sent back."""
        self.backend.copy_into(state_grads[0][layer], dh_through_w)
        if self.has_cell:
            self.backend.copy_into(state_grads[1][layer], carry)

    # ----- description -----------------------------------------------------------------------
    # ----- what the inspector shows: the layer unrolled in time ------------------------------
    def keep_for_views(self):
        self.keep_step_grads = True

    def views(self, phase, tensors):
        """The common views, the input drawn as one picture per sequence (steps down, features
        across: a digit read row by row looks like the digit), and the layer unrolled in
        time."""
        views = super().views(phase, tensors)
        for view in views:
            if phase == "forward" and view.title == "input" and np.ndim(view.data) == 3:
                sequences = view.data if self.batch_first else view.data.transpose(1, 0, 2)
                view.title = "input: each sequence, steps down × features across"
                view.data, view.options = sequences, {"image": True}
        return views + (self.time_views(phase) if tensors else [])

    def time_views(self, phase):
        """The layer unrolled in time: beside the forward pass, the top layer's states h_t (and
        LSTM's c_t) and its gate means over the steps; beside the backward pass, ‖∂L/∂h_t‖ per
        step (BPTT), where ``keep_step_grads`` kept them."""
        if phase == "forward":
            views = [View("unrolled (first sequence)", self.unrolled_states(), "states")]
            if self.gate_names:
                views.append(View("gates: mean over units", self.gate_means(), "curves"))
            return views
        if "dh_l0" not in self.saved:
            return []
        return [View("BPTT: ‖∂L/∂h_t‖ per step", self.step_grad_norms(), "curves", {"log": True})]

    def unrolled_states(self):
        """{title: (T, H) host array}: h_1 … h_T of the top stacked layer for the first sequence
        of the batch (the saved sequence starts at h_0), and LSTM's c_t likewise."""
        top = self.num_layers - 1
        names = ("h", "c") if self.has_cell else ("h",)
        # whole arrays to the host, then sliced: a strided slice of a GPU array does not copy
        return {
            f"{name}_t": self.backend.to_host(self.saved[f"{name}_l{top}"])[1:, 0]
            for name in names
        }

    def gate_means(self):
        """{gate: (T,) host array}: each gate of the top stacked layer averaged over its H units
        at every step, first sequence of the batch (LSTM i, f, g, o; GRU r, z, n; a plain RNN
        has none)."""
        if not self.gate_names:
            return {}
        gates = self.backend.to_host(self.saved[f"gates_l{self.num_layers - 1}"])[:, 0]
        size = self.hidden_size
        return {
            name: gates[:, k * size : (k + 1) * size].mean(axis=1)
            for k, name in enumerate(self.gate_names)
        }

    def step_grad_norms(self):
        """{"layer k": (T,) host array}: ‖∂L/∂h_t‖ over the batch at every step t of the last
        backward, for each stacked layer (kept there by ``keep_step_grads``)."""
        norms = {}
        for k in range(self.num_layers):
            dh = self.backend.to_host(self.saved[f"dh_l{k}"])
            norms[f"layer {k}"] = np.sqrt((dh.astype(np.float64) ** 2).sum(axis=(1, 2)))
        return norms

    def config(self):
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bias": self.bias,
            "batch_first": self.batch_first,
        }

    def __repr__(self):
        extras = [f"num_layers={self.num_layers}"] if self.num_layers > 1 else []
        extras += [] if self.bias else ["bias=False"]
        extras += ["batch_first=True"] if self.batch_first else []
        extras += self.repr_extras()
        body = ", ".join([f"{self.input_size}→{self.hidden_size}", *extras])
        return f"{type(self).__name__}({body})"

    def repr_extras(self):
        return []


class RNN(_Recurrent):
    """Elman recurrent network, as torch.nn.RNN:

    h_t = f(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh),  f = tanh or relu (``nonlinearity``)
    (kernels: ``rnn_sequence_forward`` / ``rnn_sequence_backward``, each step a GEMM and
    ``rnn_cell_forward`` / ``rnn_cell_backward``)
    Input shape:  (T, N, input_size), or (N, T, input_size) with batch_first
    Output shape: (T, N, hidden_size) (N, T, … with batch_first): the top layer's h_t
    Params: weight_ih_l{k} (H, in), weight_hh_l{k} (H, H), bias_ih_l{k}, bias_hh_l{k} (H,).
    State: h (num_layers, N, H): ``forward(x, state)``, ``final_state``, ``state_grad``.
    """

    def __init__(
        self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
        batch_first=False,
    ):  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first)

    @property
    def formula(self):
        return {
            "forward": f"h_t = {self.nonlinearity}(x_t·W_ihᵀ + b_ih + h_t−1·W_hhᵀ + b_hh)",
            "backward": f"da = (dy_t + dh_t)·{self.nonlinearity}′;  dh_t−1 = da·W_hh;  "
            "dW_hh = Σ_t daᵀ·h_t−1,  dW_ih = Σ_t daᵀ·x_t",
        }

    def activation(self):
        return EPILOGUES[self.nonlinearity], self.dtype.type(0)

    def sequence_forward(self, x, gi, gh, layer):
        w_ih, b_ih, w_hh, b_hh = self.parameters_of(layer)
        h = self.saved[f"h_l{layer}"]
        self.kernels.rnn_sequence_forward(x, w_ih, b_ih, w_hh, b_hh, *self.activation(), h, gi, gh)

    def sequence_backward(self, dy, dgi, dgh, dh, carry, dx, need_dx, layer):
        w_ih, w_hh, *grads = self.gradients_of(layer)
        x, h = self.saved[f"x_l{layer}"], self.saved[f"h_l{layer}"]
        self.kernels.rnn_sequence_backward(
            x, w_ih, w_hh, h, dy, *self.activation(), dgi, dh, dx, *grads, need_dx
        )

    def config(self):
        return super().config() | {"nonlinearity": self.nonlinearity}

    def repr_extras(self):
        return ["relu"] if self.nonlinearity == "relu" else []


class LSTM(_Recurrent):
    """Long short-term memory, as torch.nn.LSTM (gate order i, f, g, o):

    i, f, o = σ(·), g = tanh(·) of x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh (one block each)
    c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
    (kernels: ``lstm_sequence_forward`` / ``lstm_sequence_backward``, each step a GEMM and
    ``lstm_cell_forward`` / ``lstm_cell_backward``)
    Input shape:  (T, N, input_size), or (N, T, input_size) with batch_first
    Output shape: (T, N, hidden_size) (N, T, … with batch_first): the top layer's h_t
    Params: weight_ih_l{k} (4H, in), weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H,).
    State: the pair (h, c), each (num_layers, N, H).
    """

    gates, kept, has_cell, carries = 4, 4, True, True
    gate_names = ("i", "f", "g", "o")
    formula = {
        "forward": "i,f,g,o = σ,σ,tanh,σ(x_t·W_ihᵀ + h_t−1·W_hhᵀ + b);  c_t = f⊙c_t−1 + i⊙g;  "
        "h_t = o⊙tanh(c_t)",
        "backward": "dc_t = dc_t+1·f + dh_t·o·tanh′(c_t);  da = (dc·g, dc·c_t−1, dc·i, "
        "dh·tanh c)·gate′;  dh_t−1 = da·W_hh",
    }

    def sequence_forward(self, x, gi, gh, layer):
        h, c, gates = (self.saved[f"{name}_l{layer}"] for name in ("h", "c", "gates"))
        self.kernels.lstm_sequence_forward(x, *self.parameters_of(layer), h, c, gates, gi, gh)

    def sequence_backward(self, dy, dgi, dgh, dh, carry, dx, need_dx, layer):
        w_ih, w_hh, *grads = self.gradients_of(layer)
        x, h, c, gates = (self.saved[f"{name}_l{layer}"] for name in ("x", "h", "c", "gates"))
        self.kernels.lstm_sequence_backward(
            x, w_ih, w_hh, h, c, gates, dy, dgi, dh, carry, dx, *grads, need_dx
        )


class GRU(_Recurrent):
    """Gated recurrent unit, as torch.nn.GRU (gate order r, z, n):

    r, z = σ(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (their blocks)
    n = tanh(x_t W_inᵀ + b_in + r ⊙ (h_{t−1} W_hnᵀ + b_hn)),   h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
    (kernels: ``gru_sequence_forward`` / ``gru_sequence_backward``, each step a GEMM and
    ``gru_cell_forward`` / ``gru_cell_backward``)
    Input shape:  (T, N, input_size), or (N, T, input_size) with batch_first
    Output shape: (T, N, hidden_size) (N, T, … with batch_first): the top layer's h_t
    Params: weight_ih_l{k} (3H, in), weight_hh_l{k} (3H, H), bias_ih_l{k}, bias_hh_l{k} (3H,).
    State: h (num_layers, N, H).
    """

    gates, kept, separate_dgh, carries = 3, 4, True, True
    gate_names = ("r", "z", "n")  # saved gates hold gh_n after them (backward's ∂n/∂r)
    formula = {
        "forward": "r,z = σ(x_t·W_ihᵀ + h_t−1·W_hhᵀ + b);  n = tanh(x_t·W_inᵀ + b_in + "
        "r⊙(h_t−1·W_hnᵀ + b_hn));  h_t = (1−z)⊙n + z⊙h_t−1",
        "backward": "dh_t−1 = dh_t⊙z + dgh·W_hh;  dW_hh = Σ_t dghᵀ·h_t−1,  dW_ih = Σ_t dgiᵀ·x_t",
    }

    def sequence_forward(self, x, gi, gh, layer):
        h, gates = self.saved[f"h_l{layer}"], self.saved[f"gates_l{layer}"]
        self.kernels.gru_sequence_forward(x, *self.parameters_of(layer), h, gates, gi, gh)

    def sequence_backward(self, dy, dgi, dgh, dh, carry, dx, need_dx, layer):
        w_ih, w_hh, *grads = self.gradients_of(layer)
        x, h, gates = (self.saved[f"{name}_l{layer}"] for name in ("x", "h", "gates"))
        self.kernels.gru_sequence_backward(
            x, w_ih, w_hh, h, gates, dy, dgi, dgh, dh, carry, dx, *grads, need_dx
        )

    def _keep_step_grads(self, dy, dh_through_w, carry, dh):
        super()._keep_step_grads(dy, dh_through_w, carry, dh)
        self.kernels.add(dh.reshape(-1), carry.reshape(-1), dh.reshape(-1))

    def _store_state_grads(self, state_grads, layer, dh_through_w, carry):
        """∂L/∂h_0 = what went back through W_hh + what went straight through z."""
        flat = (dh_through_w.reshape(-1), carry.reshape(-1), state_grads[0][layer].reshape(-1))
        self.kernels.add(*flat)
