"""ConvTranspose2d: a NumPy scatter reference, the layer's gradients against finite differences,
PyTorch as an oracle over strides, paddings, output paddings and dilations (one chunk and many),
accumulation and freezing, and clear errors."""

import numpy as np
import pytest
from layer_contract import check_layer_contract

import numbanet as nn
from numbanet.kernels.cpu import plan

RNG = np.random.default_rng(0)

# (N, C_in, H, W), C_out, kernel, stride, padding, output_padding, dilation
GEOMETRIES = [
    ((2, 3, 4, 5), 2, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1)),  # stride 1, no padding
    ((2, 3, 4, 5), 2, (3, 3), (1, 1), (1, 1), (0, 0), (1, 1)),  # stride 1, cut by the padding
    ((2, 2, 3, 3), 3, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1)),  # DCGAN's ×2 upsampling
    ((1, 2, 3, 4), 2, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1)),  # output padding
    ((2, 2, 3, 4), 3, (3, 2), (3, 2), (2, 0), (2, 1), (1, 1)),  # uneven strides
    ((2, 2, 3, 4), 2, (3, 3), (1, 1), (0, 0), (1, 1), (2, 2)),  # stride 1, dilation, extra rows
    ((1, 2, 3, 3), 2, (2, 3), (1, 2), (2, 1), (0, 1), (2, 1)),  # extra rows only the bias reaches
    ((2, 10, 3, 4), 3, (3, 3), (1, 1), (1, 1), (0, 0), (1, 1)),  # many filters: dx by GEMM
]
IDS = ["s1", "s1-pad", "s2-k4", "output-pad", "uneven", "dilated", "bias-only-rows", "c10"]


def transposed_reference(x, W, b, stride, pad, out_pad, dil):
    """The scatter written out: every input pixel adds its weighted filter to the output."""
    (n, _, h, w), (_, c_out, kh, kw) = x.shape, W.shape
    oh, ow = ((size - 1) * s - 2 * p + d * (k - 1) + e + 1
              for size, s, p, d, k, e in zip((h, w), stride, pad, dil, (kh, kw), out_pad))  # fmt: skip
    full = np.zeros((n, c_out, oh + 2 * pad[0] + kh * dil[0], ow + 2 * pad[1] + kw * dil[1]))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for c in range(kw):
                    row, col = i * stride[0] + a * dil[0], j * stride[1] + c * dil[1]
                    full[:, :, row, col] += np.einsum("nc,co->no", x[:, :, i, j], W[:, :, a, c])
    return full[:, :, pad[0] : pad[0] + oh, pad[1] : pad[1] + ow] + b[None, :, None, None]


def layer_of(x_shape, c_out, kernel, stride, pad, out_pad, dil, **kwargs):
    return nn.ConvTranspose2d(x_shape[1], c_out, kernel, stride, pad, out_pad, dil, **kwargs)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=IDS)
def test_forward_is_the_scatter_of_weighted_filters(geometry):
    x_shape, *arguments = geometry
    layer = layer_of(x_shape, *arguments).to(np.float64)
    x = RNG.standard_normal(x_shape)
    expected = transposed_reference(x, layer.params["weight"], layer.params["bias"], *arguments[2:])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("geometry", GEOMETRIES[::2] + GEOMETRIES[5:6], ids=IDS[::2] + IDS[5:6])
def test_layer_contract_and_gradients_match_finite_differences(geometry):
    x_shape, c_out, *arguments = geometry
    layer = layer_of(x_shape, c_out, *arguments, bias=x_shape[1] != 2)
    y_shape = (x_shape[0], c_out, *layer.output_size(*x_shape[2:]))
    check_layer_contract(layer, RNG.standard_normal(x_shape), y_shape)


@pytest.mark.parametrize("chunk_bytes", [None, 1], ids=["one chunk", "chunks of one image"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=IDS)
def test_matches_torch(geometry, chunk_bytes, monkeypatch):
    torch = pytest.importorskip("torch")
    x_shape, c_out, kernel, stride, pad, out_pad, dil = geometry
    if chunk_bytes is not None:  # each of the CPU's threads takes one image at a time
        monkeypatch.setattr(plan, "CHUNK_BYTES", chunk_bytes)
    x_shape = (5, *x_shape[1:])
    layer = layer_of(x_shape, c_out, kernel, stride, pad, out_pad, dil)
    twin = torch.nn.ConvTranspose2d(x_shape[1], c_out, kernel, stride, pad, out_pad, dilation=dil)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.params["weight"]))
        twin.bias.copy_(torch.from_numpy(layer.params["bias"]))
    x = RNG.standard_normal(x_shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = twin(tx)
    y = layer.forward(x)
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    dy = RNG.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), **tol)
    np.testing.assert_allclose(layer.grads["weight"], twin.weight.grad.numpy(), **tol)
    np.testing.assert_allclose(layer.grads["bias"], twin.bias.grad.numpy(), **tol)


def test_init_keys_and_repr_follow_torch():
    nn.seed(0)
    layer = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    bound = 1 / np.sqrt(4 * 4 * 4)  # torch's fan-in of a transposed conv: out_channels·KH·KW
    assert layer.params["weight"].shape == (8, 4, 4, 4) and layer.params["bias"].shape == (4,)
    assert bound * 0.9 < np.abs(layer.params["weight"]).max() <= bound
    assert np.abs(layer.params["bias"]).max() <= bound
    assert list(nn.Sequential(layer).state_dict()) == ["0.weight", "0.bias"]
    assert repr(layer) == "ConvTranspose2d(8→4, 4×4, stride=2, padding=1)"
    rebuilt = nn.ConvTranspose2d.from_config(
        nn.ConvTranspose2d(2, 3, (3, 2), 2, 1, (1, 0), bias=False).config()
    )
    assert repr(rebuilt) == "ConvTranspose2d(2→3, 3×2, stride=2, padding=1, output_padding=(1, 0))"
    assert "bias" not in rebuilt.params


def test_gradients_accumulate_after_zero_grad_and_stay_put_when_frozen():
    nn.seed(0)
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1).to(np.float64)
    x, dy = RNG.standard_normal((2, 2, 3, 3)), RNG.standard_normal((2, 3, 6, 6))
    layer.forward(x)
    layer.backward(dy)
    once = {k: np.array(g) for k, g in layer.grads.items()}
    layer.zero_grad()
    for _ in range(2):
        layer.forward(x)
        layer.backward(dy)
    for name, grad in layer.grads.items():
        np.testing.assert_allclose(grad, 2 * once[name], rtol=1e-12, err_msg=name)
    layer.accumulate_grads_(False).requires_grad_(False)
    layer.forward(x)
    dx = layer.backward(dy)
    assert np.abs(dx).max() > 0
    for name, grad in layer.grads.items():
        np.testing.assert_allclose(grad, 2 * once[name], rtol=1e-12, err_msg=name)


def test_errors_name_the_layer():
    model = nn.Sequential(nn.ConvTranspose2d(3, 4, 3))
    with pytest.raises(
        nn.LayerInputError, match=r"0: ConvTranspose2d\(3→4, 3×3\): .*2 channels instead of 3"
    ):
        model(np.zeros((1, 2, 4, 4)))
    with pytest.raises(nn.LayerInputError, match=r"expected input of shape \(N, 3, H, W\)"):
        model(np.zeros((3, 4, 4)))
    with pytest.raises(nn.LayerInputError, match=r"the 1×1 input gives an output of -1×-1"):
        nn.ConvTranspose2d(1, 1, 1, padding=1)(np.zeros((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="output_padding must be smaller than the stride"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="ConvTranspose2d: kernel_size must be an int or a pair"):
        nn.ConvTranspose2d(1, 1, (3, 3, 3))
