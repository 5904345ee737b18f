"""The Transformer layers on the CUDA backend: a tiny GPT trains to the CPU's numbers, attention
keeps its weights on the device and drops them with the CPU's masks. Without a GPU these run in
Numba's CUDA simulator (tests/conftest.py), so shapes stay tiny (test_kernels_cuda.py compares
every new kernel on its own, in float32 and float64)."""

import numpy as np

import numbanet as nn
from numbanet.backend import is_device_array, to_host

TOL = dict(rtol=1e-11, atol=1e-13)  # float64: a formula that differs between devices shows


def test_a_tiny_gpt_with_dropout_trains_alike_on_both_devices():
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 7, (2, 4))]  # one step: the simulator is slow
    results = {}
    for device in ("cpu", "cuda"):
        nn.seed(1)  # the same weights, then the same dropout masks
        model = nn.models.gpt(7, block_size=3, n_layer=1, n_head=2, n_embd=4, dropout=0.2)
        model.to(np.float64).to(device)
        opt = nn.optim.AdamW(model, lr=1e-2, weight_decay=0.1, decay_weights_only=True)
        loss_fn, losses = nn.CrossEntropyLoss(), []
        for ids in batches:
            losses.append(loss_fn(model.forward(ids[:, :-1]), ids[:, 1:]))
            model.backward(loss_fn.backward())
            losses.append(nn.clip_grad_norm(model, 0.5))
            opt.step()
        attn = model[3].self_attn
        assert is_device_array(attn.saved["attention"]) == (device == "cuda")
        results[device] = (losses, model.state_dict(), to_host(attn.saved["mask"]))
    (cpu_losses, cpu_state, cpu_mask), (gpu_losses, gpu_state, gpu_mask) = results.values()
    np.testing.assert_allclose(gpu_losses, cpu_losses, **TOL)
    np.testing.assert_array_equal(gpu_mask, cpu_mask)
    assert 0 < cpu_mask.mean() < 1
    for key, value in cpu_state.items():
        np.testing.assert_allclose(gpu_state[key], value, **TOL, err_msg=key)


def test_post_norm_encoder_layer_with_sinusoidal_positions_matches_on_the_gpu():
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((2, 2, 3, 4))
    results = {}
    for device in ("cpu", "cuda"):
        nn.seed(3)
        model = nn.Sequential(
            nn.PositionalEmbedding(5, 4, kind="sinusoidal"),
            nn.TransformerEncoderLayer(4, 1, 6, dropout=0.0, activation="relu"),
        )
        model.to(np.float64).to(device)
        y, dx = to_host(model.forward(x)), to_host(model.backward(dy))
        results[device] = [y, dx, *model.grad_dict().values()]
    for on_cpu, on_gpu in zip(results["cpu"], results["cuda"], strict=True):
        np.testing.assert_allclose(on_gpu, on_cpu, **TOL)
