"""Losses: values against NumPy, gradients against finite differences, torch as an oracle."""

import numpy as np
import pytest

import numbanet as nn
from numbanet.gradcheck import numeric_gradient

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
def test_unreduced_loss_gradient_matches_finite_differences(name, loss, prediction, target):
    loss_fn = loss()
    loss_fn.reduction = "none"
    losses = loss_fn(prediction, target)
    dloss = RNG.standard_normal(losses.shape)
    analytic = np.array(loss_fn.backward(dloss))
    x = np.array(prediction, np.float64)
    numeric = numeric_gradient(lambda: float(np.sum(dloss * loss_fn(x, target))), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "name, loss, prediction, target", LOSS_CASES, ids=[c[0] for c in LOSS_CASES]
)
def test_losses_match_torch(name, loss, prediction, target, reduction):
    torch = pytest.importorskip("torch")
    twin = {
        "mse": torch.nn.MSELoss,
        "bce": torch.nn.BCELoss,
        "bce_logits": torch.nn.BCEWithLogitsLoss,
        "cross_entropy": torch.nn.CrossEntropyLoss,
    }[name](reduction=reduction)
    loss_fn = loss()
    loss_fn.reduction = reduction
    value = loss_fn(prediction, target)
    tp = torch.tensor(prediction, dtype=torch.float32, requires_grad=True)
    tt = (
        torch.tensor(target)
        if name == "cross_entropy"
        else torch.tensor(target, dtype=torch.float32)
    )
    tv = twin(tp, tt)
    if reduction == "none":
        assert isinstance(value, np.ndarray) and value.shape == tuple(tv.shape)
        dloss = RNG.standard_normal(value.shape).astype(np.float32)
        grad = np.array(loss_fn.backward(dloss))
        tv.backward(torch.tensor(dloss))
        np.testing.assert_allclose(value, tv.detach().numpy(), rtol=1e-5, atol=1e-7)
    else:
        grad = np.array(loss_fn.backward())
        tv.backward()
        assert value == pytest.approx(tv.item(), rel=1e-5)
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_unreduced_cross_entropy_of_sequences_is_one_loss_per_position():
    logits, labels = RNG.standard_normal((2, 3, 4)), RNG.integers(0, 4, (2, 3))
    losses = nn.CrossEntropyLoss(reduction="none")(logits, labels)
    assert losses.shape == (2, 3)
    total = nn.CrossEntropyLoss(reduction="sum")(logits, labels)
    assert losses.sum() == pytest.approx(total, rel=1e-6)


def test_backward_checks_the_gradient_of_the_losses():
    loss_fn = nn.MSELoss(reduction="none")
    loss_fn(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"MSELoss\(reduction='none'\).*\(2, 3\), got \(3,\)"):
        loss_fn.backward(np.ones(3))
    np.testing.assert_allclose(loss_fn.backward(), -2 * np.ones((2, 3)))  # dloss = ones
    mean = nn.MSELoss()
    mean(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="only with reduction='none'"):
        mean.backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="avg")


def test_sample_total_makes_a_sum_loss_per_sample():
    assert nn.MSELoss().sample_total(0.5, 4) == 2.0  # mean per element × batch
    assert nn.BCELoss(reduction="sum").sample_total(30.0, 4) == 30.0  # already the batch's sum
    with pytest.raises(ValueError, match="'mean' or 'sum'"):
        nn.MSELoss(reduction="none").sample_total(np.zeros(4), 4)


def test_predictions_turn_outputs_into_labels():
    assert nn.CrossEntropyLoss().predictions(np.array([[0.1, 2.0], [3.0, 1.0]])).tolist() == [1, 0]
    assert nn.BCELoss().predictions(np.array([[0.7], [0.2]])).tolist() == [[1], [0]]
    assert nn.BCEWithLogitsLoss().predictions(np.array([[0.5], [-0.1]])).tolist() == [[1], [0]]
    assert nn.MSELoss().predictions(np.zeros((2, 1))) is None


def test_evaluate_reports_a_summed_loss_per_sample():
    nn.seed(0)
    model = nn.Linear(3, 2)
    x, t = RNG.standard_normal((10, 3)), RNG.standard_normal((10, 2))
    squared = ((np.asarray(nn.predict(model, x), np.float64) - t) ** 2).sum()
    summed = nn.evaluate(model, (x, t), nn.MSELoss(reduction="sum"), batch_size=4)
    assert summed.loss == pytest.approx(squared / 10, rel=1e-5)
    mean = nn.evaluate(model, (x, t), nn.MSELoss(), batch_size=4)
    assert mean.loss == pytest.approx(squared / 20, rel=1e-5)
