"""Optimizers through the model API: torch as the oracle, penalties, state, bad arguments."""

import numpy as np
import pytest

import numbanet as nn


def run_steps(optimizer_factory, steps=5, seed=0):
    """Train a small model for a few steps on fixed data; returns (model, optimizer)."""
    nn.seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    optimizer = optimizer_factory(model)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.integers(0, 3, 16)
    loss = nn.CrossEntropyLoss()
    for _ in range(steps):
        loss(model(x), y)
        model.backward(loss.backward())
        optimizer.step()
    return model, optimizer, (x, y)


TORCH_CASES = {
    "sgd": (lambda m: nn.optim.SGD(m, lr=0.1), "SGD", dict(lr=0.1)),
    "sgd_momentum_wd": (
        lambda m: nn.optim.SGD(m, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2),
        "SGD",
        dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2),
    ),
    "sgd_nesterov": (
        lambda m: nn.optim.SGD(m, lr=0.1, momentum=0.9, nesterov=True),
        "SGD",
        dict(lr=0.1, momentum=0.9, nesterov=True),
    ),
    "adam": (lambda m: nn.optim.Adam(m, lr=1e-2), "Adam", dict(lr=1e-2)),
    "adam_wd": (
        lambda m: nn.optim.Adam(m, lr=1e-2, weight_decay=0.1),
        "Adam",
        dict(lr=1e-2, weight_decay=0.1),
    ),
    "adamw": (
        lambda m: nn.optim.AdamW(m, lr=1e-2, weight_decay=0.1),
        "AdamW",
        dict(lr=1e-2, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_optimizer_matches_torch_over_several_steps(case):
    torch = pytest.importorskip("torch")
    factory, torch_name, kwargs = TORCH_CASES[case]
    nn.seed(0)
    initial = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).state_dict()
    model, _, (x, y) = run_steps(factory)
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in initial.items()})
    opt = getattr(torch.optim, torch_name)(twin.parameters(), **kwargs)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    for key, value in twin.state_dict().items():
        np.testing.assert_allclose(
            model.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key
        )


def test_adam_state_is_keyed_like_the_state_dict():
    model, optimizer, _ = run_steps(lambda m: nn.optim.Adam(m), steps=3)
    assert set(optimizer.state) == set(model.state_dict())
    assert optimizer.state["0.weight"]["step"] == 3
    assert set(optimizer.state_of("0.weight")) == {"exp_avg", "exp_avg_sq"}


def test_l2_penalty_equals_sgd_weight_decay_on_weights():
    # λ/2 Σw² has gradient λw: one step of plain SGD with l2=λ moves the weights exactly as
    # weight_decay=λ (which also decays biases, so later steps differ)
    with_penalty, _, _ = run_steps(lambda m: nn.optim.SGD(m, lr=0.1, l2=0.01), steps=1)
    with_decay, _, _ = run_steps(lambda m: nn.optim.SGD(m, lr=0.1, weight_decay=0.01), steps=1)
    np.testing.assert_allclose(
        with_penalty[0].params["weight"], with_decay[0].params["weight"], rtol=1e-6
    )


def test_l1_penalty_adds_sign_of_weights_to_their_gradient_only():
    nn.seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    model(np.ones((1, 3)))
    model.backward(np.zeros((1, 2), np.float32))
    weight = model[0].params["weight"].copy()
    optimizer = nn.optim.SGD(model, lr=1.0, l1=0.5)
    assert optimizer.penalty() == pytest.approx(0.5 * np.abs(weight).sum(), rel=1e-6)
    optimizer.step()
    np.testing.assert_allclose(model[0].params["weight"], weight - 0.5 * np.sign(weight), rtol=1e-6)
    np.testing.assert_allclose(model[0].grads["bias"], 0)  # biases are not penalised


@pytest.mark.parametrize(
    "make",
    [
        lambda m: nn.optim.SGD(m, lr=-1),
        lambda m: nn.optim.Adam(m, lr=0),
        lambda m: nn.optim.SGD(m, lr=0.1, nesterov=True),
        lambda m: nn.optim.SGD(m, l1=-1),
    ],
)
def test_bad_hyperparameters_are_rejected(make):
    with pytest.raises(ValueError):
        make(nn.Sequential(nn.Linear(2, 2)))


def test_optimizer_needs_a_model():
    with pytest.raises(TypeError, match="expected a model"):
        nn.optim.Adam([np.zeros(3)])


def numpy_penalty(state, l1, l2):
    """λ₁Σ|w| + λ₂/2 Σw² over the weights: the params with 2 or more dims (not biases, not
    BatchNorm's γ, β or running statistics)."""
    weights = [
        v.astype(np.float64) for k, v in state.items() if k.endswith("weight") and v.ndim > 1
    ]
    return sum(l1 * np.abs(w).sum() + l2 / 2 * np.square(w).sum() for w in weights)


def test_train_step_reports_the_penalty_of_the_weights_at_that_step():
    nn.seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 6), nn.BatchNorm1d(6), nn.ReLU(),
        nn.Linear(6, 3),
    )  # fmt: skip
    optimizer = nn.optim.Adam(model, lr=0.05, l1=1e-3, l2=1e-2)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 1, 5, 5)).astype(np.float32), rng.integers(0, 3, 8)
    reported, expected = [], []
    for _ in range(3):
        weights = model.state_dict()  # before the step: the weights its loss is computed with
        events = list(nn.train_step(model, nn.CrossEntropyLoss(), optimizer, x, y, snapshot=True))
        (loss_event,) = [e for e in events if e.phase == "loss"]
        reported.append(loss_event.penalty)
        expected.append(numpy_penalty(weights, 1e-3, 1e-2))
        assert [e.penalty for e in events if e.phase != "loss"] == [None] * (len(events) - 1)
    np.testing.assert_allclose(reported, expected, rtol=1e-12)
    assert reported[0] != reported[2]  # the weights moved, and so did the penalty
    model.eval()  # no penalty given: 0.0, the loss alone
    (loss_event,) = [
        e for e in nn.train_step(model, nn.CrossEntropyLoss(), nn.optim.SGD(model), x, y, True)  # snapshot
        if e.phase == "loss"
    ]  # fmt: skip
    assert loss_event.penalty == 0.0 and loss_event.loss > 0


def test_gradient_of_loss_plus_penalty_matches_finite_differences_of_what_is_reported():
    # the update adds the penalty's gradient to the weights' grads; it must be the gradient of
    # the penalty the step reports, so loss + penalty is the objective the step descends
    nn.seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(np.float64)
    optimizer = nn.optim.SGD(model, lr=0.1, l1=0.05, l2=0.2)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)

    def reported_objective(state):
        model.load_state_dict(state)
        for event in nn.train_step(model, loss_fn, optimizer, x, y, snapshot=True):
            if event.phase == "loss":
                return event.loss + event.penalty  # leaves the step before its update

    start = model.state_dict()
    analytic = {}
    for event in nn.train_step(model, loss_fn, optimizer, x, y, snapshot=True):
        if event.phase == "update":
            path = event.layer.path
            grads = {
                k[: -len(".grad")]: v for k, v in event.tensors().items() if k.endswith(".grad")
            }
            analytic.update({f"{path}.{name}": grad for name, grad in grads.items()})
    eps = 1e-6
    for key, value in start.items():
        numeric = np.zeros(value.size)
        for i in range(value.size):
            up, down = dict(start), dict(start)
            up[key], down[key] = value.copy(), value.copy()
            up[key].flat[i] += eps
            down[key].flat[i] -= eps
            numeric[i] = (reported_objective(up) - reported_objective(down)) / (2 * eps)
        np.testing.assert_allclose(
            analytic[key].reshape(-1), numeric, rtol=1e-6, atol=1e-9, err_msg=key
        )
    penalty_gradient = 0.05 * np.sign(start["0.weight"]) + 0.2 * start["0.weight"]
    assert np.abs(penalty_gradient).min() > 0.05  # the penalty is a real part of the gradient
