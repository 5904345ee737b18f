"""The step engine: stepping into and over blocks, a step over two models written from the
public parts, freezing, gradient accumulation, param identity in nested models."""

import numpy as np
import pytest

import numbanet as nn
from numbanet import steps
from numbanet.steps import StepProgram

RNG = np.random.default_rng(0)


def residual_model():
    nn.seed(0)
    return nn.Sequential(
        nn.Linear(4, 6),
        nn.Residual(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6)),
        nn.Linear(6, 3),
    )


def batch(n=8):
    return RNG.standard_normal((n, 4)).astype(np.float32), RNG.integers(0, 3, n)


def test_a_residual_block_is_stepped_into_event_by_event():
    model = residual_model()
    events = list(nn.train_step(model, nn.CrossEntropyLoss(), nn.optim.SGD(model), *batch()))
    forward = [(e.path, e.depth) for e in events if e.phase == "forward"]
    assert forward == [
        ("0", 0),
        ("1.body.0", 2),
        ("1.body.1", 2),
        ("1.body.2", 2),
        ("1.shortcut", 1),
        ("1", 0),  # the block's own event: the add
        ("2", 0),
    ]
    backward = [e.path for e in events if e.phase == "backward"]
    assert backward == ["2", "1.body.2", "1.body.1", "1.body.0", "1.shortcut", "1", "0"]
    updates = [e.path for e in events if e.phase == "update"]
    assert updates == ["0", "1.body.0", "1.body.2", "2"]
    add = next(e for e in events if e.phase == "forward" and e.path == "1").tensors()
    np.testing.assert_allclose(add["output"], add["body"] + add["shortcut"], rtol=1e-6)
    back = next(e for e in events if e.phase == "backward" and e.path == "1").tensors()
    np.testing.assert_allclose(back["dx"], back["d body"] + back["d shortcut"], rtol=1e-6)
    assert all(e.index == int(e.path.split(".")[0]) for e in events if e.phase != "loss")


def test_stepping_into_over_and_out_of_a_block():
    model = residual_model()
    stepper = nn.debug.Stepper(model, nn.CrossEntropyLoss(), nn.optim.SGD(model), batch(8))
    assert stepper.n_events == 7 + 1 + 7 + 4
    assert stepper.step().path == "0"
    assert stepper.step_over().path == "1"  # the whole block: body, shortcut, add
    assert stepper.position == 5
    stepper.goto(0)
    assert stepper.step().path == "1.body.0"  # step into
    assert stepper.step_over().path == "1.body.1"  # same depth: one layer
    assert stepper.step_out().path == "1.body.2"  # out of the body
    assert stepper.step_out().path == "1"  # out of the block: shortcut and add
    assert stepper.step_over().path == "2"
    # and back, bit for bit: the step replayed to the end gives the same params
    stepper.run_step()
    after = model.state_dict()
    stepper.goto(3)
    stepper.run_step()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, after[key], err_msg=key)


def test_a_model_nested_in_another_keeps_its_keys_and_optimizer_state():
    inner = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    optimizer = nn.optim.Adam(inner, lr=1e-2)
    x, y = batch()
    for _ in nn.train_step(inner, nn.CrossEntropyLoss(), optimizer, x, y):
        pass
    keys, state = sorted(inner.state_dict()), {k: dict(v) for k, v in optimizer.state.items()}
    outer = nn.Sequential(nn.Identity(), inner)
    assert sorted(inner.state_dict()) == keys == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert sorted(outer.state_dict()) == ["1." + k for k in keys]
    for _ in nn.train_step(inner, nn.CrossEntropyLoss(), optimizer, x, y):
        pass
    assert sorted(optimizer.state) == sorted(state)
    assert all(optimizer.state[k]["step"] == 2 for k in state)  # the same state, moved on
    assert inner[0].path == "1.0"  # the display path follows the new place


def two_batches_and_their_concatenation(layer, shape, n=6):
    x = RNG.standard_normal((2 * n, *shape))
    return x[:n], x[n:], x


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Linear(5, 3), (5,)),
        (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 5, 5)),
        (lambda: nn.LSTM(3, 4, batch_first=True), (4, 3)),
    ],
    ids=["Linear", "Conv2d", "LSTM"],
)
def test_accumulating_two_backward_passes_equals_one_on_the_concatenated_batch(make, shape):
    nn.seed(3)
    layer = make().to(np.float64)
    first, second, both = two_batches_and_their_concatenation(layer, shape)
    y = layer.forward(both)
    dy = RNG.standard_normal(y.shape)
    layer.backward(dy)
    whole = layer.grad_dict()
    layer.zero_grad()  # from here on backward adds into grads
    assert all(not g.any() for g in layer.grad_dict().values())
    for part, d in ((first, dy[: len(first)]), (second, dy[len(first) :])):
        layer.forward(part)
        layer.backward(d)
    for key, value in layer.grad_dict().items():
        np.testing.assert_allclose(value, whole[key], rtol=1e-10, atol=1e-12, err_msg=key)
    layer.zero_grad(accumulate=False)  # back to overwriting
    layer.forward(both)
    layer.backward(dy)
    for key, value in layer.grad_dict().items():
        np.testing.assert_allclose(value, whole[key], rtol=1e-12, err_msg=key)


def test_a_frozen_layer_passes_dx_and_keeps_its_grads():
    nn.seed(4)
    layer = nn.Linear(5, 3).to(np.float64)
    x, dy = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 3))
    layer.forward(x)
    layer.backward(dy)
    grads = layer.grad_dict()
    layer.requires_grad_(False)
    layer.forward(2 * x)
    dx = layer.backward(3 * dy)
    np.testing.assert_allclose(dx, 3 * dy @ layer.params["weight"], rtol=1e-12)
    for key, value in layer.grad_dict().items():
        np.testing.assert_array_equal(value, grads[key])
    assert layer.backward(dy, need_dx=False) is None


@pytest.mark.parametrize(
    "make, x_shape, weight_kernel",
    [
        (lambda: nn.Linear(5, 3, activation="tanh"), (4, 5), "dense_backward"),
        (lambda: nn.Conv2d(2, 3, 3, padding=1, activation="relu"), (2, 2, 6, 6), "conv2d_backward"),
        (lambda: nn.Conv2d(2, 3, 3, stride=2), (2, 2, 7, 7), "conv2d_backward"),
        (lambda: nn.MultiheadAttention(4, 2), (2, 3, 4), "dense_backward"),
    ],
    ids=["linear", "conv-padded-relu", "conv-strided", "attention"],
)
def test_a_frozen_layer_gives_the_same_dx_without_computing_its_weight_gradient(
    make, x_shape, weight_kernel
):
    nn.seed(5)
    layer = make().to(np.float64)
    x = RNG.standard_normal(x_shape)
    y = layer.forward(x)
    dy = RNG.standard_normal(y.shape)
    expected = layer.backward(dy).copy()
    calls = []
    layer.use_kernel(weight_kernel, lambda *args: calls.append(args))
    layer.requires_grad_(False)
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dy), expected, rtol=1e-12, atol=1e-14)
    assert calls == []  # the weight gradient's kernel never ran


def gan_like_program(generator, critic, g_optimizer, loss_fn):
    """A generator feeding a frozen critic, written from the public parts: only the generator
    learns, the gradient reaching it through the critic."""

    def run(z, target, snapshot=False):
        critic.requires_grad_(False)
        try:
            fake = yield from steps.forward(generator, z, "generator", "G makes samples")
            score = yield from steps.forward(critic, fake, "critic", "critic scores them")
            value, dy = yield from steps.loss(loss_fn, score, target, model_name="critic")
            d_fake = yield from steps.backward(critic, dy, True, "critic", "through the critic")
            yield from steps.backward(generator, d_fake, False, "generator")
            yield from steps.update(g_optimizer, snapshot, "generator", "G's update")
        finally:
            critic.requires_grad_(True)
        return value

    return StepProgram(
        run,
        {"generator": generator, "critic": critic},
        {"generator": g_optimizer},
        {"critic": loss_fn},
    )


def test_a_two_network_step_leaves_the_frozen_network_alone_and_rewinds_bit_for_bit():
    nn.seed(5)
    generator = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4))
    critic = nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.2), nn.Linear(6, 1))
    c_optimizer = nn.optim.Adam(critic, lr=1e-2)
    real, ones = RNG.standard_normal((8, 4)), np.ones((8, 1))
    for _ in nn.train_step(critic, nn.BCEWithLogitsLoss(), c_optimizer, real, ones):
        pass  # the critic has grads and optimizer state of its own now
    critic_params, critic_grads = critic.state_dict(), critic.grad_dict()
    critic_state = c_optimizer.state_dict()
    program = gan_like_program(
        generator, critic, nn.optim.Adam(generator, lr=1e-2), nn.BCEWithLogitsLoss()
    )
    z, target = RNG.standard_normal((16, 3)), np.ones((16, 1))
    stepper = nn.debug.Stepper(program=program, data=(z, target), batch_size=8, shuffle=False)
    assert {e.model for e in stepper.plan} == {"generator", "critic"}
    assert [e.phase for e in stepper.plan if e.model == "critic"].count("update") == 0
    g_before = generator.state_dict()
    stepper.run_step()
    after = generator.state_dict()
    assert any(not np.array_equal(after[k], g_before[k]) for k in after)  # G moved
    for key, value in critic.state_dict().items():
        np.testing.assert_array_equal(value, critic_params[key], err_msg=key)
    for key, value in critic.grad_dict().items():
        np.testing.assert_array_equal(value, critic_grads[key], err_msg=key)
    np.testing.assert_equal(c_optimizer.state_dict(), critic_state)
    assert not any(layer.frozen for layer in critic.modules())  # unfrozen after the step
    stepper.goto(4)  # back into the middle of the step: G's params as they were
    for key, value in generator.state_dict().items():
        np.testing.assert_array_equal(value, g_before[key], err_msg=key)
    stepper.run_step()
    for key, value in generator.state_dict().items():
        np.testing.assert_array_equal(value, after[key], err_msg=key)


def test_draining_the_events_matches_the_explicit_step_exactly():
    results = []
    for drained in (False, True):
        model = residual_model()
        opt, loss_fn = nn.optim.Adam(model, lr=1e-2), nn.CrossEntropyLoss()
        x, y = np.ones((4, 4), np.float32), np.array([0, 1, 2, 0])
        if drained:
            for _ in nn.train_step(model, loss_fn, opt, x, y):
                pass
        else:
            loss_fn(model(x), y)
            model.backward(loss_fn.backward(), need_dx=False)
            opt.step()
        results.append(model.state_dict())
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key], results[1][key], err_msg=key)


def test_fit_runs_a_two_network_program_and_the_generator_learns():
    nn.seed(6)
    generator = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 4))
    critic = nn.Sequential(nn.Linear(4, 1))
    # the critic scores x by w·x + b; the generator learns to make samples it scores as real
    program = gan_like_program(
        generator, critic, nn.optim.Adam(generator, lr=5e-2), nn.BCEWithLogitsLoss()
    )
    z = RNG.standard_normal((64, 3)).astype(np.float32)
    critic_before = critic.state_dict()
    history = nn.fit_program(program, (z, np.ones((64, 1), np.float32)), epochs=4,
                             batch_size=16, progress=False)  # fmt: skip
    (losses,) = history.losses.values()
    assert list(history.losses) == ["critic"] and len(losses) == 4
    assert losses[-1] < 0.5 * losses[0]  # the generator fools the fixed critic
    for key, value in critic.state_dict().items():
        np.testing.assert_array_equal(value, critic_before[key])


def tiny_gan():
    nn.seed(7)
    generator = nn.Sequential(  # no bias before BatchNorm, as DCGAN: its gradient would be 0
        nn.Linear(4, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2)
    )
    discriminator = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    return (
        generator,
        discriminator,
        nn.optim.Adam(generator, lr=1e-2, betas=(0.5, 0.999)),
        nn.optim.Adam(discriminator, lr=1e-2, betas=(0.5, 0.999)),
    )


def test_gan_step_moves_d_only_in_its_update_and_g_only_in_its_own():
    generator, discriminator, g_opt, d_opt = tiny_gan()
    real, z = RNG.standard_normal((8, 2)) + 3, RNG.standard_normal((8, 4))
    d_before, g_before = discriminator.state_dict(), generator.state_dict()
    events = nn.gan_step(generator, discriminator, g_opt, d_opt, real, z)
    d_after_update = None
    for event in events:
        if (event.phase, event.model) == ("update", "discriminator"):
            d_after_update = (discriminator.state_dict(), discriminator.grad_dict(),
                              d_opt.state_dict())  # fmt: skip
        if event.part == "G: fake → 1":  # G's half began: D has had its update
            assert d_after_update is not None
    d_params, d_grads, d_state = d_after_update
    for key, value in discriminator.state_dict().items():  # G's half left D alone
        if "running" not in key:
            np.testing.assert_array_equal(value, d_params[key], err_msg=key)
    for key, value in discriminator.grad_dict().items():
        np.testing.assert_array_equal(value, d_grads[key], err_msg=key)
    np.testing.assert_equal(d_opt.state_dict(), d_state)
    assert all(not np.array_equal(d_params[k], d_before[k]) for k in d_params)
    after = generator.state_dict()
    assert any(not np.array_equal(after[k], g_before[k]) for k in after if "weight" in k)


def test_d_gradient_is_the_sum_of_its_real_and_fake_losses():
    generator, discriminator, g_opt, d_opt = tiny_gan()
    generator.to(np.float64), discriminator.to(np.float64)
    real, z = RNG.standard_normal((6, 2)), RNG.standard_normal((6, 4))
    for event in nn.gan_step(generator, discriminator, g_opt, d_opt, real, z):
        if event.part == "D's backward (fakes)" and event.path == "0":
            d_grads = discriminator.grad_dict()  # D's last backward event: before any update
            break
    fake = np.array(generator.forward(z))  # G is unchanged: the same fakes
    expected = {}
    for batch, label in ((real, 1.0), (fake, 0.0)):
        loss_fn = nn.BCEWithLogitsLoss()
        loss_fn(discriminator.forward(batch), np.full((6, 1), label))
        discriminator.backward(loss_fn.backward(), need_dx=False)
        for key, value in discriminator.grad_dict().items():
            expected[key] = expected.get(key, 0) + value
    for key, value in d_grads.items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-10, err_msg=key)


def test_a_rewound_gan_step_replays_bit_for_bit_and_fit_gan_reports_per_epoch():
    generator, discriminator, g_opt, d_opt = tiny_gan()
    images = (RNG.standard_normal((32, 2)) * 0.5 + 2).astype(np.float32)
    program = nn.StepProgram.gan(generator, discriminator, g_opt, d_opt, latent_dim=4)
    stepper = nn.debug.Stepper(program=program, data=(images, np.zeros(32)), batch_size=8)
    assert [e.model for e in stepper.plan][:3] == ["discriminator"] * 3
    stepper.run_step()
    after = {**generator.state_dict(), **{"D." + k: v for k, v in discriminator.state_dict().items()}}
    for position in (0, 10, stepper.n_events - 2):
        stepper.goto(position)
        stepper.run_step()
        now = {**generator.state_dict(),
               **{"D." + k: v for k, v in discriminator.state_dict().items()}}  # fmt: skip
        for key, value in now.items():
            np.testing.assert_array_equal(value, after[key], err_msg=f"{key} from {position}")
    history = nn.fit_gan(generator, discriminator, g_opt, d_opt, images, epochs=2, batch_size=8,
                         seed=0, progress=False)  # fmt: skip
    assert history.epochs == 2 and len(history.samples) == 2
    assert history.samples[-1].shape == (16, 2)
    assert all(0 < p < 1 for p in history.d_real + history.d_fake)
    assert all(np.isfinite(history.d_loss)) and all(np.isfinite(history.g_loss))


def test_the_loss_event_of_an_inspected_step_reports_the_objective_terms():
    nn.seed(8)
    model = nn.models.vae(latent_dim=2, hidden=8)
    x = RNG.random((6, 784)).astype(np.float32)
    stepper = nn.debug.Stepper(model, nn.BCEWithLogitsLoss(reduction="sum"),
                               nn.optim.Adam(model), (x, x), batch_size=6)  # fmt: skip
    stepper.run_to_phase_end()
    event = stepper.step()
    assert event.phase == "loss" and set(event.terms) == {"kl"}
    assert event.terms["kl"] == model.objective_terms()["kl"] > 0
    assert all(e.terms is None for e in nn.train_step(model, nn.BCEWithLogitsLoss(reduction="sum"),
                                                       nn.optim.Adam(model), x, x))  # fmt: skip
