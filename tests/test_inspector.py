"""The inspector widget driven headless: click its buttons from Python, assert what changed."""

import html
import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import numbanet as nn  # noqa: E402
from numbanet import data  # noqa: E402
from numbanet.widgets import Inspector, views  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def make_inspector(**options):
    nn.seed(0)
    model = nn.models.mlp(64, (32, 16), 10)
    optimizer = nn.optim.Adam(model, lr=1e-2)
    train, _ = data.digits()
    return Inspector(model, nn.CrossEntropyLoss(), optimizer, train, batch_size=16, **options)


def current_layer(inspector):
    """The index of the highlighted layer box, or None."""
    match = re.search(r"data-layer='(\d+)' class='nn-layer nn-current'", inspector.network.value)
    return int(match.group(1)) if match else None


def tile(inspector, title):
    """The tile of the picture titled ``title`` now shown, or None."""
    return next((t for t in inspector.tiles if t.title == title), None)


def titles(inspector):
    return [t.title for t in inspector.tiles]


def test_step_moves_the_highlight_and_redraws_the_pictures():
    inspector = make_inspector()
    assert current_layer(inspector) is None and "event 0 of 16" in inspector.header.value
    inspector.buttons["step"].click()
    assert current_layer(inspector) == 0 and "forward: 0: Flatten()" in inspector.header.value
    first = bytes(inspector.images[0].value)
    assert all(t.png.startswith(PNG) for t in inspector.tiles)
    inspector.buttons["step"].click()
    assert current_layer(inspector) == 1 and "1: Linear(64→32)" in inspector.header.value
    assert bytes(inspector.images[0].value) != first
    assert "y = x·Wᵀ + b" in inspector.formula.value


def test_the_header_and_the_slider_count_events_alike_from_zero_at_the_start():
    inspector = make_inspector()
    assert inspector.slider.value == 0 and inspector.slider.max == 16
    for _ in range(2):
        inspector.buttons["step"].click()
    assert inspector.slider.value == 2 and "event 2 of 16" in inspector.header.value
    inspector.slider.value = 12  # backward of 1: Linear(64→32), the first layer that learns
    assert "dx is not computed: no layer before this one learns" in inspector.formula.value
    inspector.slider.value = 13  # backward of 0: Flatten(), below it: skipped, and says so
    assert "skipped: no layer before this one learns" in inspector.formula.value
    inspector.slider.value = 16
    assert "event 16 of 16" in inspector.header.value and inspector.stepper.step_done


def test_phase_button_runs_to_the_end_of_each_phase_and_shows_its_views():
    inspector = make_inspector()
    inspector.buttons["phase"].click()
    assert inspector.stepper.position == 5 and "→" in inspector.network.value
    inspector.buttons["phase"].click()
    assert inspector.stepper.event.phase == "loss" and "softmax(z)" in inspector.formula.value
    inspector.buttons["phase"].click()
    assert inspector.stepper.event.phase == "backward" and "←" in inspector.network.value
    assert tile(inspector, "gradient flow") is not None
    inspector.buttons["phase"].click()
    assert inspector.stepper.event.phase == "update"
    assert "m̂ = m / (1 - β₁ᵗ)" in inspector.details.value
    assert tile(inspector, "weight: update terms") is not None


def test_back_button_restores_params_bit_for_bit():
    inspector = make_inspector()
    inspector.buttons["step_all"].click()
    inspector.buttons["next_batch"].click()
    model = inspector.stepper.model
    inspector.slider.value = 13  # after the last backward event: no update yet
    before = model.state_dict()
    inspector.buttons["step"].click()  # update of layer 1
    assert not np.array_equal(model.state_dict()["1.weight"], before["1.weight"])
    inspector.buttons["back"].click()
    assert inspector.stepper.position == 12
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_slider_jumps_to_any_event():
    inspector = make_inspector()
    inspector.slider.value = 10
    assert inspector.stepper.position == 9 and inspector.stepper.event.phase == "backward"
    inspector.slider.value = 3
    assert inspector.stepper.position == 2 and current_layer(inspector) == 2


def test_a_nan_planted_in_a_weight_stops_at_that_weight_and_the_limits_are_on_show():
    inspector = make_inspector()
    assert "above 1000 (explode) or below 1e-08 (vanish)" in inspector.status.value
    inspector.stepper.model[3].params["weight"][1, 2] = np.nan
    inspector.buttons["step_all"].click()
    assert inspector.stepper.position == 3 and current_layer(inspector) == 3
    assert "stopped:" in inspector.status.value
    assert (
        "NaN in the param weight (as the step found it) at the forward of 3: Linear(32→16): "
        "1 of 512 values not finite, the first at [1, 2]" in html.unescape(inspector.status.value)
    )


def test_stepping_on_past_a_stop_says_so_until_the_step_is_rewound_before_it():
    inspector = make_inspector()
    inspector.stepper.model[3].params["weight"][1, 2] = np.nan
    inspector.buttons["step_all"].click()  # stops at event 4
    inspector.stepper.check_anomalies = False  # step on without stopping again
    inspector.buttons["step"].click()
    status = html.unescape(inspector.status.value)
    assert "went on past the stop at event 4:" in status and "NaN in the param weight" in status
    inspector.slider.value = 2
    assert "went on past" not in inspector.status.value


def test_anomaly_stop_on_an_exploding_gradient_says_the_limit():
    inspector = make_inspector()
    inspector.stepper.model[5].params["weight"] *= 1e5
    inspector.buttons["run"].click()
    status = html.unescape(inspector.status.value)
    assert "exploding gradient at the backward of 5: Linear(16→10): ‖dx‖ = " in status
    assert "> explode = 1000" in status


def gradcheck_errors(inspector):
    return [float(e) for e in re.findall(r">(\d\.\d\de[-+]\d\d)<", inspector.check.value)]


def test_gradient_check_says_pass_with_its_threshold_and_skips_the_dx_no_step_computes():
    inspector = make_inspector()
    inspector.slider.value = 2  # forward of Linear(64→32): the first layer that learns
    inspector.buttons["gradcheck"].click()
    text = inspector.check.value
    assert "1: Linear(64→32)" in text and "✔ pass" in text and "≤ 1e-06 passes" in text
    assert re.findall(r"<td>(\w+)</td><td>\d", text) == ["weight", "bias"]
    assert "∂L/∂x is not checked" in text and max(gradcheck_errors(inspector)) < 1e-6
    inspector.slider.value = 4  # forward of Linear(32→16): its dx feeds layer 1's gradient
    errors = inspector.check_gradient()
    assert set(errors) == {"x", "weight", "bias"} and "not checked" not in inspector.check.value
    assert inspector.check.value.index("gradient check") < 400  # on top, above the pictures
    widgets = inspector.widget.children
    assert widgets.index(inspector.check) < widgets.index(inspector.figures)


def test_a_failing_gradient_check_says_fail():
    inspector = make_inspector()
    inspector.slider.value = 2
    layer = inspector.stepper.event.layer
    broken = type(layer).backward

    def wrong(self, dy, need_dx=True):
        dx = broken(self, dy, need_dx)
        self.grads["bias"] *= 2  # a bug: twice the bias gradient
        return dx

    type(layer).backward = wrong
    try:
        inspector.buttons["gradcheck"].click()
    finally:
        type(layer).backward = broken
    assert "✘ fail" in inspector.check.value


def test_reset_and_run_n_steps_keep_the_loss_curve_in_view():
    inspector = make_inspector()
    inspector.n_steps.value = 3
    inspector.buttons["run"].click()
    assert len(inspector.stepper.losses) == 3
    assert inspector.stepper.event.phase == "update" and tile(inspector, "loss curve")
    inspector.buttons["reset"].click()
    assert inspector.stepper.losses == [] and inspector.stepper.position == -1


def test_every_event_of_a_step_renders():
    inspector = make_inspector()
    for position in range(1, inspector.stepper.n_events + 1):
        inspector.slider.value = position
        assert inspector.tiles and all(t.png.startswith(PNG) for t in inspector.tiles)
    assert "update: 5: Linear(16→10)" in inspector.header.value and current_layer(inspector) == 5


def test_image_grid_puts_samples_down_and_channels_across():
    from numbanet.widgets.views import image_grid

    a = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    grid = image_grid(a)
    assert grid.shape == (2 * 4, 3 * 4)  # each 2×2 image framed to 4×4
    np.testing.assert_array_equal(grid[1:3, 5:7], a[0, 1])  # sample 0, channel 1
    np.testing.assert_array_equal(grid[5:7, 9:11], a[1, 2])  # sample 1, channel 2
    assert np.isnan(grid[0]).all()


def make_cnn_inspector():
    nn.seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 10)
    )
    train, _ = data.digits()
    images = (train.x.reshape(-1, 1, 8, 8), train.y)
    return Inspector(
        model, nn.CrossEntropyLoss(), nn.optim.Adam(model, lr=1e-2), images, batch_size=8
    )


def test_a_cnn_steps_with_images_feature_maps_and_filters_drawn_as_images():
    inspector = make_cnn_inspector()
    inspector.buttons["step"].click()
    assert "Conv2d(1→4, 3×3)" in inspector.header.value
    inspector.selector.value = "weight"
    shown = titles(inspector)
    assert "input" in shown and "output" in shown and "weight: filters (out × in)" in shown
    for name in ("input", "weight: filters (out × in)"):  # square pixels: the aspect kept
        figure = views.tensor_figure(
            next(v for v in inspector.stepper.event.layer.views("forward",
                 inspector.stepper.event.tensors()) if v.title == name)
        )  # fmt: skip
        (image,) = figure.axes[0].images[:1]
        rows, columns = image.get_array().shape
        box = figure.axes[0].get_window_extent()
        assert box.width / columns == pytest.approx(box.height / rows, rel=0.02)
    inspector.buttons["step_all"].click()
    assert inspector.stepper.step_done and inspector.tiles


def layer_extras(inspector, layer):
    """{title: array} of the tensor views a layer adds beside its forward pass."""
    shown = layer.views("forward", inspector.stepper.event.tensors())
    return {v.title: v.data for v in shown if v.kind == "tensor"}


def test_batch_norm_statistics_and_the_dropout_mask_are_drawn_beside_the_forward_pass():
    nn.seed(0)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, 10),
    )
    inspector = Inspector(
        model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), data.digits()[0], batch_size=8
    )
    inspector.slider.value = 3  # forward of BatchNorm1d
    extras = layer_extras(inspector, model[2])
    assert set(extras) == {"input", "output", "weight", "bias", "running mean", "running var"}
    assert list(inspector.selector.options) == ["weight", "bias", "running mean", "running var"]
    np.testing.assert_allclose(extras["running mean"], model.state_dict()["2.running_mean"])
    inspector.selector.value = "running var"
    assert "running var" in titles(inspector) and "weight" not in titles(inspector)
    inspector.slider.value = 5  # forward of Dropout
    mask = layer_extras(inspector, model[4])["dropout mask (1 = kept)"]
    assert mask.shape == (8, 16) and set(np.unique(mask)) <= {0, 1}
    assert "dropout mask (1 = kept)" in titles(inspector)
    output = inspector.stepper.event.tensors()["output"]
    assert ((output == 0) | (mask == 1)).all()  # dropped where the mask says so


def test_loss_curve_shows_loss_plus_penalty_beside_the_data_loss():
    fig = views.loss_figure([1.0, 0.8], [0.1, 0.2])
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["data loss", "loss + penalty"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.1, 1.0])
    assert "penalty 0.2000" in fig.texts[0].get_text()
    assert len(views.loss_figure([1.0, 0.8], [0.0, 0.0]).axes[0].lines) == 1  # no penalty


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def numpy_bptt(kind, params, x, dy):
    """A one-layer recurrent net written out in NumPy (float64), for L = Σ_t dy_t·h_t.

    x: (N, T, I), dy: (N, T, H). Returns h (T, N, H), the gate activations (T, N, G·H) (None for
    a plain RNN) and ∂L/∂h_t (T, N, H): dy_t plus what steps t+1, … send back.
    """
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    b_ih, b_hh = params["bias_ih_l0"], params["bias_hh_l0"]
    batch, steps, _ = x.shape
    size = w_hh.shape[1]
    h, c = np.zeros((batch, size)), np.zeros((batch, size))
    hs, gates, cache = [], [], []
    for t in range(steps):
        gi, gh = x[:, t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if kind == "RNN":
            h_new = np.tanh(gi + gh)
            cache.append(h_new)
        elif kind == "LSTM":
            a_i, a_f, a_g, a_o = np.split(gi + gh, 4, axis=1)
            i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
            cache.append((i, f, g, o, c, c_new))
            gates.append(np.concatenate([i, f, g, o], axis=1))
            c = c_new
        else:  # GRU
            r = sigmoid(gi[:, :size] + gh[:, :size])
            z = sigmoid(gi[:, size : 2 * size] + gh[:, size : 2 * size])
            n = np.tanh(gi[:, 2 * size :] + r * gh[:, 2 * size :])
            h_new = (1 - z) * n + z * h
            cache.append((r, z, n, gh[:, 2 * size :], h))
            gates.append(np.concatenate([r, z, n], axis=1))
        h = h_new
        hs.append(h)
    dh_next, dc_next = np.zeros((batch, size)), np.zeros((batch, size))
    dh_steps = np.zeros((steps, batch, size))
    for t in reversed(range(steps)):
        dh = dy[:, t] + dh_next
        dh_steps[t] = dh
        if kind == "RNN":
            dh_next = (dh * (1 - cache[t] ** 2)) @ w_hh
        elif kind == "LSTM":
            i, f, g, o, c_prev, c_t = cache[t]
            dc = dc_next + dh * o * (1 - np.tanh(c_t) ** 2)
            da = [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g**2)]
            da.append(dh * np.tanh(c_t) * o * (1 - o))
            dh_next, dc_next = np.concatenate(da, axis=1) @ w_hh, dc * f
        else:
            r, z, n, gh_n, h_prev = cache[t]
            da_n = dh * (1 - z) * (1 - n**2)
            da_z = dh * (h_prev - n) * z * (1 - z)
            da_r = da_n * gh_n * r * (1 - r)
            dh_next = np.concatenate([da_r, da_z, da_n * r], axis=1) @ w_hh + dh * z
    return np.stack(hs), np.stack(gates) if gates else None, dh_steps


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_recurrent_layer_is_drawn_unrolled_with_its_gradient_norm_per_step(kind):
    nn.seed(0)
    recurrent = getattr(nn, kind)(8, 12, batch_first=True)
    model = nn.Sequential(recurrent, nn.LastTimeStep(), nn.Linear(12, 10))
    train, _ = data.digits()
    rows = (train.x.reshape(-1, 8, 8), train.y)  # each image a sequence of 8 rows of 8 pixels
    inspector = Inspector(
        model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), rows, batch_size=8
    )
    params = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    inspector.slider.value = 1  # forward of the recurrent layer
    x = inspector.stepper.event.tensors()["input"].astype(np.float64)
    assert "unrolled (first sequence)" in titles(inspector)
    states = recurrent.unrolled_states()
    assert set(states) == ({"h_t", "c_t"} if kind == "LSTM" else {"h_t"})
    inspector.slider.value = 7  # backward of the recurrent layer
    assert "backward: 0:" in inspector.header.value
    assert "BPTT: ‖∂L/∂h_t‖ per step" in titles(inspector)
    dy = inspector.stepper.event.tensors()["dy"].astype(np.float64)
    assert np.count_nonzero(dy[:, :-1]) == 0  # LastTimeStep: the loss reads the last step only
    h, gates, dh = numpy_bptt(kind, {k[2:]: v for k, v in params.items() if k[0] == "0"}, x, dy)
    np.testing.assert_allclose(states["h_t"], h[:, 0], rtol=1e-4, atol=1e-6)
    means = recurrent.gate_means()
    if kind == "RNN":
        assert means == {}
    else:
        size = 12
        expected = {
            name: gates[:, 0, k * size : (k + 1) * size].mean(axis=1)
            for k, name in enumerate(recurrent.gate_names)
        }
        assert list(means) == list(expected)
        for name in expected:
            np.testing.assert_allclose(means[name], expected[name], rtol=1e-4, atol=1e-6)
    (norms,) = recurrent.step_grad_norms().values()
    expected_norms = np.linalg.norm(dh.reshape(8, -1), axis=1)
    np.testing.assert_allclose(norms, expected_norms, rtol=1e-4)
    assert expected_norms[0] < expected_norms[-1]  # the gradient shrinks going back in time
    inspector.slider.value = 6  # backward of LastTimeStep: no unrolled view
    assert not [t for t in titles(inspector) if "BPTT" in t or "unrolled" in t]


def test_stacked_recurrent_layers_keep_a_gradient_norm_per_step_for_each_layer():
    from numbanet.widgets import views

    nn.seed(0)
    lstm = nn.LSTM(3, 5, num_layers=2)
    lstm.keep_step_grads = True
    x = np.random.default_rng(0).standard_normal((7, 4, 3)).astype(np.float32)
    dy = np.zeros((7, 4, 5), np.float32)
    dy[-1] = 1  # the loss reads the last step only
    lstm.forward(x)
    lstm.backward(dy)
    norms = lstm.step_grad_norms()
    assert list(norms) == ["layer 0", "layer 1"] and all(v.shape == (7,) for v in norms.values())
    np.testing.assert_allclose(norms["layer 1"][-1], np.linalg.norm(dy[-1]), rtol=1e-6)
    # the same two layers as two one-layer LSTMs, the first's output the second's input
    weights = lstm.state_dict()
    bottom, top = nn.LSTM(3, 5), nn.LSTM(5, 5)
    for k, single in enumerate((bottom, top)):
        single.load_state_dict(
            {n.replace(f"_l{k}", "_l0"): v for n, v in weights.items() if n.endswith(f"_l{k}")}
        )
        single.keep_step_grads = True
    top.forward(bottom.forward(x))
    bottom.backward(top.backward(dy))
    np.testing.assert_allclose(norms["layer 0"], bottom.step_grad_norms()["layer 0"], rtol=1e-5)
    np.testing.assert_allclose(norms["layer 1"], top.step_grad_norms()["layer 0"], rtol=1e-5)
    curves = views.curves_figure("BPTT", norms, log=True)
    assert views.render(curves).png.startswith(PNG)


@pytest.mark.parametrize(
    "build, x, y, position",
    [
        (lambda: nn.Sequential(nn.LSTM(8, 6, batch_first=True), nn.LastTimeStep(),
                               nn.Linear(6, 3)), (4, 8, 8), 3, 0),  # fmt: skip
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(),
                               nn.Linear(32, 3)), (4, 1, 8, 8), 3, 1),  # fmt: skip
        (lambda: nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 3)), (4, 3), 3,
         0),  # fmt: skip
        (lambda: nn.Sequential(nn.Linear(5, 6), nn.Residual(nn.Linear(6, 6), nn.Tanh()),
                               nn.Linear(6, 3)), (4, 5), 3, 4),  # fmt: skip
    ],
    ids=["LSTM", "MaxPool2d", "Embedding", "Residual block"],
)
def test_the_gradient_check_button_gives_figures_for_every_kind_of_layer(build, x, y, position):
    nn.seed(0)
    model = build()
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 10, x) if len(x) == 2 else rng.random(x, dtype=np.float32)
    targets = rng.integers(0, y, x[0])
    inspector = Inspector(model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1),
                          (inputs, targets), batch_size=4)  # fmt: skip
    inspector.slider.value = position + 1  # the forward event of the layer or the block's add
    inspector.buttons["gradcheck"].click()
    text = inspector.check.value
    errors = [float(e) for e in re.findall(r">(\d\.\d\de[-+]\d\d)<", text)]
    assert errors and max(errors) < 1e-6, text
    assert html.escape(inspector.stepper.event.name) in text


def test_the_inspector_steps_into_and_over_a_residual_block():
    nn.seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Residual(nn.Linear(64, 64), nn.ReLU()), nn.Linear(64, 10)
    )
    inspector = Inspector(
        model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), data.digits()[0], batch_size=8
    )
    inspector.buttons["step"].click()
    inspector.buttons["over"].click()  # the whole block
    assert inspector.stepper.event.path == "1" and "forward: 1: Residual" in inspector.header.value
    inspector.slider.value = 1  # back to Flatten's forward
    inspector.buttons["step"].click()  # into the block: its first layer
    assert inspector.stepper.event.path == "1.body.0"
    assert "1.body.0: Linear(64→64)" in inspector.network.value  # the block's boxes are drawn
    assert inspector.tiles
    inspector.buttons["out"].click()
    assert inspector.stepper.event.path == "1.body.1"


# ----- readable, responsive, honest: the learner's view (issue 20) ----------------------------
def png_size(data):
    """(width, height) from a PNG's header."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_picture_is_shown_at_its_own_size_with_text_of_11_px_and_colour_bars():
    inspector = make_cnn_inspector()
    for position in range(1, inspector.stepper.n_events + 1):
        inspector.slider.value = position
        for image, shown in zip(inspector.images, inspector.tiles):
            assert png_size(shown.png) == (shown.width, shown.height)
            assert image.layout.width == f"{shown.width}px" and image.layout.max_width == "100%"
            assert shown.width <= 700, f"{shown.title} too wide to sit beside another"
            assert shown.smallest_font * views.DPI / 72 >= 11, shown.title
            assert shown.heatmaps == shown.colour_bars, f"{shown.title}: a heatmap without a bar"
    assert inspector.figures.layout.flex_flow == "row wrap"


def test_signed_data_is_centred_at_zero_and_non_finite_values_are_counted():
    a = np.array([[-1.0, 3.0], [np.nan, np.inf]])
    figure = views.matrix_figure("a", a)
    image = figure.axes[0].images[0]
    assert image.norm.vmin == -3 and image.norm.vmax == 3  # white is 0
    assert image.colorbar is not None
    assert "⚠ 1 NaN, 1 +Inf of 4" in figure.texts[0].get_text()
    assert [im.get_gid() for im in figure.axes[0].images] == [None, "overlay"]  # magenta on top
    nonnegative = views.matrix_figure("p", np.array([[0.2, 0.8]])).axes[0].images[0]
    assert nonnegative.norm.vmin == 0 and nonnegative.cmap.name.startswith("viridis")


def test_a_histogram_says_how_many_values_it_could_not_place():
    figure = views.histogram_figure("dx", np.array([1.0, 2.0, np.nan, np.nan, -np.inf]))
    title = " ".join(figure.texts[0].get_text().split())  # as one line, unwrapped
    assert "⚠ 2 NaN, 1 −Inf of 5: statistics of the finite values" in title
    assert "mean 1.5" in title and "min 1 max 2" in title


def test_a_click_shows_busy_feedback_before_the_work_and_the_page_cannot_queue_clicks():
    inspector = make_inspector()
    seen = {}
    step = inspector.stepper.step

    def slow_step():
        seen["status"] = inspector.status.value
        seen["disabled"] = [b.disabled for b in inspector.buttons.values()]
        inspector.buttons["step"]._handle_button_msg(None, {"event": "click"}, [])  # the page
        return step()

    inspector.stepper.step = slow_step
    inspector.buttons["step"].click()
    assert "nn-spin" in seen["status"] and "forward of 0: Flatten()" in seen["status"]
    assert all(seen["disabled"])
    assert inspector.stepper.position == 0  # the click made while busy did nothing
    assert not any(b.disabled for b in inspector.buttons.values())


def test_clicks_queued_while_the_kernel_worked_are_dropped_until_the_buttons_settle():
    import asyncio

    from numbanet.widgets import inspector as module

    inspector = make_inspector()
    page_click = inspector.buttons["step"]._handle_button_msg

    async def session():
        page_click(None, {"event": "click"}, [])  # works, then settles
        page_click(None, {"event": "click"}, [])  # queued during the work: dropped
        assert inspector.stepper.position == 0 and inspector.buttons["step"].disabled
        await asyncio.sleep(module.SETTLE + 0.05)
        assert not inspector.buttons["step"].disabled
        page_click(None, {"event": "click"}, [])  # a new click counts
        assert inspector.stepper.position == 1

    asyncio.run(session())


def test_the_first_gradient_check_of_a_layer_type_says_it_compiles_its_float64_kernels():
    from numbanet.widgets import inspector as module

    inspector = make_inspector()
    inspector.slider.value = 2
    module._RAN.discard(("float64", "Linear"))
    assert "compiling Linear kernels for float64, first time only" in inspector._describe(
        "gradcheck"
    )
    inspector.buttons["gradcheck"].click()
    assert "compiling" not in inspector._describe("gradcheck")


def test_relu_backward_shows_the_mask_and_the_masked_dx():
    inspector = make_inspector()
    inspector.slider.value = 11  # backward of 2: ReLU
    shown = {v.title: v.data for v in inspector.stepper.event.layer.views(
        "backward", inspector.stepper.event.tensors())}  # fmt: skip
    assert list(shown) == ["dy", "mask [x > 0]", "dx = dy · mask"]
    x = inspector.stepper.events[2].tensors()["input"]
    np.testing.assert_array_equal(shown["mask [x > 0]"], x > 0)
    np.testing.assert_array_equal(shown["dx = dy · mask"], shown["dy"] * (x > 0))
    assert titles(inspector)[:3] == ["dy", "mask [x > 0]", "dx = dy · mask"]


def test_the_loss_event_shows_targets_probabilities_predicted_classes_and_the_loss():
    inspector = make_inspector()
    inspector.slider.value = 7  # the loss
    event = inspector.stepper.event
    assert f"loss {event.loss:.4f}" in inspector.header.value
    tensors = event.tensors()
    z = tensors["prediction"].astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>([\d.]+)</td>",
                      inspector.details.value)  # fmt: skip
    assert len(rows) == 8
    for sample, target, predicted, p_target in rows:
        i = int(sample)
        assert int(target) == tensors["target"][i] and int(predicted) == p[i].argmax()
        assert float(p_target) == pytest.approx(p[i, int(target)], abs=5e-4)
    assert "probabilities" in titles(inspector) and f"loss = {event.loss:.4f}" in (
        inspector.details.value
    )


def test_an_lstm_input_of_row_by_row_digits_is_drawn_as_the_digits():
    nn.seed(0)
    model = nn.Sequential(nn.LSTM(8, 6, batch_first=True), nn.LastTimeStep(), nn.Linear(6, 10))
    train, _ = data.digits()
    inspector = Inspector(model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1),
                          (train.x.reshape(-1, 8, 8), train.y), batch_size=8)  # fmt: skip
    inspector.slider.value = 1
    view = next(v for v in model[0].views("forward", inspector.stepper.event.tensors())
                if v.title.startswith("input"))  # fmt: skip
    figure = views.tensor_figure(view)
    picture = figure.axes[0].images[0].get_array()
    np.testing.assert_array_equal(picture[1:9, 1:9], view.data[0])  # the first digit, framed
    np.testing.assert_array_equal(view.data, inspector.stepper.event.tensors()["input"])
    box = figure.axes[0].get_window_extent()
    assert box.width / picture.shape[1] == pytest.approx(box.height / picture.shape[0], rel=0.02)


def test_the_gradient_flow_marks_params_backprop_has_not_reached_as_not_yet():
    inspector = make_inspector()
    inspector.slider.value = 8  # backward of 5: Linear(16→10), the first backward event
    norms, reached = inspector._grad_flow(inspector.stepper.event)
    assert reached == {"5.weight", "5.bias"} and set(norms) > reached
    figure = views.gradient_flow_figure(norms, reached)
    bars = figure.axes[0].patches
    assert [np.isfinite(b.get_height()) for b in bars] == [False] * 4 + [True] * 2
    assert [t.get_text() for t in figure.axes[0].texts] == ["not yet"] * 4


def test_every_param_of_an_lstm_update_has_its_table_and_its_pictures():
    nn.seed(0)
    model = nn.Sequential(nn.LSTM(8, 6, batch_first=True), nn.LastTimeStep(), nn.Linear(6, 10))
    train, _ = data.digits()
    inspector = Inspector(model, nn.CrossEntropyLoss(), nn.optim.Adam(model),
                          (train.x.reshape(-1, 8, 8), train.y), batch_size=8)  # fmt: skip
    inspector.slider.value = 8  # update of the LSTM
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert list(inspector.selector.options) == names
    tables = re.findall(r"<div><b>(\w+)</b> \(lr", inspector.details.value)
    assert tables == names and "class='nn-tables'" in inspector.details.value
    assert "white-space: nowrap" in views_style()
    inspector.selector.value = "bias_hh_l0"
    assert "bias_hh_l0 before" in titles(inspector)
    assert "bias_hh_l0: update terms" in titles(inspector)
    inspector.slider.value = 7  # backward of the LSTM: the choice carries over as dbias_hh_l0
    assert inspector.selector.value == "dbias_hh_l0" and "dbias_hh_l0" in titles(inspector)


def views_style():
    from numbanet.widgets.inspector import STYLE

    return STYLE


def test_the_snapshot_holds_the_last_view_as_html_and_as_one_png():
    inspector = make_inspector()
    inspector.buttons["step"].click()
    bundle = inspector.snapshot()
    assert bundle["image/png"].startswith(PNG) and "event 1 of 16" in bundle["text/plain"]
    page = bundle["text/html"]
    assert f"id='nn-snapshot-{inspector.uid}'" in page and page.count("<img") == len(
        inspector.tiles
    )
    assert f"#nn-snapshot-{inspector.uid}" in inspector.header.value  # hidden while live
    assert f"#nn-snapshot-{inspector.uid}" not in page  # but not by its own copy


def test_the_inspector_steps_through_a_gan_step_with_both_networks_drawn():
    nn.seed(0)
    generator = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(),
                              nn.Linear(8, 64), nn.Tanh())  # fmt: skip
    discriminator = nn.Sequential(nn.Linear(64, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    program = nn.StepProgram.gan(
        generator, discriminator, nn.optim.Adam(generator), nn.optim.Adam(discriminator), 4
    )
    images = data.digits()[0].x.reshape(-1, 64)[:32] * 2 - 1
    inspector = Inspector(program=program, data=(images, np.zeros(32)), batch_size=8,
                          check_anomalies=False)  # fmt: skip
    models = set()
    for position in range(0, inspector.stepper.n_events, 3):  # D's and G's halves, all parts
        inspector.slider.value = position + 1
        event = inspector.stepper.event
        models.add(event.model)
        assert inspector.tiles and all(t.png.startswith(PNG) for t in inspector.tiles), position
        assert f"{event.model} · {event.part}" in inspector.header.value
        assert f"<b>▶ {event.model}</b>" in inspector.network.value  # the active network
    assert models == {"generator", "discriminator"}
    before = {k: v.copy() for k, v in discriminator.state_dict().items()}
    inspector.buttons["back"].click()  # G's last update undone; D as it was after its update
    for key, value in discriminator.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_attention_maps_of_a_character_model_carry_the_sequence_on_their_axes():
    nn.seed(0)
    vocab = nn.data.CharVocab("to be or not\n")
    ids = vocab.encode("to be or not\nto be")
    x = np.stack([ids[i : i + 6] for i in range(8)])
    y = np.stack([ids[i + 1 : i + 7] for i in range(8)])
    model = nn.models.gpt(len(vocab), 6, n_layer=1, n_head=2, n_embd=8)
    inspector = Inspector(model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), (x, y),
                          batch_size=4, vocab=vocab)  # fmt: skip
    stepper = inspector.stepper
    stepper.step()
    while not (isinstance(stepper.event.layer, nn.MultiheadAttention)
               and stepper.event.phase == "forward"):  # fmt: skip
        stepper.step()
    shown, _, _ = inspector._event_views(stepper.event)
    (maps,) = [view for view in shown if view.options.get("positions")]
    first = stepper.batch[0][0]
    marks = {" ": "␣", "\n": "⏎"}
    assert maps.options["labels"] == [marks.get(c, c) for c in vocab.decode(first)]
    assert np.shape(maps.data) == (2, 6, 6)  # heads × queries × keys
    np.testing.assert_array_equal(np.triu(maps.data[0], 1), 0)  # the causal mask: no future
    inspector.render()  # and the labelled maps draw
    # the diagram draws the block as it is wired, so the attention event marks its own box
    network = inspector._network_html(stepper.event)
    box = network.split("3.block.0.body.1: MultiheadAttention")[0].rsplit("<div", 1)[1]
    assert "#ffe08a" in box  # CURRENT
