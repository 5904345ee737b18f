"""Sequence plumbing on the CUDA backend: Embedding, Linear over (N, T, F), LastTimeStep,
cross-entropy over sequences and gradient clipping give the CPU's numbers. Without a GPU these
run in Numba's CUDA simulator (tests/conftest.py), so shapes stay tiny."""

import numpy as np
import pytest
from numba import cuda

import numbanet as nn
from numbanet.backend import is_device_array, to_host

TOL = dict(rtol=1e-11, atol=1e-13)  # float64: a formula that differs between devices shows


def test_embedding_gives_the_cpus_rows_and_gradient_on_the_gpu():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, (3, 5))
    dy = rng.standard_normal((3, 5, 4)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        nn.seed(1)
        layer = nn.Embedding(6, 4, padding_idx=2).to(device)
        y = layer.forward(cuda.to_device(ids) if device == "cuda" else ids)
        assert is_device_array(y) == (device == "cuda")
        assert layer.backward(dy) is None
        results[device] = (to_host(y), to_host(layer.grads["weight"]))
    for name, on_cpu, on_gpu in zip(["y", "dW"], results["cpu"], results["cuda"]):
        # the same sums in the same order on both devices: the same bits
        np.testing.assert_array_equal(on_gpu, on_cpu, err_msg=name)
    assert np.abs(results["cpu"][1]).sum() > 0


def test_embedding_rejects_out_of_vocabulary_ids_on_the_gpu():
    layer = nn.Embedding(4, 2).to("cuda")
    with pytest.raises(nn.LayerInputError, match=r"ids in \[0, 3\] .* got ids in \[0, 7\]"):
        layer.forward(cuda.to_device(np.array([[0, 7]])))


@pytest.mark.parametrize("batch_first", [True, False])
def test_last_time_step_gives_the_cpus_numbers_on_the_gpu(batch_first):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5))
    dy = rng.standard_normal((3, 5) if batch_first else (4, 5))
    results = {}
    for device in ("cpu", "cuda"):
        layer = nn.LastTimeStep(batch_first=batch_first).to(np.float64).to(device)
        y = layer.forward(x)
        results[device] = (to_host(y), to_host(layer.backward(dy)))
    for name, on_cpu, on_gpu in zip(["y", "dx"], results["cpu"], results["cuda"]):
        np.testing.assert_array_equal(on_gpu, on_cpu, err_msg=name)


def char_model(device):
    nn.seed(3)
    model = nn.Sequential(nn.Embedding(7, 5), nn.Linear(5, 6, activation="tanh"), nn.Linear(6, 7))
    return model.to(np.float64).to(device)


def test_a_character_model_trains_alike_on_both_devices_with_clipping():
    rng = np.random.default_rng(4)
    x, y = nn.data.sequence_windows(rng.integers(0, 7, 25), 4)  # (6, 4) windows
    results = {}
    for device in ("cpu", "cuda"):
        model = char_model(device)
        optimizer = nn.optim.SGD(model, lr=0.5)
        loss_fn = nn.CrossEntropyLoss()
        losses, norms = [], []
        for _ in range(2):
            losses.append(loss_fn(model.forward(x), y))
            model.backward(loss_fn.backward())
            norms.append(nn.clip_grad_norm(model, 0.1))
            optimizer.step()
        assert is_device_array(model[0].params["weight"]) == (device == "cuda")
        results[device] = (losses, norms, model.state_dict())
    (cpu_losses, cpu_norms, cpu_state), (gpu_losses, gpu_norms, gpu_state) = results.values()
    np.testing.assert_allclose(gpu_losses, cpu_losses, **TOL)
    np.testing.assert_allclose(gpu_norms, cpu_norms, **TOL)
    assert min(cpu_norms) > 0.1  # every step was clipped: the rescale ran on both devices
    for key, value in cpu_state.items():
        np.testing.assert_allclose(gpu_state[key], value, **TOL, err_msg=key)


def test_sequence_accuracy_is_counted_per_position_on_the_gpu():
    model = char_model("cuda")
    x = np.random.default_rng(5).integers(0, 7, (4, 3))
    predicted = to_host(model.forward(x)).argmax(axis=-1)
    result = nn.evaluate(model, (x, predicted))
    assert result.accuracy == 1.0 and result.n_samples == 4
