"""The inspector: a training step in Jupyter, one event at a time, with every tensor in view.

    from numbanet.widgets import Inspector
    Inspector(model, loss_fn, optimizer, (x, y))

It is a thin view over ``numbanet.debug.Stepper``: the buttons call the stepper, and every
change redraws the header, the network row, the event's pictures and tables.

How it behaves, and why:
- It fits the notebook's width: every row wraps (buttons, layer boxes, pictures, tables), and
  each picture is a tile shown at its own pixel size (``views``), so nothing is scaled up or
  needs a sideways scroll.
- Work is visible: a click disables the buttons and says what runs ("compiling … kernels,
  first time only" where that is what happens) before the work starts; clicks made on the page
  meanwhile are dropped, not replayed afterwards (``SETTLE``).
- Each event shows every tensor: pictures common to all its tensors, and one param or state
  tensor at a time, chosen with "show".
- Displayed in a notebook, it leaves beside the widget a static copy of its last drawing
  (hidden while the widget lives), so a saved or shared notebook shows what the learner saw.
"""

import asyncio
import html
import re
import time
import uuid

import ipywidgets as w
import numpy as np

from numbanet.debug import Stepper, inside, update_terms
from numbanet.gradcheck import gradcheck
from numbanet.layers.base import View, param_key
from numbanet.widgets import views

WHITESPACE_MARKS = {" ": "␣", "\n": "⏎", "\t": "⇥"}  # a visible mark for every position
CURRENT = "#ffe08a"  # the layer of the current event
TOLERANCE = 1e-6  # the gradient check passes when every relative error is at most this
SETTLE = 0.25  # seconds after long work during which clicks from the page are dropped
SAMPLES = 8  # samples in the loss event's table
# (what, layer type) already run in this process, so already compiled: the first gradient check
# of a layer type compiles its float64 kernels, and says so
_RAN = set()

STYLE = """<style>
.nn-inspector {font-size: 13px; line-height: 1.4}
.nn-inspector .nn-html {white-space: normal; overflow-wrap: anywhere; line-height: 1.4}
.nn-spin {display: inline-block; width: 11px; height: 11px; margin-right: 6px;
  border: 2px solid #888; border-top-color: transparent; border-radius: 50%;
  animation: nn-spin 0.8s linear infinite; vertical-align: -2px}
@keyframes nn-spin {to {transform: rotate(360deg)}}
.nn-table {border-collapse: collapse; font-variant-numeric: tabular-nums}
.nn-table td, .nn-table th {white-space: nowrap; padding: 1px 8px; text-align: right}
.nn-table td:first-child, .nn-table th:first-child {text-align: left}
.nn-tables {display: flex; flex-wrap: wrap; gap: 12px 28px}
.nn-tables > div {flex: 0 0 auto; max-width: 100%; overflow-x: auto}
.nn-row {display: flex; flex-wrap: wrap; align-items: center; gap: 2px}
</style>"""


class _PageButton(w.Button):
    """A button whose clicks from the page pass only while ``accepts()``: clicks made while the
    kernel works reach it after the work, and would otherwise be replayed then, one event each.
    ``click()`` from Python always runs."""

    def accepts(self):
        return True

    def _handle_button_msg(self, _, content, buffers):
        if content.get("event", "") == "click" and self.accepts():
            self.click()


class Inspector:
    """Step through training layer by layer: forward, loss, backward, optimizer update.

    model, loss_fn, optimizer: what trains; data: (x, y) arrays, a Dataset or a DataLoader.
    program: instead of the first three, any ``numbanet.steps.StepProgram`` (a step over
    several models, a GAN's); every model it names is drawn, the active one marked.
    vocab: for a model of token ids (N, T), its vocabulary (a ``CharVocab``, or a sequence of
    the tokens' strings): views over the sequence positions (attention maps) then show the
    first sequence's tokens on their axes.
    Other keyword arguments go to ``numbanet.debug.Stepper`` (batch_size, explode, vanish, ...).
    What each event shows comes from its layer (``layer.views``): a recurrent layer is drawn
    unrolled in time, a Dropout with its mask, a ReLU with the mask its gradient goes through.
    """

    def __init__(
        self, model=None, loss_fn=None, optimizer=None, data=None, batch_size=64, program=None,
        vocab=None, **stepper_options,
    ):  # fmt: skip
        self.uid = uuid.uuid4().hex[:10]
        self.vocab = vocab
        models = list(program.models.values()) if program is not None else [model]
        layers = [layer for each in models if each is not None for layer in each.modules()]
        for layer in layers:  # before the Stepper's first step, so that it compiles all
            layer.keep_for_views()
        self._displays = [_notice(layers)]  # a line while the first step runs, in a notebook
        self.stepper = Stepper(
            model, loss_fn, optimizer, data, batch_size, program=program, **stepper_options
        )
        _RAN.update(("step", type(layer).__name__) for layer in layers)
        self.program = self.stepper.program
        self._busy = self._settling = False
        self._passed_stop = None  # (step, position, text) of a stop that stepping went past
        self._loss_tile = (None, None)
        self.tiles = []  # the views.Tile of the pictures now shown
        self._build()
        self.render()

    def _with_tokens(self, shown):
        """``shown`` with the first input sequence's tokens as the tick labels of every view
        over its positions (``options["positions"]``), when the inspector has a vocab and the
        batch is token ids; whitespace drawn as ␣ and ⏎ so that every position has a mark."""
        x = np.asarray(self.stepper.batch[0])
        if self.vocab is None or not np.issubdtype(x.dtype, np.integer):
            return shown
        tokens = getattr(self.vocab, "chars", self.vocab)
        marks = [WHITESPACE_MARKS.get(tokens[i], tokens[i]) for i in x[0]]
        for view in shown:
            if view.options.get("positions"):
                view.options["labels"] = marks[: np.shape(view.data)[-1]]
        return shown

    def _build(self):
        button = {
            "back": ("◀ back", "undo the last event", ""),
            "step": ("step ▶", "one event (into blocks)", "primary"),
            "over": ("over ⤼", "the next layer or block as one", ""),
            "out": ("out ⤴", "to the end of this block", ""),
            "phase": ("phase ▶▶", "to the end of this phase", ""),
            "step_all": ("whole step", "to the end of the step", ""),
            "next_batch": ("next batch", "finish this step, stand at the next", ""),
            "run": ("run N steps", "run whole steps (stops at an anomaly)", ""),
            "reset": ("reset", "the model, optimizer and batches as at the start", "warning"),
            "gradcheck": ("gradient check", "this layer against finite differences", "info"),
        }
        self.buttons = {
            name: _PageButton(description=text, tooltip=tip, button_style=style,
                              layout=w.Layout(width="auto"))  # fmt: skip
            for name, (text, tip, style) in button.items()
        }
        s = self.stepper
        actions = {  # looked up at each click, so that a test may wrap the stepper's methods
            "back": lambda: s.back(),
            "step": lambda: s.step(),
            "over": lambda: s.step_over(),
            "out": lambda: s.step_out(),
            "phase": lambda: s.run_to_phase_end(),
            "step_all": lambda: s.run_step(),
            "next_batch": lambda: s.next_batch(),
            "run": lambda: self._run_steps(self.n_steps.value),
            "reset": lambda: s.reset(),
            "gradcheck": self.check_gradient,
        }
        for name, each in self.buttons.items():
            each.accepts = self._accepting
            each.on_click(lambda _, name=name: self._act(actions[name], self._describe(name)))
        self.n_steps = w.BoundedIntText(value=10, min=1, max=100_000, description="N",
                                        layout=w.Layout(width="130px"))  # fmt: skip
        self.n_steps.style.description_width = "16px"
        self.slider = w.IntSlider(
            min=0, max=s.n_events, value=0, description="event", continuous_update=False,
            layout=w.Layout(width="auto", max_width="640px"),
        )  # fmt: skip
        self.slider.observe(self._on_slider, names="value")
        self.header, self.status, self.check = (self._html() for _ in range(3))
        self.network, self.formula, self.details = (self._html() for _ in range(3))
        self.selector = w.Dropdown(description="show", layout=w.Layout(width="auto"))
        self.selector.style.description_width = "40px"
        self._choosing, self._drawn = False, None
        self.selector.observe(self._on_selector, names="value")
        self.images = []  # Image widgets, reused
        self.figures = w.Box(layout=w.Layout(flex_flow="row wrap", align_items="flex-start"))
        b = self.buttons
        order = ("back", "step", "over", "out", "phase", "step_all", "next_batch", "run")
        controls = w.Box(
            [b[name] for name in order] + [self.n_steps, b["reset"], b["gradcheck"]],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.widget = w.VBox(
            [self.header, self.status, controls, self.slider, self.check, self.network,
             self.formula, self.selector, self.figures, self.details],
            layout=w.Layout(max_width="100%"),
        )  # fmt: skip
        self.widget.add_class("nn-inspector")
        self.widget.add_class(f"nn-inspector-{self.uid}")

    @staticmethod
    def _html():
        widget = w.HTML(layout=w.Layout(max_width="100%"))
        widget.add_class("nn-html")
        return widget

    # ----- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        """The widget, and beside it a static copy of its last drawing (hidden while the widget
        lives: the widget's style hides it), kept up to date, which a saved notebook keeps."""
        from IPython.display import display

        display(self.widget)
        notice = self._displays[0] if self._displays else None
        if notice is not None and not getattr(notice, "adopted", False):
            notice.adopted = True
            notice.update(self.snapshot(), raw=True)
        else:
            self._displays.append(display(self.snapshot(), raw=True, display_id=True))

    def snapshot(self):
        """The inspector as last drawn, as a static output: {"text/html": the header, network,
        pictures and tables as a page; "image/png": the header and pictures as one image;
        "text/plain": the header}."""
        lines = [_text(self._header), _text(self.status.value)]
        parts = [STYLE + self._header] + [
            part.value for part in (self.status, self.check, self.network, self.formula)
        ]
        page = "".join(f"<div>{part}</div>" for part in parts)
        note = (
            "<p style='color:#666'><i>A picture of the numbanet inspector as it was last drawn."
            " To step again, run the cell (the live widget needs its kernel).</i></p>"
        )
        return {
            "text/html": f"<div id='nn-snapshot-{self.uid}' class='nn-inspector'>{page}"
            f"{views.tiles_html(self.tiles)}<div>{self.details.value}</div>{note}</div>",
            "image/png": views.composite(self.tiles, [line for line in lines if line]),
            "text/plain": " — ".join(line for line in lines if line),
        }

    def _update_displays(self):
        live = [d for d in self._displays if d is not None and getattr(d, "adopted", True)]
        if live:
            bundle = self.snapshot()
            for handle in live:
                handle.update(bundle, raw=True)

    # ----- actions ---------------------------------------------------------------------------
    def _accepting(self):
        """Whether a click from the page counts: not while working, nor just after."""
        return not self._busy and not self._settling

    def _act(self, action, what):
        """Run ``action`` with the buttons disabled and ``what`` on the status line (both reach
        the page before the work starts), then redraw."""
        if self._busy:
            return
        self._busy = True
        self.status.value = f"<span class='nn-spin'></span>{html.escape(what)}…"
        self._enable(False)
        s = self.stepper
        stop = (s.step_count, s.position, str(s.anomaly)) if s.anomaly else None
        try:
            if action is not self.check_gradient:
                self.check.value = ""
            action()
            if stop and (s.step_count, s.position) > stop[:2]:
                self._passed_stop = stop
            self.render()
        except Exception as error:
            self.status.value = (
                f"<span style='color:#b00020'><b>error:</b> {html.escape(str(error))}</span>"
            )
            raise
        finally:
            self._busy = False
            self._release()

    def _enable(self, on):
        for button in self.buttons.values():
            button.disabled = not on
        self.slider.disabled = self.selector.disabled = not on

    def _release(self):
        """Enable the buttons again; in a running kernel, only after ``SETTLE`` seconds, so that
        clicks queued while the kernel worked arrive while the buttons still refuse them."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._enable(True)
            return
        self._settling = True

        def settle():
            self._settling = False
            if not self._busy:
                self._enable(True)

        loop.call_later(SETTLE, settle)

    def _describe(self, name):
        """What a button is about to do, in words, for the status line while it works."""
        s = self.stepper
        upcoming = s.next_event
        if name == "gradcheck":
            event = s.event
            if event is None:
                return "gradient check"
            kind = type(event.layer).__name__
            if ("float64", kind) not in _RAN:
                return (
                    f"gradient check of {event.name}: compiling {kind} kernels for float64, "
                    "first time only"
                )
            return f"gradient check of {event.name} (float64 finite differences)"
        if name == "run":
            return f"running {self.n_steps.value} steps"
        if name in ("step", "over") and upcoming is not None:
            return f"{upcoming.phase} of {upcoming.name}"
        return self.buttons[name].description.strip(" ▶◀⤼⤴")

    def _run_steps(self, n):
        """Whole steps, with progress on the status line (stops at an anomaly)."""
        s = self.stepper
        shown = time.monotonic()
        for k in range(n):
            s.run_step()
            if s.anomaly:
                break
            if time.monotonic() - shown > 0.25:
                self.status.value = (
                    f"<span class='nn-spin'></span>running {n} steps: {k + 1} done, loss "
                    f"{s.losses[-1]:.4f}…"
                )
                shown = time.monotonic()

    def _on_selector(self, change):
        # the page echoes the value back when the options change: only a new choice redraws
        if not self._choosing and change["new"] != self._drawn:
            self._act(lambda: None, f"drawing {change['new']}")

    def _on_slider(self, change):
        if change["new"] != self.stepper.position + 1:
            self._act(lambda: self.stepper.goto(change["new"] - 1), f"to event {change['new']}")

    def check_gradient(self):
        """Analytic against finite-difference gradients (float64) for the layer of the current
        event (or the loss), on the first samples of the input it had in this step's forward.
        Returns {tensor: max relative error} of the gradients this step computes (not ∂L/∂x
        where backprop stops at the layer), also shown with a pass or fail against TOLERANCE."""
        event = self.stepper.event
        if event is None:
            self.check.value = "<i>gradient check: step to a layer first</i>"
            return None
        kind = type(event.layer).__name__
        if event.phase == "loss":
            tensors = event.tensors()
            errors = gradcheck(event.layer, tensors["prediction"][:4], tensors["target"][:4])
            errors = {"prediction": errors["x"]}
            skipped = ""
        else:
            x = self._forward_input(event)
            if x is None:
                self.check.value = "<i>gradient check: this layer has not run forward yet</i>"
                return None
            errors = gradcheck(event.layer, x[:4], max_entries=24)
            skipped = ""
            if "x" in errors and not self._computes_dx(event):
                del errors["x"]
                skipped = (
                    "∂L/∂x is not checked: this step's backprop never computes it here (no "
                    "earlier layer learns)."
                )
        _RAN.add(("float64", kind))
        if not errors:
            self.check.value = (
                f"<div><b>gradient check of {html.escape(event.name)}</b>: nothing to check "
                f"here: the layer has no params, and this step's backprop never computes its "
                f"∂L/∂x (no earlier layer learns).</div>"
            )
            return errors
        passed = max(errors.values()) <= TOLERANCE
        word = ("<b style='color:#1b7d2a'>✔ pass</b>" if passed
                else "<b style='color:#b00020'>✘ fail</b>")  # fmt: skip
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{e:.2e}</td>"
            f"<td>{'✔' if e <= TOLERANCE else '✘'}</td></tr>"
            for name, e in errors.items()
        )
        self.check.value = (
            f"<div><b>gradient check of {html.escape(event.name)}</b>: {word} — every max "
            f"relative error ≤ {TOLERANCE:g} passes (analytic backward against central "
            f"differences in float64, 4 samples, ≤ 24 entries per tensor). {skipped}</div>"
            f"<table class='nn-table'><tr><th>gradient of</th><th>max rel. error</th><th></th>"
            f"</tr>{rows}</table>"
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

    def _computes_dx(self, event):
        """Whether this step's backward of the event's layer gives ∂L/∂x: read off its backward
        event, running ahead to it and back (rewinding is exact) if the step is not there yet."""
        s = self.stepper

        def backward_of(e):
            return (e.phase, e.model, e.path) == ("backward", event.model, event.path)

        for earlier in s.events:
            if backward_of(earlier):
                return "dx" in earlier.shapes()
        ahead = [k for k, planned in enumerate(s.plan) if backward_of(planned)]
        if not ahead:
            return True
        here = s.position
        s.goto(ahead[0])
        computes = "dx" in s.event.shapes()
        s.goto(here)
        return computes

    # ----- drawing ---------------------------------------------------------------------------
    def render(self):
        """Redraw everything for the stepper's current event."""
        s = self.stepper
        event = s.event
        self.slider.max = s.n_events
        self.slider.value = s.position + 1
        self._header = self._header_html(event)
        self.header.value = STYLE + self._hide_snapshot_style() + self._header
        self.status.value = self._status_html()
        self.network.value = self._network_html(event)
        self.formula.value = self._formula_html(event)
        shown, side, details = self._event_views(event)
        groups = list(dict.fromkeys(v.options["group"] for v in shown if "group" in v.options))
        self._choose(groups)
        chosen = self._drawn = self.selector.value
        notes, tiles = [], []
        for view in shown:
            if view.options.get("group", chosen) != chosen:
                continue
            if view.kind == "note":
                text = f"{view.title}: {view.data}"
                notes.append(f"<div><i>{html.escape(text)}</i></div>")
            else:
                tiles += [views.render(fig, view.title) for fig in views.view_figures(view)]
        tiles += [views.render(fig, title) for title, fig in side(chosen)]
        tiles.append(self._loss_curve())
        self._show_tiles(tiles)
        self.formula.value += "".join(notes)  # above the pictures: why one is missing
        self.details.value = details
        self._update_displays()

    def _event_views(self, event):
        """(views, side figures, details html) of an event: its layer's views (or the loss's,
        or the update's), a function giving the figures beside them for the chosen group
        (gradient flow, the update's terms, the predicted probabilities) and the tables."""
        if event is None:
            return [], lambda chosen: [], ""
        tensors = event.tensors()
        if event.phase == "loss":
            shown, details, side = loss_views(event.layer, tensors, event.loss, event.penalty,
                                              getattr(event, "terms", None))  # fmt: skip
            return shown, lambda chosen: side, details
        model = self.program.models[event.model]
        flow = ("gradient flow", lambda: views.gradient_flow_figure(*self._grad_flow(event)))
        if event.phase == "forward":
            return self._with_tokens(event.layer.views("forward", tensors)), lambda c: [], ""
        if event.phase == "backward":
            return (
                self._with_tokens(event.layer.views("backward", tensors)),
                lambda chosen: [(flow[0], flow[1]())] if model.learns() else [],
                "",
            )
        optimizer = self.program.optimizers[event.model]
        terms = update_terms(optimizer, event)

        def side(chosen):
            figures = [(flow[0], flow[1]())]
            if chosen in terms:
                figures.insert(0, (f"{chosen}: update terms", views.terms_figure(terms[chosen])))
            return figures

        return update_views(tensors), side, terms_html(terms, optimizer)

    def _choose(self, groups):
        """Offer ``groups`` in the selector, keeping the choice across events where it still
        applies ("weight" at a forward is "dweight" at the backward)."""
        before = self.selector.value

        def same(a, b):
            return a is not None and b is not None and a.lstrip("d") == b.lstrip("d")

        keep = next((g for g in groups if g == before), None) or next(
            (g for g in groups if same(g, before)), None
        )
        self._choosing = True
        try:
            self.selector.options = groups
            self.selector.value = keep or (groups[0] if groups else None)
        finally:
            self._choosing = False
        self.selector.layout.display = None if groups else "none"

    def _grad_flow(self, event):
        """({param key: ‖gradient‖}, the keys backprop has reached in this step) of the event's
        model; frozen layers' params are never reached."""
        model = self.program.models[event.model]
        norms = grad_norms(model)
        done = [
            e.path
            for e in self.stepper.events
            if e.phase in ("backward", "update") and e.model == event.model
        ]
        reached = {
            param_key(prefix, name)
            for prefix, layer in model.named_modules()
            if not layer.frozen and any(inside(prefix, path) for path in done)
            for name in layer.params
        }
        return norms, reached

    def _loss_curve(self):
        """The loss curve's tile, drawn again only when the losses change."""
        key = (tuple(self.stepper.losses), tuple(self.stepper.penalties))
        if self._loss_tile[0] != key:
            figure = views.loss_figure(self.stepper.losses, self.stepper.penalties)
            self._loss_tile = (key, views.render(figure, "loss curve"))
        return self._loss_tile[1]

    def _show_tiles(self, tiles):
        """Each tile in an Image widget at its own pixel size (shrunk only where the page is
        narrower), with classes saying what it holds (for the browser test)."""
        while len(self.images) < len(tiles):
            self.images.append(w.Image(format="png"))
        for image, tile in zip(self.images, tiles):
            image.value = tile.png
            image.layout.width, image.layout.height = f"{tile.width}px", "auto"
            image.layout.max_width, image.layout.margin = "100%", "0 8px 8px 0"
            image._dom_classes = (
                "nn-tile",
                "nn-title-" + re.sub(r"[^a-z0-9]+", "-", tile.title.lower()).strip("-"),
                f"nn-heatmaps-{tile.heatmaps}",
                f"nn-colourbars-{tile.colour_bars}",
                f"nn-font-{round(tile.smallest_font * 10)}",
            )
        self.figures.children = self.images[: len(tiles)]
        self.tiles = tiles

    def _hide_snapshot_style(self):
        """CSS that hides the static copy of this inspector while the widget is on the page."""
        snap = f"#nn-snapshot-{self.uid}"
        return (
            f"<style>{snap} {{display: none}} .jp-OutputArea-child:has({snap}) "
            f"{{display: none}}</style>"
        )

    def _header_html(self, event):
        s = self.stepper
        where = f"{event.phase}: {html.escape(event.name)}" if event else "start of the step"
        if event is not None and len(self.program.models) > 1:
            where = f"{html.escape(event.model)} · {event.part or event.phase} — {where}"
        if event is not None and event.phase == "loss":
            where += f" — <b>loss {event.loss:.4f}</b>"
        return (
            f"<b>numbanet inspector</b> · step {s.step_count + 1} · "
            f"event {s.position + 1} of {s.n_events} · {where}"
        )

    def _status_html(self):
        s = self.stepper
        limits = (
            f"stops on NaN or Inf in any tensor or weight, or a gradient norm above "
            f"{s.explode:g} (explode) or below {s.vanish:g} (vanish)"
        )
        if not s.check_anomalies:
            limits = "anomaly checks are off"
        if s.anomaly:
            return (
                f"<span style='color:#b00020'><b>■ stopped:</b> {html.escape(str(s.anomaly))}"
                f"</span><br><small>{limits}; a click on step goes on past it.</small>"
            )
        passed = self._passed_stop
        if passed and passed[0] == s.step_count and s.position > passed[1]:
            return (
                f"<span style='color:#a35200'><b>▲ went on past the stop at event "
                f"{passed[1] + 1}:</b> {html.escape(passed[2])}; what follows is computed "
                f"from it.</span>"
            )
        return f"<small style='color:#555'>ready · {limits}</small>"

    def _network_html(self, event):
        """Each model as a row of boxes, one per layer, wrapping at the page's width; a block's
        box holds its layers' boxes, so the current event is marked at whatever depth it is."""
        shapes = {
            (e.model, e.path): e.shapes().get("output")
            for e in self.stepper.events
            if e.phase == "forward"
        }
        current = (event.model, event.path) if event is not None and event.phase != "loss" else None
        backwards = event is not None and event.phase in ("backward", "update")
        arrow = "<span>←</span>" if backwards else "<span>→</span>"
        rows = []
        for name, model in self.program.models.items():
            children = model.named_children() if type(model).__name__ == "Sequential" else []
            top = [(str(key), layer) for key, layer in children] or [("", model)]
            boxes = [self._box(name, path, layer, shapes, current) for path, layer in top]
            for loss_name, loss_fn in self.program.losses.items():
                if loss_name == name:
                    active = event is not None and event.phase == "loss" and event.model == name
                    boxes.append(
                        f"<div style='border:1px dashed #888;border-radius:4px;padding:4px 6px;"
                        f"margin:2px;font-size:12px;background:{CURRENT if active else 'white'}'>"
                        f"<b>{html.escape(repr(loss_fn))}</b></div>"
                    )
            label = ""
            if len(self.program.models) > 1:
                active = event is not None and event.model == name
                label = f"<b>{'▶ ' if active else ''}{html.escape(name)}</b>: "
            rows.append(f"<div class='nn-row'>{label}{arrow.join(boxes)}</div>")
        direction = "gradients flow right to left" if backwards else "data flows left to right"
        return "".join(rows) + f"<small>{direction}</small>"

    def _box(self, model_name, path, layer, shapes, current):
        """One layer's box (a block's holds its layers' boxes)."""
        here = current == (model_name, path)
        within = current is not None and current[0] == model_name and inside(current[1], path)
        color = CURRENT if here else "#fff8dc" if within else "white"
        inner = "".join(
            self._box(model_name, f"{path}.{key}" if path else key, child, shapes, current)
            for key, child in layer.diagram_children()
        )
        index = path.split(".")[0] if path else "0"
        marks = " nn-current" if here and "." not in path else ""
        label = html.escape(layer.label(path))
        body = (
            f"<div class='nn-row'>{inner}</div>"
            if inner
            else f"<br>out {shapes.get((model_name, path)) or '–'}<br>{layer.num_params():,} params"
        )
        attribute = f"data-layer='{index}' " if "." not in path else ""
        return (
            f"<div style='border:1px solid #888;border-radius:4px;padding:4px 6px;margin:2px;"
            f"background:{color};font-size:12px;max-width:100%' "
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
        return f"<code style='font-size:13px;white-space:normal'>{html.escape(text)}</code>"


def _notice(layers):
    """In a notebook, a line saying what the first step does while it runs (the first time in
    a fresh install it compiles the kernels); the handle becomes the inspector's snapshot."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    kinds = sorted({type(layer).__name__ for layer in layers if not layer.children()})
    fresh = [kind for kind in kinds if ("step", kind) not in _RAN]
    text = "numbanet inspector: running one step to learn its events"
    if fresh:
        text += (
            f" — the first time in a fresh install this compiles the kernels of "
            f"{', '.join(fresh)} (up to a minute)"
        )
    handle = display(HTML(f"<i>{html.escape(text)}…</i>"), display_id=True)
    handle.adopted = False
    return handle


def _text(markup):
    """The text of a bit of HTML (its tags and styles dropped), for the snapshot's lines."""
    markup = re.sub(r"<style>.*?</style>", "", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


def loss_views(loss_fn, tensors, value, penalty=None, terms=None):
    """The loss event: (views, details html, side figures). A loss with a ``views(tensors)``
    method draws itself; otherwise the prediction and ∂L/∂prediction, and for classification
    (integer targets, one per row of the prediction's last axis) the predicted probabilities,
    classes and per-sample loss of the first samples, as a table and a picture. ``terms``: what
    the model's layers add to the objective, per sample, reported beside the loss."""
    own = getattr(loss_fn, "views", None)
    if callable(own):
        return own(tensors), "", []
    batch = {"ylabel": "sample"}
    prediction, target, grad = tensors["prediction"], tensors["target"], tensors["grad"]
    shown = [
        View("prediction", prediction, options=batch),
        View("∂L/∂prediction", grad, options=batch),
        View("∂L/∂prediction", grad, "histogram"),
    ]
    total = f"loss = {value:.4f}" + (f" (+ penalty {penalty:.4f})" if penalty else "")
    for name, term in (terms or {}).items():  # what the model adds to the objective (a VAE's KL)
        total += f" (+ {name} {float(term):.4f} per sample)"
    classes = classification(loss_fn, prediction, target)
    if classes is None:
        rows = "".join(
            f"<tr><td>{i}</td><td>{_values(t)}</td><td>{_values(p)}</td></tr>"
            for i, (p, t) in enumerate(zip(prediction[:SAMPLES], np.asarray(target)[:SAMPLES]))
        )
        table = (
            f"<table class='nn-table'><tr><th>sample</th><th>target</th><th>prediction</th>"
            f"</tr>{rows}</table>"
        )
        return shown, f"<div><b>{total}</b></div>{table}", []
    probabilities, targets, predicted = classes
    picked = probabilities[np.arange(len(targets)), targets]
    rows = "".join(
        f"<tr><td>{i}</td><td>{t}</td><td>{p}</td><td>{probabilities[i, t]:.3f}</td>"
        f"<td>{probabilities[i, p]:.3f}</td><td>{-np.log(max(q, 1e-45)):.3f}</td>"
        f"<td>{'✔' if t == p else '✘'}</td></tr>"
        for i, (t, p, q) in enumerate(zip(targets, predicted, picked))
    )
    table = (
        f"<div><b>{total}</b>: the mean over the batch of −log p(target) (first {len(targets)} "
        f"samples below)</div><table class='nn-table'><tr><th>sample</th><th>target</th>"
        f"<th>predicted</th><th>p(target)</th><th>p(predicted)</th><th>−log p(target)</th>"
        f"<th></th></tr>{rows}</table>"
    )
    side = [("probabilities", views.probabilities_figure(probabilities, targets, predicted))]
    return shown, table, side


def classification(loss_fn, prediction, target):
    """(probabilities, targets, predicted classes) of the first samples when the loss
    classifies (integer targets, one per row of the prediction's last axis: its softmax gives
    the probabilities), else None."""
    target = np.asarray(target)
    if target.dtype.kind not in "iu" or target.shape != prediction.shape[:-1]:
        return None
    logits = prediction.reshape(-1, prediction.shape[-1])[:SAMPLES].astype(np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    predicted = np.asarray(loss_fn.predictions(prediction)).reshape(-1)[:SAMPLES]
    return shifted / shifted.sum(axis=1, keepdims=True), target.reshape(-1)[:SAMPLES], predicted


def _values(a, most=4):
    a = np.asarray(a).reshape(-1)
    shown = " ".join(f"{v:.3g}" for v in a[:most])
    return shown + (" …" if a.size > most else "")


def update_views(tensors):
    """An update event: for each param (one group each), before and after its update, the step
    Δ and its distribution."""
    names = list(dict.fromkeys(key.split(".")[0] for key in tensors))
    shown = []
    for name in names:
        group = {"group": name, "rows": 8}
        after = tensors[f"{name}.after"]
        before = tensors.get(f"{name}.before")
        if before is None:  # a step run without snapshots: the param as it is now
            shown += [View(f"{name} after", after, options=group)]
            continue
        delta = after - before
        ratio = np.linalg.norm(delta) / max(np.linalg.norm(before), 1e-30)
        shown += [
            View(f"{name} before", before, options=group),
            View(f"{name} after", after, options=group),
            View(f"Δ{name}, |Δ|/|{name}| = {ratio:.1e}", delta, options=group),
            View(f"Δ{name}", delta, "histogram", group),
        ]
    return shown


def terms_html(all_terms, optimizer):
    """Each param's update taken apart as a table (mean, max and norm of every term), the
    tables side by side, wrapping."""
    parts = []
    for param, terms in all_terms.items():
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{np.abs(a).mean():.3e}</td>"
            f"<td>{np.abs(a).max():.3e}</td><td>{np.linalg.norm(a):.3e}</td></tr>"
            for name, a in terms.items()
        )
        parts.append(
            f"<div><b>{html.escape(param)}</b> (lr {optimizer.lr:g})<table class='nn-table'>"
            f"<tr><th>term</th><th>mean |·|</th><th>max |·|</th><th>norm</th></tr>{rows}"
            f"</table></div>"
        )
    return f"<div class='nn-tables'>{''.join(parts)}</div>"


def grad_norms(model):
    """{param key: ‖gradient‖} of a model, in model order."""
    return {key: float(np.linalg.norm(g)) for key, g in model.grad_dict().items()}


def recurrent_figure(layer, phase):
    """A recurrent layer unrolled in time (its ``time_views``), to display in a notebook:
    beside its forward, the top layer's h_t (and LSTM's c_t) and gate means of the first
    sequence; beside its backward, ‖∂L/∂h_t‖ per step."""
    return views.Picture(
        views.render(fig, view.title)
        for view in layer.time_views(phase)
        for fig in views.view_figures(view)
    )
