"""The inspector: a training step in Jupyter, one event at a time, with every tensor in view.

    from numbanet.widgets import Inspector
    Inspector(model, loss_fn, optimizer, (x, y))

It is a thin view over ``numbanet.debug.Stepper``: the buttons call the stepper, and every
change redraws the network row, the event's figures, the layer's formula and the tables.
"""

import html

import ipywidgets as w
import numpy as np

from numbanet.debug import Stepper, update_terms
from numbanet.layers.recurrent import GRU, LSTM, RNN
from numbanet.gradcheck import gradcheck
from numbanet.widgets import views

RECURRENT = (RNN, LSTM, GRU)
CURRENT = "#ffe08a"  # the layer of the current event
DONE = "#e8f1fb"  # layers this phase has already passed


class Inspector:
    """Step through training layer by layer: forward, loss, backward, optimizer update.

    model, loss_fn, optimizer: what trains; data: (x, y) arrays, a Dataset or a DataLoader.
    Other keyword arguments go to ``numbanet.debug.Stepper`` (batch_size, explode, vanish, ...).
    Recurrent layers are drawn unrolled in time; they are set to keep ∂L/∂h_t of every step
    (``keep_step_grads``) for the BPTT view.
    """

    def __init__(self, model, loss_fn, optimizer, data, batch_size=64, **stepper_options):
        self.stepper = Stepper(model, loss_fn, optimizer, data, batch_size, **stepper_options)
        self.layers = self.stepper.layers
        for layer in model.modules():
            if isinstance(layer, RECURRENT):
                layer.keep_step_grads = True
        self.buttons = {
            "back": w.Button(description="◀ back", tooltip="undo the last event"),
            "step": w.Button(description="step ▶", tooltip="one event", button_style="primary"),
            "phase": w.Button(description="phase ▶▶", tooltip="to the end of this phase"),
            "step_all": w.Button(description="whole step", tooltip="to the end of the step"),
            "next_batch": w.Button(description="next batch"),
            "run": w.Button(description="run N steps"),
            "reset": w.Button(description="reset", button_style="warning"),
            "gradcheck": w.Button(description="gradient check", tooltip="this layer, float64"),
        }
        self.n_steps = w.BoundedIntText(value=10, min=1, max=100_000, layout=w.Layout(width="80px"))
        self.slider = w.IntSlider(
            min=-1,
            max=self.stepper.n_events - 1,
            value=-1,
            description="event",
            continuous_update=False,
        )
        self.header = w.HTML()
        self.network = w.HTML()
        self.formula = w.HTML()
        self.status = w.HTML()
        self.figure = w.Image(format="png")
        self.side_figure = w.Image(format="png")
        self.unrolled_figure = w.Image(format="png")  # a recurrent layer, step by step
        self.details = w.HTML()
        self.terms_figure = w.Image(format="png")
        self.gradcheck_result = w.HTML()
        actions = {
            "back": self.stepper.back,
            "step": self.stepper.step,
            "phase": self.stepper.run_to_phase_end,
            "step_all": self.stepper.run_step,
            "next_batch": self.stepper.next_batch,
            "run": lambda: self.stepper.run_steps(self.n_steps.value),
            "reset": self.stepper.reset,
            "gradcheck": self.check_gradient,
        }
        for name, button in self.buttons.items():
            button.on_click(lambda _, act=actions[name]: self._act(act))
        self.slider.observe(self._on_slider, names="value")
        b = self.buttons
        controls = w.HBox(
            [
                b["back"],
                b["step"],
                b["phase"],
                b["step_all"],
                b["next_batch"],
                b["run"],
                self.n_steps,
                b["reset"],
            ]
        )
        self.widget = w.VBox(
            [
                self.header,
                controls,
                self.slider,
                self.network,
                self.formula,
                self.status,
                w.HBox([self.figure, self.side_figure]),
                self.unrolled_figure,
                self.details,
                self.terms_figure,
                w.HBox([b["gradcheck"], self.gradcheck_result]),
            ]
        )
        self.render()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ----- actions ---------------------------------------------------------------------------
    def _act(self, action):
        if action is not self.check_gradient:
            self.gradcheck_result.value = ""
        action()
        self.render()

    def _on_slider(self, change):
        if change["new"] != self.stepper.position:
            self.stepper.goto(change["new"])
            self.render()

    def check_gradient(self):
        """Analytic against finite-difference gradients (float64) for the current layer."""
        event = self.stepper.event
        layer = event.layer if event is not None else None
        if layer is None or "x" not in layer.saved:
            self.gradcheck_result.value = "<i>step to a layer's forward pass first</i>"
            return None
        x = layer.backend.to_host(layer.saved["x"][:4]).astype(np.float64)
        errors = gradcheck(layer, x, max_entries=24)
        color = {True: "green", False: "red"}
        rows = "".join(
            f"<tr><td>{name}</td><td style='color:{color[e < 1e-6]}'>{e:.2e}</td></tr>"
            for name, e in errors.items()
        )
        self.gradcheck_result.value = (
            f"<b>{html.escape(layer.name)}</b>: max relative error, analytic vs central "
            f"differences (float64, ≤24 entries per tensor, 4 samples)<table>{rows}</table>"
        )
        return errors

    # ----- drawing ---------------------------------------------------------------------------
    def render(self):
        """Redraw everything for the stepper's current event."""
        s = self.stepper
        event = s.event
        self.slider.max = s.n_events - 1
        self.slider.value = s.position
        where = f"{event.phase}: {html.escape(event.name)}" if event else "start of the step"
        self.header.value = (
            f"<b>numbanet inspector</b> — step {s.step_count + 1}, "
            f"event {s.position + 1}/{s.n_events} — {where}"
        )
        self.network.value = self._network_html(event)
        self.formula.value = self._formula_html(event)
        self.status.value = (
            f"<span style='color:#b00020'><b>stopped:</b> {html.escape(str(s.anomaly))}</span>"
            if s.anomaly
            else ""
        )
        self._show(self.terms_figure, None)
        self._show(self.side_figure, None)
        self._show(self.unrolled_figure, None)
        self.details.value = ""
        if event is None:
            self._show(self.figure, views.loss_figure(s.losses, s.penalties))
            return
        tensors = event.tensors()
        weights = None
        if event.phase == "forward" and event.layer.params:  # unchanged until its update event
            weights = {k: event.layer.backend.to_host(v) for k, v in event.layer.params.items()}
        extras = layer_extras(event.layer) if event.phase == "forward" else {}
        self._show(self.figure, views.event_figure(event, tensors, weights, extras))
        if event.phase == "update":
            terms = update_terms(self.stepper.optimizer, event)
            self.details.value = self._terms_html(terms)
            self._show(self.terms_figure, views.terms_figure(next(iter(terms.values()))))
        elif event.phase == "backward":
            self._show(self.side_figure, views.gradient_flow_figure(self._grad_norms()))
        else:
            self._show(self.side_figure, views.loss_figure(s.losses, s.penalties))
        if isinstance(event.layer, RECURRENT) and event.phase in ("forward", "backward"):
            self._show(self.unrolled_figure, recurrent_figure(event.layer, event.phase))

    @staticmethod
    def _show(image, fig):
        """Put the figure in the image widget as PNG, or hide the widget for None."""
        image.value = views.png(fig) if fig is not None else b""
        image.layout.display = None if fig is not None else "none"

    def _network_html(self, event):
        boxes = []
        shapes = {
            e.index: e.shapes().get("output") for e in self.stepper.events if e.phase == "forward"
        }
        for index, layer in enumerate(self.layers):
            current = event is not None and event.index == index and event.phase != "loss"
            color = CURRENT if current else "white"
            params = layer.num_params()
            boxes.append(
                f"<div style='display:inline-block;border:1px solid #888;border-radius:4px;"
                f"padding:4px 6px;margin:2px;background:{color};font-size:11px' "
                f"data-layer='{index}' class='nn-layer{' nn-current' if current else ''}'>"
                f"<b>{html.escape(layer.name)}</b><br>out {shapes.get(index) or '–'}<br>"
                f"{params:,} params</div>"
            )
        loss_color = CURRENT if event is not None and event.phase == "loss" else "white"
        boxes.append(
            f"<div style='display:inline-block;border:1px dashed #888;border-radius:4px;"
            f"padding:4px 6px;margin:2px;background:{loss_color};font-size:11px'>"
            f"<b>{html.escape(repr(self.stepper.loss_fn))}</b></div>"
        )
        arrow = " ← " if event is not None and event.phase in ("backward", "update") else " → "
        direction = "gradients flow right to left" if arrow == " ← " else "data flows left to right"
        return f"<div>{arrow.join(boxes)}</div><small>{direction}</small>"

    def _formula_html(self, event):
        if event is None:
            return ""
        if event.phase == "loss":
            text = self.stepper.loss_fn.formula
        elif event.phase == "update":
            text = self.stepper.optimizer.formula
        else:
            text = event.layer.formula.get(event.phase, "")
        return f"<code style='font-size:13px'>{html.escape(text)}</code>" if text else ""

    def _grad_norms(self):
        return {key: float(np.linalg.norm(g)) for key, g in self.stepper.model.grad_dict().items()}

    def _terms_html(self, all_terms):
        parts = []
        optimizer = self.stepper.optimizer
        for param, terms in all_terms.items():
            rows = "".join(
                f"<tr><td>{html.escape(name)}</td><td>{np.abs(a).mean():.3e}</td>"
                f"<td>{np.abs(a).max():.3e}</td><td>{np.linalg.norm(a):.3e}</td></tr>"
                for name, a in terms.items()
            )
            parts.append(
                f"<b>{param}</b> (lr {optimizer.lr:g})<table><tr><th>term</th><th>mean |·|</th>"
                f"<th>max |·|</th><th>norm</th></tr>{rows}</table>"
            )
        return "<div style='display:flex;gap:24px'>" + "".join(parts) + "</div>"


def layer_extras(layer):
    """{title: host array} of what a layer keeps beyond its params, drawn beside its forward
    pass: a Dropout's mask, a BatchNorm's running statistics (its ``state``)."""
    extras = {}
    if "mask" in layer.saved:
        extras["dropout mask (1 = kept)"] = layer.backend.to_host(layer.saved["mask"])
    for name, value in layer.state.items():
        if value.ndim == 1:
            extras[name.replace("_", " ")] = layer.backend.to_host(value)
    return extras


def recurrent_figure(layer, phase):
    """A recurrent layer unrolled in time: beside its forward, the top layer's h_t (and LSTM's
    c_t) and gate means of the first sequence; beside its backward, ‖∂L/∂h_t‖ per step."""
    if phase == "backward":
        return views.bptt_figure(step_grad_norms(layer))
    return views.unrolled_figure(layer.name, unrolled_states(layer), gate_means(layer))


def unrolled_states(layer):
    """{title: (T, H) host array}: h_1 … h_T of the top stacked layer for the first sequence of
    the batch (the saved sequence starts at h_0), and LSTM's c_t likewise."""
    top = layer.num_layers - 1
    names = ("h", "c") if layer.has_cell else ("h",)
    # whole arrays to the host, then sliced: a strided slice of a GPU array does not copy
    return {
        f"{name}_t": layer.backend.to_host(layer.saved[f"{name}_l{top}"])[1:, 0] for name in names
    }


def gate_means(layer):
    """{gate: (T,) host array}: each gate of the top stacked layer averaged over its H units at
    every step, first sequence of the batch (LSTM i, f, g, o; GRU r, z, n; a plain RNN has
    none)."""
    if not layer.gate_names:
        return {}
    gates = layer.backend.to_host(layer.saved[f"gates_l{layer.num_layers - 1}"])[:, 0]
    size = layer.hidden_size
    return {
        name: gates[:, k * size : (k + 1) * size].mean(axis=1)
        for k, name in enumerate(layer.gate_names)
    }


def step_grad_norms(layer):
    """{"layer k": (T,) host array}: ‖∂L/∂h_t‖ over the batch at every step t of the last
    backward, for each stacked layer (kept there by ``keep_step_grads``)."""
    norms = {}
    for k in range(layer.num_layers):
        dh = layer.backend.to_host(layer.saved[f"dh_l{k}"])
        norms[f"layer {k}"] = np.sqrt((dh.astype(np.float64) ** 2).sum(axis=(1, 2)))
    return norms
