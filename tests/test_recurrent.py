"""RNN, LSTM, GRU: the cell kernels against the cell equations in NumPy (backward against finite
differences of them), the layers' gradients against finite differences (through time, from an
initial state, into it), PyTorch as an oracle, and clear errors."""

import inspect

import numpy as np
import pytest

import numbanet as nn
from layer_contract import check_layer_contract
from numbanet.backend import get_backend
from numbanet.gradcheck import numeric_gradient
from numbanet.kernels.cpu import recurrent
from numbanet.kernels.codes import EPILOGUES

K = get_backend("cpu").kernels
RNG = np.random.default_rng(0)
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
CELL_SHAPES = [(1, 1), (3, 5), (4, 17)]  # (N, H)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def blocks(a, count):
    """The gate blocks of a (N, count·H) array, as torch lays them out."""
    return np.split(a, count, axis=1)


# ----- the cell equations in NumPy ---------------------------------------------------------------
def rnn_cell(gi, gh, nonlinearity):
    a = gi + gh
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)


def lstm_cell(gi, gh, c_prev):
    """(gates i, f, g, o side by side, c, h)."""
    a_i, a_f, a_g, a_o = blocks(gi + gh, 4)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    return np.concatenate([i, f, g, o], axis=1), c, o * np.tanh(c)


def gru_cell(gi, gh, h_prev):
    """(gates r, z, n, gh_n side by side, h)."""
    (i_r, i_z, i_n), (h_r, h_z, h_n) = blocks(gi, 3), blocks(gh, 3)
    r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)
    return np.concatenate([r, z, n, h_n], axis=1), (1 - z) * n + z * h_prev


def normals(*shapes, dtype=np.float64):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


# ----- cell kernels ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, h", CELL_SHAPES)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_forward_matches_the_equation(nonlinearity, n, h, dtype):
    gi, gh, b_ih, b_hh, out = normals((n, h), (n, h), (h,), (h,), (n, h), dtype=dtype)
    K.rnn_cell_forward(gi, gh, b_ih, b_hh, EPILOGUES[nonlinearity], dtype(0), out)
    expected = rnn_cell(gi + b_ih.astype(np.float64), gh + b_hh, nonlinearity)
    np.testing.assert_allclose(out, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, h", CELL_SHAPES)
def test_lstm_cell_forward_matches_the_equations(n, h, dtype):
    gi, gh, c_prev = normals((n, 4 * h), (n, 4 * h), (n, h), dtype=dtype)
    b_ih, b_hh = normals((4 * h,), (4 * h,), dtype=dtype)
    gates, c, out = normals((n, 4 * h), (n, h), (n, h), dtype=dtype)
    K.lstm_cell_forward(gi, gh, b_ih, b_hh, c_prev, gates, c, out)
    expected = lstm_cell(gi + b_ih.astype(np.float64), gh + b_hh, c_prev)
    for name, got, want in zip(("gates", "c", "h"), (gates, c, out), expected):
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, h", CELL_SHAPES)
def test_gru_cell_forward_matches_the_equations(n, h, dtype):
    gi, gh, h_prev = normals((n, 3 * h), (n, 3 * h), (n, h), dtype=dtype)
    b_ih, b_hh = normals((3 * h,), (3 * h,), dtype=dtype)
    gates, out = normals((n, 4 * h), (n, h), dtype=dtype)
    K.gru_cell_forward(gi, gh, b_ih, b_hh, h_prev, gates, out)
    expected = gru_cell(gi + b_ih.astype(np.float64), gh + b_hh.astype(np.float64), h_prev)
    for name, got, want in zip(("gates", "h"), (gates, out), expected):
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=name)


# Backward kernels against finite differences of the NumPy cells above, with the upstream
# gradients dy (at the output), dh_next (through W_hh from the next step) and the carried one
# (LSTM's dc_next, GRU's skip_next) weighting the outputs.
FD_TOL = dict(rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n, h", CELL_SHAPES)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_backward_matches_finite_differences(nonlinearity, n, h):
    gi, gh, dy, dh_next = normals((n, h), (n, h), (n, h), (n, h))
    gi[np.abs(gi + gh) < 1e-3] += 0.1  # keep relu's kink out of the differences
    out, dgate = rnn_cell(gi, gh, nonlinearity), np.empty((n, h))
    K.rnn_cell_backward(out, dy, dh_next, EPILOGUES[nonlinearity], 0.0, dgate)
    expected = numeric_gradient(lambda: np.sum((dy + dh_next) * rnn_cell(gi, gh, nonlinearity)), gi)
    np.testing.assert_allclose(dgate, expected, **FD_TOL)


@pytest.mark.parametrize("n, h", CELL_SHAPES)
def test_lstm_cell_backward_matches_finite_differences(n, h):
    gi, gh, c_prev = normals((n, 4 * h), (n, 4 * h), (n, h))
    dy, dh_next, dc_next = normals((n, h), (n, h), (n, h))
    gates, c, _ = lstm_cell(gi, gh, c_prev)
    dgate, dc_prev = np.empty((n, 4 * h)), np.empty((n, h))
    K.lstm_cell_backward(gates, c_prev, c, dy, dh_next, dc_next, dgate, dc_prev)

    def loss():
        _, c, out = lstm_cell(gi, gh, c_prev)
        return np.sum((dy + dh_next) * out) + np.sum(dc_next * c)

    np.testing.assert_allclose(dgate, numeric_gradient(loss, gi), **FD_TOL)  # a = gi + gh
    np.testing.assert_allclose(dc_prev, numeric_gradient(loss, c_prev), **FD_TOL)


@pytest.mark.parametrize("n, h", CELL_SHAPES)
def test_gru_cell_backward_matches_finite_differences(n, h):
    gi, gh, h_prev = normals((n, 3 * h), (n, 3 * h), (n, h))
    dy, dh_next, skip_next = normals((n, h), (n, h), (n, h))
    gates, _ = gru_cell(gi, gh, h_prev)
    dgi, dgh, skip = np.empty((n, 3 * h)), np.empty((n, 3 * h)), np.empty((n, h))
    K.gru_cell_backward(gates, h_prev, dy, dh_next, skip_next, dgi, dgh, skip)

    def loss():
        return np.sum((dy + dh_next + skip_next) * gru_cell(gi, gh, h_prev)[1])

    np.testing.assert_allclose(dgi, numeric_gradient(loss, gi), **FD_TOL)
    np.testing.assert_allclose(dgh, numeric_gradient(loss, gh), **FD_TOL)
    # with gh held, h_prev reaches h only through z ⊙ h_prev: the skip connection
    np.testing.assert_allclose(skip, numeric_gradient(loss, h_prev), **FD_TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hidden_projection_backward_and_swap_kernels_match_numpy(dtype):
    dgh, w_hh, dh_prev = normals((5, 12), (12, 3), (5, 3), dtype=dtype)
    K.hidden_projection_backward(dgh, w_hh, dh_prev)
    np.testing.assert_allclose(dh_prev, dgh.astype(np.float64) @ w_hh, **TOL[dtype])
    x, y = normals((2, 7, 3), (7, 2, 3), dtype=dtype)
    K.swap_batch_time(x, y)
    np.testing.assert_array_equal(y, x.transpose(1, 0, 2))


# ----- one stacked layer's kernels ---------------------------------------------------------------
# The whole sequence against the NumPy cells run step by step (forward), and against finite
# differences of that loop (backward): a loss Σ_t dy_t·h_t + dh_T·h_T (+ dc_T·c_T) whose
# gradients are dgate (∂/∂gi, where gi = x W_ihᵀ), dh[0] = ∂/∂h_0, dc[0] = ∂/∂c_0, dx and the
# weight and bias gradients.
SEQUENCE_SHAPES = [(1, 1, 1, 2), (3, 4, 5, 2)]  # (T, N, H, I)
# rows of the batch per BLAS call in a step's product, given to the compiled step loops
# (``*_steps_*``; the kernel table's ``*_sequence_*`` pick it): one call, one row each, and 3
# (N = 4: a call of 3 rows and one of 1)
ROWS_PER_CALL = [0, 1, 3]
SEQUENCE_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def numpy_sequence(cell, x, w_ih, b_ih, w_hh, b_hh, h0, c0):
    """The states h (T + 1, N, H), c (LSTM) and kept gates of ``cell`` run step by step."""
    h, c, gates = [h0], [c0], []
    for t in range(x.shape[0]):
        gi, gh = x[t] @ w_ih.T + b_ih, h[t] @ w_hh.T + b_hh
        if cell == "rnn":
            h.append(rnn_cell(gi, gh, "tanh"))
        elif cell == "lstm":
            kept, c_t, h_t = lstm_cell(gi, gh, c[t])
            gates.append(kept), c.append(c_t), h.append(h_t)
        else:
            kept, h_t = gru_cell(gi, gh, h[t])
            gates.append(kept), h.append(h_t)
    return np.stack(h), np.stack(c) if cell == "lstm" else None, gates and np.stack(gates)


def sequence_inputs(cell, steps, n, h, size, dtype=np.float64):
    """x, W_ih, b_ih, W_hh, b_hh (weights scaled as initialized), h_0, c_0."""
    rows = SEQUENCE_GATES[cell] * h
    x, w_ih, w_hh = normals((steps, n, size), (rows, size), (rows, h), dtype=dtype)
    b_ih, b_hh, h0, c0 = normals((rows,), (rows,), (n, h), (n, h), dtype=dtype)
    return x, w_ih, b_ih, (w_hh / np.sqrt(h)).astype(dtype), b_hh, h0, c0


@pytest.mark.parametrize("rows_per_call", ROWS_PER_CALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("steps, n, h, size", SEQUENCE_SHAPES)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sequence_forward_kernels_match_the_cells_step_by_step(
    cell, steps, n, h, size, dtype, rows_per_call
):
    x, w_ih, b_ih, w_hh, b_hh, h0, c0 = sequence_inputs(cell, steps, n, h, size, dtype)
    rows = SEQUENCE_GATES[cell] * h
    h_seq, c_seq = np.zeros((steps + 1, n, h), dtype), np.zeros((steps + 1, n, h), dtype)
    h_seq[0], c_seq[0] = h0, c0
    gates, gi, gh = (
        np.zeros(shape, dtype) for shape in ((steps, n, 4 * h), (steps, n, rows), (n, rows))
    )
    wide = [a.astype(np.float64) for a in (x, w_ih, b_ih, w_hh, b_hh, h0, c0)]
    want_h, want_c, want_gates = numpy_sequence(cell, *wide)
    weights = x, w_ih, b_ih, w_hh, b_hh
    if cell == "rnn":
        recurrent.rnn_steps_forward(
            *weights, EPILOGUES["tanh"], dtype(0), h_seq, gi, gh, rows_per_call
        )
    elif cell == "lstm":
        recurrent.lstm_steps_forward(*weights, h_seq, c_seq, gates, gi, gh, rows_per_call)
        np.testing.assert_allclose(c_seq, want_c, **TOL[dtype], err_msg="c")
    else:
        recurrent.gru_steps_forward(*weights, h_seq, gates, gi, gh, rows_per_call)
    np.testing.assert_allclose(h_seq, want_h, **TOL[dtype], err_msg="h")
    if cell != "rnn":
        np.testing.assert_allclose(gates, want_gates, **TOL[dtype], err_msg="gates")


@pytest.mark.parametrize("rows_per_call", ROWS_PER_CALL)
@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("steps, n, h, size", SEQUENCE_SHAPES)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sequence_backward_kernels_match_finite_differences(
    cell, steps, n, h, size, need_dx, rows_per_call
):
    x, w_ih, b_ih, w_hh, b_hh, h0, c0 = sequence_inputs(cell, steps, n, h, size)
    rows = SEQUENCE_GATES[cell] * h
    dy = normals((steps, n, h))[0]
    dh, carry = normals((steps + 1, n, h), (steps + 1, n, h))  # only their last step is read
    dh_last, dc_last = dh[steps].copy(), carry[steps].copy()
    if cell == "gru":
        carry[steps] = 0  # nothing went straight through z after the last step

    def loss():
        h_seq, c_seq, _ = numpy_sequence(cell, x, w_ih, b_ih, w_hh, b_hh, h0, c0)
        total = np.sum(dy * h_seq[1:]) + np.sum(dh_last * h_seq[steps])
        return total + (np.sum(dc_last * c_seq[steps]) if cell == "lstm" else 0)

    h_seq, c_seq, gates = numpy_sequence(cell, x, w_ih, b_ih, w_hh, b_hh, h0, c0)
    dgi, dgh = np.zeros((steps, n, rows)), np.zeros((steps, n, rows))
    dx = np.full((steps, n, size), 7.0)  # left alone without need_dx
    grads = [np.zeros(a.shape) for a in (w_ih, w_hh, b_ih, b_hh)]
    if cell == "rnn":
        recurrent.rnn_steps_backward(
            x, w_ih, w_hh, h_seq, dy, EPILOGUES["tanh"], 0.0, dgi, dh, dx, *grads, need_dx,
            rows_per_call,
        )  # fmt: skip
        dh_0 = dh[0]
    elif cell == "lstm":
        recurrent.lstm_steps_backward(
            x, w_ih, w_hh, h_seq, c_seq, gates, dy, dgi, dh, carry, dx, *grads, need_dx,
            rows_per_call,
        )  # fmt: skip
        np.testing.assert_allclose(carry[0], numeric_gradient(loss, c0), **FD_TOL, err_msg="dc_0")
        dh_0 = dh[0]
    else:
        recurrent.gru_steps_backward(
            x, w_ih, w_hh, h_seq, gates, dy, dgi, dgh, dh, carry, dx, *grads, need_dx,
            rows_per_call,
        )  # fmt: skip
        dh_0 = dh[0] + carry[0]
    np.testing.assert_allclose(dh_0, numeric_gradient(loss, h0), **FD_TOL, err_msg="dh_0")
    for name, got, param in zip(
        ("dW_ih", "dW_hh", "db_ih", "db_hh"), grads, (w_ih, w_hh, b_ih, b_hh)
    ):
        np.testing.assert_allclose(got, numeric_gradient(loss, param), **FD_TOL, err_msg=name)
    if need_dx:
        np.testing.assert_allclose(dx, numeric_gradient(loss, x), **FD_TOL, err_msg="dx")
    else:
        np.testing.assert_array_equal(dx, 7.0)


@pytest.mark.parametrize("cell, rows_per_call", [("rnn", 56), ("lstm", 8), ("gru", 16)])
def test_sequence_kernels_split_each_step_product_as_the_runtime_rule_says(
    monkeypatch, cell, rows_per_call
):
    """The kernel table's sequence kernels run the step loops in BLAS calls of
    ``runtime.small_product_rows(H, G·H)`` rows (here H = 128, on a BLAS with small-matrix
    kernels), forward and backward alike: the layer passes no such argument."""
    from numbanet import runtime

    monkeypatch.setattr(runtime, "_SMALL_PRODUCTS", True)
    calls = []
    for direction in ("forward", "backward"):
        monkeypatch.setattr(recurrent, f"{cell}_steps_{direction}", lambda *a: calls.append(a[-1]))
    w_hh = np.zeros((SEQUENCE_GATES[cell] * 128, 128), np.float32)
    for direction in ("forward", "backward"):
        kernel = getattr(K, f"{cell}_sequence_{direction}")
        names = list(inspect.signature(kernel).parameters)
        kernel(*[w_hh if name == "W_hh" else None for name in names])
    assert calls == [rows_per_call, rows_per_call]


# ----- layers ------------------------------------------------------------------------------------
CELLS = {
    "RNN[tanh]": lambda *a, **k: nn.RNN(*a, **k),
    "RNN[relu]": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
    "LSTM": lambda *a, **k: nn.LSTM(*a, **k),
    "GRU": lambda *a, **k: nn.GRU(*a, **k),
}
T, N, I, H = 3, 2, 3, 4


def random_state(layer, batch, rng=RNG):
    """An initial state of the layer's kind (LSTM: a pair), float64."""
    shape = (layer.num_layers, batch, layer.hidden_size)
    if isinstance(layer, nn.LSTM):
        return rng.standard_normal(shape), rng.standard_normal(shape)
    return rng.standard_normal(shape)


def sequence(batch_first, rng=RNG):
    return rng.standard_normal((N, T, I) if batch_first else (T, N, I))


class _FromState(nn.Layer):
    """A recurrent layer run from a fixed initial state: gradcheck calls forward(x) alone."""

    def __init__(self, recurrent, state):
        super().__init__()
        self.recurrent, self.initial = recurrent, state
        self.set_path("")

    def named_children(self):
        return [("recurrent", self.recurrent)]

    def forward(self, x):
        return self.recurrent.forward(x, self.initial)

    def backward(self, dy, need_dx=True):
        return self.recurrent.backward(dy, need_dx)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero state", "initial state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time first", "batch first"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_gradients_match_finite_differences(cell, num_layers, batch_first, with_state):
    nn.seed(1)
    layer = CELLS[cell](I, H, num_layers=num_layers, batch_first=batch_first)
    checked = _FromState(layer, random_state(layer, N)) if with_state else layer
    errors = nn.gradcheck(checked, sequence(batch_first))
    assert len(errors) == 1 + 4 * num_layers  # x and every weight and bias
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-7, f"{layer!r}: gradient of {worst} off by {errors[worst]:.2e}"


@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_layer_contract(cell):
    nn.seed(2)
    layer = CELLS[cell](I, H, num_layers=2, bias=False, batch_first=True)
    assert sorted(layer.params) == ["weight_hh_l0", "weight_hh_l1", "weight_ih_l0", "weight_ih_l1"]
    check_layer_contract(layer, sequence(True), (N, T, H))


@pytest.mark.parametrize("batch_first", [False, True], ids=["time first", "batch first"])
@pytest.mark.parametrize("cell", CELLS)
def test_state_gradients_match_finite_differences(cell, batch_first):
    """∂L/∂h_0 (and c_0) in ``state_grad``, with a loss that also reads the final state."""
    nn.seed(3)
    layer = CELLS[cell](I, H, num_layers=2, batch_first=batch_first).to(np.float64)
    x, state = sequence(batch_first), random_state(layer, N)
    final_grad = random_state(layer, N)
    dy = RNG.standard_normal(layer(x, state).shape)

    def loss():
        y = layer(x, state)
        finals = layer.final_state if isinstance(layer, nn.LSTM) else (layer.final_state,)
        weights = final_grad if isinstance(layer, nn.LSTM) else (final_grad,)
        return np.sum(dy * y) + sum(np.sum(w * f) for w, f in zip(weights, finals))

    loss()
    layer.backward(dy, final_state_grad=final_grad)
    analytic = layer.state_grad if isinstance(layer, nn.LSTM) else (layer.state_grad,)
    analytic = [np.array(a) for a in analytic]
    for name, grad, value in zip("hc", analytic, state if isinstance(state, tuple) else (state,)):
        np.testing.assert_allclose(grad, numeric_gradient(loss, value), rtol=1e-6, atol=1e-9,
                                   err_msg=f"d{name}_0")  # fmt: skip


TORCH_CONFIGS = [
    dict(num_layers=1, batch_first=False),
    dict(num_layers=2, batch_first=True),
    dict(num_layers=2, batch_first=False, bias=False),
]


@pytest.mark.parametrize(
    "config", TORCH_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_matches_torch(cell, config):
    torch = pytest.importorskip("torch")
    nn.seed(4)
    layer = CELLS[cell](I, H, **config).to(np.float64)
    kind = {"RNN[tanh]": "RNN", "RNN[relu]": "RNN"}.get(cell, cell)
    extra = {"nonlinearity": "relu"} if cell == "RNN[relu]" else {}
    reference = getattr(torch.nn, kind)(I, H, **config, **extra).double()
    assert list(layer.state_dict()) == list(reference.state_dict())
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})

    is_lstm = kind == "LSTM"
    x, state, final_grad = (
        sequence(config["batch_first"]),
        random_state(layer, N),
        random_state(layer, N),
    )
    pairs = lambda s: s if is_lstm else (s,)  # noqa: E731
    tx = torch.tensor(x, requires_grad=True)
    t_state = tuple(torch.tensor(s, requires_grad=True) for s in pairs(state))
    ty, t_final = reference(tx, t_state if is_lstm else t_state[0])
    y = layer(x, state)
    tol = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    for ours, theirs in zip(pairs(layer.final_state), pairs(t_final)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **tol)

    dy = RNG.standard_normal(y.shape)
    loss = (ty * torch.from_numpy(dy)).sum()
    loss = loss + sum(
        (f * torch.from_numpy(g)).sum() for f, g in zip(pairs(t_final), pairs(final_grad))
    )
    loss.backward()
    dx = layer.backward(dy, final_state_grad=final_grad)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
    grads = layer.grad_dict()
    for name, param in reference.named_parameters():
        np.testing.assert_allclose(grads[name], param.grad.numpy(), **tol, err_msg=name)
    for ours, theirs in zip(pairs(layer.state_grad), t_state):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **tol)


@pytest.mark.parametrize("cell", CELLS)
def test_chunks_fed_their_final_state_continue_the_sequence(cell):
    """Truncated BPTT's forward: two chunks, the second started from the first's final_state
    (the layer's own buffer, passed straight back), give the outputs of the whole sequence."""
    nn.seed(5)
    layer = CELLS[cell](I, H, num_layers=2).to(np.float64)
    x = RNG.standard_normal((2 * T, N, I))
    whole = np.array(layer(x))
    first = np.array(layer(x[:T]))
    second = np.array(layer(x[T:], layer.final_state))
    np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=1e-13, atol=1e-13)


def test_recurrent_init_keys_config_and_repr_follow_torch():
    nn.seed(0)
    layer = nn.LSTM(5, 8, num_layers=2, batch_first=True)
    assert list(layer.params) == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
    ]  # fmt: skip
    assert layer.params["weight_ih_l0"].shape == (32, 5)
    assert layer.params["weight_ih_l1"].shape == (32, 8)
    values = np.concatenate([p.ravel() for p in layer.params.values()])
    assert np.abs(values).max() <= 1 / np.sqrt(8) and values.std() > 0.1  # U(−1/√H, 1/√H)
    assert repr(layer) == "LSTM(5→8, num_layers=2, batch_first=True)"
    assert repr(nn.RNN(2, 3, nonlinearity="relu", bias=False)) == "RNN(2→3, bias=False, relu)"
    assert nn.GRU(2, 3).params["weight_hh_l0"].shape == (9, 3)
    rebuilt = nn.Sequential.from_config(nn.Sequential(nn.RNN(2, 3, nonlinearity="relu")).config())
    assert rebuilt.layers[0].nonlinearity == "relu"
    model = nn.Sequential(nn.GRU(3, 4), nn.Linear(4, 2))
    assert list(model.state_dict())[:2] == ["0.weight_ih_l0", "0.weight_hh_l0"]


def test_recurrent_errors_name_the_layer():
    model = nn.Sequential(nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(
        nn.LayerInputError, match=r"0: LSTM\(3→4, num_layers=2\): .*2 features instead of 3"
    ):
        model(np.zeros((5, 2, 2)))
    with pytest.raises(
        nn.LayerInputError, match=r"expected input of shape \(T, N, 3\), got \(5, 3\)"
    ):
        model(np.zeros((5, 3)))
    lstm, gru = model.layers[0], nn.GRU(3, 4, batch_first=True)
    with pytest.raises(nn.LayerInputError, match=r"LSTM.*initial state as a pair \(h, c\)"):
        lstm(np.zeros((5, 2, 3)), np.zeros((2, 2, 4)))
    with pytest.raises(
        nn.LayerInputError, match=r"initial state c of shape .* = \(2, 2, 4\), got \(1, 2, 4\)"
    ):
        lstm(np.zeros((5, 2, 3)), (np.zeros((2, 2, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(
        nn.LayerInputError,
        match=r"GRU\(3→4, batch_first=True\): expected the initial state h of shape "
        r"\(num_layers, N, H\) = \(1, 5, 4\), got \(1, 2, 4\)",
    ):
        gru(np.zeros((5, 2, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(nn.LayerInputError, match=r"expected input of shape \(N, T, 3\)"):
        gru(np.zeros((5, 2, 4)))
    y = gru(np.zeros((5, 2, 3)))
    with pytest.raises(nn.LayerInputError, match=r"final state grad h of shape .* got \(5, 4\)"):
        gru.backward(np.zeros(y.shape), final_state_grad=np.zeros((5, 4)))
    with pytest.raises(nn.LayerInputError, match=r"expected dy of the output's shape \(5, 2, 4\)"):
        gru.backward(np.zeros((2, 5, 4)))
    with pytest.raises(nn.LayerInputError, match=r"RNN\(3→4\): backward called before forward"):
        nn.RNN(3, 4).backward(np.zeros((1, 1, 4)))
    with pytest.raises(nn.LayerInputError, match=r"LSTM\(3→4\): no h_n yet: run forward first"):
        nn.LSTM(3, 4).final_state
    with pytest.raises(nn.LayerInputError, match=r"no dh_0 yet: run backward first"):
        gru.state_grad
    with pytest.raises(
        ValueError, match=r"RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"
    ):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(
        ValueError, match=r"GRU: input_size, hidden_size and num_layers must be >= 1"
    ):
        nn.GRU(3, 0)
