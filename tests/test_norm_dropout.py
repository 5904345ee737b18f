"""BatchNorm1d, BatchNorm2d and Dropout: kernels against NumPy, layers against finite differences
and against PyTorch, in training and in evaluation mode."""

import numpy as np
import pytest

import numbanet as nn
from layer_contract import check_layer_contract
from numbanet.backend import get_backend

K = get_backend("cpu").kernels
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
CHANNEL_SHAPES = [(4, 3, 5), (7, 2, 1), (2, 1, 3), (16, 8, 49)]


def channels_input(rng, shape, dtype=np.float64):
    """(N, C, L) data whose channels have means and spreads of their own."""
    mean, spread = 3 * rng.standard_normal((1, shape[1], 1)), rng.uniform(0.5, 2, (1, shape[1], 1))
    return (mean + spread * rng.standard_normal(shape)).astype(dtype)


def per_channel(v):
    return v[None, :, None]


# ----- kernels against NumPy ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CHANNEL_SHAPES)
@pytest.mark.parametrize("mode", ["train", "eval", "train without running stats"])
def test_batch_norm_forward_kernel_matches_numpy(mode, shape, dtype):
    rng = np.random.default_rng(0)
    n, c, length = shape
    x = channels_input(rng, shape, dtype)
    weight, bias, old_mean = (rng.standard_normal(c).astype(dtype) for _ in range(3))
    old_var = rng.uniform(0.5, 2, c).astype(dtype)
    running_mean, running_var, count = old_mean.copy(), old_var.copy(), np.array([5])
    use_batch_stats, update_running = mode != "eval", mode == "train"
    y, mean, inv_std = np.empty_like(x), np.empty(c, dtype), np.empty(c, dtype)
    K.batch_norm_forward(
        x, weight, bias, running_mean, running_var, count, use_batch_stats, update_running,
        dtype(0.1), dtype(1e-5), y, mean, inv_std,
    )  # fmt: skip

    x64 = x.astype(np.float64)
    if use_batch_stats:
        mu, var = x64.mean(axis=(0, 2)), x64.var(axis=(0, 2))
    else:
        mu, var = old_mean.astype(np.float64), old_var.astype(np.float64)
    expected = (x64 - per_channel(mu)) / np.sqrt(per_channel(var) + 1e-5)
    np.testing.assert_allclose(mean, mu, **TOL[dtype])
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(var + 1e-5), **TOL[dtype])
    np.testing.assert_allclose(y, expected * per_channel(weight) + per_channel(bias), **TOL[dtype])
    if update_running:
        unbiased = x64.var(axis=(0, 2), ddof=1)
        np.testing.assert_allclose(running_mean, 0.9 * old_mean + 0.1 * mu, **TOL[dtype])
        np.testing.assert_allclose(running_var, 0.9 * old_var + 0.1 * unbiased, **TOL[dtype])
        assert count[0] == 6
    else:
        np.testing.assert_array_equal(running_mean, old_mean)
        np.testing.assert_array_equal(running_var, old_var)
        assert count[0] == 5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CHANNEL_SHAPES)
@pytest.mark.parametrize("use_batch_stats", [True, False])
def test_batch_norm_backward_kernel_matches_numpy(use_batch_stats, shape, dtype):
    rng = np.random.default_rng(1)
    n, c, length = shape
    x, dy = channels_input(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal(c).astype(dtype)
    mean, inv_std = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    dx, dweight, dbias = np.empty_like(x), np.empty(c, dtype), np.empty(c, dtype)
    K.batch_norm_backward(x, weight, mean, inv_std, dy, use_batch_stats, dx, dweight, dbias, True)

    x_hat = (x.astype(np.float64) - per_channel(mean)) * per_channel(inv_std)
    sum_dy, sum_dy_x_hat = dy.sum(axis=(0, 2), dtype=np.float64), (dy * x_hat).sum(axis=(0, 2))
    m, scale = n * length, per_channel(weight * inv_std.astype(np.float64))
    if use_batch_stats:
        expected = scale / m * (m * dy - per_channel(sum_dy) - x_hat * per_channel(sum_dy_x_hat))
    else:
        expected = scale * dy
    np.testing.assert_allclose(dbias, sum_dy, **TOL[dtype])
    np.testing.assert_allclose(dweight, sum_dy_x_hat, **TOL[dtype])
    np.testing.assert_allclose(dx, expected, rtol=TOL[dtype]["rtol"], atol=10 * TOL[dtype]["atol"])


def test_batch_norm_backward_kernel_leaves_dx_alone_without_need_dx():
    rng = np.random.default_rng(2)
    x = channels_input(rng, (4, 3, 5))
    ones, dx = np.ones(3), np.full(x.shape, 7.0)
    K.batch_norm_backward(x, ones, ones, ones, x, True, dx, np.empty(3), np.empty(3), False)
    assert (dx == 7).all()


def splitmix64_uniform(seed, index):
    """The index-th splitmix64 number from seed, in Python's exact integers, as a 53-bit
    uniform: the reference the uint64 kernels must reproduce bit for bit."""
    mod = 2**64
    z = (seed + (index + 1) * 0x9E3779B97F4A7C15) % mod
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % mod
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % mod
    return ((z ^ (z >> 31)) >> 11) * 2.0**-53


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 12345, 2**64 - 1])
def test_dropout_kernels_match_a_splitmix64_reference(seed, dtype):
    p, n = 0.3, 1000
    x, dy = (np.random.default_rng(3).standard_normal((2, n)) + 0.5).astype(dtype)
    y, mask, dx = np.empty_like(x), np.empty(n, np.uint8), np.empty_like(x)
    K.dropout_forward(x, dtype(p), np.uint64(seed), y, mask)
    kept = np.array([splitmix64_uniform(seed, i) >= float(dtype(p)) for i in range(n)])
    np.testing.assert_array_equal(mask, kept.astype(np.uint8))
    scale = dtype(1 / (1 - float(dtype(p))))  # 1 / (1 − p) in float64, rounded to the dtype
    np.testing.assert_array_equal(y, np.where(kept, x * scale, 0))
    K.dropout_backward(mask, dtype(p), dy, dx)
    np.testing.assert_array_equal(dx, np.where(kept, dy * scale, 0))


def test_dropout_kernel_keeps_everything_at_p_0_and_nothing_at_p_1():
    x = np.random.default_rng(4).standard_normal(500)
    y, mask = np.empty_like(x), np.empty(500, np.uint8)
    K.dropout_forward(x, 0.0, np.uint64(9), y, mask)
    assert mask.all() and np.array_equal(y, x)
    K.dropout_forward(x, 1.0, np.uint64(9), y, mask)
    assert not mask.any() and not y.any()


# ----- BatchNorm layers --------------------------------------------------------------------------
BATCH_NORMS = [
    (lambda: nn.BatchNorm1d(3), (6, 3)),
    (lambda: nn.BatchNorm1d(3), (4, 3, 5)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 4, 3)),
    (lambda: nn.BatchNorm2d(2, affine=False), (2, 2, 3, 3)),
    (lambda: nn.BatchNorm1d(4, track_running_stats=False), (5, 4)),
]
BATCH_NORM_IDS = ["1d-2D", "1d-3D", "2d", "2d-no-affine", "1d-no-running-stats"]


def trained_a_little(layer, shape, steps=3):
    """The layer after a few training forwards on shifted, scaled data (running stats that are
    neither 0 nor 1) and non-trivial γ, β."""
    rng = np.random.default_rng(5)
    for name, value in layer.params.items():
        value[...] = rng.uniform(0.5, 1.5, value.shape) * rng.choice([-1, 1], value.shape)
    for _ in range(steps):
        layer.forward(2 + 3 * rng.standard_normal(shape))
    return layer


@pytest.mark.parametrize("make, shape", BATCH_NORMS, ids=BATCH_NORM_IDS)
def test_batch_norm_in_training_passes_the_contract_and_gradcheck(make, shape):
    x = 1 + 2 * np.random.default_rng(6).standard_normal(shape)
    check_layer_contract(trained_a_little(make(), shape), x, shape)


@pytest.mark.parametrize("make, shape", BATCH_NORMS, ids=BATCH_NORM_IDS)
def test_batch_norm_in_eval_passes_the_contract_and_gradcheck(make, shape):
    layer = trained_a_little(make(), shape).eval()
    before = layer.state_dict()
    check_layer_contract(layer, np.random.default_rng(7).standard_normal(shape), shape)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=f"eval changed {key}")


def torch_twin(torch, layer):
    """The torch.nn twin of a numbanet BatchNorm layer, with its params and state (float64)."""
    config = layer.config()
    twin = getattr(torch.nn, type(layer).__name__)(config.pop("num_features"), **config).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    return twin


@pytest.mark.parametrize("make, shape", BATCH_NORMS, ids=BATCH_NORM_IDS)
def test_batch_norm_matches_torch_over_several_steps_and_in_eval(make, shape):
    torch = pytest.importorskip("torch")
    layer = trained_a_little(make(), shape, steps=0).to(np.float64)
    twin = torch_twin(torch, layer)
    assert list(layer.state_dict()) == list(twin.state_dict())
    rng = np.random.default_rng(8)
    for mode in ["train"] * 3 + ["eval"]:
        layer.train(mode == "train"), twin.train(mode == "train")
        x, dy = 2 + 3 * rng.standard_normal(shape), rng.standard_normal(shape)
        x_t = torch.tensor(x, requires_grad=True)
        y_t = twin(x_t)
        y_t.backward(torch.tensor(dy))
        np.testing.assert_allclose(layer.forward(x), y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.backward(dy), x_t.grad.numpy(), rtol=1e-9, atol=1e-11)
        for name, param in twin.named_parameters():
            np.testing.assert_allclose(layer.grads[name], param.grad.numpy(), rtol=1e-10)
            param.grad = None
        for key, value in twin.state_dict().items():
            ours = layer.state_dict()[key]
            assert ours.shape == tuple(value.shape) and ours.dtype == value.numpy().dtype, key
            np.testing.assert_allclose(ours, value.numpy(), rtol=1e-12, err_msg=f"{mode}: {key}")


def test_batch_norm_float32_matches_torch_and_takes_torch_state():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    torch.manual_seed(0)
    twin = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        for _ in range(3):
            twin(torch.tensor(2 + 3 * rng.standard_normal((8, 4, 5, 5)), dtype=torch.float32))
        twin.weight.uniform_(0.5, 1.5), twin.bias.uniform_(-1, 1)
    layer = nn.BatchNorm2d(4)
    layer.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    assert layer.state_dict()["num_batches_tracked"] == 3
    x = (2 + 3 * rng.standard_normal((8, 4, 5, 5))).astype(np.float32)
    for training in (True, False):
        layer.train(training), twin.train(training)
        expected = twin(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5, atol=1e-5)
    for key, value in twin.state_dict().items():
        np.testing.assert_allclose(layer.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_state_keeps_torch_keys_shapes_and_dtypes_through_moves():
    layer = nn.BatchNorm1d(3)
    layer.forward(np.random.default_rng(10).standard_normal((4, 3)))
    layer.to(np.float64)
    state = layer.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert (
        state["num_batches_tracked"].shape == () and state["num_batches_tracked"].dtype == np.int64
    )
    assert state["running_mean"].dtype == np.float64 and state["num_batches_tracked"] == 1
    layer.forward(np.ones((2, 3)))
    assert layer.state_dict()["num_batches_tracked"] == 2
    assert list(nn.BatchNorm2d(2, affine=False).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked",
    ]  # fmt: skip
    assert list(nn.BatchNorm2d(2, track_running_stats=False).state_dict()) == ["weight", "bias"]


def test_a_model_with_batch_norm_and_dropout_saves_and_loads(tmp_path):
    nn.seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=0.2), nn.Dropout(0.2))
    model.forward(np.random.default_rng(19).standard_normal((5, 4)))
    nn.io.save(tmp_path / "model.npz", model)
    loaded, _ = nn.io.load(tmp_path / "model.npz")
    assert (loaded[1].momentum, loaded[2].p) == (0.2, 0.2)
    state = loaded.state_dict()
    for key, value in model.state_dict().items():
        assert state[key].shape == value.shape and state[key].dtype == value.dtype, key
        np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_batch_norm_without_running_stats_normalises_by_the_batch_in_eval_too():
    x = channels_input(np.random.default_rng(11), (6, 2, 1))[..., 0]
    layer = nn.BatchNorm1d(2, track_running_stats=False).to(np.float64).eval()
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)


def test_model_train_and_eval_switch_batch_norm_and_dropout():
    nn.seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Dropout(0.5))
    x = np.random.default_rng(12).standard_normal((8, 4))
    model.train()
    trained = np.array(model.forward(x))
    assert (trained == 0).any()  # dropout active
    assert (model.state_dict()["1.running_var"] != 1).all()
    model.eval()
    running = model.state_dict()
    z = np.array(model[0].forward(x))
    mean, var = running["1.running_mean"], running["1.running_var"]
    np.testing.assert_allclose(model.forward(x), (z - mean) / np.sqrt(var + 1e-5), rtol=1e-5)
    assert model.state_dict()["1.num_batches_tracked"] == 1


def test_batch_norm_config_repr_formula_and_saved_statistics():
    layer = nn.BatchNorm2d(8, eps=1e-3, momentum=0.2, affine=False)
    rebuilt = nn.BatchNorm2d.from_config(layer.config())
    assert rebuilt.config() == layer.config() and not rebuilt.params
    assert repr(layer) == "BatchNorm2d(8, eps=0.001, momentum=0.2, affine=False)"
    assert repr(nn.BatchNorm1d(16)) == "BatchNorm1d(16)"
    assert "σ²" in layer.formula["forward"] and "dγ" in layer.formula["backward"]
    x = np.random.default_rng(13).standard_normal((3, 8, 2, 2)).astype(np.float32)
    layer.forward(x)
    np.testing.assert_allclose(layer.saved["mean"], x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    expected = 1 / np.sqrt(x.var(axis=(0, 2, 3)) + 1e-3)
    np.testing.assert_allclose(layer.saved["inv_std"], expected, rtol=1e-5)


@pytest.mark.parametrize(
    "layer, shape, message",
    [
        (nn.BatchNorm1d(3), (2, 3, 4, 5), r"BatchNorm1d\(3\): expected input of shape \(N, 3\) or "
         r"\(N, 3, L\), got \(2, 3, 4, 5\) \(4-D\)"),
        (nn.BatchNorm2d(3), (2, 3, 4), r"BatchNorm2d\(3\): expected input of shape \(N, 3, H, W\)"),
        (nn.BatchNorm2d(3), (2, 4, 5, 5), r"BatchNorm2d\(3\): expected 3 channels in dim 1, got 4"),
        (nn.BatchNorm1d(3), (1, 3), r"more than 1 value per channel .* shape \(1, 3\)"),
    ],
)  # fmt: skip
def test_batch_norm_bad_input_is_a_clear_error(layer, shape, message):
    with pytest.raises(nn.LayerInputError, match=message):
        layer.forward(np.ones(shape))


def test_batch_norm_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="BatchNorm1d: num_features must be >= 1, got 0"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match=r"momentum=None .* not supported"):
        nn.BatchNorm2d(3, momentum=None)
    assert nn.BatchNorm1d(3).eval().forward(np.ones((1, 3))).shape == (1, 3)  # eval: any batch


# ----- Dropout -----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_about_1_minus_p_and_scales_what_it_keeps(p):
    nn.seed(0)
    layer = nn.Dropout(p)
    x = np.random.default_rng(14).uniform(1, 2, (200, 500)).astype(np.float32)
    y = np.array(layer.forward(x))
    kept = np.array(layer.saved["mask"]).astype(bool)
    # the kept fraction of 100,000 Bernoulli(1 − p) draws is within 5 standard deviations
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / x.size)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
    assert (y[~kept] == 0).all()
    dy = np.random.default_rng(15).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, dy / (1 - p), 0), rtol=1e-6)


def test_dropout_matches_torch_statistics():
    torch = pytest.importorskip("torch")
    p, shape = 0.3, (400, 250)
    torch.manual_seed(0)
    theirs = torch.nn.Dropout(p)(torch.ones(shape)).numpy()
    nn.seed(0)
    ours = np.array(nn.Dropout(p).forward(np.ones(shape, np.float32)))
    assert np.unique(ours).size == np.unique(theirs).size == 2
    np.testing.assert_allclose(np.unique(ours), np.unique(theirs), rtol=1e-6)
    tolerance = 5 * np.sqrt(p * (1 - p) / ours.size)  # both fractions near 1 − p
    assert abs((ours > 0).mean() - (theirs > 0).mean()) < 2 * tolerance
    np.testing.assert_allclose(ours.mean(), 1, atol=2 * tolerance / (1 - p))


def test_dropout_masks_follow_numbanet_seed_and_change_every_forward():
    x = np.ones((20, 30), np.float32)
    layer = nn.Dropout(0.5)
    nn.seed(3)
    first, second = np.array(layer.forward(x)), np.array(layer.forward(x))
    nn.seed(3)
    np.testing.assert_array_equal(layer.forward(x), first)
    np.testing.assert_array_equal(layer.forward(x), second)
    assert not np.array_equal(first, second)


def test_dropout_is_the_identity_in_eval_and_at_p_0_and_zero_at_p_1():
    x = np.random.default_rng(16).standard_normal((5, 7)).astype(np.float32)
    dy = np.random.default_rng(17).standard_normal((5, 7)).astype(np.float32)
    for layer in (nn.Dropout(0.5).eval(), nn.Dropout(0.0)):
        assert layer.forward(x) is x and "mask" not in layer.saved
        np.testing.assert_array_equal(layer.backward(dy), dy)
    layer = nn.Dropout(1.0)
    assert not np.array(layer.forward(x)).any() and not np.array(layer.backward(dy)).any()
    check_layer_contract(nn.Dropout(0.4).eval(), x, x.shape)


def test_dropout_rewound_by_the_stepper_replays_its_mask():
    nn.seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Dropout(0.5), nn.Linear(5, 3))
    rng = np.random.default_rng(18)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    stepper = nn.debug.Stepper(model, nn.CrossEntropyLoss(), nn.optim.SGD(model), (x, y))
    stepper.goto(1)  # through the dropout's forward
    mask, output = np.array(model[1].saved["mask"]), stepper.event.tensors()["output"]
    stepper.back()
    stepper.step()
    np.testing.assert_array_equal(model[1].saved["mask"], mask)
    np.testing.assert_array_equal(stepper.event.tensors()["output"], output)
    assert 0 < mask.mean() < 1


def test_dropout_config_repr_formula_and_bad_p():
    layer = nn.Dropout(0.25)
    assert nn.Dropout.from_config(layer.config()).p == 0.25 and repr(layer) == "Dropout(p=0.25)"
    assert "1 − p" in layer.formula["forward"]
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"Dropout: p .* must be in \[0, 1\], got {p}"):
            nn.Dropout(p)


def test_dropout_in_training_passes_gradcheck_with_one_mask_for_every_forward():
    nn.seed(4)
    layer = nn.Dropout(0.3)
    x = np.random.default_rng(20).standard_normal((6, 7))
    state = nn.rng.generator().bit_generator.state
    errors = nn.gradcheck(layer, x)
    assert max(errors.values()) < 1e-7, errors
    # the check left the caller's random stream where it was: the next forward draws the mask
    # every forward of the check drew
    assert nn.rng.generator().bit_generator.state == state
    mask = np.array(layer.to(np.float64).forward(x) != 0)
    assert 0 < mask.mean() < 1  # some elements were dropped, some kept


def test_a_model_with_dropout_and_batch_norm_in_training_passes_gradcheck():
    nn.seed(5)
    # no bias before the BatchNorm: it would be subtracted again with the mean (its gradient is
    # exactly 0, and a relative error of 0 against rounding noise means nothing)
    model = nn.Sequential(
        nn.Linear(5, 8, bias=False), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, 3)
    ).train()
    x = np.random.default_rng(21).standard_normal((10, 5))
    errors = nn.gradcheck(model, x)
    assert set(errors) == {"x", "0.weight", "1.weight", "1.bias", "4.weight", "4.bias"}
    assert max(errors.values()) < 1e-6, errors
    model.to(np.float64).forward(x)
    assert 0 < np.array(model[3].saved["mask"]).mean() < 1
