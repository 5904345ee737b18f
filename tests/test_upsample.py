"""Unflatten and Upsample, a decoder's way back up: the contract, finite differences, a NumPy
reference, PyTorch as an oracle, and clear errors."""

import numpy as np
import pytest

import numbanet as nn
from layer_contract import check_layer_contract
from numbanet.backend import get_backend

RNG = np.random.default_rng(0)
K = get_backend("cpu").kernels


@pytest.mark.parametrize(
    "layer, x_shape, y_shape",
    [
        (lambda: nn.Unflatten(1, (2, 3, 2)), (4, 12), (4, 2, 3, 2)),
        (lambda: nn.Unflatten(-1, (-1, 3)), (2, 5, 6), (2, 5, 2, 3)),
        (lambda: nn.Unflatten(0, (2, 2)), (4, 3), (2, 2, 3)),
        (lambda: nn.Upsample(2), (2, 3, 2, 3), (2, 3, 4, 6)),
        (lambda: nn.Upsample((1, 3)), (1, 2, 3, 2), (1, 2, 3, 6)),
        (lambda: nn.Upsample(scale_factor=3.0), (1, 1, 1, 1), (1, 1, 3, 3)),
    ],
    ids=lambda v: v if isinstance(v, tuple) else repr(v()),
)
def test_layer_contract_and_gradients_match_finite_differences(layer, x_shape, y_shape):
    check_layer_contract(layer(), RNG.standard_normal(x_shape), y_shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [(2, 2), (3, 1), (1, 2)])
def test_upsample_kernels_match_numpy_repeat(scale, dtype):
    x = RNG.standard_normal((2, 3, 4, 5)).astype(dtype)
    expected = x.repeat(scale[0], axis=2).repeat(scale[1], axis=3)
    y = np.empty(expected.shape, dtype)
    K.upsample_nearest2d_forward(x, *scale, y)
    np.testing.assert_array_equal(y, expected)
    dy = RNG.standard_normal(y.shape).astype(dtype)
    dx = np.empty_like(x)
    K.upsample_nearest2d_backward(dy, *scale, dx)
    blocks = dy.reshape(2, 3, 4, scale[0], 5, scale[1]).sum(axis=(3, 5))
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(dx, blocks, **tol)


def test_unflatten_and_upsample_match_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((3, 2 * 3 * 4)).astype(np.float32)
    model = nn.Sequential(nn.Unflatten(1, (2, 3, 4)), nn.Upsample(scale_factor=2))
    twin = torch.nn.Sequential(
        torch.nn.Unflatten(1, (2, 3, 4)), torch.nn.Upsample(scale_factor=2, mode="nearest")
    )
    tx = torch.tensor(x, requires_grad=True)
    ty = twin(tx)
    y = model.forward(x)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    dy = RNG.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(model.backward(dy), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_unflatten_and_upsample_errors_say_what_was_expected():
    with pytest.raises(
        ValueError, match=r"Unflatten\(1, \(3, 5\)\): cannot split dim 1 of size 12"
    ):
        nn.Unflatten(1, (3, 5)).forward(np.zeros((2, 12)))
    with pytest.raises(ValueError, match="dim 3, got shape"):
        nn.Unflatten(3, (2, 2)).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Unflatten(1, (-1, -1))
    with pytest.raises(ValueError, match=r"Upsample\(scale_factor=2\): expected input of shape"):
        nn.Upsample(2).forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="fractional factors are not supported"):
        nn.Upsample(1.5)
    with pytest.raises(ValueError, match="mode must be 'nearest'"):
        nn.Upsample(2, mode="bilinear")


def test_unflatten_and_upsample_are_rebuilt_from_their_config():
    for layer in (nn.Unflatten(1, (1, 28, 28)), nn.Upsample((2, 3))):
        again = nn.Layer.registry[type(layer).__name__].from_config(layer.config())
        assert repr(again) == repr(layer)
