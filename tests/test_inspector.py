"""The inspector widget driven headless: click its buttons from Python, assert what changed."""

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


def test_batch_norm_statistics_and_the_dropout_mask_are_drawn_beside_the_forward_pass():
    from numbanet.widgets.inspector import layer_extras

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
    extras = layer_extras(model[2])
    assert set(extras) == {"running mean", "running var"} and is_png(inspector.figure)
    np.testing.assert_allclose(extras["running mean"], model.state_dict()["2.running_mean"])
    inspector.slider.value = 4  # forward of Dropout
    mask = layer_extras(model[4])["dropout mask (1 = kept)"]
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
