"""Pooling: the kernels against plain NumPy pooling, the layers' gradients against finite
differences, PyTorch as an oracle, and clear errors."""

import numpy as np
import pytest

import numbanet as nn
from layer_contract import check_layer_contract
from numbanet.backend import get_backend

K = get_backend("cpu").kernels
RNG = np.random.default_rng(0)
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


def windows(x, kernel, stride, pad, dil, fill):
    """Every window of x, (N, C, OH, OW, KH, KW), the padding filled with ``fill``."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, pad, dil
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((*x.shape[:2], oh, ow, kh, kw), x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = xp[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                                 j * sw : j * sw + dw * (kw - 1) + 1 : dw]  # fmt: skip
    return out


def max_pool_reference(x, kernel, stride, pad, dil):
    """(y, argmax as h·W + w) of max pooling, from the windows and np.argmax (the first max on
    ties)."""
    patches = windows(x, kernel, stride, pad, dil, -np.inf)
    n, c, oh, ow, kh, kw = patches.shape
    tap = patches.reshape(n, c, oh, ow, kh * kw).argmax(axis=-1)
    a, b = np.divmod(tap, kw)
    h = np.arange(oh)[:, None] * stride[0] - pad[0] + a * dil[0]
    w = np.arange(ow)[None, :] * stride[1] - pad[1] + b * dil[1]
    return patches.max(axis=(4, 5)), h * x.shape[3] + w


def max_pool_grad_reference(argmax, dy, x_shape):
    """dx: every dy added at its argmax."""
    n, c, h, w = x_shape
    dx = np.zeros((n * c, h * w))
    planes = np.repeat(np.arange(n * c), argmax[0, 0].size)
    np.add.at(dx, (planes, argmax.reshape(-1)), dy.reshape(-1))
    return dx.reshape(x_shape)


def avg_pool_reference(x, dy, kernel, stride, pad, count_include_pad):
    """(y, dx for dy) of average pooling: window sums over divisors, and each dy / divisor
    spread back over its window."""

    def window_sums(a):
        return windows(a, kernel, stride, pad, (1, 1), 0.0).sum(axis=(4, 5))

    divisor = np.full(dy.shape[2:], float(kernel[0] * kernel[1]))
    if not count_include_pad:
        divisor = window_sums(np.ones((1, 1, *x.shape[2:])))[0, 0]
    y = window_sums(x) / divisor
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    dxp = np.zeros((*x.shape[:2], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            window = np.s_[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            dxp[window] += (dy[:, :, i, j] / divisor[i, j])[:, :, None, None]
    return y, dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


GEOMETRIES = [
    # (N, C, H, W), kernel, stride, padding, dilation
    ((2, 3, 5, 7), (2, 2), (2, 2), (0, 0), (1, 1)),
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 1), (1, 2)),
    ((3, 1, 7, 7), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 2, 10, 9), (3, 3), (3, 2), (0, 1), (2, 2)),
    ((2, 2, 10, 9), (3, 3), (3, 2), (0, 0), (2, 2)),
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, kernel, stride, pad, dil", GEOMETRIES)
def test_max_pool2d_kernels_match_numpy(x_shape, kernel, stride, pad, dil, dtype):
    x = RNG.standard_normal(x_shape).astype(dtype)
    x[0, 0, :2, :3] = 3.0  # ties for the max: the first wins
    expected, expected_argmax = max_pool_reference(x, kernel, stride, pad, dil)
    y = np.full(expected.shape, np.nan, dtype)
    argmax = np.full(expected.shape, -7, np.int64)
    K.max_pool2d_forward(x, *kernel, *stride, *pad, *dil, y, argmax)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(argmax, expected_argmax)

    dy = RNG.standard_normal(y.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype)
    K.max_pool2d_backward(argmax, dy, dx)
    np.testing.assert_allclose(dx, max_pool_grad_reference(argmax, dy, x.shape), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("x_shape, kernel, stride, pad, _", GEOMETRIES)
def test_avg_pool2d_kernels_match_numpy(x_shape, kernel, stride, pad, _, count_include_pad, dtype):
    x = RNG.standard_normal(x_shape).astype(dtype)
    oh, ow = (
        (size + 2 * p - k) // s + 1 for size, k, s, p in zip(x_shape[2:], kernel, stride, pad)
    )
    dy = RNG.standard_normal((*x_shape[:2], oh, ow)).astype(dtype)
    expected_y, expected_dx = avg_pool_reference(x, dy, kernel, stride, pad, count_include_pad)
    geometry = (*kernel, *stride, *pad, count_include_pad)
    y, dx = np.full(dy.shape, np.nan, dtype), np.full(x.shape, np.nan, dtype)
    K.avg_pool2d_forward(x, *geometry, y)
    np.testing.assert_allclose(y, expected_y, **TOL[dtype])
    K.avg_pool2d_backward(dy, *geometry, dx)
    np.testing.assert_allclose(dx, expected_dx, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape", [(1, 1, 1, 1), (2, 3, 5, 7), (3, 2, 1, 9)])
def test_global_avg_pool2d_kernels_match_numpy(x_shape, dtype):
    x = RNG.standard_normal(x_shape).astype(dtype)
    y = np.full((*x_shape[:2], 1, 1), np.nan, dtype)
    K.global_avg_pool2d_forward(x, y)
    np.testing.assert_allclose(y, x.mean(axis=(2, 3), keepdims=True), **TOL[dtype])
    dy = RNG.standard_normal(y.shape).astype(dtype)
    dx = np.full(x_shape, np.nan, dtype)
    K.global_avg_pool2d_backward(dy, dx)
    hw = x_shape[2] * x_shape[3]
    np.testing.assert_allclose(dx, np.broadcast_to(dy / hw, x_shape), **TOL[dtype])


def test_max_pool2d_lets_a_nan_win_its_window_as_torch():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y, argmax = np.empty((1, 1, 2, 2)), np.empty((1, 1, 2, 2), np.int64)
    K.max_pool2d_forward(x, 2, 2, 2, 2, 0, 0, 1, 1, y, argmax)
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1
    np.testing.assert_array_equal(y[0, 0].reshape(-1)[1:], [7.0, 13.0, 15.0])


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1)])
def test_max_pool2d_infinities_and_ties(kernel, stride):
    # +inf and -inf in one window sum to NaN: the exact rule must still pick +inf, and a window
    # of -inf alone names its first input
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, :2, :2] = [[-np.inf, np.inf], [1.0, np.inf]]
    x[0, 0, 2:, 2:] = -np.inf
    expected, expected_argmax = max_pool_reference(x, (kernel,) * 2, (stride,) * 2, (0, 0), (1, 1))
    y, argmax = np.empty(expected.shape), np.empty(expected.shape, np.int64)
    K.max_pool2d_forward(x, kernel, kernel, stride, stride, 0, 0, 1, 1, y, argmax)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(argmax, expected_argmax)
    assert y[0, 0, 0, 0] == np.inf and argmax[0, 0, 0, 0] == 1


def distinct(shape):
    """Inputs without ties (max pooling's gradient is not defined at a tie), spaced far apart
    compared with the finite differences' step."""
    size = int(np.prod(shape))
    return RNG.permutation(size).reshape(shape) / size - 0.5


@pytest.mark.parametrize(
    "layer, x_shape, y_shape",
    [
        (lambda: nn.MaxPool2d(2), (2, 3, 5, 7), (2, 3, 2, 3)),
        (lambda: nn.MaxPool2d((3, 2), stride=(2, 1), padding=1, dilation=(1, 2)), (1, 2, 9, 8),
         (1, 2, 5, 8)),
        (lambda: nn.MaxPool2d(3, stride=1, padding=1), (2, 2, 4, 5), (2, 2, 4, 5)),
        (lambda: nn.AvgPool2d(2), (2, 3, 5, 7), (2, 3, 2, 3)),
        (lambda: nn.AvgPool2d((3, 2), stride=(2, 1), padding=1, count_include_pad=False),
         (1, 2, 9, 8), (1, 2, 5, 9)),
        (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 6, 5), (2, 2, 3, 3)),
        (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 4, 5), (2, 3, 1, 1)),
        (lambda: nn.AdaptiveAvgPool2d((1, 1)), (1, 2, 1, 3), (1, 2, 1, 1)),
    ],
    ids=lambda v: v if isinstance(v, tuple) else repr(v()),
)  # fmt: skip
def test_pool_layer_contract_and_gradients(layer, x_shape, y_shape):
    check_layer_contract(layer(), distinct(x_shape), y_shape)


@pytest.mark.parametrize(
    "layer, functional, kwargs",
    [
        (nn.MaxPool2d, "max_pool2d", dict(kernel_size=2)),
        (nn.MaxPool2d, "max_pool2d",
         dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
        (nn.MaxPool2d, "max_pool2d", dict(kernel_size=3, stride=1, padding=1)),
        (nn.AvgPool2d, "avg_pool2d", dict(kernel_size=2)),
        (nn.AvgPool2d, "avg_pool2d", dict(kernel_size=3, stride=(2, 1), padding=1)),
        (nn.AvgPool2d, "avg_pool2d",
         dict(kernel_size=(2, 3), padding=(1, 1), count_include_pad=False)),
        (nn.AdaptiveAvgPool2d, "adaptive_avg_pool2d", dict(output_size=1)),
    ],
)  # fmt: skip
def test_pool_layers_match_torch(layer, functional, kwargs):
    torch = pytest.importorskip("torch")
    pool = getattr(torch.nn.functional, functional)
    x = RNG.standard_normal((2, 3, 9, 7))
    x[0, 0, :2, :2] = 1.0  # a tie: torch's first max and ours must agree
    tx = torch.tensor(x, requires_grad=True)
    ty = pool(tx, **kwargs)
    layer = layer(**kwargs).to(np.float64)
    y = layer(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = RNG.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    if functional == "max_pool2d":
        _, indices = pool(tx, **kwargs, return_indices=True)
        np.testing.assert_array_equal(layer.saved["argmax"], indices.numpy())


def test_pool_reprs_configs_and_formulas():
    layers = {
        "MaxPool2d(2)": nn.MaxPool2d(2),
        "MaxPool2d((3, 2), stride=1, padding=1, dilation=2)": nn.MaxPool2d((3, 2), 1, 1, 2),
        "AvgPool2d(3, stride=2, padding=1, count_include_pad=False)": nn.AvgPool2d(
            3, stride=2, padding=1, count_include_pad=False
        ),
        "AdaptiveAvgPool2d((1, 1))": nn.AdaptiveAvgPool2d((1, 1)),
    }
    for text, layer in layers.items():
        assert repr(layer) == text
        assert layer.formula["forward"] and layer.formula["backward"]
        rebuilt = type(layer).from_config(layer.config())
        assert repr(rebuilt) == text and rebuilt.config() == layer.config()
    assert nn.MaxPool2d(3).stride == (3, 3)  # stride defaults to kernel_size, as torch


def test_a_model_with_pools_saves_and_loads(tmp_path):
    nn.seed(0)
    model = nn.Sequential(
        nn.MaxPool2d(2, stride=1), nn.AvgPool2d((2, 1), count_include_pad=False),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2),
    )  # fmt: skip
    nn.io.save(tmp_path / "model.npz", model)
    loaded = nn.io.load(tmp_path / "model.npz")[0]
    assert repr(loaded[1]) == "AvgPool2d((2, 1), count_include_pad=False)"
    x = RNG.standard_normal((2, 3, 5, 4))
    np.testing.assert_array_equal(loaded(x), model(x))


def test_pool_errors_name_the_layer_expected_and_got():
    model = nn.Sequential(nn.Flatten(), nn.MaxPool2d(2))
    with pytest.raises(
        nn.LayerInputError,
        match=r"1: MaxPool2d\(2\): expected input of shape \(N, C, H, W\), got \(2, 12\) \(2-D\)",
    ):
        model(np.zeros((2, 3, 2, 2)))
    with pytest.raises(
        nn.LayerInputError,
        match=r"AvgPool2d\(4, padding=1\): the 1×4 image \(padded to 3×6\) of input "
        r"\(2, 1, 1, 4\) is smaller than the 4×4 window",
    ):
        nn.AvgPool2d(4, padding=1)(np.zeros((2, 1, 1, 4)))
    with pytest.raises(nn.LayerInputError, match=r"smaller than the 2×2 window \(dilated to 4×4\)"):
        nn.MaxPool2d(2, dilation=3)(np.zeros((1, 1, 3, 5)))
    with pytest.raises(
        nn.LayerInputError, match=r"output row 0 reads rows \[-1, 2\] of a 2-row input: padding"
    ):
        nn.MaxPool2d(2, stride=1, padding=1, dilation=3)(np.zeros((1, 1, 2, 6)))
    with pytest.raises(nn.LayerInputError, match=r"AdaptiveAvgPool2d\(1\): expected input of"):
        nn.AdaptiveAvgPool2d(1)(np.zeros((4, 4)))
    with pytest.raises(nn.LayerInputError, match=r"an image of at least 1×1, got .*\(1, 2, 0, 3\)"):
        nn.AdaptiveAvgPool2d(1)(np.zeros((1, 2, 0, 3)))


def test_pool_backward_checks_its_gradient():
    layer = nn.AvgPool2d(2)
    with pytest.raises(nn.LayerInputError, match=r"AvgPool2d\(2\): backward called before"):
        layer.backward(np.zeros((1, 1, 2, 2)))
    layer(np.zeros((1, 1, 4, 5)))
    with pytest.raises(nn.LayerInputError, match=r"dy of the output's shape \(1, 1, 2, 2\)"):
        layer.backward(np.zeros((1, 1, 2, 3)))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: nn.MaxPool2d(3, padding=2), r"MaxPool2d: padding must be at most half of "
                                             r"kernel_size \(as torch\), got padding=2 for "
                                             r"kernel_size=3"),
        (lambda: nn.AvgPool2d((4, 2), padding=(2, 2)), r"AvgPool2d: padding must be at most"),
        (lambda: nn.MaxPool2d(0), r"MaxPool2d: kernel_size, stride and dilation must be >= 1"),
        (lambda: nn.AvgPool2d(2, padding=-1), r"padding >= 0, got .*padding=-1"),
        (lambda: nn.MaxPool2d((2, 2, 2)), r"MaxPool2d: kernel_size must be an int or a pair"),
        (lambda: nn.AvgPool2d(2, stride=1.5), r"AvgPool2d: stride must be an int or a pair"),
        (lambda: nn.AdaptiveAvgPool2d(2), r"only output_size 1 or \(1, 1\) .* got 2"),
        (lambda: nn.AdaptiveAvgPool2d((1, 2)), r"got \(1, 2\)"),
    ],
)  # fmt: skip
def test_bad_pool_arguments_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
