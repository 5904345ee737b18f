"""A NaN reaching an activation passes through it, as in IEEE arithmetic and in torch, so that
the anomaly check downstream sees it (a ReLU that turned NaN into 0 hid a planted NaN from
the loss). Checked on the layers, the fused epilogues and a ReLU RNN, and against torch where
it is installed."""

import numpy as np
import pytest

import numbanet as nn

X = np.array([[np.nan, -1.0, 0.0, 2.0, -np.inf, np.inf]], dtype=np.float32)


@pytest.mark.parametrize(
    "layer, expected",
    [
        (nn.ReLU(), [np.nan, 0.0, 0.0, 2.0, 0.0, np.inf]),
        (nn.LeakyReLU(0.1), [np.nan, -0.1, 0.0, 2.0, -np.inf, np.inf]),
        (nn.Sigmoid(), [np.nan, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-2.0)), 0.0, 1.0]),
        (nn.Tanh(), [np.nan, np.tanh(-1.0), 0.0, np.tanh(2.0), -1.0, 1.0]),
    ],
    ids=["ReLU", "LeakyReLU", "Sigmoid", "Tanh"],
)
def test_an_activation_passes_nan_through_and_keeps_infinities_in_order(layer, expected):
    np.testing.assert_allclose(layer.forward(X)[0], expected, rtol=1e-6)


def test_relu_backward_passes_dy_on_at_a_nan_input_as_torch_does():
    relu = nn.ReLU()
    relu.forward(X)
    dx = relu.backward(np.ones_like(X))
    # torch's threshold_backward: 0 where x <= 0, else dy; NaN <= 0 is false, so dy passes
    np.testing.assert_array_equal(dx[0], [1.0, 0.0, 0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_a_fused_activation_passes_nan_through(activation):
    nn.seed(0)
    fused = nn.Linear(3, 4, activation=activation)
    x = np.ones((2, 3), np.float32)
    x[0, 1] = np.nan
    y = fused.forward(x)
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()


def test_a_relu_rnn_carries_a_nan_to_every_later_step():
    nn.seed(0)
    rnn = nn.RNN(2, 3, nonlinearity="relu", batch_first=True)
    x = np.ones((1, 4, 2), np.float32)
    x[0, 1, 0] = np.nan
    y = rnn.forward(x)
    assert np.isfinite(y[0, 0]).all() and np.isnan(y[0, 1:]).all()


def test_relu_and_leaky_relu_agree_with_torch_on_non_finite_inputs():
    torch = pytest.importorskip("torch")
    values = torch.from_numpy(X.copy()).requires_grad_()
    for ours, theirs in ((nn.ReLU(), torch.relu), (nn.LeakyReLU(0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1))):
        out = theirs(values)
        out.backward(torch.ones_like(out))
        np.testing.assert_array_equal(ours.forward(X), out.detach().numpy())
        np.testing.assert_array_equal(ours.backward(np.ones_like(X)), values.grad.numpy())
        values.grad = None
