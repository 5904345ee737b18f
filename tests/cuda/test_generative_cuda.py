"""The generative models' layers on the CUDA backend: a tiny VAE-shaped model with Reparameterize,
Unflatten and Upsample trains to the same params, the same losses and the same KL on both
devices (the same ε from the same seed), and a tiny DCGAN-shaped generator (ConvTranspose2d with
stride 2, and with stride 1 and padding, BatchNorm) to the same params and running statistics.
Without a GPU this runs in Numba's CUDA simulator (tests/conftest.py), so shapes stay tiny."""

import numpy as np

import numbanet as nn
from numbanet.backend import to_host

TOL = dict(rtol=1e-11, atol=1e-13)


def tiny_decoder_model():
    return nn.Sequential(
        nn.Linear(8, 6), nn.Reparameterize(reduction="sum"), nn.Linear(3, 8),
        nn.Unflatten(1, (2, 2, 2)), nn.Upsample(2), nn.Flatten(), nn.Linear(32, 8),
    )  # fmt: skip


def test_a_vae_shaped_model_trains_alike_on_both_devices():
    rng = np.random.default_rng(0)
    batches = [rng.uniform(0, 1, (3, 8))]
    results = {}
    for device in ("cpu", "cuda"):
        nn.seed(0)
        model = tiny_decoder_model().to(np.float64).to(device)
        optimizer = nn.optim.Adam(model, lr=1e-2)
        loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
        losses, kls = [], []
        for x in batches:
            for event in nn.train_step(model, loss_fn, optimizer, x, x):
                if event.phase == "loss":
                    losses.append(event.loss)
                    kls.append(model.objective_terms()["kl"])
        eps = to_host(model[1].saved["eps"])
        results[device] = losses, kls, eps, model.state_dict()
    (cpu_losses, cpu_kls, cpu_eps, cpu_state), (gpu_losses, gpu_kls, gpu_eps, gpu_state) = (
        results.values()
    )
    assert np.abs(cpu_eps).max() > 0  # ε was drawn
    np.testing.assert_allclose(gpu_eps, cpu_eps, **TOL)
    np.testing.assert_allclose(gpu_losses, cpu_losses, **TOL)
    np.testing.assert_allclose(gpu_kls, cpu_kls, **TOL)
    for key, value in cpu_state.items():
        np.testing.assert_allclose(gpu_state[key], value, **TOL, err_msg=key)


def tiny_generator():
    return nn.Sequential(
        nn.Linear(4, 8 * 2 * 2, bias=False), nn.BatchNorm1d(32), nn.ReLU(),
        nn.Unflatten(1, (8, 2, 2)),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.ConvTranspose2d(4, 1, 3, padding=1), nn.Tanh(),
    )  # fmt: skip


def test_a_dcgan_shaped_generator_trains_alike_on_both_devices():
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((3, 4)), rng.uniform(-1, 1, (3, 1, 4, 4)))]
    results = {}
    for device in ("cpu", "cuda"):
        nn.seed(0)
        model = tiny_generator().to(np.float64).to(device)
        optimizer = nn.optim.Adam(model, lr=1e-2)
        losses = [
            event.loss
            for z, target in batches
            for event in nn.train_step(model, nn.MSELoss(), optimizer, z, target)
            if event.phase == "loss"
        ]
        results[device] = losses, model.state_dict()
    (cpu_losses, cpu_state), (gpu_losses, gpu_state) = results.values()
    np.testing.assert_allclose(gpu_losses, cpu_losses, **TOL)
    assert "5.running_var" in cpu_state
    for key, value in cpu_state.items():
        np.testing.assert_allclose(gpu_state[key], value, **TOL, err_msg=key)
