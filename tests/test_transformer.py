"""LayerNorm, GELU, MultiheadAttention, PositionalEmbedding and TransformerEncoderLayer: kernels
against NumPy, layers against finite differences and against PyTorch (the same weights through
load_state_dict: outputs, input and param gradients, params after AdamW steps), bad input."""

import math

import numpy as np
import pytest

import numbanet as nn
from layer_contract import GRADCHECK_TOL, check_layer_contract
from numbanet.backend import get_backend

K = get_backend("cpu").kernels
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----- kernels against NumPy ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (3, 130)])
def test_layer_norm_kernels_match_numpy(shape, dtype):
    rng = np.random.default_rng(0)
    x = (2 + 3 * rng.standard_normal(shape)).astype(dtype)
    weight, bias, dy = (rng.standard_normal(s).astype(dtype) for s in (shape[1], shape[1], shape))
    y, mean, rstd = np.empty_like(x), np.empty(shape[0], dtype), np.empty(shape[0], dtype)
    K.layer_norm_forward(x, weight, bias, dtype(1e-5), y, mean, rstd)
    x64 = x.astype(np.float64)
    mu, inv = x64.mean(axis=1, keepdims=True), 1 / np.sqrt(x64.var(axis=1, keepdims=True) + 1e-5)
    x_hat = (x64 - mu) * inv
    np.testing.assert_allclose(y, x_hat * weight + bias, **TOL[dtype])
    np.testing.assert_allclose(mean, mu[:, 0], **TOL[dtype])
    np.testing.assert_allclose(rstd, inv[:, 0], **TOL[dtype])

    dx, dweight, dbias = np.empty_like(x), np.empty_like(weight), np.empty_like(bias)
    K.layer_norm_backward(x, weight, mean, rstd, dy, dx, dweight, dbias, True)
    g = dy * weight.astype(np.float64)
    expected = inv * (
        g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(1, keepdims=True)
    )
    np.testing.assert_allclose(dbias, dy.sum(axis=0, dtype=np.float64), **TOL[dtype])
    np.testing.assert_allclose(dweight, (dy * x_hat).sum(axis=0), **TOL[dtype])
    np.testing.assert_allclose(dx, expected, rtol=TOL[dtype]["rtol"], atol=50 * TOL[dtype]["atol"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["none", "tanh"])
def test_gelu_kernels_match_the_formulas(form, dtype):
    x = np.linspace(-6, 6, 241).astype(dtype)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    y, dx = np.empty_like(x), np.empty_like(x)
    code = {"none": 0, "tanh": 1}[form]
    K.gelu_forward(x, code, y), K.gelu_backward(x, code, dy, dx)
    v = x.astype(np.float64)
    if form == "none":
        cdf = 0.5 * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))
        grad = cdf + v * np.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    else:
        u = math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)
        cdf, du = 0.5 * (1 + np.tanh(u)), math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * v**2)
        grad = cdf + 0.5 * v * (1 - np.tanh(u) ** 2) * du
    np.testing.assert_allclose(y, v * cdf, **TOL[dtype])
    np.testing.assert_allclose(dx, dy * grad, **TOL[dtype])


def test_heads_split_is_a_permutation_and_backward_its_inverse():
    n, t, groups, heads, dim = 2, 3, 3, 4, 5
    x = np.arange(n * t * groups * heads * dim, dtype=np.float64).reshape(n, t, -1)
    y = np.empty((groups, n, heads, t, dim))
    K.heads_split_forward(x, y)
    np.testing.assert_array_equal(y, x.reshape(n, t, groups, heads, dim).transpose(2, 0, 3, 1, 4))
    back = np.empty_like(x)
    K.heads_split_backward(y, back)
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("pairs, t, d", [(1, 1, 1), (6, 5, 4), (2, 17, 3)])
def test_attention_kernels_match_numpy(pairs, t, d, causal, dtype):
    rng = np.random.default_rng(2)
    q, k, v, do = (rng.standard_normal((pairs, t, d)).astype(dtype) for _ in range(4))
    scale = dtype(1 / math.sqrt(d))
    s, p, o = np.empty((pairs, t, t), dtype), np.empty((pairs, t, t), dtype), np.empty_like(q)
    K.attention_scores_forward(q, k, s)
    K.attention_softmax_forward(s, scale, causal, p)
    K.attention_values_forward(p, v, o)
    q64, k64, v64, do64 = (a.astype(np.float64) for a in (q, k, v, do))
    s64 = q64 @ k64.transpose(0, 2, 1)
    masked = np.where(np.tri(t, dtype=bool), s64, -np.inf) if causal else s64
    p64 = softmax(float(scale) * masked)
    np.testing.assert_allclose(s, s64, **TOL[dtype])
    np.testing.assert_allclose(p, p64, **TOL[dtype])
    np.testing.assert_allclose(o, p64 @ v64, **TOL[dtype])
    if causal:
        assert (p[:, np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]] == 0).all()

    dp, dv, ds = np.empty_like(p), np.empty_like(v), np.empty_like(p)
    dq, dk = np.empty_like(q), np.empty_like(k)
    K.attention_values_backward(p, v, do, dp, dv)
    K.attention_softmax_backward(p, scale, dp, ds)
    K.attention_scores_backward(q, k, ds, dq, dk)
    p64 = p.astype(np.float64)
    dp64 = do64 @ v64.transpose(0, 2, 1)
    ds64 = float(scale) * p64 * (dp64 - (dp64 * p64).sum(axis=2, keepdims=True))
    np.testing.assert_allclose(dp, dp64, **TOL[dtype])
    np.testing.assert_allclose(dv, p64.transpose(0, 2, 1) @ do64, **TOL[dtype])
    np.testing.assert_allclose(ds, ds64, **TOL[dtype])
    np.testing.assert_allclose(dq, ds64 @ k64, **TOL[dtype])
    np.testing.assert_allclose(dk, ds64.transpose(0, 2, 1) @ q64, **TOL[dtype])


def test_position_embedding_kernels_add_rows_and_sum_their_gradients():
    rng = np.random.default_rng(3)
    x, table, dy = (
        rng.standard_normal((3, 4, 5)),
        rng.standard_normal((6, 5)),
        rng.random((3, 4, 5)),
    )
    y, dtable = np.empty_like(x), np.full_like(table, 7.0)
    K.position_embedding_forward(x, table, y)
    K.position_embedding_backward(dy, dtable)
    np.testing.assert_allclose(y, x + table[:4], rtol=1e-15)
    np.testing.assert_allclose(dtable, np.concatenate([dy.sum(axis=0), np.zeros((2, 5))]))


# ----- layers: contract and gradient checks ------------------------------------------------------
def attention(heads, **kwargs):
    nn.seed(4)
    return nn.MultiheadAttention(6, heads, **kwargs)


LAYERS = {
    "layer_norm_2d": (lambda: nn.LayerNorm(5), (4, 5)),
    "layer_norm_3d_no_affine": (lambda: nn.LayerNorm(5, elementwise_affine=False), (2, 3, 5)),
    "gelu": (lambda: nn.GELU(), (3, 7)),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), (3, 7)),
    "attention_1_head": (lambda: attention(1), (2, 4, 6)),
    "attention_3_heads": (lambda: attention(3), (2, 4, 6)),
    "attention_causal": (lambda: attention(2, causal=True), (2, 5, 6)),
    "attention_no_bias": (lambda: attention(2, bias=False), (1, 3, 6)),
    "attention_dropout": (lambda: attention(2, dropout=0.3, causal=True), (2, 4, 6)),
    "attention_wide_heads": (lambda: attention(2, head_dim=5), (2, 3, 6)),
    "positions_learned": (lambda: nn.PositionalEmbedding(7, 4), (2, 5, 4)),
    "positions_sinusoidal": (lambda: nn.PositionalEmbedding(7, 5, kind="sinusoidal"), (2, 7, 5)),
    "encoder_post_norm": (lambda: nn.TransformerEncoderLayer(4, 2, 5, dropout=0.2), (2, 3, 4)),
    "encoder_pre_norm_gelu_causal": (
        lambda: nn.TransformerEncoderLayer(4, 2, 5, 0.0, "gelu", norm_first=True, causal=True),
        (2, 3, 4),
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_passes_the_contract_and_gradcheck(name):
    make, shape = LAYERS[name]
    nn.seed(5)  # the same dropout masks in every run
    layer = make()
    if isinstance(layer, nn.LayerNorm) and layer.params:
        rng = np.random.default_rng(6)
        layer.params["weight"][:] = rng.uniform(0.5, 1.5, 5)
        layer.params["bias"][:] = rng.standard_normal(5)
    x = np.random.default_rng(7).standard_normal(shape)
    dropout = any(getattr(m, "p", 0) or getattr(m, "dropout", 0) for m in layer.modules())
    # the contract runs forward twice and wants the same output: dropout's masks differ, so it
    # sees the layer in eval mode, and the gradient check (one mask) sees it in training
    check_layer_contract(layer.train(not dropout), x, shape)
    if dropout:
        errors = nn.gradcheck(layer.train(), x, max_entries=12)
        assert max(errors.values()) < GRADCHECK_TOL, errors


def test_attention_keeps_its_weights_for_the_inspector_and_drops_them_in_training_only():
    layer = attention(2, dropout=0.5)
    x = np.random.default_rng(8).standard_normal((3, 4, 6))
    layer.forward(x)
    weights = np.array(layer.saved["attention"])
    assert weights.shape == (3, 2, 4, 4)
    np.testing.assert_allclose(weights.sum(axis=-1), 1, rtol=1e-6)
    dropped = np.array(layer.saved["weights"]).reshape(weights.shape)
    kept = np.array(layer.saved["mask"]).reshape(weights.shape).astype(bool)
    np.testing.assert_allclose(dropped, np.where(kept, weights / 0.5, 0), rtol=1e-6)
    assert 0.2 < kept.mean() < 0.8
    layer.eval().forward(x)
    assert "mask" not in layer.saved
    np.testing.assert_allclose(layer.saved["weights"], layer.saved["attention"].reshape(6, 4, 4))


def test_attention_without_positions_is_blind_to_order_and_positions_fix_it():
    # attention treats its input as a set: permuting the positions permutes the outputs alike;
    # adding a position vector to each token breaks that symmetry
    attn = attention(2)
    x = np.random.default_rng(9).standard_normal((1, 5, 6))
    order = np.array([3, 0, 4, 1, 2])
    shuffled = np.array(attn.forward(x[:, order]))  # a copy: the next forward reuses the buffer
    np.testing.assert_allclose(shuffled, attn.forward(x)[:, order], rtol=1e-5)
    positions = nn.PositionalEmbedding(5, 6, kind="sinusoidal")
    with_positions = np.array(attn.forward(positions.forward(x)))[:, order]
    shuffled = np.array(attn.forward(positions.forward(x[:, order])))
    assert np.abs(shuffled - with_positions).max() > 1e-2


def test_sinusoidal_positions_are_those_of_attention_is_all_you_need():
    table = nn.layers.embedding.sinusoidal_table(50, 6)
    pos, i = 17, 2  # columns 2i and 2i + 1 turn at the rate 10000^(−2i/6)
    assert table[pos, 2 * i] == pytest.approx(math.sin(pos / 10000 ** (2 * i / 6)))
    assert table[pos, 2 * i + 1] == pytest.approx(math.cos(pos / 10000 ** (2 * i / 6)))
    assert table.shape == (50, 6) and nn.layers.embedding.sinusoidal_table(3, 5).shape == (3, 5)
    assert not nn.PositionalEmbedding(4, 6, kind="sinusoidal").params


def test_encoder_layer_is_built_from_residual_blocks_with_torch_names():
    layer = nn.TransformerEncoderLayer(8, 2, 16, norm_first=True)
    assert [type(b).__name__ for b in layer.block] == ["Residual", "Residual"]
    assert layer.block[0].body[1] is layer.self_attn
    assert [name for name, _ in layer.named_children()][:6] == [
        "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
    ]  # fmt: skip
    model = nn.Sequential(nn.Linear(8, 8), layer)
    assert model[1].self_attn.name == "1.self_attn: MultiheadAttention(8, 2, dropout=0.1)"
    assert "1.linear2.bias" in model.state_dict()
    model.to(np.float64)  # the Residual blocks and shortcuts move too
    assert all(m.dtype == np.float64 for m in layer.modules())
    assert model.forward(np.zeros((1, 3, 8))).dtype == np.float64


# ----- PyTorch as the oracle ---------------------------------------------------------------------
def torch_mask(torch, t, causal):
    return torch.nn.Transformer.generate_square_subsequent_mask(t, dtype=torch.float64) if causal \
        else None  # fmt: skip


def perturbed(torch, module):
    """``module`` in float64 with every param moved off torch's init (zero biases, unit γ would
    hide a mistake in their gradients)."""
    module = module.double()
    with torch.no_grad():
        for param in module.parameters():
            param.add_(0.2 * torch.randn_like(param))
    return module


def assert_matches_torch(layer, twin, torch, forward, steps=3, shape=(2, 5, 6)):
    """Same weights (loaded from twin), then ``steps`` AdamW steps on both: outputs, input and
    param gradients at every step, params after each update."""
    assert set(layer.state_dict()) == set(twin.state_dict())
    layer.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    opt = nn.optim.AdamW(layer, lr=0.01, weight_decay=0.1)
    twin_opt = torch.optim.AdamW(
        list(twin.parameters()) or [torch.zeros(1)], lr=0.01, weight_decay=0.1
    )  # GELU has no params: a dummy
    rng = np.random.default_rng(10)
    for _ in range(steps):
        x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
        x_t = torch.tensor(x, requires_grad=True)
        twin_opt.zero_grad()
        y_t = forward(x_t)
        y_t.backward(torch.tensor(dy))
        np.testing.assert_allclose(layer.forward(x), y_t.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.backward(dy), x_t.grad.numpy(), rtol=1e-8, atol=1e-11)
        grads = layer.grad_dict()
        for key, param in twin.named_parameters():
            np.testing.assert_allclose(grads[key], param.grad.numpy(), rtol=1e-8, atol=1e-11,
                                       err_msg=key)  # fmt: skip
        opt.step(), twin_opt.step()
        state = layer.state_dict()
        for key, value in twin.state_dict().items():
            ours, theirs, loose = state[key], value.numpy(), np.zeros(value.shape, bool)
            if key.endswith("in_proj_bias"):
                # the keys' bias has no gradient in exact arithmetic (softmax ignores a shift of
                # its row): each engine moves it by lr·noise/(√v + ε) from rounding noise alone
                loose[len(loose) // 3 : 2 * len(loose) // 3] = True
                np.testing.assert_allclose(ours[loose], theirs[loose], atol=1e-7, err_msg=key)
            np.testing.assert_allclose(ours[~loose], theirs[~loose], rtol=1e-9, atol=1e-12,
                                       err_msg=key)  # fmt: skip


@pytest.mark.parametrize(
    "heads, causal, bias", [(1, False, True), (3, True, True), (2, False, False)]
)
def test_attention_matches_torch(heads, causal, bias):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    twin = perturbed(torch, torch.nn.MultiheadAttention(6, heads, bias=bias, batch_first=True))
    layer = nn.MultiheadAttention(6, heads, bias=bias, causal=causal).to(np.float64)

    def forward(x):
        y, weights = twin(x, x, x, attn_mask=torch_mask(torch, 5, causal),
                          average_attn_weights=False)  # fmt: skip
        forward.weights = weights.detach().numpy()
        return y

    assert_matches_torch(layer, twin, torch, forward)
    np.testing.assert_allclose(layer.saved["attention"], forward.weights, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("activation, causal", [("relu", False), ("gelu", True)])
def test_encoder_layer_matches_torch(norm_first, activation, causal):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    kwargs = dict(dropout=0.0, activation=activation, layer_norm_eps=1e-6, norm_first=norm_first)
    twin = perturbed(torch, torch.nn.TransformerEncoderLayer(6, 2, 10, batch_first=True, **kwargs))
    layer = nn.TransformerEncoderLayer(6, 2, 10, causal=causal, **kwargs).to(np.float64)
    mask = torch_mask(torch, 5, causal)
    assert_matches_torch(layer, twin, torch, lambda x: twin(x, src_mask=mask, is_causal=causal))


@pytest.mark.parametrize("make, twin_name", [
    (lambda: nn.LayerNorm(6, eps=1e-3), "LayerNorm"),
    (lambda: nn.GELU(), "GELU"),
    (lambda: nn.GELU(approximate="tanh"), "GELU"),
])  # fmt: skip
def test_layer_norm_and_gelu_match_torch(make, twin_name):
    torch = pytest.importorskip("torch")
    layer = make().to(np.float64)
    twin = perturbed(torch, getattr(torch.nn, twin_name)(**layer.config()))
    assert_matches_torch(layer, twin, torch, twin)


def test_layer_norm_float32_loads_torch_weights_and_matches():
    torch = pytest.importorskip("torch")
    twin = perturbed(torch, torch.nn.LayerNorm(16)).float()
    layer = nn.LayerNorm(16)
    layer.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    x = (3 + 2 * np.random.default_rng(11).standard_normal((4, 5, 16))).astype(np.float32)
    expected = twin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5, atol=1e-5)


class TorchPositions:
    """A learned position table for the torch twin of ``gpt``: y = x + weight[:T]."""

    def __new__(cls, torch, block_size, n_embd):
        class Positions(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = torch.nn.Parameter(torch.zeros(block_size, n_embd))

            def forward(self, x):
                return x + self.weight[: x.shape[1]]

        return Positions()


def torch_gpt(torch, vocab, block_size, n_layer, n_head, n_embd):
    """``nn.models.gpt`` in torch, keyed as ours (a Sequential with the same indices)."""

    class CausalBlock(torch.nn.TransformerEncoderLayer):
        def forward(self, x):
            mask = torch.nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=x.dtype)
            return super().forward(x, src_mask=mask, is_causal=True)

    blocks = [CausalBlock(n_embd, n_head, 4 * n_embd, 0.0, "gelu", batch_first=True,
                          norm_first=True) for _ in range(n_layer)]  # fmt: skip
    return torch.nn.Sequential(
        torch.nn.Embedding(vocab, n_embd), TorchPositions(torch, block_size, n_embd),
        torch.nn.Dropout(0.0), *blocks, torch.nn.LayerNorm(n_embd), torch.nn.Linear(n_embd, vocab),
    ).double()  # fmt: skip


def test_tiny_gpt_trains_as_torch_with_adamw_and_clipping():
    torch = pytest.importorskip("torch")
    nn.seed(12)
    model = nn.models.gpt(11, block_size=6, n_layer=2, n_head=2, n_embd=8).to(np.float64)
    twin = torch_gpt(torch, 11, 6, 2, 2, 8)
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    opt = nn.optim.AdamW(model, lr=3e-3, betas=(0.9, 0.99), weight_decay=0.1,
                         decay_weights_only=True)  # fmt: skip
    params = dict(twin.named_parameters())
    groups = [
        {"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": 0.1},
        {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0},
    ]
    twin_opt = torch.optim.AdamW(groups, lr=3e-3, betas=(0.9, 0.99))
    loss_fn, rng = nn.CrossEntropyLoss(), np.random.default_rng(13)
    for _ in range(4):
        ids = rng.integers(0, 11, (3, 6))
        loss = loss_fn(model.forward(ids[:, :-1]), ids[:, 1:])
        model.backward(loss_fn.backward())
        norm = nn.clip_grad_norm(model, 0.5)
        twin_opt.zero_grad()
        logits = twin(torch.from_numpy(ids[:, :-1]))
        twin_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 11), torch.from_numpy(ids[:, 1:]).reshape(-1)
        )
        twin_loss.backward()
        twin_norm = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.5)
        assert loss == pytest.approx(twin_loss.item(), rel=1e-10)
        assert norm == pytest.approx(twin_norm.item(), rel=1e-9) and norm > 0.5  # clipped
        opt.step(), twin_opt.step()
    for key, value in twin.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=key)  # fmt: skip


# ----- models ----------------------------------------------------------------------------------
def test_gpt_has_nanogpts_shape_and_initialisation():
    nn.seed(14)
    model = nn.models.gpt(65, block_size=16, n_layer=2, n_head=4, n_embd=32)
    logits = model.forward(np.zeros((3, 16), np.int64))
    assert logits.shape == (3, 16, 65)
    state = model.state_dict()
    assert state["3.self_attn.in_proj_weight"].shape == (96, 32)
    assert state["4.linear1.weight"].shape == (128, 32)
    assert state["3.self_attn.out_proj.weight"].std() == pytest.approx(0.01, rel=0.1)  # 0.02/√4
    assert state["0.weight"].std() == pytest.approx(0.02, rel=0.1)
    assert not state["4.linear2.bias"].any() and (state["5.weight"] == 1).all()
    blocks = [m for m in model if isinstance(m, nn.TransformerEncoderLayer)]
    assert all(b.norm_first and b.self_attn.causal and b.activation_name == "gelu" for b in blocks)


def test_gpt_positions_see_only_the_past():
    # causal: changing the last token changes no earlier position's logits
    nn.seed(15)
    model = nn.models.gpt(7, block_size=5, n_layer=1, n_head=2, n_embd=8)
    ids = np.array([[1, 2, 3, 4, 5]])
    before = np.array(model.forward(ids))
    ids[0, 4] = 6
    after = np.array(model.forward(ids))
    np.testing.assert_array_equal(after[0, :4], before[0, :4])
    assert np.abs(after[0, 4] - before[0, 4]).max() > 0


def test_seed_transformer_is_the_course_model():
    nn.seed(16)
    model = nn.models.seed_transformer(20)
    embedding, block, head = model
    assert isinstance(embedding, nn.Embedding) and head.out_features == 20
    residual, norm1, feed_forward, norm2 = block
    attn = residual.body[0]
    assert (attn.num_heads, attn.head_dim, attn.causal) == (2, 32, False)  # Keras key_dim=32
    assert residual.body[1].p == 0.1 and feed_forward.body[3].p == 0.1
    assert norm1.eps == norm2.eps == 1e-6
    assert [repr(layer) for layer in feed_forward.body][:3] == [
        "Linear(32→32)",
        "ReLU()",
        "Linear(32→32)",
    ]
    assert model.forward(np.zeros((2, 9), np.int64)).shape == (2, 9, 20)
    assert not any(isinstance(m, nn.PositionalEmbedding) for m in model.modules())


# ----- bad input -------------------------------------------------------------------------------
def tiny_gpt_forward(ids):
    nn.seed(17)
    return nn.models.gpt(10, block_size=4, n_layer=1, n_head=2, n_embd=8).forward(ids)


BAD_INPUT = {
    "heads do not divide": (
        lambda: nn.MultiheadAttention(10, 3),
        ValueError, "MultiheadAttention: embed_dim 10 is not divisible by num_heads 3",
    ),
    "sequence longer than the positions": (
        lambda: tiny_gpt_forward(np.zeros((2, 6), np.int64)),
        nn.LayerInputError,
        r"1: PositionalEmbedding\(4, 8\): a sequence of 6 positions is longer than the 4 positions",
    ),
    "id outside the vocabulary": (
        lambda: tiny_gpt_forward(np.array([[0, 12]])),
        nn.LayerInputError,
        r"0: Embedding\(10, 8\): expected token ids in \[0, 9\] .* got ids in \[0, 12\]",
    ),
    "floats for ids": (
        lambda: tiny_gpt_forward(np.zeros((2, 3), np.float32)),
        nn.LayerInputError, r"0: Embedding\(10, 8\): expected integer token ids, got dtype float32",
    ),
    "features": (
        lambda: nn.MultiheadAttention(8, 2).forward(np.zeros((1, 3, 6))),
        nn.LayerInputError,
        r"MultiheadAttention\(8, 2\): expected input of shape \(N, T, 8\) .* 6 features instead",
    ),
    "layer norm width": (
        lambda: nn.LayerNorm(8).forward(np.zeros((2, 7))),
        nn.LayerInputError, r"LayerNorm\(8\): expected input of shape \(\.\.\., 8\)",
    ),
    "activation": (
        lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"),
        ValueError, "TransformerEncoderLayer: activation must be one of",
    ),
    "gelu form": (lambda: nn.GELU("erf"), ValueError, "GELU: approximate must be one of"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_gives_clear_errors_naming_the_layer_and_the_numbers(case):
    run, error, message = BAD_INPUT[case]
    with pytest.raises(error, match=message):
        run()


def test_new_layers_rebuild_from_config_and_save(tmp_path):
    nn.seed(18)
    model = nn.models.gpt(9, block_size=4, n_layer=1, n_head=2, n_embd=8, dropout=0.1)
    nn.io.save(tmp_path / "gpt.npz", model, nn.optim.AdamW(model, decay_weights_only=True))
    loaded, optimizer = nn.io.load(tmp_path / "gpt.npz")
    assert repr(loaded) == repr(model) and optimizer.decay_weights_only
    ids = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(loaded.eval().forward(ids), model.eval().forward(ids))
    layers = (
        nn.GELU("tanh"), nn.LayerNorm(3, eps=1e-6, elementwise_affine=False),
        nn.PositionalEmbedding(5, 3, "sinusoidal"),
        nn.MultiheadAttention(4, 2, head_dim=3, bias=False, causal=True),
    )  # fmt: skip
    for layer in layers:
        assert repr(type(layer).from_config(layer.config())) == repr(layer)
        assert layer.formula["forward"] and layer.formula["backward"]


def test_a_transformer_block_is_stepped_into_and_draws_its_attention_and_norms():
    nn.seed(0)
    model = nn.models.gpt(10, block_size=6, n_layer=1, n_head=2, n_embd=8)
    ids = np.random.default_rng(0).integers(0, 10, (3, 6))
    opt = nn.optim.AdamW(model, lr=1e-2)
    events = list(nn.train_step(model, nn.CrossEntropyLoss(), opt, ids, ids))
    forward = [e for e in events if e.phase == "forward"]
    kinds = [type(e.layer).__name__ for e in forward]
    assert "MultiheadAttention" in kinds and "LayerNorm" in kinds and "Residual" in kinds
    assert max(e.depth for e in forward) >= 3  # inside the block's residual bodies
    attention = next(e for e in forward if type(e.layer).__name__ == "MultiheadAttention")
    (maps,) = [v for v in attention.layer.views("forward", attention.tensors())
               if v.kind == "matrices"]  # fmt: skip
    assert maps.data.shape == (2, 6, 6)
    np.testing.assert_allclose(maps.data.sum(axis=-1), 1, rtol=1e-5)  # each query's weights
    assert np.all(np.triu(maps.data, 1) == 0)  # causal: no query sees a later key
    norm = next(e for e in forward if type(e.layer).__name__ == "LayerNorm")
    (rows,) = [v for v in norm.layer.views("forward", norm.tensors()) if v.kind == "curves"]
    np.testing.assert_allclose(rows.data["mean after"], 0, atol=1e-5)  # γ = 1, β = 0 at init
    std = rows.data["std before"]
    np.testing.assert_allclose(rows.data["std after"], std / np.sqrt(std**2 + 1e-5), rtol=1e-3)
