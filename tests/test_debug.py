"""The Stepper: event order, exact rewind, phase runs, anomaly stops."""

import numpy as np
import pytest

import numbanet as nn
from numbanet import data


def make_stepper(**kwargs):
    nn.seed(0)
    model = nn.models.mlp(64, (32, 16), 10)
    optimizer = nn.optim.Adam(model, lr=1e-2, weight_decay=1e-3, l2=1e-3)
    train, _ = data.digits()
    stepper = nn.debug.Stepper(
        model, nn.CrossEntropyLoss(), optimizer, train, batch_size=16, **kwargs
    )
    return stepper, model, optimizer


def test_one_step_walks_every_layer_forward_then_back_then_updates():
    stepper, model, _ = make_stepper()
    assert stepper.n_events == 6 + 1 + 6 + 3 and stepper.position == -1
    events = [stepper.step() for _ in range(stepper.n_events)]
    assert [e.phase for e in events] == ["forward"] * 6 + ["loss"] + ["backward"] * 6 + [
        "update"
    ] * 3
    assert [e.index for e in events if e.phase == "backward"] == [5, 4, 3, 2, 1, 0]
    assert stepper.step_done and len(stepper.losses) == 1
    stepper.step()  # the next step begins on the next batch
    assert stepper.position == 0 and stepper.step_count == 1


def test_back_restores_params_and_optimizer_state_bit_for_bit():
    stepper, model, optimizer = make_stepper()
    stepper.run_steps(2)  # optimizer state is non-trivial now
    stepper.next_batch()
    before = {}
    while not stepper.step_done:
        before[stepper.position + 1] = (
            model.state_dict(),
            {k: optimizer.state_of(k) for k in optimizer.state},
            {k: s["step"] for k, s in optimizer.state.items()},
        )
        stepper.step()
    after_step = model.state_dict()
    for position in sorted(before, reverse=True):  # rewind through every update, one by one
        stepper.goto(position - 1)
        params, state, steps = before[position]
        for key, value in model.state_dict().items():
            np.testing.assert_array_equal(value, params[key], err_msg=f"{key} at {position}")
        for key in optimizer.state:
            assert optimizer.state[key]["step"] == steps[key]
            for name, value in optimizer.state_of(key).items():
                np.testing.assert_array_equal(value, state[key][name])
    stepper.run_step()  # replaying gives exactly the same step
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, after_step[key])


def test_replayed_events_show_the_same_tensors():
    stepper, _, _ = make_stepper()
    stepper.run_step()
    first = {i: e.tensors() for i, e in enumerate(stepper.events)}
    stepper.goto(3)
    stepper.run_step()
    for i, event in enumerate(stepper.events):
        for name, value in event.tensors().items():
            np.testing.assert_array_equal(value, first[i][name], err_msg=f"event {i} {name}")


def test_run_to_phase_end_stops_at_each_phase_boundary():
    stepper, _, _ = make_stepper()
    phases = []
    while True:
        event = stepper.run_to_phase_end()
        phases.append((event.phase, stepper.position))
        if stepper.step_done:
            break
    assert phases == [("forward", 5), ("loss", 6), ("backward", 12), ("update", 15)]


def test_reset_returns_to_the_first_batch_and_initial_params():
    stepper, model, _ = make_stepper()
    initial = model.state_dict()
    first_batch = stepper.batch[0].copy()
    stepper.run_steps(3)
    stepper.reset()
    np.testing.assert_array_equal(stepper.batch[0], first_batch)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, initial[key])
    assert stepper.losses == [] and stepper.step_count == 0


def test_a_nan_planted_in_a_weight_is_named_at_the_weight_not_at_the_output_it_spoils():
    stepper, model, _ = make_stepper()
    model[3].params["weight"][1, 2] = np.nan
    stepper.run_step()
    anomaly = stepper.anomaly
    assert (anomaly.phase, anomaly.index, anomaly.tensor, anomaly.kind, anomaly.param) == (
        "forward",
        3,
        "weight",
        "NaN",
        True,
    )
    assert str(anomaly) == (
        "NaN in the param weight (as the step found it) at the forward of 3: Linear(32→16): "
        "1 of 512 values not finite, the first at [1, 2]"
    )
    assert stepper.position == 3


def test_a_nan_in_the_data_stops_at_the_first_layer_naming_how_many_values_and_the_first():
    nn.seed(0)
    model = nn.models.mlp(64, (8,), 10)
    train, _ = data.digits()
    x = train.x[:16].copy()  # (N, 1, 8, 8) images
    x[2, 0, 0, 5] = x[3, 0, 1, 7] = np.inf
    stepper = nn.debug.Stepper(
        model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), (x, train.y[:16]),
        batch_size=16, shuffle=False,
    )  # fmt: skip
    stepper.run_step()
    assert str(stepper.anomaly) == (
        "Inf in input at the forward of 0: Flatten(): 2 of 1,024 values not finite, the first "
        "at [2, 0, 0, 5]"
    )


def test_a_planted_exploding_gradient_stops_at_the_right_layer_and_says_the_limit():
    stepper, model, _ = make_stepper()
    model[5].params["weight"] *= 1e5  # dx = dy W explodes at this layer's backward
    stepper.run_step()
    anomaly = stepper.anomaly
    assert (anomaly.phase, anomaly.index, anomaly.tensor, anomaly.kind) == (
        "backward",
        5,
        "dx",
        "exploding gradient",
    )
    assert anomaly.value > 1e3 and anomaly.threshold == 1e3
    assert str(anomaly).endswith(f"‖dx‖ = {anomaly.value:.3g} > explode = 1000")


def test_a_vanishing_gradient_says_the_limit_it_fell_under():
    stepper, _, _ = make_stepper(vanish=1e3)  # every weight gradient is far below this
    stepper.run_step()
    anomaly = stepper.anomaly
    assert anomaly.kind == "vanishing gradient" and anomaly.tensor == "dy"
    assert str(anomaly).endswith("< vanish = 1000")


def test_anomaly_checks_can_be_turned_off():
    stepper, model, _ = make_stepper(check_anomalies=False)
    model[3].params["weight"][0, 0] = np.nan
    stepper.run_step()
    assert stepper.anomaly is None and stepper.step_done


def test_update_terms_take_adam_apart():
    stepper, model, optimizer = make_stepper()
    stepper.run_step()
    terms = nn.debug.update_terms(optimizer, stepper.event)
    weight = terms["weight"]
    assert set(weight) == {
        "gradient (incl. penalty)",
        "L1/L2 penalty term",
        "weight decay term",
        "m̂ = m / (1 - β₁ᵗ)",
        "v̂ = v / (1 - β₂ᵗ)",
        "step applied (after - before)",
    }
    m_hat, v_hat = weight["m̂ = m / (1 - β₁ᵗ)"], weight["v̂ = v / (1 - β₂ᵗ)"]
    # the step Adam applies is -lr m̂ / (√v̂ + ε), up to float32 rounding
    np.testing.assert_allclose(
        weight["step applied (after - before)"],
        -1e-2 * m_hat / (np.sqrt(v_hat) + 1e-8),
        rtol=1e-3,
        atol=1e-7,
    )
    assert "L1/L2 penalty term" not in terms["bias"]


def test_goto_out_of_range():
    stepper, _, _ = make_stepper()
    with pytest.raises(IndexError, match=r"\[-1, 15\]"):
        stepper.goto(16)


def test_any_model_and_a_dataloader_can_be_stepped():
    nn.seed(1)
    model = nn.Linear(3, 2)  # a bare layer, not a Sequential
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    loader = data.DataLoader(x, x[:, :2] * 2, batch_size=4, shuffle=True, seed=0)
    stepper = nn.debug.Stepper(model, nn.MSELoss(), nn.optim.SGD(model, lr=0.1), loader)
    assert stepper.n_events == 4
    assert [stepper.step().phase for _ in range(4)] == ["forward", "loss", "backward", "update"]
    stepper.run_steps(30)
    assert stepper.losses[-1] < stepper.losses[0] / 10


def test_stepper_keeps_the_penalty_of_every_step_beside_its_loss():
    stepper, model, optimizer = make_stepper()  # Adam with l2=1e-3
    expected = []
    for _ in range(3):
        weights = [w for k, w in model.state_dict().items() if k.endswith("weight")]
        expected.append(sum(1e-3 / 2 * np.square(w.astype(np.float64)).sum() for w in weights))
        stepper.run_step()
    stepper.goto(0)  # rewound to before the loss: the current step's entry goes, then returns
    assert len(stepper.penalties) == len(stepper.losses) == 2
    stepper.run_step()
    assert len(stepper.penalties) == len(stepper.losses) == 3
    np.testing.assert_allclose(stepper.penalties, expected, rtol=1e-12)
    stepper.reset()
    assert stepper.penalties == []
