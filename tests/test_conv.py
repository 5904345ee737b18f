"""Conv2d: the kernels against a plain NumPy convolution, the layer's gradients against finite
differences, PyTorch as an oracle, and clear errors."""

import numpy as np
import pytest

import numbanet as nn
from layer_contract import check_layer_contract
from numbanet.backend import get_backend
from numbanet.kernels.cpu.conv import DIRECT_MAX_OUT

K = get_backend("cpu").kernels
RNG = np.random.default_rng(0)


def conv_reference(x, W, b, stride, pad, dil):
    """The convolution sum written out: y[n, o, oh, ow] = b[o] + Σ W[o, c, kh, kw] x[...]."""
    (sh, sw), ((top, bottom), (left, right)), (dh, dw) = stride, pad, dil
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    o_size, _, kh_size, kw_size = W.shape
    oh_size = (xp.shape[2] - dh * (kh_size - 1) - 1) // sh + 1
    ow_size = (xp.shape[3] - dw * (kw_size - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], o_size, oh_size, ow_size))
    for oh in range(oh_size):
        for ow in range(ow_size):
            patch = xp[:, :, oh * sh : oh * sh + dh * (kh_size - 1) + 1 : dh,
                       ow * sw : ow * sw + dw * (kw_size - 1) + 1 : dw]  # fmt: skip
            y[:, :, oh, ow] = np.einsum("nchw,ochw->no", patch, W) + b
    return y


GEOMETRIES = [
    # (N, C, H, W), O, kernel, stride, padding (int or (top, left)), dilation
    ((2, 3, 7, 6), 4, (3, 3), (1, 1), (1, 1), (1, 1)),
    ((1, 2, 9, 8), 3, (3, 2), (2, 1), (1, 0), (1, 2)),
    ((3, 1, 5, 5), 2, (1, 1), (1, 1), (0, 0), (1, 1)),
    ((2, 4, 10, 9), 5, (3, 3), (2, 3), (2, 1), (2, 2)),
    ((1, 1, 4, 4), 1, (4, 4), (1, 1), (0, 0), (1, 1)),
    ((2, 2, 2, 3), 3, (3, 3), (1, 2), (3, 4), (1, 1)),  # taps that read only padding
    # stride 1 with few filters runs direct (3×3, 5×5 and other widths, with dilation), with
    # more than DIRECT_MAX_OUT filters through im2col + GEMM in the wide layout
    ((3, 1, 9, 8), 6, (5, 5), (1, 1), (2, 2), (1, 1)),
    ((2, 3, 8, 9), 2, (2, 4), (1, 1), (1, 2), (2, 1)),
    ((1, 2, 7, 7), 3, (3, 3), (1, 1), (0, 0), (1, 2)),
    ((2, 2, 6, 5), DIRECT_MAX_OUT + 1, (3, 3), (1, 1), (1, 1), (1, 1)),
    ((3, 3, 8, 8), DIRECT_MAX_OUT + 2, (5, 3), (1, 1), (0, 1), (1, 2)),
]


@pytest.mark.parametrize(
    "threads, chunk",
    [(1, None), (1, 1), (2, 1), (2, 2), (3, 1)],
    ids=["one-pass", "chunks-of-1", "2-threads-chunks-of-1", "2-threads-chunks-of-2",
         "3-threads-chunks-of-1"],
)  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, o, kernel, stride, pad, dil", GEOMETRIES)
def test_conv2d_kernels_match_the_convolution_sum(x_shape, o, kernel, stride, pad, dil, dtype,
                                                  threads, chunk):  # fmt: skip
    x = RNG.standard_normal(x_shape).astype(dtype)
    W = RNG.standard_normal((o, x_shape[1], *kernel)).astype(dtype)
    b = RNG.standard_normal(o).astype(dtype)
    expected = conv_reference(x, W, b, stride, ((pad[0],) * 2, (pad[1],) * 2), dil)
    n, oh, ow = x_shape[0], *expected.shape[2:]
    wide = stride == (1, 1)  # the kernels' wide layout: rows as wide as the padded image
    padded = (*x_shape[:2], x_shape[2] + 2 * pad[0], x_shape[3] + 2 * pad[1])
    width = padded[3] if wide else ow
    m = n if chunk is None else chunk  # images per chunk: each thread's work arrays hold m
    cols = np.empty((threads, W[0].size, m * oh * width), dtype)
    rows, y = np.empty((threads, o, m * oh * width), dtype), np.empty(expected.shape, dtype)
    xp = np.empty(padded if wide and padded != x_shape else (0, 0, 0, 0), dtype)
    K.conv2d_forward(x, W, b, 0, dtype(0), *stride, *pad, *dil, xp, cols, rows, y)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, expected, **tol)

    # backward against the reference's own gradients: y is linear in x, W and b
    dy = RNG.standard_normal(y.shape).astype(dtype)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    scratch = cols, rows, np.empty_like(cols), np.empty_like(xp)
    K.conv2d_backward(x, xp, W, y, 0, dtype(0), dy, *stride, *pad, *dil, *scratch, dx, dW, db, True)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), **tol)
    for index in [(0, 0, 0, 0), tuple(s - 1 for s in W.shape)]:
        unit = np.zeros_like(W, dtype=np.float64)
        unit[index] = 1  # ∂y/∂W[index] is the convolution with a one-hot filter
        response = conv_reference(x, unit, np.zeros(o), stride, ((pad[0],) * 2, (pad[1],) * 2), dil)
        np.testing.assert_allclose(dW[index], (dy * response).sum(), **tol)
    for index in [(0, 0, 0, 0), tuple(s - 1 for s in x.shape)]:
        unit = np.zeros_like(x, dtype=np.float64)
        unit[index] = 1
        response = conv_reference(unit, W, np.zeros(o), stride, ((pad[0],) * 2, (pad[1],) * 2), dil)
        np.testing.assert_allclose(dx[index], (dy * response).sum(), **tol)


@pytest.mark.parametrize(
    "layer, x_shape, y_shape",
    [
        (lambda: nn.Conv2d(3, 4, 3), (2, 3, 6, 5), (2, 4, 4, 3)),
        (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
         (1, 2, 7, 8), (1, 3, 4, 6)),
        (lambda: nn.Conv2d(2, 2, 2, padding="same"), (2, 2, 5, 4), (2, 2, 5, 4)),
        (lambda: nn.Conv2d(1, 3, 3, padding="same", dilation=2, bias=False), (2, 1, 6, 6),
         (2, 3, 6, 6)),
        (lambda: nn.Conv2d(3, 2, 1, stride=2, padding="valid"), (2, 3, 5, 5), (2, 2, 3, 3)),
    ],
    ids=lambda v: v if isinstance(v, tuple) else repr(v()),
)  # fmt: skip
def test_conv2d_layer_contract_and_gradients(layer, x_shape, y_shape):
    check_layer_contract(layer(), RNG.standard_normal(x_shape), y_shape)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3, padding=1),
        dict(kernel_size=(2, 3), stride=(2, 1), padding=(0, 1), dilation=(2, 1)),
        dict(kernel_size=4, padding="same"),
        dict(kernel_size=3, padding="same", dilation=2, bias=False),
    ],
)
def test_conv2d_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    layer = nn.Conv2d(3, 5, **kwargs).to(np.float64)
    reference = torch.nn.Conv2d(3, 5, **kwargs).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.params["weight"]))
        if layer.bias:
            reference.bias.copy_(torch.from_numpy(layer.params["bias"]))
    x = RNG.standard_normal((2, 3, 9, 7))
    tx = torch.tensor(x, requires_grad=True)
    ty = reference(tx)
    y = layer(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = RNG.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        layer.grads["weight"], reference.weight.grad.numpy(), rtol=1e-12, atol=1e-12
    )
    if layer.bias:
        np.testing.assert_allclose(layer.grads["bias"], reference.bias.grad.numpy(), rtol=1e-12)


def test_conv2d_init_keys_and_repr_follow_torch():
    nn.seed(0)
    layer = nn.Conv2d(4, 8, 3, stride=2, padding=1)
    bound = 1 / np.sqrt(4 * 3 * 3)
    assert layer.params["weight"].shape == (8, 4, 3, 3) and layer.params["bias"].shape == (8,)
    assert np.abs(layer.params["weight"]).max() <= bound
    assert repr(layer) == "Conv2d(4→8, 3×3, stride=2, padding=1)"
    rebuilt = nn.Conv2d.from_config(layer.config())
    assert (rebuilt.stride, rebuilt.padding, rebuilt.kernel_size) == ((2, 2), (1, 1), (3, 3))
    assert repr(nn.Conv2d(1, 2, 5, padding="same")) == "Conv2d(1→2, 5×5, padding='same')"


def test_conv2d_errors_name_the_layer():
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(
        nn.LayerInputError, match=r"0: Conv2d\(3→4, 3×3\): .*2 channels instead of 3"
    ):
        model(np.zeros((1, 2, 8, 8)))
    with pytest.raises(nn.LayerInputError, match=r"the 2×5 image .* smaller than the 3×3 kernel"):
        model(np.zeros((1, 3, 2, 5)))
    with pytest.raises(nn.LayerInputError, match=r"expected input of shape \(N, 3, H, W\)"):
        model(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        nn.Conv2d(1, 1, (3, 3, 3))


@pytest.mark.parametrize(
    "block, x_shape, y_shape",
    [
        (lambda: nn.Residual(nn.Conv2d(2, 2, 3, padding=1), nn.Tanh()), (2, 2, 5, 4), (2, 2, 5, 4)),
        (lambda: nn.Residual(nn.Conv2d(2, 3, 3, stride=2, padding=1),
                             shortcut=nn.Conv2d(2, 3, 1, stride=2)), (2, 2, 5, 5), (2, 3, 3, 3)),
        (lambda: nn.Residual(nn.Linear(4, 4)), (3, 4), (3, 4)),
    ],
    ids=["identity shortcut", "1×1 conv shortcut", "dense"],
)  # fmt: skip
def test_residual_block_contract_and_gradients(block, x_shape, y_shape):
    check_layer_contract(block(), RNG.standard_normal(x_shape), y_shape)


def test_residual_adds_the_shortcut_and_keys_its_params():
    nn.seed(0)
    block = nn.Residual(nn.Linear(3, 3))
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(block(x), block.body(x) + x, rtol=1e-6)
    model = nn.Sequential(nn.Linear(3, 3), block)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.body.weight", "1.body.bias"]
    rebuilt = nn.Sequential.from_config(model.config())
    assert list(rebuilt.state_dict()) == list(model.state_dict())


def test_residual_shape_mismatch_is_a_clear_error():
    block = nn.Sequential(nn.Residual(nn.Conv2d(2, 4, 3, padding=1)))
    with pytest.raises(nn.LayerInputError, match=r"0: Residual.*body gives \(1, 4, 5, 5\) but"):
        block(np.zeros((1, 2, 5, 5)))


@pytest.mark.parametrize(
    "n, threads, most", [(64, 2, 5), (64, 2, 27), (7, 2, 3), (1, 2, 4), (256, 3, 9)]
)
def test_balanced_chunk_gives_the_busiest_thread_the_fewest_images(n, threads, most):
    from numbanet.kernels.cpu.plan import balanced_chunk

    def busiest(m):  # images of the busiest thread when thread k mod threads takes chunk k
        sizes = [min(m, n - first) for first in range(0, n, m)]
        return max(sum(sizes[t::threads]) for t in range(threads))

    m = balanced_chunk(n, threads, most)
    assert 1 <= m <= most
    assert busiest(m) == min(busiest(k) for k in range(1, most + 1))


def test_cpu_plan_gives_each_thread_chunks_that_fit_the_budget(monkeypatch):
    """The seed CNN's 32 → 64 layer at batch 64 on 2 threads: a 13-wide row per output row (the
    wide layout), 11 rows, so an image's cols and rows take (288 + 64)·143·4 = 201,344 bytes and
    two fit in 512 KiB: chunks of 2 images, one work area per thread."""
    from numbanet.kernels.cpu import plan

    monkeypatch.setattr(plan, "POOL_SIZE", 2)
    x, W = np.zeros((64, 32, 13, 13), np.float32), np.zeros((64, 32, 3, 3), np.float32)
    assert plan.conv2d_scratch_shapes(x, W, 11 * 13) == ((2, 288, 2 * 143), (2, 64, 2 * 143))
    # 3 images on 2 threads, one image a chunk (budget 1): only as many work areas as chunks
    monkeypatch.setattr(plan, "CHUNK_BYTES", 1)
    assert plan.conv2d_scratch_shapes(x[:1], W, 143) == ((1, 288, 143), (1, 64, 143))
    assert plan.conv2d_scratch_shapes(x[:3], W, 143) == ((2, 288, 143), (2, 64, 143))
