"""The training step as events, fit/evaluate, and accuracy after real training."""

import numpy as np
import pytest

import numbanet as nn
from numbanet import data


def xor_model():
    nn.seed(3)
    return nn.Sequential(nn.Linear(2, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid())


def test_xor_mlp_reaches_100_percent_with_gradient_descent():
    x, y = data.xor()
    model, loss = xor_model(), nn.BCELoss()
    history = nn.fit(
        model,
        loss,
        nn.optim.SGD(model, lr=2.0),
        (x, y),
        epochs=2000,
        batch_size=4,
        shuffle=False,
        progress=False,
    )
    result = nn.evaluate(model, (x, y), loss)
    assert result.accuracy == 1.0
    assert history.train_loss[-1] < 0.05 < history.train_loss[0]
    np.testing.assert_array_equal(nn.predict(model, x).round().ravel(), [0, 1, 1, 0])


def test_train_step_yields_every_phase_in_order_with_names():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = nn.optim.Adam(model)
    x, y = np.random.default_rng(0).standard_normal((5, 2, 2)), np.array([0, 1, 1, 0, 1])
    events = list(nn.train_step(model, nn.CrossEntropyLoss(), opt, x, y))
    assert [(e.phase, e.index) for e in events] == (
        [("forward", i) for i in range(4)]
        + [("loss", None)]
        + [("backward", i) for i in (3, 2, 1, 0)]
        + [("update", 1), ("update", 3)]
    )
    assert events[1].name == "1: Linear(4→3)"
    assert events[4].name == "CrossEntropyLoss()" and events[4].loss > 0


def test_event_tensors_are_host_copies_of_what_the_step_touched():
    nn.seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    opt = nn.optim.SGD(model, lr=0.5, momentum=0.9)
    x, t = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    step = nn.train_step(model, nn.MSELoss(), opt, x, t, snapshot=True)  # keeps weight.before
    events = {(e.phase, e.index): e.tensors() for e in step}
    forward = events["forward", 0]
    np.testing.assert_array_equal(forward["input"], x)
    np.testing.assert_allclose(
        events["forward", 1]["output"], np.tanh(forward["output"]), rtol=1e-6
    )
    loss = events["loss", None]
    np.testing.assert_allclose(loss["grad"], 2 * loss["prediction"] / 8, rtol=1e-6)
    backward = events["backward", 0]
    assert "dx" not in backward  # the first layer skips the unused input gradient
    np.testing.assert_allclose(backward["dweight"], backward["dy"].T @ x, rtol=1e-5)
    update = events["update", 0]
    np.testing.assert_allclose(
        update["weight.after"],
        update["weight.before"] - 0.5 * update["weight.momentum_buffer"],
        rtol=1e-6,
    )
    np.testing.assert_array_equal(update["weight.after"], model[0].params["weight"])
    update["weight.after"][:] = 0  # a copy: the model keeps its weights
    assert (model[0].params["weight"] != 0).any()


def test_train_step_gives_the_same_params_as_the_plain_api():
    def make():
        nn.seed(1)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        return model, nn.optim.Adam(model, lr=1e-2)

    x, y = np.random.default_rng(2).standard_normal((8, 3)), np.arange(8) % 2
    a, opt_a = make()
    for _ in nn.train_step(a, nn.CrossEntropyLoss(), opt_a, x, y):
        pass
    b, opt_b = make()
    loss = nn.CrossEntropyLoss()
    loss(b(x), y)
    b.backward(loss.backward())
    opt_b.step()
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])


def test_fit_returns_history_and_evaluate_reports_every_metric():
    train, test = data.digits()
    nn.seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    history = nn.fit(
        model,
        nn.CrossEntropyLoss(),
        nn.optim.Adam(model, lr=3e-3),
        train,
        epochs=8,
        val_data=test,
        seed=0,
        progress=False,
    )
    assert history.epochs == 8 and len(history.val_accuracy) == 8
    assert history.train_loss[-1] < history.train_loss[0]
    result = nn.evaluate(model, test)
    assert result.accuracy > 0.93
    assert result.accuracy == pytest.approx(history.val_accuracy[-1])
    assert result.confusion.shape == (10, 10) and result.confusion.sum() == len(test.y)
    assert 0.9 < result.f1 <= 1 and 0.9 < result.precision <= 1 and 0.9 < result.recall <= 1
    assert model.training  # evaluate restores the mode


def test_fit_lr_schedule_sets_each_epochs_rate_as_training_by_hand_would():
    x, y = data.xor()
    schedule = {0: 0.5, 1: 0.125, 2: 0.03125}.__getitem__

    def trained(by_schedule):
        model = xor_model()
        opt = nn.optim.SGD(model, lr=1.0, momentum=0.9)
        if by_schedule:
            history = nn.fit(model, nn.BCELoss(), opt, (x, y), epochs=3, batch_size=2,
                             seed=0, progress=False, lr_schedule=schedule)  # fmt: skip
            assert history.lr == [0.5, 0.125, 0.03125]
        else:
            loader = data.DataLoader(x, y, batch_size=2, shuffle=True, seed=0)
            for epoch in range(3):
                opt.lr = schedule(epoch)
                nn.fit(model, nn.BCELoss(), opt, loader, progress=False)
        assert opt.lr == 0.03125
        return model.state_dict()

    by_schedule, by_hand = trained(True), trained(False)
    for name in by_hand:
        np.testing.assert_array_equal(by_schedule[name], by_hand[name], err_msg=name)


def test_fit_rejects_a_schedule_that_gives_no_learning_rate_and_changes_nothing():
    model = xor_model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    opt = nn.optim.SGD(model, lr=0.1)
    with pytest.raises(ValueError, match=r"lr_schedule\(0\) must give a number > 0, got -1"):
        nn.fit(model, nn.BCELoss(), opt, data.xor(), progress=False, lr_schedule=lambda e: -1)
    assert opt.lr == 0.1
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_mnist_mlp_on_a_subset_learns_real_accuracy():
    train, test = data.mnist()
    nn.seed(0)
    model = nn.models.mlp()  # the seed MLP: 784-128-256-10, ReLU
    opt = nn.optim.Adam(model, lr=1e-3)
    nn.fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (train.x[:20000], train.y[:20000]),
        epochs=2,
        seed=0,
        progress=False,
    )
    result = nn.evaluate(model, test)
    assert result.accuracy > 0.93, result  # PyTorch, same recipe: 0.94–0.95


def test_fit_accepts_a_dataloader_and_shows_a_progress_bar(capsys):
    x, y = data.xor()
    model = xor_model()
    loader = data.DataLoader(x, y, batch_size=2, shuffle=True, seed=0)
    history = nn.fit(model, nn.BCELoss(), nn.optim.SGD(model, lr=0.5), loader, epochs=2)
    assert history.epochs == 2 and history.train_accuracy[0] is not None
    assert "epoch 2/2" in capsys.readouterr().err


def test_history_plot_draws_loss_and_accuracy():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    history = nn.History(
        train_loss=[1.0, 0.5],
        train_accuracy=[0.5, 0.8],
        val_loss=[1.1, 0.7],
        val_accuracy=[0.4, 0.7],
    )
    fig = history.plot()
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2


def test_fit_reports_the_penalty_apart_from_the_data_loss(capsys):
    train, test = data.digits()
    x, y = train.x[:200], train.y[:200]
    nn.seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    loss_fn, optimizer = nn.CrossEntropyLoss(), nn.optim.SGD(model, lr=0.1, l1=1e-4, l2=1e-2)
    start_loss = loss_fn(model.forward(x), y)
    # one full batch: the epoch's data loss is that of the starting weights
    history = nn.fit(
        model, loss_fn, optimizer, (x, y), epochs=1, batch_size=200, val_data=(x, y), shuffle=False
    )
    state = model.state_dict()  # the penalty is that of the weights at the end of the epoch
    weights = [state["1.weight"], state["3.weight"]]
    end_penalty = sum(1e-4 * np.abs(w).sum() + 1e-2 / 2 * np.square(w).sum() for w in weights)
    assert history.train_penalty == [pytest.approx(end_penalty, rel=1e-6)]
    assert history.train_loss == [pytest.approx(start_loss, rel=1e-6)]  # the data loss alone
    assert history.train_objective == [history.train_loss[0] + history.train_penalty[0]]
    # validation loss is the data loss too, at the end-of-epoch weights
    assert history.val_loss == [pytest.approx(loss_fn(model.forward(x), y), rel=1e-6)]
    shown = capsys.readouterr().err
    assert f"penalty={history.train_penalty[-1]:.4f}" in shown
    assert f"loss={history.train_loss[-1]:.4f}" in shown

    plain = nn.fit(model, loss_fn, nn.optim.SGD(model, lr=0.1), (x, y), epochs=1)
    assert plain.train_penalty == [0.0] and "penalty" not in capsys.readouterr().err


def test_history_plot_adds_loss_plus_penalty_when_there_is_a_penalty():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    history = nn.History(
        train_loss=[1.0, 0.5],
        val_loss=[1.1, 0.7],
        train_accuracy=[0.5, 0.8],
        train_penalty=[0.2, 0.1],
    )
    lines = history.plot().axes[0].lines
    assert [line.get_label() for line in lines] == [
        "train loss", "validation loss", "train loss + penalty",
    ]  # fmt: skip
    np.testing.assert_allclose(lines[2].get_ydata(), [1.2, 0.6])
