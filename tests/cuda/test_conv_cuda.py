"""A small CNN with a residual block trains to the same params on the CPU and on CUDA."""

import numpy as np

import numbanet as nn


def tiny_cnn(dtype):
    nn.seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.ReLU(),
        nn.Residual(nn.Conv2d(2, 2, 3, padding="same"), nn.Tanh()),
        nn.Conv2d(2, 3, 2, stride=2, dilation=1),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 3),
    ).to(dtype)


def test_a_cnn_with_a_residual_block_trains_alike_on_both_devices():
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((2, 1, 4, 4)), rng.integers(0, 3, 2)) for _ in range(2)]
    params, losses = {}, {}
    for device in ("cpu", "cuda"):
        model = tiny_cnn(np.float64).to(device)
        optimizer = nn.optim.SGD(model, lr=0.1, momentum=0.9)
        losses[device] = [
            event.loss
            for x, y in batches
            for event in nn.train_step(model, nn.CrossEntropyLoss(), optimizer, x, y)
            if event.phase == "loss"
        ]
        params[device] = model.state_dict()
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-12)
    for key, value in params["cpu"].items():
        np.testing.assert_allclose(params["cuda"][key], value, rtol=1e-11, atol=1e-13, err_msg=key)
