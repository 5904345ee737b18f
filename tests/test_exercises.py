"""Exercises and the learner's own kernel: every checker passes a right answer and fails a
planted wrong one with the hint that names the mistake; a learner's dense_backward trains a
model exactly as the compiled kernel does, through fit and the Stepper, and a wrong one is caught
by the gradient check."""

import numpy as np
import pytest

import numbanet as nn
from numbanet import exercises
from numbanet.backend import BackendError

# ----- right answers, written as a learner would -------------------------------------------


def softmax_rows(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid_backward(y, dy):
    return dy * y * (1 - y)


def mse_backward(y, t):
    return 2 * (y - t) / y.size


def linear_backward(x, W, dy):
    return dy @ W, dy.T @ x, dy.sum(axis=0)


def softmax_cross_entropy_backward(z, labels):
    p = softmax_rows(z)
    p[np.arange(len(z)), labels] -= 1
    return p / len(z)


def relu_backward(x, dy):
    return dy * (x > 0)


def sgd_momentum_step(param, grad, buf, lr, momentum):
    buf = momentum * buf + grad
    return param - lr * buf, buf


def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def thread_to_element(block_idx, thread_idx, block_dim):
    row = block_idx.y * block_dim.y + thread_idx.y
    col = block_idx.x * block_dim.x + thread_idx.x
    return row, col


def grid_size(rows, cols, block_dim):
    return (cols + block_dim.x - 1) // block_dim.x, (rows + block_dim.y - 1) // block_dim.y


def grid_stride_indices(thread, n_threads, n):
    return range(thread, n, n_threads)


def im2col(x, k, stride, padding):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((c, k, k, n, oh, ow))
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols.reshape(c * k * k, n * oh * ow)


def conv2d_forward(x, W, b, stride, padding):
    o, _, k, _ = W.shape
    n, _, h, w = x.shape
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    y = W.reshape(o, -1) @ im2col(x, k, stride, padding) + b[:, None]
    return y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)


def maxpool2d_backward(x, dy, k, stride):
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dy.shape):
        window = x[n, c, i * stride : i * stride + k, j * stride : j * stride + k]
        di, dj = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i * stride + di, j * stride + dj] += dy[n, c, i, j]
    return dx


def l2_momentum_step(param, grad, buf, lr, momentum, l2):
    buf = momentum * buf + grad + l2 * param
    return param - lr * buf, buf


def dropout_backward(mask, p, dy):
    return dy * mask / (1 - p)


def batchnorm_backward(x, gamma, mean, inv_std, dy):
    n = len(x)
    x_hat = (x - mean) * inv_std
    dbeta, dgamma = dy.sum(axis=0), (dy * x_hat).sum(axis=0)
    return gamma * inv_std / n * (n * dy - dbeta - x_hat * dgamma), dgamma, dbeta


def lstm_cell_backward(gates, c_prev, c, dh, dc_next):
    i, f, g, o = np.split(gates, 4, axis=1)
    tanh_c = np.tanh(c)
    dc = dc_next + dh * o * (1 - tanh_c**2)
    blocks = [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g**2)]
    return np.concatenate(blocks + [dh * tanh_c * o * (1 - o)], axis=1), dc * f


def rnn_cell_backward(x, h_prev, h, W_ih, W_hh, dh):
    da = dh * (1 - h**2)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def clip_grad_norm(grads, max_norm):
    total = np.sqrt(sum(np.sum(g**2) for g in grads))
    factor = max_norm / (total + 1e-6)
    return [g * factor for g in grads] if factor < 1 else grads


def attention_forward(Q, K, V, causal):
    S = Q @ K.transpose(0, 2, 1) / np.sqrt(Q.shape[-1])
    if causal:
        S = np.where(np.triu(np.ones(S.shape[1:], bool), k=1), -np.inf, S)
    P = softmax_rows(S)
    return P @ V, P


def attention_softmax_backward(P, dP):
    return P * (dP - (P * dP).sum(axis=-1, keepdims=True))


def attention_backward(Q, K, V, dO, causal):
    _, P = attention_forward(Q, K, V, causal)
    dP = dO @ V.transpose(0, 2, 1)
    dS = attention_softmax_backward(P, dP) / np.sqrt(Q.shape[-1])
    return dS @ K, dS.transpose(0, 2, 1) @ Q, P.transpose(0, 2, 1) @ dO


def reparameterize(mu, logvar, eps):
    return mu + np.exp(logvar / 2) * eps


def reparameterize_backward(mu, logvar, eps, dz):
    return dz, dz * eps * np.exp(logvar / 2) / 2


def kl_backward(mu, logvar):
    return mu / len(mu), (np.exp(logvar) - 1) / (2 * len(mu))


def gan_generator_backward(logits):
    return (1 / (1 + np.exp(-logits)) - 1) / len(logits)


def init_scales(fan_in, fan_out):
    return np.sqrt(6 / (fan_in + fan_out)), np.sqrt(2 / fan_in)


def warmup_cosine_lr(epoch, epochs, warmup, lr):
    if epoch < warmup:
        return lr * (epoch + 1) / warmup
    return lr * (1 + np.cos(np.pi * (epoch - warmup) / (epochs - warmup))) / 2


def sigmoid_chain_backward(x, Ws, dy, transposed=False):
    hs = [x]
    for W in Ws:
        hs.append(1 / (1 + np.exp(-hs[-1] @ W.T)))
    dWs = []
    for W, h_in, h in reversed(list(zip(Ws, hs, hs[1:]))):
        dz = dy * h * (1 - h)
        dWs.insert(0, h_in.T @ dz if transposed else dz.T @ h_in)
        dy = dz @ W
    return dWs


RIGHT = {
    "sigmoid_backward": sigmoid_backward,
    "mse_backward": mse_backward,
    "linear_backward": linear_backward,
    "softmax_cross_entropy_backward": softmax_cross_entropy_backward,
    "relu_backward": relu_backward,
    "sgd_momentum_step": sgd_momentum_step,
    "adam_step": adam_step,
    "thread_to_element": thread_to_element,
    "grid_size": grid_size,
    "grid_stride_loop": grid_stride_indices,
    "im2col": im2col,
    "conv2d_forward": conv2d_forward,
    "maxpool2d_backward": maxpool2d_backward,
    "l2_momentum_step": l2_momentum_step,
    "dropout_backward": dropout_backward,
    "batchnorm_backward": batchnorm_backward,
    "lstm_cell_backward": lstm_cell_backward,
    "rnn_cell_backward": rnn_cell_backward,
    "clip_grad_norm": clip_grad_norm,
    "attention_forward": attention_forward,
    "attention_softmax_backward": attention_softmax_backward,
    "attention_backward": attention_backward,
    "reparameterize": reparameterize,
    "reparameterize_backward": reparameterize_backward,
    "kl_backward": kl_backward,
    "gan_generator_backward": gan_generator_backward,
    "init_scales": init_scales,
    "warmup_cosine_lr": warmup_cosine_lr,
    "sigmoid_chain_backward": sigmoid_chain_backward,
}

# ----- planted mistakes: (exercise, wrong answer, words the hint must hold) -----------------


def _lstm_gates_ifog(gates, c_prev, c, dh, dc_next):
    dgates, dc_prev = lstm_cell_backward(gates, c_prev, c, dh, dc_next)
    i, f, g, o = np.split(dgates, 4, axis=1)
    return np.concatenate([i, f, o, g], axis=1), dc_prev


def _maxpool_assigned(x, dy, k, stride):
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dy.shape):
        window = x[n, c, i * stride : i * stride + k, j * stride : j * stride + k]
        di, dj = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i * stride + di, j * stride + dj] = dy[n, c, i, j]
    return dx


def _maxpool_average(x, dy, k, stride):
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dy.shape):
        dx[n, c, i * stride : i * stride + k, j * stride : j * stride + k] += dy[n, c, i, j] / k**2
    return dx


def _batchnorm_wrong_axis(x, gamma, mean, inv_std, dy):
    dx, _, _ = batchnorm_backward(x, gamma, mean, inv_std, dy)
    return dx, (dy * (x - mean) * inv_std).sum(axis=1), dy.sum(axis=1)


def _adam_without_bias_correction(param, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * m / (np.sqrt(v) + eps), m, v


def _attention_no_mask(Q, K, V, causal):
    return attention_forward(Q, K, V, False)


def _attention_dv_untransposed(Q, K, V, dO, causal):
    dQ, dK, _ = attention_backward(Q, K, V, dO, causal)
    return dQ, dK, attention_forward(Q, K, V, causal)[1] @ dO


WRONG = [
    ("sigmoid_backward", lambda y, dy: dy / (1 + np.exp(-y)) * (1 - 1 / (1 + np.exp(-y))),
     "σ of y again"),
    ("mse_backward", lambda y, t: 2 * (y - t), "1/(N·D)"),
    ("linear_backward", lambda x, W, dy: (dy @ W, x.T @ dy, dy.sum(axis=0)), "dW is transposed"),
    ("linear_backward", lambda x, W, dy: (dy @ W, dy.T @ x, dy.sum(axis=1)), "wrong axis"),
    ("softmax_cross_entropy_backward",
     lambda z, labels: softmax_cross_entropy_backward(z, labels) * len(z), "forgotten 1/N"),
    ("relu_backward", lambda x, dy: dy * (dy > 0), "forward input"),
    ("sgd_momentum_step",
     lambda param, grad, buf, lr, mu: (param - lr * (mu * buf + (1 - mu) * grad),
                                       mu * buf + (1 - mu) * grad), "dampening"),
    ("adam_step", _adam_without_bias_correction, "bias correction"),
    ("thread_to_element",
     lambda b, t, d: (b.x * d.x + t.x, b.y * d.y + t.y), "x and y swapped"),
    ("grid_size", lambda rows, cols, d: (cols // d.x, rows // d.y), "floor division"),
    ("grid_stride_loop", lambda t, threads, n: range(t * 4, min(n, t * 4 + 4)), "contiguous"),
    ("im2col", lambda x, k, s, p: im2col(x, k, s, p).T, "cols is transposed"),
    ("conv2d_forward", lambda x, W, b, s, p: conv2d_forward(x, W[:, :, ::-1, ::-1], b, s, p),
     "flipped the filter"),
    ("maxpool2d_backward", _maxpool_average, "average pooling"),
    ("maxpool2d_backward", _maxpool_assigned, "+=, not ="),
    ("l2_momentum_step",
     lambda p, g, b, lr, mu, l2: l2_momentum_step(p, g, b, lr, mu, l2 / 2), "½ cancels"),
    ("dropout_backward", lambda mask, p, dy: dy * mask, "forgotten 1/(1 − p)"),
    ("batchnorm_backward",
     lambda x, gamma, mean, inv_std, dy: (gamma * inv_std * dy,
                                          *batchnorm_backward(x, gamma, mean, inv_std, dy)[1:]),
     "paths through μ and σ"),
    ("batchnorm_backward", _batchnorm_wrong_axis, "sum over the batch (axis 0)"),
    ("lstm_cell_backward", _lstm_gates_ifog, "gate order"),
    ("rnn_cell_backward",
     lambda x, h_prev, h, W_ih, W_hh, dh: rnn_cell_backward(x, h_prev, np.tanh(h), W_ih, W_hh,
                                                            dh), "1 − h²"),
    ("clip_grad_norm",
     lambda grads, m: [g * min(1, m / (np.sqrt(np.sum(g**2)) + 1e-6)) for g in grads],
     "all gradients together"),
    ("attention_forward", _attention_no_mask, "causal mask is missing"),
    ("attention_softmax_backward",
     lambda P, dP: P * (dP - (P * dP).sum(axis=-2, keepdims=True)), "each row"),
    ("attention_backward", _attention_dv_untransposed, "dV = Pᵀ dO"),
    ("reparameterize", lambda mu, logvar, eps: mu + np.exp(logvar) * eps, "variance"),
    ("reparameterize_backward",
     lambda mu, logvar, eps, dz: (dz, dz * eps * np.exp(logvar / 2)), "forgotten ½"),
    ("kl_backward", lambda mu, logvar: (mu, (np.exp(logvar) - 1) / 2), "forgotten 1/N"),
    ("gan_generator_backward",
     lambda logits: -1 / (1 + np.exp(-logits)) / len(logits), "saturating loss"),
    ("init_scales", lambda fan_in, fan_out: (np.sqrt(2 / (fan_in + fan_out)), np.sqrt(2 / fan_in)),
     "not its standard deviation"),
    ("init_scales", lambda fan_in, fan_out: (np.sqrt(6 / (fan_in + fan_out)), np.sqrt(1 / fan_in)),
     "the 2 makes up for ReLU"),
    ("warmup_cosine_lr", lambda e, epochs, warmup, lr: warmup_cosine_lr(e - 1, epochs, warmup, lr)
     if e < warmup else warmup_cosine_lr(e, epochs, warmup, lr), "epochs count from 0"),
    ("warmup_cosine_lr", lambda e, epochs, warmup, lr: warmup_cosine_lr(e + 1, epochs, warmup, lr)
     if e >= warmup else warmup_cosine_lr(e, epochs, warmup, lr), "the cosine starts where"),
    ("sigmoid_chain_backward",
     lambda x, Ws, dy: sigmoid_chain_backward(x, Ws, dy, transposed=True), "dW is transposed"),
]  # fmt: skip


def test_every_chapter_has_three_exercises_each_tested_both_ways():
    for chapter in range(1, 10):
        assert len(exercises.list(chapter)) >= 3, chapter
    assert set(RIGHT) == set(exercises.EXERCISES)
    assert {name for name, _, _ in WRONG} == set(exercises.EXERCISES)


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_right_answer_passes(name):
    result = exercises.check(name, RIGHT[name], verbose=False)
    assert result.passed, result
    assert result.max_error < 1e-6
    assert str(result).startswith("✓")
    if exercises.exercise(name).forward is not None:  # a backward: checked by finite differences
        assert result.gradcheck and max(result.gradcheck.values()) < 1e-5, result


@pytest.mark.parametrize(
    "name, wrong, hint", WRONG, ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(WRONG)]
)
def test_a_planted_mistake_fails_with_the_hint_that_names_it(name, wrong, hint):
    result = exercises.check(name, wrong, verbose=False)
    assert not result.passed
    assert hint in result.hint, result
    assert str(result).startswith("✗") and hint in str(result)


def test_the_generic_checks_catch_errors_changed_inputs_and_wrong_signs():
    def raises(x, W, dy):
        return dy @ W.T, dy.T @ x, dy.sum(axis=0)  # (N, J)·(I, J): the shapes do not line up

    result = exercises.check("linear_backward", raises, verbose=False)
    assert not result.passed and "raised ValueError" in result.message
    assert "matrix product" in result.hint

    def changes_dy(y, dy):
        dy *= y * (1 - y)
        return dy

    result = exercises.check("sigmoid_backward", changes_dy, verbose=False)
    assert not result.passed and "changed its input dy in place" in result.message

    result = exercises.check("linear_backward", lambda x, W, dy: (dy @ W, dy.T @ x), verbose=False)
    assert not result.passed and "returned 2 outputs, expected 3" in result.message

    result = exercises.check("relu_backward", lambda x, dy: -relu_backward(x, dy), verbose=False)
    assert not result.passed and "wrong sign" in result.hint
    assert result.gradcheck["dx"] > 1  # finite differences flag it too


def test_the_catalogue_describes_each_exercise_with_a_question():
    chapter_1 = exercises.list(chapter=1)
    assert [e.name for e in chapter_1][:3] == [
        "sigmoid_backward",
        "mse_backward",
        "linear_backward",
    ]
    assert repr(exercises.exercise("linear_backward")) == (
        "01 linear_backward(x, W, dy) -> (dx, dW, db)"
    )
    text = exercises.describe("attention_softmax_backward")
    assert "dS = P ⊙ (dP − Σⱼ P ⊙ dP)" in text and "Think about it" in text
    assert all(q.endswith(("?", ")")) for q in exercises.questions(7))
    assert exercises.check_linear_backward.__name__ == "check_linear_backward"
    assert exercises.check_linear_backward(linear_backward, verbose=False).passed
    assert (
        "<b>✓ linear_backward"
        in exercises.check("linear_backward", linear_backward, verbose=False)._repr_html_()
    )
    with pytest.raises(KeyError, match="no exercise 'linear_forward'"):
        exercises.check("linear_forward", linear_backward)


# ----- the learner's own kernel in the engine ------------------------------------------------


def my_dense_backward(x, W, dy, dx, dW, db, need_dx):
    """A learner's dense_backward: the compiled kernel's arguments, outputs written in place."""
    dW[...] = dy.T @ x
    db[...] = dy.sum(axis=0)
    if need_dx:
        dx[...] = dy @ W


def transposed_dense_backward(x, W, dy, dx, dW, db, need_dx):
    my_dense_backward(x, W, dy, dx, dW, db, need_dx)
    dW[...] = x.T @ dy  # the planted mistake: fits only a square W, and is wrong there


def small_problem(features=5, classes=3):
    rng = np.random.default_rng(7)  # not gradcheck's seed 0: its dy would equal x[:4]
    x = rng.standard_normal((24, features))
    return x, rng.integers(0, classes, 24)


def mlp(features=5, hidden=6, classes=3):
    nn.seed(0)
    model = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, classes))
    return model.to(np.float64)


def test_a_learners_dense_backward_trains_the_model_as_the_compiled_kernel_does():
    data = small_problem()
    compiled, learner = mlp(), mlp()
    learner.use_kernel("dense_backward", my_dense_backward)
    for model in (compiled, learner):
        opt = nn.optim.SGD(model, lr=0.1, momentum=0.9)
        nn.fit(model, nn.CrossEntropyLoss(), opt, data, epochs=2, batch_size=8, seed=0,
               progress=False)  # fmt: skip
    calls = learner[2].plugged_kernels()["dense_backward"].calls
    assert calls == 2 * 3  # two epochs of three batches, one backward each
    assert compiled[2].plugged_kernels() == {}
    trained, expected = learner.state_dict(), compiled.state_dict()
    assert trained.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(trained[key], expected[key], rtol=1e-12, atol=1e-14)
    assert not np.allclose(trained["0.weight"], mlp().state_dict()["0.weight"])  # it learned

    # the exercise's solution, plugged in as it is (returning its gradients), trains the same
    exercise_model = exercises.plug(mlp(), "linear_backward", linear_backward)
    opt = nn.optim.SGD(exercise_model, lr=0.1, momentum=0.9)
    nn.fit(exercise_model, nn.CrossEntropyLoss(), opt, data, epochs=2, batch_size=8, seed=0,
           progress=False)  # fmt: skip
    for key, value in exercise_model.state_dict().items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-12, atol=1e-14)


def test_the_stepper_steps_through_the_learners_kernel_and_rewinds_it():
    model = mlp().use_kernel("dense_backward", my_dense_backward)
    x, y = small_problem()
    stepper = nn.debug.Stepper(
        model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), (x, y), batch_size=8,
        shuffle=False,
    )  # fmt: skip
    plugged = model[2].plugged_kernels()["dense_backward"]
    before = plugged.calls
    while stepper.step().phase != "backward":
        pass
    assert stepper.event.name == "2: Linear(6→3)" and plugged.calls == before + 1
    tensors = stepper.event.tensors()
    layer_input = stepper.events[2].tensors()["input"]  # what Linear 2 saw in forward
    np.testing.assert_allclose(tensors["dweight"], tensors["dy"].T @ layer_input, rtol=1e-12)
    stepper.back()
    again = stepper.step()
    np.testing.assert_array_equal(again.tensors()["dweight"], tensors["dweight"])
    assert plugged.calls == before + 2  # the replay ran the learner's kernel again
    stepper.run_step()
    assert stepper.step_done and not stepper.anomaly


def test_a_wrong_kernel_is_flagged_by_the_gradient_check_and_the_inspector():
    model = mlp(features=6, hidden=6)
    model[0].use_kernel("dense_backward", transposed_dense_backward)  # its W is square: (6, 6)
    x, y = small_problem(features=6)
    errors = nn.gradcheck(model[0], x[:4])  # gradcheck clones to float64: the kernel goes along
    assert errors["weight"] > 1e-2 and errors["bias"] < 1e-7 and errors["x"] < 1e-7
    assert model[0].plugged_kernels()["dense_backward"].calls == 0  # the clone's ran, not this

    pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib")
    from numbanet.widgets import Inspector

    inspector = Inspector(model, nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1), (x, y),
                          batch_size=8)  # fmt: skip
    while inspector.stepper.step().phase != "backward" or inspector.stepper.event.path != "0":
        pass
    inspector.buttons["gradcheck"].click()
    shown = inspector.check.value
    assert "0: Linear(6→6)" in shown and "✘ fail" in shown
    found = inspector.check_gradient()  # what the button ran
    assert found["weight"] > 1e-2 and found["bias"] < 1e-7

    model.use_kernel("dense_backward", None)  # the compiled kernel back: the check passes
    assert model[0].plugged_kernels() == {}
    assert max(nn.gradcheck(model[0], x[:4]).values()) < 1e-7


def test_use_kernel_errors_say_what_to_do():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="did you mean 'dense_backward'"):
        layer.use_kernel("dense_backwards", my_dense_backward)

    def returns_instead(x, W, dy, dx, dW, db, need_dx):
        return dy @ W, dy.T @ x, dy.sum(axis=0)

    layer.use_kernel("dense_backward", returns_instead)
    layer(np.ones((4, 3), np.float32))
    with pytest.raises(TypeError, match="writes its outputs in place"):
        layer.backward(np.ones((4, 2), np.float32))
    with layer.using_kernel("dense_backward", my_dense_backward):
        layer.backward(np.ones((4, 2), np.float32))
        np.testing.assert_allclose(layer.grads["bias"], [4, 4])
    assert layer.plugged_kernels()["dense_backward"].function is returns_instead
    with pytest.raises(ValueError, match="stands for no kernel"):
        exercises.plug(layer, "adam_step", adam_step)


def test_a_plugged_kernel_is_cpu_only():
    layer = nn.Linear(3, 2).use_kernel("dense_backward", my_dense_backward)
    layer.to("cuda")
    with pytest.raises(BackendError, match="model.to\\('cpu'\\)"):
        _ = layer.kernels.dense_backward
    assert layer.kernels.dense_forward is nn.get_backend("cuda").kernels.dense_forward
    with pytest.raises(BackendError, match="cpu"):
        nn.Linear(3, 2).to("cuda").use_kernel("dense_backward", my_dense_backward)


@pytest.mark.parametrize(
    "name, layer, shape",
    [
        ("linear_backward", nn.Linear(5, 3), (4, 5)),
        ("sigmoid_backward", nn.Sigmoid(), (4, 5)),
        ("relu_backward", nn.ReLU(), (4, 5)),
        ("dropout_backward", nn.Dropout(0.3), (4, 5)),
        ("batchnorm_backward", nn.BatchNorm2d(3), (4, 3, 2, 5)),  # (N, C, L) rows for the learner
    ],
)
def test_an_exercise_plugged_into_its_layer_gives_the_compiled_kernels_gradients(
    name, layer, shape
):
    x = np.random.default_rng(1).standard_normal(shape)
    dy = np.random.default_rng(2).standard_normal(shape[:-1] + (3,) if name == "linear_backward"
                                                  else shape)  # fmt: skip
    results = []
    for fn in (None, RIGHT[name]):
        plugged = exercises.plug(layer.clone().to(np.float64), name, fn)
        nn.seed(0)  # the same dropout mask both times
        plugged.forward(x)
        results.append((np.array(plugged.backward(dy)), plugged.grad_dict()))
        if fn is not None:  # the learner's function ran, in place of the kernel it stands for
            assert plugged.plugged_kernels()[exercises.exercise(name).kernel].calls == 1
    (dx, grads), (my_dx, my_grads) = results
    np.testing.assert_allclose(my_dx, dx, rtol=1e-10, atol=1e-12)
    for key in grads:
        np.testing.assert_allclose(my_grads[key], grads[key], rtol=1e-10, atol=1e-12)


def test_the_init_exercises_answer_is_the_engines_initialisation():
    nn.seed(0)
    xavier, kaiming = (
        nn.Linear(784, 256, init=init).params["weight"] for init in ("xavier", "kaiming")
    )
    bound, std = exercises.dynamics._init_reference({"fan_in": 784, "fan_out": 256})
    assert np.abs(xavier).max() <= bound and np.abs(xavier).max() > 0.999 * bound
    assert abs(kaiming.std() / std - 1) < 0.01  # 200,704 draws: the std is known to ~0.2 %
