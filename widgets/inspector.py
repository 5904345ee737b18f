"""The inspector: a training step in Jupyter, one event at a time, with every tensor in view.

    from numbanet.widgets import Inspector
    Inspector(model, loss_fn, optimizer, (x, y))

It is a thin view over ``numbanet.debug.Stepper``: the buttons call the stepper, and every
change redraws the network row, the event's figures, the layer's formula and the tables.
"""

import html

import ipywidgets as w
import numpy as np

from numbanet.debug import Stepper, inside, update_terms
from numbanet.gradcheck import gradcheck
from numbanet.layers.base import View
from numbanet.widgets import views

CURRENT = "#ffe08a"  # the layer of the current event


class Inspector:
    """Step through training layer by layer: forward, loss, backward, optimizer update.

    model, loss_fn, optimizer: what trains; data: (x, y) arrays, a Dataset or a DataLoader.
    program: instead of the first three, any ``numbanet.steps.StepProgram`` (a step over
    several models, a GAN's); every model it names is drawn, the active one marked.
    Other keyword arguments go to ``numbanet.debug.Stepper`` (batch_size, explode, vanish, ...).
    What each event shows comes from its layer (``layer.views``): a recurrent layer is drawn
    unrolled in time, a Dropout with its mask, and so on.
    """

    def __init__(
        self, model=None, loss_fn=None, optimizer=None, data=None, batch_size=64, program=None,
        **stepper_options,
    ):  # fmt: skip
        self.stepper = Stepper(
            model, loss_fn, optimizer, data, batch_size, program=program, **stepper_options
        )
        self.program = self.stepper.program
        for each in self.program.models.values():
            for layer in each.modules():
                layer.keep_for_views()
        self.buttons = {
            "back": w.Button(description="◀ back", tooltip="undo the last event"),
            "step": w.Button(
                description="step ▶", tooltip="one event (into blocks)", button_style="primary"
            ),
            "over": w.Button(description="over ⤼", tooltip="the next layer or block as one"),
            "out": w.Button(description="out ⤴", tooltip="to the end of this block"),
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
        self.unrolled_figure = w.Image(format="png")  # views over time: a recurrent layer's
        self.details = w.HTML()
        self.terms_figure = w.Image(format="png")
        self.gradcheck_result = w.HTML()
        actions = {
            "back": self.stepper.back,
            "step": self.stepper.step,
            "over": self.stepper.step_over,
            "out": self.stepper.step_out,
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
            [b[name] for name in ("back", "step", "over", "out", "phase", "step_all")]
            + [b["next_batch"], b["run"], self.n_steps, b["reset"]],
            layout=w.Layout(flex_flow="row wrap"),
        )
        self.widget = w.VBox(
            [
                self.header,
                controls,
                self.slider,
                self.network,
                self.formula,
                self.status,
                w.HBox([self.figure, self.side_figure], layout=w.Layout(flex_flow="row wrap")),
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
        """Analytic against finite-difference gradients (float64) for the layer of the current
        event (or the loss), on the first samples of the input it had in this step's forward."""
        event = self.stepper.event
        if event is None:
            self.gradcheck_result.value = "<i>step to a layer first</i>"
            return None
        if event.phase == "loss":
            tensors = event.tensors()
            errors = gradcheck(event.layer, tensors["prediction"][:4], tensors["target"][:4])
        else:
            x = self._forward_input(event)
            if x is None:
                self.gradcheck_result.value = "<i>this layer has not run forward in this step</i>"
                return None
            errors = gradcheck(event.layer, x[:4], max_entries=24)
        color = {True: "green", False: "red"}
        rows = "".join(
            f"<tr><td>{name}</td><td style='color:{color[e < 1e-6]}'>{e:.2e}</td></tr>"
            for name, e in errors.items()
        )
        self.gradcheck_result.value = (
            f"<b>{html.escape(event.name)}</b>: max relative error, analytic vs central "
            f"differences (float64, ≤24 entries per tensor, 4 samples)<table>{rows}</table>"
        )
        return errors

    def _forward_input(self, event):
        """The input the event's layer (or block) had in this step's forward: the input of the
        first forward event at or inside its path, in its model."""
        for earlier in self.stepper.events:
            if (earlier.phase, earlier.model) == ("forward", event.model) and inside(
                earlier.path, event.path
            ):
                return earlier.tensors()["input"]
        return None

    # ----- drawing ---------------------------------------------------------------------------
    def render(self):
        """Redraw everything for the stepper's current event."""
        s = self.stepper
        event = s.event
        self.slider.max = s.n_events - 1
        self.slider.value = s.position
        where = f"{event.phase}: {html.escape(event.name)}" if event else "start of the step"
        if event is not None and len(self.program.models) > 1:
            where = f"{html.escape(event.model)} · {event.part or event.phase} — {where}"
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
        if event.phase in ("forward", "backward"):
            shown = event.layer.views(event.phase, tensors)
        elif event.phase == "loss":
            shown = loss_views(tensors)
        else:
            shown = update_views(tensors)
        panels = [view for view in shown if view.kind in views.PANELS]
        over_time = [view for view in shown if view.kind not in views.PANELS]
        self._show(self.figure, views.event_figure(event.name, panels))
        if over_time:
            self._show(self.unrolled_figure, views.time_figure(event.name, over_time))
        if event.phase == "update":
            terms = update_terms(self.program.optimizers[event.model], event)
            self.details.value = self._terms_html(terms, self.program.optimizers[event.model])
            self._show(self.terms_figure, views.terms_figure(next(iter(terms.values()))))
        elif event.phase == "backward":
            model = self.program.models[event.model]
            self._show(self.side_figure, views.gradient_flow_figure(grad_norms(model)))
        else:
            self._show(self.side_figure, views.loss_figure(s.losses, s.penalties))

    @staticmethod
    def _show(image, fig):
        """Put the figure in the image widget as PNG, or hide the widget for None."""
        image.value = views.png(fig) if fig is not None else b""
        image.layout.display = None if fig is not None else "none"

    def _network_html(self, event):
        """Each model as a row of boxes, one per layer; a block's box holds its layers' boxes,
        so the current event is marked at whatever depth it is."""
        shapes = {
            (e.model, e.path): e.shapes().get("output")
            for e in self.stepper.events
            if e.phase == "forward"
        }
        current = (event.model, event.path) if event is not None and event.phase != "loss" else None
        rows = []
        for name, model in self.program.models.items():
            children = model.named_children() if type(model).__name__ == "Sequential" else []
            top = [(str(key), layer) for key, layer in children] or [("", model)]
            boxes = [self._box(name, path, layer, shapes, current) for path, layer in top]
            for loss_name, loss_fn in self.program.losses.items():
                if loss_name == name:
                    active = event is not None and event.phase == "loss" and event.model == name
                    boxes.append(
                        f"<div style='display:inline-block;border:1px dashed #888;"
                        f"border-radius:4px;padding:4px 6px;margin:2px;font-size:11px;"
                        f"background:{CURRENT if active else 'white'}'>"
                        f"<b>{html.escape(repr(loss_fn))}</b></div>"
                    )
            arrow = " ← " if event is not None and event.phase in ("backward", "update") else " → "
            label = ""
            if len(self.program.models) > 1:
                active = event is not None and event.model == name
                label = f"<b>{'▶ ' if active else ''}{html.escape(name)}</b>: "
            rows.append(f"<div>{label}{arrow.join(boxes)}</div>")
        backwards = event is not None and event.phase in ("backward", "update")
        direction = "gradients flow right to left" if backwards else "data flows left to right"
        return "".join(rows) + f"<small>{direction}</small>"

    def _box(self, model_name, path, layer, shapes, current):
        """One layer's box (a block's holds its layers' boxes)."""
        here = current == (model_name, path)
        within = current is not None and current[0] == model_name and inside(current[1], path)
        color = CURRENT if here else "#fff8dc" if within else "white"
        inner = "".join(
            self._box(model_name, f"{path}.{key}" if path else key, child, shapes, current)
            for key, child in layer.named_children()
        )
        index = path.split(".")[0] if path else "0"
        marks = " nn-current" if here and "." not in path else ""
        label = html.escape(layer.label(path))
        body = (
            f"<br>{inner}"
            if inner
            else f"<br>out {shapes.get((model_name, path)) or '–'}<br>{layer.num_params():,} params"
        )
        attribute = f"data-layer='{index}' " if "." not in path else ""
        return (
            f"<div style='display:inline-block;vertical-align:top;border:1px solid #888;"
            f"border-radius:4px;padding:4px 6px;margin:2px;background:{color};font-size:11px' "
            f"{attribute}class='nn-layer{marks}'><b>{label}</b>{body}</div>"
        )

    def _formula_html(self, event):
        if event is None:
            return ""
        if event.phase == "loss":
            text = event.layer.formula
        elif event.phase == "update":
            text = self.program.optimizers[event.model].formula
        else:
            text = event.layer.formula.get(event.phase, "")
        return f"<code style='font-size:13px'>{html.escape(text)}</code>" if text else ""

    @staticmethod
    def _terms_html(all_terms, optimizer):
        parts = []
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
        return "<div style='display:flex;flex-wrap:wrap;gap:24px'>" + "".join(parts) + "</div>"


def grad_norms(model):
    """{param key: ‖gradient‖} of a model, in model order."""
    return {key: float(np.linalg.norm(g)) for key, g in model.grad_dict().items()}


def loss_views(tensors):
    """The loss event: the prediction, ∂L/∂prediction and its distribution."""
    return [
        View("prediction", tensors["prediction"]),
        View("∂L/∂prediction", tensors["grad"]),
        View("∂L/∂prediction", tensors["grad"], "histogram"),
    ]


def update_views(tensors):
    """An update event: the first param before and after its update, and the step Δ."""
    name = next(k.split(".")[0] for k in tensors)
    after = tensors[f"{name}.after"]
    before = tensors.get(f"{name}.before")
    if before is None:  # a step run without snapshots: the param as it is now
        return [View(f"{name} after", after), View(f"{name} after", after, "histogram")]
    delta = after - before
    ratio = np.linalg.norm(delta) / max(np.linalg.norm(before), 1e-30)
    return [
        View(f"{name} before", before),
        View(f"{name} after", after),
        View(f"Δ{name}, |Δ|/|{name}| = {ratio:.1e}", delta),
        View(f"Δ{name}", delta, "histogram"),
    ]


def recurrent_figure(layer, phase):
    """A recurrent layer unrolled in time (its ``time_views``): beside its forward, the top
    layer's h_t (and LSTM's c_t) and gate means of the first sequence; beside its backward,
    ‖∂L/∂h_t‖ per step."""
    return views.time_figure(layer.name, layer.time_views(phase))
