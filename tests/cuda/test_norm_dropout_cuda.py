"""BatchNorm and Dropout on the CUDA backend: the same masks, params and running statistics as
on the CPU. Without a GPU these run in Numba's CUDA simulator (tests/conftest.py), so shapes
stay tiny."""

import numpy as np

import numbanet as nn
from numbanet.backend import is_device_array, to_host

TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def test_dropout_mask_is_the_same_on_cpu_and_cuda_for_the_same_seed():
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((2, 6, 50)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        nn.seed(7)
        layer = nn.Dropout(0.4).to(device)
        y = to_host(layer.forward(x))
        assert is_device_array(layer.saved["mask"]) == (device == "cuda")
        results[device] = (to_host(layer.saved["mask"]), y, to_host(layer.backward(dy)))
    for name, on_cpu, on_gpu in zip(["mask", "y", "dx"], results["cpu"], results["cuda"]):
        np.testing.assert_array_equal(on_gpu, on_cpu, err_msg=name)
    assert 0.4 < results["cpu"][0].mean() < 0.8  # a real mask: some kept, some dropped


def tiny_model(device, dtype):
    nn.seed(0)
    model = nn.Sequential(
        nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.3), nn.Linear(5, 3)
    )
    return model.to(dtype).to(device)


def test_a_model_with_batch_norm_and_dropout_trains_alike_on_both_devices():
    # one dtype, as the simulator is slow: float64, whose tight tolerance catches a formula that
    # differs between the devices (test_kernels_cuda.py compares every kernel in float32 too)
    dtype = np.float64
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((7, 6)), rng.integers(0, 3, 7)) for _ in range(3)]
    x_eval = rng.standard_normal((4, 6))
    results = {}
    for device in ("cpu", "cuda"):
        model = tiny_model(device, dtype)
        optimizer = nn.optim.SGD(model, lr=0.1, momentum=0.9)
        losses = [
            event.loss
            for x, y in batches
            for event in nn.train_step(model, nn.CrossEntropyLoss(), optimizer, x, y)
            if event.phase == "loss"
        ]
        assert is_device_array(model[1].state["running_var"]) == (device == "cuda")
        results[device] = (losses, model.state_dict(), to_host(model.eval().forward(x_eval)))
    (cpu_losses, cpu_state, cpu_eval), (gpu_losses, gpu_state, gpu_eval) = results.values()
    np.testing.assert_allclose(gpu_losses, cpu_losses, **TOL[dtype])
    assert gpu_state.keys() == cpu_state.keys() and "1.running_mean" in cpu_state
    assert cpu_state["1.num_batches_tracked"] == gpu_state["1.num_batches_tracked"] == 3
    for key, value in cpu_state.items():
        assert gpu_state[key].shape == value.shape and gpu_state[key].dtype == value.dtype
        np.testing.assert_allclose(gpu_state[key], value, **TOL[dtype], err_msg=key)
    np.testing.assert_allclose(gpu_eval, cpu_eval, **TOL[dtype])


def test_batch_norm2d_on_cuda_matches_the_cpu_in_training_and_eval():
    rng = np.random.default_rng(2)
    x, dy = 1 + 2 * rng.standard_normal((2, 2, 3, 3, 4))
    results = {}
    for device in ("cpu", "cuda"):
        layer = nn.BatchNorm2d(3).to(np.float64).to(device)
        trained = [to_host(layer.forward(x)), to_host(layer.backward(dy))]
        trained += [to_host(g) for g in layer.grads.values()]
        layer.eval()
        evaluated = [to_host(layer.forward(x)), to_host(layer.backward(dy))]
        results[device] = trained + evaluated + list(layer.state_dict().values())
    for on_cpu, on_gpu in zip(results["cpu"], results["cuda"], strict=True):
        np.testing.assert_allclose(on_gpu, on_cpu, **TOL[np.float64])
