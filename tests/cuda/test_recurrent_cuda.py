"""RNN, LSTM and GRU give the CPU's outputs, final states and gradients on CUDA (the kernels one by
one are compared in test_kernels_cuda.py through ``numbanet.compare.cases``)."""

import numpy as np
import pytest

import numbanet as nn
from numbanet.backend import to_host

CONFIGS = {
    "RNN[relu], 2 layers, batch first": (
        lambda: nn.RNN(2, 3, num_layers=2, nonlinearity="relu", batch_first=True),
        (2, 3, 2),
    ),
    "LSTM, 1 layer": (lambda: nn.LSTM(2, 3), (3, 2, 2)),
    "GRU, 2 layers, no bias": (lambda: nn.GRU(2, 3, num_layers=2, bias=False), (2, 2, 2)),
}


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("config", CONFIGS)
def test_recurrent_layer_on_cuda_matches_cpu(config):
    make, x_shape = CONFIGS[config]
    rng = np.random.default_rng(0)
    nn.seed(0)
    layer = make().to(np.float64)
    batch = x_shape[0] if layer.batch_first else x_shape[1]
    state_shape = (layer.num_layers, batch, layer.hidden_size)
    state = tuple(rng.standard_normal(state_shape) for _ in range(2 if layer.has_cell else 1))
    state = state if layer.has_cell else state[0]
    x = rng.standard_normal(x_shape)
    results = {}
    for device in ("cpu", "cuda"):
        on_device = layer.clone(device)
        y = to_host(on_device(x, state))
        dy = np.random.default_rng(1).standard_normal(y.shape)
        final = [to_host(s) for s in as_tuple(on_device.final_state)]
        dx = to_host(on_device.backward(dy, final_state_grad=state))
        state_grad = [to_host(s) for s in as_tuple(on_device.state_grad)]
        results[device] = {"y": y, "dx": dx, **on_device.grad_dict()}
        results[device] |= {f"final {i}": f for i, f in enumerate(final)}
        results[device] |= {f"state grad {i}": g for i, g in enumerate(state_grad)}
    assert results["cuda"].keys() == results["cpu"].keys()
    for key, expected in results["cpu"].items():
        np.testing.assert_allclose(
            results["cuda"][key], expected, rtol=1e-12, atol=1e-13, err_msg=key
        )
