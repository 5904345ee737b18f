"""Models with pooling layers train to the same params on the CPU and on CUDA, and backprop the
same dx through every pool."""

import numpy as np
import pytest

import numbanet as nn
from numbanet.backend import to_host

MODELS = {
    "max": lambda: nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 3)),
    "avg, global": lambda: nn.Sequential(
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        nn.MaxPool2d((2, 1), stride=1, padding=(1, 0), dilation=(1, 2)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 3),
    ),
}


@pytest.mark.parametrize("model", MODELS)
def test_a_model_with_pools_trains_alike_on_both_devices(model):
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((3, 2, 4, 5)), rng.integers(0, 3, 3)) for _ in range(3)]
    dy = rng.standard_normal((3, 3))
    params, losses, dx = {}, {}, {}
    for device in ("cpu", "cuda"):
        nn.seed(0)
        net = MODELS[model]().to(np.float64).to(device)
        optimizer = nn.optim.SGD(net, lr=0.1, momentum=0.9)
        losses[device] = [
            event.loss
            for x, y in batches
            for event in nn.train_step(net, nn.CrossEntropyLoss(), optimizer, x, y)
            if event.phase == "loss"
        ]
        params[device] = net.state_dict()
        # a training step stops backprop at the first layer with params; ask for dx through
        # the pools too
        net.forward(batches[0][0])
        dx[device] = to_host(net.backward(dy))
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-12)
    for key, value in params["cpu"].items():
        np.testing.assert_allclose(params["cuda"][key], value, rtol=1e-11, atol=1e-13, err_msg=key)
    assert np.abs(dx["cpu"]).max() > 0
    np.testing.assert_allclose(dx["cuda"], dx["cpu"], rtol=1e-12, atol=1e-14)
