"""The plain NumPy reference of the speed benchmarks (benchmarks/numpy_reference.py) trains the
same networks as numbanet: from the same weights, one step gives the same loss, gradients and
Adam update. Without this, "faster than NumPy" could be faster than a different computation."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import numbanet as nn

_spec = importlib.util.spec_from_file_location(
    "numpy_reference", Path(__file__).resolve().parents[1] / "benchmarks" / "numpy_reference.py"
)
numpy_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(numpy_reference)

MODELS = ("mlp", "seed_cnn", "lenet5")


@pytest.mark.parametrize("name", MODELS)
def test_reference_step_matches_numbanet_in_float64(name):
    nn.seed(0)
    model = getattr(nn.models, name)().to("float64")
    reference = getattr(numpy_reference, name)()
    reference.load_state_dict(model.state_dict())
    rng = np.random.default_rng(1)
    x, labels = rng.random((5, 1, 28, 28)), rng.integers(0, 10, 5)  # an odd batch

    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(model(x), labels)
    model.backward(loss_fn.backward())
    nn.optim.Adam(model, lr=1e-3).step()
    reference_loss = numpy_reference.train_step(
        reference, numpy_reference.Adam(reference, lr=1e-3), x, labels
    )

    assert reference_loss == pytest.approx(loss, rel=1e-12)
    grads, reference_grads = model.grad_dict(), reference.grad_dict()
    assert reference_grads.keys() == grads.keys()
    for key, grad in grads.items():
        scale = np.abs(grad).max()
        np.testing.assert_allclose(reference_grads[key], grad, rtol=1e-9, atol=1e-12 * scale,
                                   err_msg=f"{name}: gradient of {key}")  # fmt: skip
    for key, param in model.state_dict().items():
        np.testing.assert_allclose(reference.state_dict()[key], param, rtol=1e-12, atol=1e-15,
                                   err_msg=f"{name}: {key} after the Adam step")  # fmt: skip


@pytest.mark.parametrize("name", MODELS)
def test_reference_trains_in_float32(name):
    """What the benchmark times: float32 throughout, and a loss that falls on a fixed batch."""
    rng = np.random.default_rng(1)
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 8)
    network = getattr(numpy_reference, name)()
    step = numpy_reference.trainer(network, x, labels, lr=1e-3)
    losses = [step() for _ in range(10)]
    arrays = {**network.state_dict(), **network.grad_dict()}
    assert {key: a.dtype for key, a in arrays.items()} == {key: np.float32 for key in arrays}
    assert losses[-1] < 0.8 * losses[0]
