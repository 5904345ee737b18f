"""The generative models of the zoo: shapes and param counts as published, the VAE's objective
and gradients against pytorch/examples' VAE with the same weights and ε, and real learning."""

import numpy as np
import pytest

import numbanet as nn
from numbanet import data

RNG = np.random.default_rng(0)


def test_autoencoder_and_vae_shapes_and_param_counts():
    x = RNG.uniform(0, 1, (3, 1, 28, 28))
    ae = nn.models.autoencoder()
    assert ae(x).shape == (3, 784)
    assert ae.num_params() == (784 * 128 + 128) + (128 * 32 + 32) + (32 * 128 + 128) + (
        128 * 784 + 784
    )
    vae = nn.models.vae()
    assert vae(x).shape == (3, 784)
    assert sum(isinstance(layer, nn.Reparameterize) for layer in vae.layers) == 1
    # pytorch/examples' VAE: fc1 784→400, fc21 and fc22 400→20, fc3 20→400, fc4 400→784
    assert (
        vae.num_params() == 784 * 400 + 400 + 2 * (400 * 20 + 20) + 20 * 400 + 400 + 400 * 784 + 784
    )
    assert vae.objective_terms().keys() == {"kl"}


def torch_vae(torch, model):
    """pytorch/examples' VAE (fc1, fc21, fc22, fc3, fc4) with ``model``'s weights."""
    state = {k: torch.tensor(v) for k, v in model.state_dict().items()}
    twin = torch.nn.ModuleDict({
        "fc1": torch.nn.Linear(784, 400), "fc21": torch.nn.Linear(400, 20),
        "fc22": torch.nn.Linear(400, 20), "fc3": torch.nn.Linear(20, 400),
        "fc4": torch.nn.Linear(400, 784),
    }).double()  # fmt: skip
    with torch.no_grad():
        for name, key in (("fc1", "1"), ("fc3", "5"), ("fc4", "7")):
            twin[name].weight.copy_(state[f"{key}.weight"])
            twin[name].bias.copy_(state[f"{key}.bias"])
        for name, rows in (("fc21", slice(0, 20)), ("fc22", slice(20, 40))):
            twin[name].weight.copy_(state["3.weight"][rows])
            twin[name].bias.copy_(state["3.bias"][rows])
    return twin


def test_vae_objective_and_gradients_match_pytorch_examples():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    nn.seed(0)
    model = nn.models.vae().to(np.float64)
    x = RNG.uniform(0, 1, (6, 784))
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    loss = loss_fn(model(x), x)
    model.backward(loss_fn.backward())
    objective = loss + len(x) * model[4].kl
    eps = torch.tensor(np.array(model[4].saved["eps"]))

    twin = torch_vae(torch, model)
    tx = torch.tensor(x)
    h1 = F.relu(twin["fc1"](tx))
    mu, logvar = twin["fc21"](h1), twin["fc22"](h1)
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = torch.sigmoid(twin["fc4"](F.relu(twin["fc3"](z))))
    bce = F.binary_cross_entropy(recon, tx, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    (bce + kld).backward()  # pytorch/examples' loss_function

    assert objective == pytest.approx((bce + kld).item(), rel=1e-10)
    grads = model.grad_dict()
    for name, key in (("fc1", "1"), ("fc3", "5"), ("fc4", "7")):
        np.testing.assert_allclose(
            grads[f"{key}.weight"], twin[name].weight.grad, rtol=1e-8, atol=1e-10
        )
        np.testing.assert_allclose(
            grads[f"{key}.bias"], twin[name].bias.grad, rtol=1e-8, atol=1e-10
        )
    stacked = torch.cat([twin["fc21"].weight.grad, twin["fc22"].weight.grad])
    np.testing.assert_allclose(grads["3.weight"], stacked, rtol=1e-8, atol=1e-10)


def test_vae_learns_mnist_on_a_subset():
    """The recipe of benchmarks/vae.py on 3,000 images for 2 epochs: the objective per image
    (BCE summed over pixels + KL) falls from 784·ln 2 ≈ 543 (logits 0) below 230 (217 when
    written; the full recipe reaches ~105 on the test set, benchmarks/RESULTS.md)."""
    train, _ = data.mnist()
    x = np.asarray(train.x[:3000], np.float32).reshape(-1, 784)
    nn.seed(0)
    model = nn.models.vae()
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    history = nn.fit(model, loss_fn, nn.optim.Adam(model, lr=1e-3), (x, x), epochs=2,
                     batch_size=128, seed=0, progress=False)  # fmt: skip
    objective = history.train_objective
    assert objective[0] > objective[1]
    assert objective[1] < 230, objective
    assert 2 < history.train_terms["kl"][-1] < 40  # the code carries information, not too much


def test_conv_autoencoder_and_mnist_gan_shapes():
    x = RNG.uniform(0, 1, (2, 1, 28, 28))
    ae = nn.models.conv_autoencoder()
    assert ae(x).shape == (2, 1, 28, 28)
    assert [type(layer).__name__ for layer in ae if layer.params] == ["Conv2d", "Conv2d",
            "ConvTranspose2d", "ConvTranspose2d"]  # fmt: skip
    generator, discriminator = nn.models.mnist_gan(latent_dim=16)
    images = generator(RNG.standard_normal((3, 16)))
    assert images.shape == (3, 1, 28, 28) and np.abs(images).max() <= 1
    assert discriminator(images).shape == (3, 1)


def torch_twin(torch, model):
    """torch's Sequential with the same layers, keys and values as ``model`` (a state_dict moved
    through NumPy arrays, as the design promises)."""
    tnn = torch.nn
    twins = {
        "Linear": lambda l: tnn.Linear(l.in_features, l.out_features, bias=l.bias),
        "BatchNorm1d": lambda l: tnn.BatchNorm1d(l.num_features),
        "BatchNorm2d": lambda l: tnn.BatchNorm2d(l.num_features),
        "ReLU": lambda l: tnn.ReLU(),
        "Tanh": lambda l: tnn.Tanh(),
        "LeakyReLU": lambda l: tnn.LeakyReLU(l.negative_slope),
        "Flatten": lambda l: tnn.Flatten(),
        "Unflatten": lambda l: tnn.Unflatten(l.dim, l.sizes),
        "Conv2d": lambda l: tnn.Conv2d(l.in_channels, l.out_channels, l.kernel_size, l.stride,
                                       l.padding, l.dilation, bias=l.bias),
        "ConvTranspose2d": lambda l: tnn.ConvTranspose2d(
            l.in_channels, l.out_channels, l.kernel_size, l.stride, l.padding, l.output_padding,
            bias=l.bias, dilation=l.dilation),
    }  # fmt: skip
    twin = tnn.Sequential(*(twins[type(layer).__name__](layer) for layer in model)).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return twin


def test_dcgan_generator_and_discriminator_with_batch_norm_match_torch():
    torch = pytest.importorskip("torch")
    nn.seed(0)
    for model, x in zip(nn.models.mnist_gan(latent_dim=8),
                        (RNG.standard_normal((4, 8)), RNG.uniform(-1, 1, (4, 1, 28, 28)))):  # fmt: skip
        model.to(np.float64)
        twin = torch_twin(torch, model)
        tx = torch.tensor(x, requires_grad=True)
        ty = twin(tx)  # training mode: BatchNorm normalises with the batch's statistics
        y = model(x)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        dy = RNG.standard_normal(y.shape)
        ty.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(model.backward(dy), tx.grad.numpy(), rtol=1e-8, atol=1e-12)
        grads, state = model.grad_dict(), model.state_dict()
        for key, param in twin.named_parameters():
            np.testing.assert_allclose(grads[key], param.grad.numpy(), rtol=1e-8, atol=1e-11,
                                       err_msg=key)  # fmt: skip
        for key, value in twin.state_dict().items():  # running statistics after one batch
            np.testing.assert_allclose(state[key], value.numpy(), rtol=1e-10, err_msg=key)


def test_generative_models_are_saved_and_rebuilt(tmp_path):
    nn.seed(0)
    generator, _ = nn.models.mnist_gan(latent_dim=8)
    z = RNG.standard_normal((2, 8)).astype(np.float32)
    for name, model, x in (
        ("vae", nn.models.vae(latent_dim=4, hidden=16), RNG.uniform(0, 1, (2, 784))),
        ("generator", generator, z),
        ("conv_autoencoder", nn.models.conv_autoencoder(), RNG.uniform(0, 1, (2, 1, 28, 28))),
    ):
        model.eval()
        nn.io.save(tmp_path / f"{name}.npz", model)
        again, _ = nn.io.load(tmp_path / f"{name}.npz")
        assert repr(again) == repr(model)
        np.testing.assert_array_equal(again.eval()(x), model(x), err_msg=name)
