"""Reparameterize and the objective-term hook: z and the KL against NumPy, the gradient of
Σ dy·z + KL against finite differences and PyTorch, reproducible ε, and fit/evaluate reporting
the KL beside the data loss."""

import numpy as np
import pytest

import numbanet as nn
from layer_contract import check_layer_contract
from numbanet.layers.base import objective_addition

RNG = np.random.default_rng(0)


def encoder_output(n, d):
    """[μ | log σ²] rows with log σ² in a range an encoder gives."""
    return np.concatenate([RNG.standard_normal((n, d)), RNG.uniform(-2, 1, (n, d))], axis=1)


def kl_reference(x):
    mu, log_var = np.split(np.asarray(x, np.float64), 2, axis=1)
    return -0.5 * (1 + log_var - mu**2 - np.exp(log_var)).sum(axis=1)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "eval"])
def test_contract_and_gradient_of_z_plus_kl_match_finite_differences(reduction, training):
    layer = nn.Reparameterize(reduction=reduction).train(training)
    check_layer_contract(layer, encoder_output(4, 3), (4, 3))


def test_z_is_mu_plus_sigma_eps_and_kl_is_per_sample():
    x = encoder_output(2000, 3).astype(np.float32)
    nn.seed(1)
    layer = nn.Reparameterize()
    z = np.array(layer.forward(x))
    eps = np.array(layer.saved["eps"])
    mu, log_var = np.split(x, 2, axis=1)
    np.testing.assert_allclose(z, mu + np.exp(0.5 * log_var) * eps, rtol=1e-5, atol=1e-6)
    # ε is standard normal: 6000 draws, so the mean is within ~4 standard errors of 0
    assert abs(eps.mean()) < 0.05 and abs(eps.std() - 1) < 0.05
    assert abs((eps < -1.96).mean() - 0.025) < 0.01
    assert layer.kl == pytest.approx(kl_reference(x).mean(), rel=1e-5)
    assert layer.objective_terms() == {"kl": layer.kl}
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), mu)  # z = μ, no draw


def test_eps_is_reproducible_and_evaluation_draws_nothing():
    x = encoder_output(3, 4)
    draws = []
    for _ in range(2):
        nn.seed(5)
        draws.append(np.array(nn.Reparameterize().forward(x)))
    np.testing.assert_array_equal(draws[0], draws[1])
    state = nn.rng.generator().bit_generator.state
    nn.Reparameterize().eval().forward(x)
    assert nn.rng.generator().bit_generator.state == state


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_torch_with_the_same_eps(reduction):
    torch = pytest.importorskip("torch")
    x = encoder_output(5, 3)
    layer = nn.Reparameterize(reduction=reduction).to(np.float64)
    z = layer.forward(x)
    eps = torch.tensor(np.array(layer.saved["eps"]))
    dz = RNG.standard_normal(z.shape)
    tx = torch.tensor(x, requires_grad=True)
    mu, log_var = tx.chunk(2, dim=1)
    tz = mu + torch.exp(0.5 * log_var) * eps  # pytorch/examples' reparameterize
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())  # and its KL, summed
    objective = (tz * torch.tensor(dz)).sum() + (kl if reduction == "sum" else kl / len(x))
    objective.backward()
    np.testing.assert_allclose(z, tz.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(dz), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert layer.kl * len(x) == pytest.approx(kl.item(), rel=1e-12)


def test_terms_add_up_over_a_model_and_enter_the_objective_by_reduction():
    model = nn.Sequential(nn.Linear(3, 4), nn.Reparameterize(reduction="sum"), nn.Linear(2, 3))
    assert model.objective_terms() == {} and objective_addition(model, 5) == 0.0
    x = RNG.standard_normal((5, 3))
    model.forward(x)
    kl = model[1].kl
    assert kl > 0 and model.objective_terms() == {"kl": kl}
    assert objective_addition(model, 5) == pytest.approx(5 * kl)
    assert nn.Linear(2, 2).objective_terms() == {}


def test_a_loss_checks_that_the_terms_are_reduced_as_it_is():
    model = nn.Sequential(nn.Linear(3, 4), nn.Reparameterize(), nn.Linear(2, 3))
    nn.MSELoss().check_terms(model)
    with pytest.raises(ValueError, match=r"1: Reparameterize\(\) reduces its objective term .*"
                       r"reduction='mean' but this loss with 'sum'"):  # fmt: skip
        nn.MSELoss(reduction="sum").check_terms(model)
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.Reparameterize(reduction="none")
    with pytest.raises(ValueError, match=r"\(N, 2·D\).*5 is not an even number"):
        nn.Reparameterize().forward(np.zeros((2, 5)))


def test_fit_and_evaluate_report_the_kl_beside_the_data_loss():
    nn.seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Reparameterize(reduction="sum"), nn.Linear(3, 4))
    x = RNG.standard_normal((24, 4)).astype(np.float32)
    loss_fn = nn.MSELoss(reduction="sum")
    history = nn.fit(model, loss_fn, nn.optim.Adam(model, lr=1e-2), (x, x), epochs=2,
                     batch_size=8, val_data=(x, x), progress=False)  # fmt: skip
    assert list(history.train_terms) == ["kl"] and len(history.train_terms["kl"]) == 2
    assert history.train_objective == pytest.approx(
        [loss + kl for loss, kl in zip(history.train_loss, history.train_terms["kl"])]
    )
    result = nn.evaluate(model, (x, x), loss_fn, batch_size=10)
    assert history.val_terms["kl"][-1] == pytest.approx(result.terms["kl"])
    model.eval()
    mu = model[0].forward(x)  # evaluation: z = μ, and the KL of every batch, per sample
    assert result.terms["kl"] == pytest.approx(kl_reference(mu).mean(), rel=1e-5)
    assert f"kl {result.terms['kl']:.4f}" in str(result)
    with pytest.raises(ValueError, match="reduces its objective term"):
        nn.fit(model, nn.MSELoss(), nn.optim.Adam(model), (x, x), progress=False)


def test_rewinding_a_step_replays_the_same_eps():
    nn.seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Reparameterize(reduction="sum"), nn.Linear(3, 4))
    x = RNG.standard_normal((5, 4))
    stepper = nn.debug.Stepper(model, nn.MSELoss(reduction="sum"), nn.optim.SGD(model, lr=0.1),
                               (x, x), batch_size=5)  # fmt: skip
    first = np.array(stepper.goto(1).tensors()["output"])  # Reparameterize's forward
    eps = np.array(model[1].saved["eps"])
    stepper.run_step()
    stepper.goto(-1)
    np.testing.assert_array_equal(stepper.goto(1).tensors()["output"], first)
    np.testing.assert_array_equal(model[1].saved["eps"], eps)
    stepper.next_batch()  # the next step draws a new ε
    stepper.goto(1)
    assert not np.array_equal(model[1].saved["eps"], eps)


def test_the_inspector_is_shown_eps_and_each_samples_kl():
    layer = nn.Reparameterize()
    x = encoder_output(4, 3)
    layer.forward(x)
    views = {view.title: view for view in layer.views("forward", {"input": x})}
    np.testing.assert_array_equal(views["ε (0 in eval)"].data, layer.saved["eps"])
    assert views["KL per sample"].kind == "histogram"
    np.testing.assert_allclose(views["KL per sample"].data, kl_reference(x), rtol=1e-5)
