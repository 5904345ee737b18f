"""The inspector over a model on "cuda": every event renders from host copies of the GPU's
tensors, and the gradient check works on the layer that lives on the GPU."""

import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import numbanet as nn  # noqa: E402
from numbanet.backend import is_device_array  # noqa: E402
from numbanet.widgets import Inspector  # noqa: E402


def test_inspector_steps_through_a_cuda_model_like_a_cpu_one():
    shown = {}
    for device in ("cpu", "cuda"):
        nn.seed(0)
        model = nn.models.mlp(64, (8,), 10).to(device)
        train, _ = nn.data.digits()
        inspector = Inspector(
            model, nn.CrossEntropyLoss(), nn.optim.Adam(model, lr=1e-2), train, batch_size=8
        )
        headers, details = [], []
        for _ in range(inspector.stepper.n_events):
            inspector.buttons["step"].click()
            assert all(t.png.startswith(b"\x89PNG") for t in inspector.tiles)
            headers.append(re.sub(r"<style>.*?</style>", "", inspector.header.value, flags=re.S))
            details.append(inspector.stepper.event.tensors())
        shown[device] = headers, details, model
    assert shown["cuda"][0] == shown["cpu"][0]  # the same events, the same names
    for cpu, gpu in zip(shown["cpu"][1], shown["cuda"][1]):
        assert cpu.keys() == gpu.keys()
        for name in cpu:
            np.testing.assert_allclose(gpu[name], cpu[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert is_device_array(shown["cuda"][2][1].params["weight"])


def test_gradient_check_of_a_layer_on_the_gpu():
    nn.seed(0)
    model = nn.models.mlp(64, (8,), 10).to("cuda")
    train, _ = nn.data.digits()
    inspector = Inspector(
        model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), train, batch_size=4
    )
    inspector.slider.value = 2  # after event 2: the forward of Linear(64→8)
    errors = inspector.check_gradient()  # no ∂L/∂x: backprop stops at this first layer
    assert max(errors.values()) < 1e-6 and set(errors) == {"weight", "bias"}


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_the_unrolled_view_of_a_recurrent_layer_reads_the_same_numbers_from_the_gpu(kind):
    nn.seed(0)
    cpu = getattr(nn, kind)(3, 4, num_layers=2, batch_first=True)
    gpu = cpu.clone("cuda")
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((2, 5, 4)).astype(np.float32)
    for layer in (cpu, gpu):
        layer.keep_step_grads = True
        layer.forward(x)
        layer.backward(dy)
    assert is_device_array(gpu.saved["dh_l0"])
    for view in ("unrolled_states", "gate_means", "step_grad_norms"):
        on_cpu, on_gpu = getattr(cpu, view)(), getattr(gpu, view)()
        assert on_cpu.keys() == on_gpu.keys()
        for name in on_cpu:
            np.testing.assert_allclose(on_gpu[name], on_cpu[name], rtol=1e-5, atol=1e-6)
