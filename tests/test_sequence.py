"""Sequence plumbing: Embedding, Linear over (N, T, F), LastTimeStep, cross-entropy over
sequences and gradient clipping, against NumPy, finite differences and torch."""

import numpy as np
import pytest

import numbanet as nn
from numbanet.backend import get_backend

K = get_backend("cpu").kernels
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
GRADCHECK_TOL = 1e-6


def worst(errors):
    name = max(errors, key=errors.get)
    return name, errors[name]


def grouped_by_token(ids, vocab):
    """The (order, offsets) the Embedding layer gives its backward kernel."""
    order = np.argsort(ids, kind="stable")
    return order, np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=vocab))])


# ----- kernels against NumPy ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, d, vocab", [(1, 1, 1), (13, 5, 4), (200, 17, 31)])
def test_embedding_kernels_match_numpy_gather_and_scatter_add(dtype, m, d, vocab):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, m)
    W, dy = rng.standard_normal((vocab, d)).astype(dtype), rng.standard_normal((m, d)).astype(dtype)
    y = np.full((m, d), np.nan, dtype)
    K.embedding_forward(ids, W, y)
    np.testing.assert_array_equal(y, W[ids])
    expected = np.zeros((vocab, d))
    np.add.at(expected, ids, dy.astype(np.float64))
    for padding_idx in (-1, 0):
        dW = np.full((vocab, d), np.nan, dtype)
        K.embedding_backward(*grouped_by_token(ids, vocab), dy, padding_idx, dW)
        if padding_idx >= 0:
            expected[padding_idx] = 0
        np.testing.assert_allclose(dW, expected, **TOL[dtype], err_msg=f"padding {padding_idx}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 4, 5), (2, 9, 1)])
def test_last_step_kernels_match_numpy(dtype, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    y = np.full((shape[0], shape[2]), np.nan, dtype)
    K.last_step_forward(x, y)
    np.testing.assert_array_equal(y, x[:, -1])
    dy, dx = rng.standard_normal(y.shape).astype(dtype), np.full(shape, np.nan, dtype)
    K.last_step_backward(dy, dx)
    expected = np.zeros(shape, dtype)
    expected[:, -1] = dy
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, partials", [(1, 1), (130, 7), (1000, 1024)])
def test_grad_norm_kernels_match_numpy(dtype, n, partials):
    rng = np.random.default_rng(2)
    grad = rng.standard_normal(n).astype(dtype)
    partial = np.full(partials, np.nan)
    K.squared_norm_partials(grad, partial)
    expected = [np.sum(grad[p::partials].astype(np.float64) ** 2) for p in range(partials)]
    np.testing.assert_allclose(partial, expected, rtol=1e-12)
    before = grad.copy()
    K.scale_in_place(grad, dtype(0.25))
    np.testing.assert_array_equal(grad, before * dtype(0.25))


# ----- Embedding --------------------------------------------------------------------------------
def test_embedding_looks_up_rows_for_ids_of_any_shape():
    nn.seed(0)
    layer = nn.Embedding(10, 4)
    weight = layer.params["weight"]
    assert weight.shape == (10, 4) and weight.dtype == np.float32
    assert abs(weight.std() - 1) < 0.5  # N(0, 1), as torch
    ids = np.array([[1, 2, 3], [9, 1, 0]])
    y = layer.forward(ids)
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y, weight[ids])
    np.testing.assert_array_equal(layer.forward(np.array([7, 7])), weight[[7, 7]])
    np.testing.assert_array_equal(
        layer.forward(np.zeros((2, 1, 3), np.int32)), weight[[[[0] * 3]] * 2]
    )


def test_embedding_backward_sums_the_rows_of_repeated_tokens_and_returns_no_dx():
    layer = nn.Embedding(5, 3)
    ids = np.array([[4, 1, 4], [4, 0, 1]])
    layer.forward(ids)
    dy = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    assert layer.backward(dy) is None
    expected = np.zeros((5, 3), np.float32)
    np.add.at(expected, ids.reshape(-1), dy.reshape(-1, 3))
    np.testing.assert_array_equal(layer.grads["weight"], expected)
    layer.forward(ids)
    layer.backward(dy)  # a second backward overwrites, never accumulates
    np.testing.assert_array_equal(layer.grads["weight"], expected)


@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_weight_gradient_matches_finite_differences(padding_idx):
    nn.seed(1)
    # the padding token is not in the input: its row's gradient is 0 by definition, not by math
    ids = np.array([[0, 2, 2, 5], [6, 1, 0, 2]])
    errors = nn.gradcheck(nn.Embedding(7, 3, padding_idx=padding_idx), ids)
    assert errors.keys() == {"weight"}
    assert worst(errors)[1] < GRADCHECK_TOL, worst(errors)


def test_embedding_padding_row_starts_at_zero_and_never_learns():
    layer = nn.Embedding(6, 4, padding_idx=-1)
    assert layer.padding_idx == 5 and repr(layer) == "Embedding(6, 4, padding_idx=5)"
    np.testing.assert_array_equal(layer.params["weight"][5], 0)
    layer.forward(np.array([[5, 1, 5]]))
    layer.backward(np.ones((1, 3, 4), np.float32))
    np.testing.assert_array_equal(layer.grads["weight"][5], 0)
    np.testing.assert_array_equal(layer.grads["weight"][1], 1)


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    nn.seed(2)
    ours = nn.Embedding(8, 5, padding_idx=2)
    theirs = torch.nn.Embedding(8, 5, padding_idx=2)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    ids = np.random.default_rng(3).integers(0, 8, (4, 6))
    dy = np.random.default_rng(4).standard_normal((4, 6, 5)).astype(np.float32)
    out = theirs(torch.tensor(ids))
    out.backward(torch.tensor(dy))
    np.testing.assert_allclose(ours.forward(ids), out.detach().numpy(), rtol=1e-6)
    ours.backward(dy)
    np.testing.assert_allclose(
        ours.grads["weight"], theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "ids, message",
    [
        (
            np.array([[0.0, 1.0]]),
            r"0: Embedding\(4, 2\): expected integer token ids, got dtype float64",
        ),
        (np.array([[0, 4]]), r"ids in \[0, 3\] for a vocabulary of 4, got ids in \[0, 4\]"),
        (np.array([-1, 2]), r"ids in \[0, 3\] .* got ids in \[-1, 2\]"),
        (np.int64(1), r"expected token ids of shape \(N, ...\), got a scalar"),
    ],
)
def test_embedding_rejects_bad_ids_naming_the_layer(ids, message):
    model = nn.Sequential(nn.Embedding(4, 2))
    with pytest.raises(nn.LayerInputError, match=message):
        model.forward(ids)


def test_embedding_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_embeddings and embedding_dim must be >= 1"):
        nn.Embedding(0, 3)
    with pytest.raises(ValueError, match=r"padding_idx must be in \[-4, 4\), got 4"):
        nn.Embedding(4, 3, padding_idx=4)


def char_model(vocab, dim=8):
    return nn.Sequential(nn.Embedding(vocab, dim), nn.Tanh(), nn.Linear(dim, vocab))


def test_a_model_that_starts_with_an_embedding_trains_and_backprops_no_dx():
    nn.seed(3)
    model = char_model(5)
    text = np.tile([0, 1, 2, 3, 4], 8)  # each token predicts the next, deterministically
    x, y = nn.data.sequence_windows(text, 4)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(model.forward(x), y)
    assert model.backward(loss_fn.backward()) is None  # ids have no gradient
    optimizer = nn.optim.Adam(model, lr=0.05)
    events = list(nn.train_step(model, loss_fn, optimizer, x, y))
    embedding_backward = [e for e in events if e.phase == "backward" and e.index == 0]
    assert embedding_backward[0].tensors().keys() == {"dy", "dweight"}
    history = nn.fit(model, loss_fn, optimizer, (x, y), epochs=30, batch_size=4, progress=False)
    assert history.train_loss[-1] < 0.1 * history.train_loss[0]
    assert nn.evaluate(model, (x, y)).accuracy == 1.0


# ----- Linear over sequences ------------------------------------------------------------------
@pytest.mark.parametrize("activation", [None, "tanh"])
def test_linear_applies_the_same_weights_at_every_position(activation):
    nn.seed(4)
    layer = nn.Linear(5, 3, activation=activation)
    x = np.random.default_rng(5).standard_normal((2, 4, 5)).astype(np.float32)
    y = layer.forward(x)
    assert y.shape == (2, 4, 3)
    z = x @ layer.params["weight"].T + layer.params["bias"]
    np.testing.assert_allclose(y, np.tanh(z) if activation else z, rtol=1e-5, atol=1e-6)
    dx = layer.backward(np.ones((2, 4, 3), np.float32))
    assert dx.shape == x.shape
    assert layer.forward(np.zeros((3, 2, 1, 5))).shape == (3, 2, 1, 3)


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_linear_on_sequences_matches_finite_differences(activation):
    nn.seed(5)
    x = np.random.default_rng(6).standard_normal((3, 4, 5))
    name, error = worst(nn.gradcheck(nn.Linear(5, 2, activation=activation), x))
    assert error < GRADCHECK_TOL, (name, error)


def test_linear_on_sequences_matches_torch():
    torch = pytest.importorskip("torch")
    nn.seed(6)
    ours, theirs = nn.Linear(6, 4), torch.nn.Linear(6, 4)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(7).standard_normal((3, 5, 6)).astype(np.float32)
    dy = np.random.default_rng(8).standard_normal((3, 5, 4)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    out = theirs(tx)
    out.backward(torch.tensor(dy))
    np.testing.assert_allclose(ours.forward(x), out.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.backward(dy), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours.grads["weight"], theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(ours.grads["bias"], theirs.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_on_sequences_names_the_wrong_feature_count_and_dy_shape():
    layer = nn.Linear(5, 3)
    with pytest.raises(nn.LayerInputError, match=r"\(N, 5\) or \(N, ..., 5\), got \(2, 4, 6\)"):
        layer.forward(np.zeros((2, 4, 6)))
    layer.forward(np.zeros((2, 4, 5)))
    with pytest.raises(nn.LayerInputError, match=r"expected dy of the output's shape \(2, 4, 3\)"):
        layer.backward(np.zeros((8, 3)))


# ----- LastTimeStep ---------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [True, False])
def test_last_time_step_picks_the_last_step_and_routes_dy_back_to_it(batch_first):
    layer = nn.LastTimeStep(batch_first=batch_first)
    x = np.random.default_rng(9).standard_normal((2, 3, 4)).astype(np.float32)
    y = layer.forward(x)
    last = x[:, -1] if batch_first else x[-1]
    np.testing.assert_array_equal(y, last)
    dy = np.random.default_rng(10).standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    expected = np.zeros_like(x)
    if batch_first:
        expected[:, -1] = dy
    else:
        expected[-1] = dy
    np.testing.assert_array_equal(dx, expected)
    name, error = worst(nn.gradcheck(layer, x))
    assert error < GRADCHECK_TOL, (name, error)


def test_last_time_step_rejects_inputs_that_are_not_sequences():
    with pytest.raises(
        nn.LayerInputError, match=r"LastTimeStep\(\): expected input of shape \(N, T, H\)"
    ):
        nn.LastTimeStep().forward(np.zeros((2, 3)))
    with pytest.raises(nn.LayerInputError, match="at least one step"):
        nn.LastTimeStep().forward(np.zeros((2, 0, 3)))
    with pytest.raises(nn.LayerInputError, match=r"\(T, N, H\)"):
        nn.LastTimeStep(batch_first=False).forward(np.zeros(3))


# ----- cross-entropy over sequences -----------------------------------------------------------
def test_sequence_cross_entropy_is_the_mean_over_every_position():
    rng = np.random.default_rng(11)
    logits, labels = rng.standard_normal((3, 4, 5)), rng.integers(0, 5, (3, 4))
    loss_fn = nn.CrossEntropyLoss()
    flat = nn.CrossEntropyLoss()(logits.reshape(12, 5), labels.reshape(12))
    assert loss_fn(logits, labels) == pytest.approx(flat, rel=1e-12)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    expected = -np.take_along_axis(log_probs, labels[..., None], -1).mean()
    assert loss_fn(logits, labels) == pytest.approx(expected, rel=1e-12)
    assert loss_fn.backward().shape == (3, 4, 5)
    np.testing.assert_array_equal(loss_fn.predictions(logits), logits.argmax(axis=-1))
    total = nn.CrossEntropyLoss(reduction="sum")(logits, labels)
    assert total == pytest.approx(12 * expected, rel=1e-12)


def test_sequence_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(12)
    logits, labels = rng.standard_normal((2, 5, 4)), rng.integers(0, 4, (2, 5))
    errors = nn.gradcheck(nn.CrossEntropyLoss(), logits, labels)
    assert errors["x"] < GRADCHECK_TOL, errors


def test_sequence_cross_entropy_matches_torch_with_classes_moved_to_dim_1():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    logits = rng.standard_normal((3, 7, 6)).astype(np.float32)
    labels = rng.integers(0, 6, (3, 7))
    tz = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.CrossEntropyLoss()(tz.permute(0, 2, 1), torch.tensor(labels))
    expected.backward()
    loss_fn = nn.CrossEntropyLoss()
    assert loss_fn(logits, labels) == pytest.approx(expected.item(), rel=1e-5)
    np.testing.assert_allclose(loss_fn.backward(), tz.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "logits_shape, labels, message",
    [
        (
            (2, 3, 4),
            np.zeros((2, 4), np.int64),
            r"shape \(2, 3\) to match the logits' batch of 2 sequences of 3 steps, got \(2, 4\)",
        ),
        ((2, 3, 4), np.zeros((2, 3)), r"integer class labels of shape \(N, T\), got dtype float64"),
        ((2, 3, 4), np.full((2, 3), 4), r"labels in \[0, 3\] for 4 classes"),
        ((2, 3, 4, 5), np.zeros((2, 3, 4), np.int64), r"\(N, C\), or \(N, T, C\) for sequences"),
    ],
)
def test_sequence_cross_entropy_names_mismatched_shapes(logits_shape, labels, message):
    with pytest.raises(nn.LayerInputError, match=message):
        nn.CrossEntropyLoss()(np.zeros(logits_shape, np.float32), labels)


# ----- gradient clipping ----------------------------------------------------------------------
def model_with_grads(seed):
    nn.seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    rng = np.random.default_rng(seed)
    model.forward(rng.standard_normal((5, 4)))
    model.backward(rng.standard_normal((5, 3)) * 10)
    return model


def test_clip_grad_norm_returns_the_norm_and_scales_every_grad_to_max_norm():
    model = model_with_grads(14)
    before = model.grad_dict()
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in before.values()))
    assert nn.clip_grad_norm(model, 1.0) == pytest.approx(norm, rel=1e-6)
    after = model.grad_dict()
    scale = 1.0 / (norm + 1e-6)
    for key, grad in before.items():
        np.testing.assert_allclose(after[key], grad * scale, rtol=1e-5, err_msg=key)
    assert nn.clip_grad_norm(model, 1.0) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_leaves_grads_below_max_norm_alone():
    model = model_with_grads(15)
    before = model.grad_dict()
    norm = nn.clip_grad_norm(model, 1e6)
    assert norm > 0
    for key, grad in model.grad_dict().items():
        np.testing.assert_array_equal(grad, before[key], err_msg=key)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    model = model_with_grads(16)
    params = []
    for key, grad in model.grad_dict().items():
        param = torch.zeros(grad.shape, requires_grad=True)
        param.grad = torch.tensor(grad)
        params.append((key, param))
    expected = torch.nn.utils.clip_grad_norm_([p for _, p in params], 0.5)
    assert nn.clip_grad_norm(model, 0.5) == pytest.approx(expected.item(), rel=1e-6)
    ours = model.grad_dict()
    for key, param in params:
        np.testing.assert_allclose(ours[key], param.grad.numpy(), rtol=1e-6, atol=1e-8, err_msg=key)


def test_clip_grad_norm_rejects_bad_arguments():
    with pytest.raises(TypeError, match="expected a model"):
        nn.clip_grad_norm([np.zeros(3)], 1.0)
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        nn.clip_grad_norm(nn.Linear(2, 2), -1.0)


def test_a_sequence_model_saves_and_loads_with_its_layers_and_settings(tmp_path):
    nn.seed(17)
    model = nn.Sequential(
        nn.Embedding(9, 4, padding_idx=0), nn.Linear(4, 5), nn.LastTimeStep(), nn.Linear(5, 2)
    )
    ids = np.random.default_rng(18).integers(0, 9, (3, 6))
    nn.io.save(tmp_path / "model.npz", model)
    loaded, _ = nn.io.load(tmp_path / "model.npz")
    assert repr(loaded) == repr(model) and loaded[0].padding_idx == 0
    np.testing.assert_array_equal(loaded.forward(ids), model.forward(ids))
    assert loaded.forward(ids).shape == (3, 2)
