"""Losses: values against NumPy, gradients against finite differences, torch as an oracle."""

import numpy as np
import pytest

import numbanet as nn

RNG = np.random.default_rng(0)
LOSS_CASES = [
    ("mse", lambda: nn.MSELoss(), RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))),
    (
        "bce",
        lambda: nn.BCELoss(),
        RNG.uniform(0.1, 0.9, (4, 3)),
        RNG.integers(0, 2, (4, 3)).astype(float),
    ),
    (
        "bce_logits",
        lambda: nn.BCEWithLogitsLoss(),
        RNG.standard_normal((4, 3)) * 3,
        RNG.uniform(0, 1, (4, 3)),
    ),
    (
        "cross_entropy",
        lambda: nn.CrossEntropyLoss(),
        RNG.standard_normal((5, 4)) * 3,
        RNG.integers(0, 4, 5),
    ),
]


@pytest.mark.parametrize(
    "name, loss, prediction, target", LOSS_CASES, ids=[c[0] for c in LOSS_CASES]
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_gradient_matches_finite_differences(name, loss, prediction, target, reduction):
    loss_fn = loss()
    loss_fn.reduction = reduction
    errors = nn.gradcheck(loss_fn, prediction, target)
    assert errors["x"] < 1e-6, errors


def test_loss_values_match_numpy():
    y, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[1.0, 1.0], [1.0, 1.0]])
    assert nn.MSELoss()(y, t) == pytest.approx((0 + 1 + 4 + 16) / 4)
    assert nn.MSELoss(reduction="sum")(y, t) == pytest.approx(21)
    logits, labels = np.array([[2.0, 1.0, 0.1]]), np.array([0])
    expected = -np.log(np.exp(2.0) / np.exp([2.0, 1.0, 0.1]).sum())
    assert nn.CrossEntropyLoss()(logits, labels) == pytest.approx(expected, rel=1e-6)
    p, t = np.array([[0.9, 0.2]]), np.array([[1.0, 0.0]])
    assert nn.BCELoss()(p, t) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2, rel=1e-6)


def test_cross_entropy_is_finite_for_huge_logits():
    loss = nn.CrossEntropyLoss()
    value = loss(np.array([[1e4, -1e4, 0.0]], np.float32), np.array([1]))
    assert value == pytest.approx(2e4, rel=1e-6)
    assert np.isfinite(loss.backward()).all()


def test_empty_batch_has_zero_loss_and_empty_gradient():
    loss = nn.CrossEntropyLoss()
    assert loss(np.zeros((0, 10), np.float32), np.zeros(0, np.int64)) == 0.0
    assert loss.backward().shape == (0, 10)
    assert nn.MSELoss()(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


@pytest.mark.parametrize(
    "name, loss, prediction, target", LOSS_CASES, ids=[c[0] for c in LOSS_CASES]
)
def test_losses_match_torch(name, loss, prediction, target):
    torch = pytest.importorskip("torch")
    twin = {
        "mse": torch.nn.MSELoss(),
        "bce": torch.nn.BCELoss(),
        "bce_logits": torch.nn.BCEWithLogitsLoss(),
        "cross_entropy": torch.nn.CrossEntropyLoss(),
    }[name]
    loss_fn = loss()
    value = loss_fn(prediction, target)
    grad = np.array(loss_fn.backward())
    tp = torch.tensor(prediction, dtype=torch.float32, requires_grad=True)
    tt = (
        torch.tensor(target)
        if name == "cross_entropy"
        else torch.tensor(target, dtype=torch.float32)
    )
    tv = twin(tp, tt)
    tv.backward()
    assert value == pytest.approx(tv.item(), rel=1e-5)
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_predictions_turn_outputs_into_labels():
    assert nn.CrossEntropyLoss().predictions(np.array([[0.1, 2.0], [3.0, 1.0]])).tolist() == [1, 0]
    assert nn.BCELoss().predictions(np.array([[0.7], [0.2]])).tolist() == [[1], [0]]
    assert nn.BCEWithLogitsLoss().predictions(np.array([[0.5], [-0.1]])).tolist() == [[1], [0]]
    assert nn.MSELoss().predictions(np.zeros((2, 1))) is None
