"""Every layer: the contract, a float64 gradient check, and its own behaviour."""

import numpy as np
import pytest

import numbanet as nn
from layer_contract import check_layer_contract

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "layer, x_shape, y_shape",
    [
        (lambda: nn.Linear(5, 3), (4, 5), (4, 3)),
        (lambda: nn.Linear(1, 1), (1, 1), (1, 1)),
        (lambda: nn.Linear(7, 2, bias=False), (3, 7), (3, 2)),
        (lambda: nn.Linear(5, 3, activation="relu"), (4, 5), (4, 3)),
        (lambda: nn.Linear(5, 3, activation="leaky_relu", negative_slope=0.2), (4, 5), (4, 3)),
        (lambda: nn.Linear(5, 3, activation="sigmoid"), (4, 5), (4, 3)),
        (lambda: nn.Linear(5, 3, bias=False, activation="tanh"), (4, 5), (4, 3)),
        (lambda: nn.Conv2d(2, 3, 3, padding=1, activation="relu"), (2, 2, 4, 5), (2, 3, 4, 5)),
        (lambda: nn.Conv2d(2, 3, 2, stride=2, activation="tanh"), (2, 2, 4, 5), (2, 3, 2, 2)),
        (lambda: nn.Conv2d(1, 2, 3, activation="sigmoid"), (3, 1, 4, 4), (3, 2, 2, 2)),
        (lambda: nn.ReLU(), (4, 3, 2), (4, 3, 2)),
        (lambda: nn.LeakyReLU(0.1), (5, 6), (5, 6)),
        (lambda: nn.Sigmoid(), (3, 4), (3, 4)),
        (lambda: nn.Tanh(), (2, 3, 5), (2, 3, 5)),
        (lambda: nn.Softmax(), (4, 6), (4, 6)),
        (lambda: nn.Softmax(), (2, 3, 4), (2, 3, 4)),
        (lambda: nn.LogSoftmax(), (4, 6), (4, 6)),
        (lambda: nn.Flatten(), (2, 1, 3, 3), (2, 9)),
        (lambda: nn.Identity(), (3, 2), (3, 2)),
        (
            lambda: nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3)),
            (5, 2, 3),
            (5, 3),
        ),
    ],
    ids=lambda v: v if isinstance(v, tuple) else repr(v()),
)
def test_layer_contract_and_gradients_match_finite_differences(layer, x_shape, y_shape):
    # ReLU-family kinks at 0 would fool finite differences: keep inputs away from them
    x = RNG.uniform(0.1, 1.0, x_shape) * RNG.choice([-1.0, 1.0], x_shape)
    check_layer_contract(layer(), x, y_shape)


@pytest.mark.parametrize(
    "activation, layer",
    [("relu", nn.ReLU), ("leaky_relu", lambda: nn.LeakyReLU(0.2)), ("sigmoid", nn.Sigmoid),
     ("tanh", nn.Tanh)],
)  # fmt: skip
@pytest.mark.parametrize(
    "kind, make, x_shape, shown",
    [
        (nn.Linear, lambda **fused: nn.Linear(6, 4, **fused), (5, 6), "Linear(6→4"),
        (nn.Conv2d, lambda **fused: nn.Conv2d(2, 3, 3, **fused), (2, 2, 5, 4), "Conv2d(2→3, 3×3"),
    ],
    ids=["Linear", "Conv2d"],
)
def test_a_fused_activation_gives_the_numbers_of_the_two_layers(
    kind, make, x_shape, shown, activation, layer
):
    nn.seed(3)  # float64: the sums of dW cancel, so float32 would differ in their last bits
    fused = make(activation=activation, negative_slope=0.2).to(np.float64)
    pair = nn.Sequential(make(), layer()).to(np.float64)
    pair.load_state_dict({f"0.{k}": v for k, v in fused.state_dict().items()})
    x = RNG.standard_normal(x_shape)
    y = fused(x)
    dy = RNG.standard_normal(y.shape)
    close = dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, pair(x), **close)
    np.testing.assert_allclose(fused.backward(dy), pair.backward(dy), **close)
    for name, grad in fused.grad_dict().items():
        np.testing.assert_allclose(grad, pair.grad_dict()[f"0.{name}"], **close)
    assert repr(fused) == f"{shown}, {activation})"
    assert fused.formula["forward"].startswith("y") and activation in fused.formula["forward"]
    rebuilt = kind.from_config(fused.config())
    assert (rebuilt.activation, rebuilt.negative_slope) == (activation, 0.2)


def test_mlp_with_fused_activations_computes_the_same_function():
    nn.seed(0)
    plain = nn.models.mlp(12, (8, 6), 3, nn.Tanh)
    nn.seed(0)
    fused = nn.models.mlp(12, (8, 6), 3, nn.Tanh, fuse=True)
    assert len(fused) == 4 and repr(fused[1]) == "Linear(12→8, tanh)"
    x = RNG.standard_normal((5, 12))
    np.testing.assert_allclose(fused(x), plain(x), rtol=1e-6)


def test_an_unknown_fused_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="Linear: activation must be one of None, 'relu'.*'gelu'"):
        nn.Linear(3, 2, activation="gelu")
    with pytest.raises(ValueError, match="Conv2d: activation must be one of None.*got 'elu'"):
        nn.Conv2d(3, 2, 3, activation="elu")


def test_linear_init_follows_torch_default_bounds():
    nn.seed(0)
    layer = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    for name in ("weight", "bias"):
        p = layer.params[name]
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.9 * bound  # uniform over the whole range, not a narrower one
    assert layer.params["weight"].shape == (50, 100)


def test_xavier_and_kaiming_init_have_the_documented_scale():
    nn.seed(1)
    xavier = nn.Linear(300, 200, init="xavier")
    np.testing.assert_allclose(xavier.params["weight"].std(), np.sqrt(2 / 500), rtol=0.05)
    kaiming = nn.Linear(300, 200, init="kaiming")
    np.testing.assert_allclose(kaiming.params["weight"].std(), np.sqrt(2 / 300), rtol=0.05)
    assert (xavier.params["bias"] == 0).all() and (kaiming.params["bias"] == 0).all()
    with pytest.raises(ValueError, match="unknown init"):
        nn.Linear(3, 3, init="orthogonal")


def test_seed_makes_initialisation_reproducible():
    nn.seed(42)
    a = nn.Linear(4, 3).params["weight"].copy()
    nn.seed(42)
    np.testing.assert_array_equal(nn.Linear(4, 3).params["weight"], a)


def test_sequential_uses_torch_state_dict_keys_and_layer_names():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 2)))
    assert list(model.state_dict()) == ["1.weight", "1.bias", "3.0.weight", "3.0.bias"]
    assert list(model.grad_dict()) == list(model.state_dict())
    assert model[1].name == "1: Linear(4→3)"
    assert model[3][0].name == "3.0: Linear(3→2)"
    assert model.num_params() == 4 * 3 + 3 + 3 * 2 + 2


def test_state_dict_round_trip_copies_into_own_buffers():
    a, b = nn.Sequential(nn.Linear(3, 2)), nn.Sequential(nn.Linear(3, 2))
    weight_buffer = b[0].params["weight"]
    b.load_state_dict(a.state_dict())
    assert b[0].params["weight"] is weight_buffer
    np.testing.assert_array_equal(b[0].params["weight"], a[0].params["weight"])
    state = a.state_dict()
    state["0.weight"][:] = 99  # a host copy: changing it leaves the model alone
    assert (a[0].params["weight"] != 99).all()


def test_to_float64_keeps_values_and_computes_in_float64():
    model = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    before = model.state_dict()
    model.to(np.float64)
    assert model[0].params["weight"].dtype == np.float64
    np.testing.assert_array_equal(model.state_dict()["0.weight"], before["0.weight"])
    assert model.forward(np.ones((2, 3))).dtype == np.float64


def test_train_and_eval_set_the_mode_of_every_layer():
    model = nn.Sequential(nn.Linear(3, 2), nn.Sequential(nn.ReLU()))
    model.eval()
    assert not any(layer.training for layer in model.modules())
    model.train()
    assert all(layer.training for layer in model.modules())


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(6, 4)
    twin = torch.nn.Linear(6, 4)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = RNG.standard_normal((5, 6)).astype(np.float32)
    dy = RNG.standard_normal((5, 4)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    ty = twin(tx)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(layer.forward(x), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layer.grads["weight"], twin.weight.grad.numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(layer.grads["bias"], twin.bias.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_reprs_are_short():
    assert repr(nn.Linear(784, 128)) == "Linear(784→128)"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(0.2)"
    assert "(1): ReLU()" in repr(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))


def test_mlp_builds_the_seed_architecture():
    model = nn.models.mlp()
    assert [repr(layer) for layer in model] == [
        "Flatten()",
        "Linear(784→128)",
        "ReLU()",
        "Linear(128→256)",
        "ReLU()",
        "Linear(256→10)",
    ]
    assert model.forward(np.zeros((2, 1, 28, 28))).shape == (2, 10)


def test_backward_without_dx_skips_layers_below_the_first_with_params():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = np.random.default_rng(0).standard_normal((5, 2, 2))
    model.forward(x)
    dy = np.ones((5, 2), np.float32)
    dx = model.backward(dy)
    grads = model.grad_dict()
    assert dx.shape == (5, 2, 2)
    model.forward(x)
    assert model.backward(dy, need_dx=False) is None
    for key, value in model.grad_dict().items():  # the same gradients, less work
        np.testing.assert_array_equal(value, grads[key])


class Counting(nn.Layer):
    """A layer with state (a running mean of its inputs and a count), like BatchNorm's."""

    def __init__(self):
        super().__init__()
        self.state["running_mean"] = np.zeros(3, np.float32)
        self.state["count"] = np.zeros((), np.int64)

    def forward(self, x):
        x = self.as_input(x)
        self.state["running_mean"][...] = x.mean(axis=0)
        self.state["count"][...] += 1
        return x


def test_state_is_saved_loaded_and_moved_with_the_params(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3), Counting())
    model(np.ones((2, 3)))
    state = model.state_dict()
    assert set(state) == {"0.weight", "0.bias", "1.running_mean", "1.count"}
    assert state["1.count"] == 1 and state["1.running_mean"].dtype == np.float32
    model.to(np.float64)
    assert model[1].state["count"].dtype == np.int64
    assert model[1].state["running_mean"].dtype == np.float64
    fresh = nn.Sequential(nn.Linear(3, 3), Counting())
    fresh.load_state_dict(state)
    assert fresh.state_dict()["1.count"] == 1 and fresh.clone().state_dict()["1.count"] == 1
    with pytest.raises(ValueError, match=r"missing keys \['1.count'\]"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "1.count"})
