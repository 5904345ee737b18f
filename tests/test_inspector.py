"""The inspector widget driven headless: click its buttons from Python, assert what changed."""

import html
import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import numbanet as nn  # noqa: E402
from numbanet import data  # noqa: E402
from numbanet.widgets import Inspector  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def make_inspector(**options):
    nn.seed(0)
    model = nn.models.mlp(64, (32, 16), 10)
    optimizer = nn.optim.Adam(model, lr=1e-2)
    train, _ = data.digits()
    return Inspector(model, nn.CrossEntropyLoss(), optimizer, train, batch_size=16, **options)


def is_png(image):
    return bytes(image.value).startswith(PNG)


def current_layer(inspector):
    """The index of the highlighted layer box, or None."""
    match = re.search(r"data-layer='(\d+)' class='nn-layer nn-current'", inspector.network.value)
    return int(match.group(1)) if match else None


def test_step_moves_the_highlight_and_redraws_the_figures():
    inspector = make_inspector()
    assert current_layer(inspector) is None and "event 0/16" in inspector.header.value
    inspector.buttons["step"].click()
    assert current_layer(inspector) == 0 and "forward: 0: Flatten()" in inspector.header.value
    first = bytes(inspector.figure.value)
    assert is_png(inspector.figure)
    inspector.buttons["step"].click()
    assert current_layer(inspector) == 1 and "1: Linear(64→32)" in inspector.header.value
    assert is_png(inspector.figure) and bytes(inspector.figure.value) != first
    assert "y = x·Wᵀ + b" in inspector.formula.value
    assert inspector.slider.value == 1


def test_phase_button_runs_to_the_end_of_each_phase_and_shows_its_views():
    inspector = make_inspector()
    inspector.buttons["phase"].click()
    assert inspector.stepper.position == 5 and "→" in inspector.network.value
    inspector.buttons["phase"].click()
    assert inspector.stepper.event.phase == "loss" and "softmax(z)" in inspector.formula.value
    inspector.buttons["phase"].click()
    assert inspector.stepper.event.phase == "backward" and "←" in inspector.network.value
    assert is_png(inspector.side_figure)  # the gradient-flow chart
    inspector.buttons["phase"].click()
    assert inspector.stepper.event.phase == "update"
    assert "m̂ = m / (1 - β₁ᵗ)" in inspector.details.value
    assert is_png(inspector.terms_figure)


def test_back_button_restores_params_bit_for_bit():
    inspector = make_inspector()
    inspector.buttons["step_all"].click()
    inspector.buttons["next_batch"].click()
    model = inspector.stepper.model
    inspector.slider.value = 12  # the last backward event: no update yet
    before = model.state_dict()
    inspector.buttons["step"].click()  # update of layer 1
    assert not np.array_equal(model.state_dict()["1.weight"], before["1.weight"])
    inspector.buttons["back"].click()
    assert inspector.stepper.position == 12
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_slider_jumps_to_any_event():
    inspector = make_inspector()
    inspector.slider.value = 9
    assert inspector.stepper.position == 9 and inspector.stepper.event.phase == "backward"
    inspector.slider.value = 2
    assert inspector.stepper.position == 2 and current_layer(inspector) == 2


def test_anomaly_stop_on_a_planted_nan_names_the_layer():
    inspector = make_inspector()
    inspector.stepper.model[3].params["weight"][1, 2] = np.nan
    inspector.buttons["step_all"].click()
    assert inspector.stepper.position == 3 and current_layer(inspector) == 3
    assert "stopped:" in inspector.status.value
    assert "NaN in output at the forward of 3: Linear(32→16)" in inspector.status.value


def test_anomaly_stop_on_an_exploding_gradient():
    inspector = make_inspector()
    inspector.stepper.model[5].params["weight"] *= 1e5
    inspector.buttons["run"].click()
    assert "exploding gradient at the backward of 5: Linear(16→10)" in inspector.status.value


def test_gradient_check_button_reports_small_errors_for_the_current_layer():
    inspector = make_inspector()
    inspector.slider.value = 1  # forward of Linear(64→32)
    inspector.buttons["gradcheck"].click()
    text = inspector.gradcheck_result.value
    errors = [float(e) for e in re.findall(r">(\d\.\d\de[-+]\d\d)<", text)]
    assert "1: Linear(64→32)" in text and len(errors) == 3
    assert max(errors) < 1e-6


def test_reset_and_run_n_steps():
    inspector = make_inspector()
    inspector.n_steps.value = 3
    inspector.buttons["run"].click()
    assert len(inspector.stepper.losses) == 3
    inspector.buttons["reset"].click()
    assert inspector.stepper.losses == [] and inspector.stepper.position == -1


def test_every_event_of_a_step_renders():
    inspector = make_inspector()
    for position in range(inspector.stepper.n_events):
        inspector.slider.value = position
        assert is_png(inspector.figure), position
    assert "update: 5: Linear(16→10)" in inspector.header.value and current_layer(inspector) == 5


def test_image_grid_puts_samples_down_and_channels_across():
    from numbanet.widgets.views import image_grid

    a = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    grid = image_grid(a)
    assert grid.shape == (2 * 4, 3 * 4)  # each 2×2 image framed to 4×4
    np.testing.assert_array_equal(grid[1:3, 5:7], a[0, 1])  # sample 0, channel 1
    np.testing.assert_array_equal(grid[5:7, 9:11], a[1, 2])  # sample 1, channel 2
    assert np.isnan(grid[0]).all()


def test_a_cnn_steps_with_feature_maps_and_filters_drawn():
    nn.seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 10)
    )
    train, _ = data.digits()
    images = (train.x.reshape(-1, 1, 8, 8), train.y)
    inspector = Inspector(
        model, nn.CrossEntropyLoss(), nn.optim.Adam(model, lr=1e-2), images, batch_size=8
    )
    inspector.buttons["step"].click()
    assert "Conv2d(1→4, 3×3)" in inspector.header.value and is_png(inspector.figure)
    first = bytes(inspector.figure.value)
    inspector.buttons["step_all"].click()
    assert inspector.stepper.step_done and is_png(inspector.figure)
    assert bytes(inspector.figure.value) != first


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
    inspector.slider.value = 2  # forward of BatchNorm1d
    extras = layer_extras(inspector, model[2])
    assert set(extras) == {"input", "output", "running mean", "running var"}
    assert is_png(inspector.figure)
    np.testing.assert_allclose(extras["running mean"], model.state_dict()["2.running_mean"])
    inspector.slider.value = 4  # forward of Dropout
    mask = layer_extras(inspector, model[4])["dropout mask (1 = kept)"]
    assert mask.shape == (8, 16) and set(np.unique(mask)) <= {0, 1} and is_png(inspector.figure)
    output = inspector.stepper.event.tensors()["output"]
    assert ((output == 0) | (mask == 1)).all()  # dropped where the mask says so


def test_loss_curve_shows_loss_plus_penalty_beside_the_data_loss():
    from numbanet.widgets import views

    fig = views.loss_figure([1.0, 0.8], [0.1, 0.2])
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["data loss", "loss + penalty"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.1, 1.0])
    assert "penalty 0.2000" in ax.get_title()
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
    inspector.slider.value = 0  # forward of the recurrent layer
    x = inspector.stepper.event.tensors()["input"].astype(np.float64)
    assert is_png(inspector.unrolled_figure) and is_png(inspector.figure)
    states = recurrent.unrolled_states()
    assert set(states) == ({"h_t", "c_t"} if kind == "LSTM" else {"h_t"})
    inspector.slider.value = 6  # backward of the recurrent layer
    assert "backward: 0:" in inspector.header.value and is_png(inspector.unrolled_figure)
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
    inspector.slider.value = 5  # backward of LastTimeStep: no unrolled view
    assert inspector.unrolled_figure.layout.display == "none"


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
    assert views.png(views.bptt_figure(norms)).startswith(PNG)


@pytest.mark.parametrize(
    "build, x, y, position",
    [
        (lambda: nn.Sequential(nn.LSTM(8, 6, batch_first=True), nn.LastTimeStep(),
                               nn.Linear(6, 3)), (4, 8, 8), 3, 0),  # fmt: skip
        (lambda: nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3)), (4, 1, 8, 8), 3,
         0),  # fmt: skip
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
    inspector.slider.value = position  # the forward event of the layer or the block's add
    inspector.buttons["gradcheck"].click()
    text = inspector.gradcheck_result.value
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
    inspector.slider.value = 0  # back to Flatten's forward
    inspector.buttons["step"].click()  # into the block: its first layer
    assert inspector.stepper.event.path == "1.body.0"
    assert "1.body.0: Linear(64→64)" in inspector.network.value  # the block's boxes are drawn
    assert is_png(inspector.figure)
    inspector.buttons["out"].click()
    assert inspector.stepper.event.path == "1.body.1"


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
        inspector.slider.value = position
        event = inspector.stepper.event
        models.add(event.model)
        assert is_png(inspector.figure), position
        assert f"{event.model} · {event.part}" in inspector.header.value
        assert f"<b>▶ {event.model}</b>" in inspector.network.value  # the active network
    assert models == {"generator", "discriminator"}
    before = {k: v.copy() for k, v in discriminator.state_dict().items()}
    inspector.buttons["back"].click()  # G's last update undone; D as it was after its update
    for key, value in discriminator.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
