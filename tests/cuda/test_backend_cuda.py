"""The CUDA backend end to end: a model moved to "cuda" trains, evaluates, reports events,
saves and rewinds like on the CPU, with the same numbers, and keeps its arrays on the device.

Without a GPU these run in Numba's CUDA simulator (tests/conftest.py), so models are tiny.
"""

import numpy as np
import pytest

import numbanet as nn
from numbanet.backend import get_backend, is_device_array

TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def tiny_model(dtype=np.float32, activation=nn.ReLU):
    """Linear → activation → Linear; activation a string: fused into the first Linear."""
    nn.seed(0)
    if isinstance(activation, str):
        return nn.Sequential(nn.Linear(6, 5, activation=activation), nn.Linear(5, 3)).to(dtype)
    model = nn.Sequential(nn.Linear(6, 5), activation(), nn.Linear(5, 3))
    return model.to(dtype)


def batches(n=3, size=7, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((size, 6)).astype(np.float32), rng.integers(0, 3, size))
        for _ in range(n)
    ]


def train(device, make_optimizer, dtype=np.float32, activation=nn.ReLU, loss_fn=None):
    """A few steps of training on ``device``; returns (model, optimizer, losses)."""
    model = tiny_model(dtype, activation).to(device)
    optimizer = make_optimizer(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    losses = []
    for x, y in batches():
        target = y if isinstance(loss_fn, nn.CrossEntropyLoss) else np.eye(3)[y]
        for event in nn.train_step(model, loss_fn, optimizer, x, target):
            if event.phase == "loss":
                losses.append(event.loss)
    return model, optimizer, losses


OPTIMIZERS = {
    "sgd": lambda m: nn.optim.SGD(m, lr=0.1),
    "sgd-nesterov-l1": lambda m: nn.optim.SGD(
        m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, l1=1e-3
    ),
    "adam-l2": lambda m: nn.optim.Adam(m, lr=0.01, l2=1e-3),
    "adamw": lambda m: nn.optim.AdamW(m, lr=0.01),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_few_steps_on_both_devices_end_with_equal_params(optimizer, dtype):
    cpu_model, cpu_opt, cpu_losses = train("cpu", OPTIMIZERS[optimizer], dtype)
    gpu_model, gpu_opt, gpu_losses = train("cuda", OPTIMIZERS[optimizer], dtype)
    np.testing.assert_allclose(gpu_losses, cpu_losses, **TOL[dtype])
    gpu_params = gpu_model.state_dict()
    for key, value in cpu_model.state_dict().items():
        assert gpu_params[key].dtype == dtype
        np.testing.assert_allclose(gpu_params[key], value, **TOL[dtype], err_msg=key)
    for key, state in cpu_opt.state_dict()["state"].items():
        for name, value in state.items():
            np.testing.assert_allclose(
                gpu_opt.state_dict()["state"][key][name], value, **TOL[dtype], err_msg=name
            )


@pytest.mark.parametrize(
    "activation, loss_fn",
    [
        (nn.Sigmoid, nn.MSELoss()),
        (nn.Tanh, nn.BCEWithLogitsLoss()),
        (nn.LeakyReLU, nn.MSELoss(reduction="sum")),
        ("relu", nn.MSELoss()),
        ("tanh", nn.BCEWithLogitsLoss()),
    ],
)
def test_other_layers_and_losses_train_alike_on_both_devices(activation, loss_fn):
    sgd = OPTIMIZERS["sgd"]
    cpu_model, _, cpu_losses = train("cpu", sgd, np.float64, activation, loss_fn)
    gpu_model, _, gpu_losses = train("cuda", sgd, np.float64, activation, loss_fn)
    np.testing.assert_allclose(gpu_losses, cpu_losses, **TOL[np.float64])
    for key, value in cpu_model.state_dict().items():
        np.testing.assert_allclose(gpu_model.state_dict()[key], value, **TOL[np.float64])


def test_params_grads_buffers_and_optimizer_state_live_on_the_device():
    model, optimizer, _ = train("cuda", OPTIMIZERS["adam-l2"])
    assert model.device == "cuda"
    for layer in model.modules():
        arrays = [*layer.params.values(), *layer.grads.values(), *layer._buffers.values()]
        assert all(is_device_array(a) for a in arrays), layer.name
        assert all(is_device_array(a) for a in layer.saved.values() if hasattr(a, "shape"))
    for state in optimizer.state.values():
        assert all(is_device_array(v) for k, v in state.items() if k != "step")


def test_events_report_the_same_tensors_on_both_devices():
    (x, y), reports = batches(1)[0], {}
    for device in ("cpu", "cuda"):
        model = tiny_model(np.float64).to(device)
        optimizer = OPTIMIZERS["adamw"](model)
        events = list(nn.train_step(model, nn.CrossEntropyLoss(), optimizer, x, y))
        reports[device] = [(e.phase, e.index, e.tensors()) for e in events]
    assert [r[:2] for r in reports["cuda"]] == [r[:2] for r in reports["cpu"]]
    for (phase, index, cpu), (_, _, gpu) in zip(reports["cpu"], reports["cuda"]):
        assert gpu.keys() == cpu.keys() and all(isinstance(v, np.ndarray) for v in gpu.values())
        for name in cpu:
            np.testing.assert_allclose(gpu[name], cpu[name], **TOL[np.float64], err_msg=name)


def test_fit_evaluate_and_predict_on_cuda_match_the_cpu():
    train_set, test_set = nn.data.digits()
    small, results = (train_set.x[:48], train_set.y[:48]), {}
    for device in ("cpu", "cuda"):
        nn.seed(0)
        model = nn.models.mlp(64, (8,), 10).to(device)
        history = nn.fit(
            model,
            nn.CrossEntropyLoss(),
            nn.optim.Adam(model, lr=1e-2),
            small,
            epochs=2,
            batch_size=16,
            seed=0,
            progress=False,
        )
        evaluation = nn.evaluate(model, (test_set.x[:40], test_set.y[:40]))
        results[device] = (history, evaluation, nn.predict(model, test_set.x[:10]))
    (cpu_h, cpu_e, cpu_p), (gpu_h, gpu_e, gpu_p) = results["cpu"], results["cuda"]
    np.testing.assert_allclose(gpu_h.train_loss, cpu_h.train_loss, rtol=1e-5)
    assert gpu_h.train_accuracy == cpu_h.train_accuracy
    assert gpu_e.accuracy == cpu_e.accuracy and gpu_e.loss == pytest.approx(cpu_e.loss, 1e-5)
    np.testing.assert_array_equal(gpu_e.confusion, cpu_e.confusion)
    assert isinstance(gpu_p, np.ndarray)
    np.testing.assert_allclose(gpu_p, cpu_p, rtol=1e-5, atol=1e-6)


def test_fit_reports_the_same_penalty_on_both_devices():
    x, y = batches(1, size=12)[0]
    histories = {}
    for device in ("cpu", "cuda"):
        model = tiny_model(np.float64).to(device)
        optimizer = nn.optim.Adam(model, lr=0.01, l1=1e-3, l2=1e-2)
        start = model.state_dict()
        penalty = optimizer.penalty()  # the weights live on the device: summed on the host
        weights = [start["0.weight"], start["2.weight"]]
        expected = sum(1e-3 * np.abs(w).sum() + 1e-2 / 2 * np.square(w).sum() for w in weights)
        assert penalty == pytest.approx(expected, rel=1e-12)
        histories[device] = nn.fit(
            model, nn.CrossEntropyLoss(), optimizer, (x, y), epochs=2, batch_size=4,
            seed=0, progress=False,
        )  # fmt: skip
    assert histories["cpu"].train_penalty[0] > 0
    np.testing.assert_allclose(
        histories["cuda"].train_penalty, histories["cpu"].train_penalty, **TOL[np.float64]
    )
    np.testing.assert_allclose(
        histories["cuda"].train_loss, histories["cpu"].train_loss, **TOL[np.float64]
    )


def test_moving_back_and_forth_keeps_params_and_the_optimizer_state_follows():
    model, optimizer, _ = train("cuda", OPTIMIZERS["adam-l2"])
    on_gpu = model.state_dict()
    model.to("cpu")
    assert model.device == "cpu" and not is_device_array(model[0].params["weight"])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, on_gpu[key])
    x, y = batches(1)[0]
    for _ in nn.train_step(model, nn.CrossEntropyLoss(), optimizer, x, y):
        pass  # the Adam moments made on the GPU move to the host at this update
    assert all(
        isinstance(v, np.ndarray)
        for s in optimizer.state.values()
        for k, v in s.items()
        if k != "step"
    )


def test_save_on_cuda_and_load_anywhere(tmp_path):
    model, optimizer, _ = train("cuda", OPTIMIZERS["adamw"])
    nn.io.save(tmp_path / "model.npz", model, optimizer)
    loaded, loaded_optimizer = nn.io.load(tmp_path / "model.npz")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)
    fresh = tiny_model().to("cuda")
    fresh.load_state_dict(loaded.state_dict())
    assert is_device_array(fresh[0].params["weight"])
    np.testing.assert_array_equal(fresh.state_dict()["2.bias"], model.state_dict()["2.bias"])
    loaded_optimizer.load_state_dict(optimizer.state_dict())
    assert loaded_optimizer.state["0.weight"]["step"] == 3


def test_stepper_rewinds_a_cuda_step_bit_for_bit():
    model = tiny_model().to("cuda")
    optimizer = OPTIMIZERS["adam-l2"](model)
    x, y = batches(1, size=12)[0]
    stepper = nn.debug.Stepper(model, nn.CrossEntropyLoss(), optimizer, (x, y), batch_size=6)
    stepper.run_step()  # optimizer state exists from here on
    stepper.next_batch()
    stepper.goto(stepper.n_events - 2)  # up to the first update
    before = model.state_dict()
    stepper.step()
    after = model.state_dict()
    assert not np.array_equal(after["2.weight"], before["2.weight"])
    stepper.back()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    stepper.step()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, after[key], err_msg=key)


def test_gradcheck_checks_a_layer_that_lives_on_the_gpu():
    layer = nn.Linear(4, 3).to("cuda")
    x = np.random.default_rng(0).standard_normal((5, 4))
    errors = nn.gradcheck(layer, x)
    assert max(errors.values()) < 1e-6 and layer.device == "cuda"


def test_a_bad_device_name_is_a_clear_error():
    with pytest.raises(nn.BackendError, match=r"unknown device 'gpu'.*'cpu', 'cuda'"):
        tiny_model().to("gpu")


def test_a_model_half_on_one_device_is_a_clear_error():
    model = tiny_model()
    model[2].to("cuda")
    with pytest.raises(
        nn.BackendError,
        match=r"half on one device \(on cpu: 0: Linear\(6→5\), 1: ReLU\(\); on cuda: 2: Lin",
    ):
        list(nn.train_step(model, nn.CrossEntropyLoss(), nn.optim.SGD(model), *batches(1)[0]))
    params = model.state_dict()  # nothing was updated
    model[2].to("cpu")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, params[key])


def test_data_on_the_gpu_for_a_cpu_model_is_a_clear_error():
    x = get_backend("cuda").from_host(np.ones((2, 6)), np.float32)
    with pytest.raises(nn.LayerInputError, match=r"0: Linear\(6→5\): expected input on the cpu"):
        tiny_model().forward(x)


def test_data_of_another_dtype_on_the_gpu_is_a_clear_error():
    x = get_backend("cuda").from_host(np.ones((2, 6)), np.float64)
    with pytest.raises(nn.LayerInputError, match="expected a C-contiguous input of dtype float32"):
        tiny_model().to("cuda").forward(x)


def test_a_loss_takes_labels_on_either_device_and_checks_them():
    cuda = get_backend("cuda")
    logits = cuda.from_host(np.random.default_rng(0).standard_normal((4, 3)), np.float32)
    loss_fn = nn.CrossEntropyLoss()
    on_host = loss_fn(logits, np.array([0, 1, 2, 1]))
    on_device = loss_fn(logits, cuda.from_host(np.array([0, 1, 2, 1]), np.int64))
    assert on_host == on_device and is_device_array(loss_fn.backward())
    with pytest.raises(nn.LayerInputError, match=r"labels in \[0, 2\]"):
        loss_fn(logits, cuda.from_host(np.array([0, 1, 3, 1]), np.int64))


def test_a_training_step_copies_only_the_batch_in_and_the_losses_out(monkeypatch):
    model = tiny_model().to("cuda")
    optimizer, loss_fn = OPTIMIZERS["adam-l2"](model), nn.CrossEntropyLoss()
    (x, y), *rest = batches()
    for _ in nn.train_step(model, loss_fn, optimizer, x, y, snapshot=False):
        pass  # the first step allocates buffers and optimizer state
    device_array = type(model[0].params["weight"])
    copies = {"to host": 0, "to device": 0}

    def counting(method, direction):
        def wrapper(self, *args, **kwargs):
            copies[direction] += 1
            return method(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        device_array, "copy_to_host", counting(device_array.copy_to_host, "to host")
    )
    monkeypatch.setattr(
        device_array, "copy_to_device", counting(device_array.copy_to_device, "to device")
    )
    for x, y in rest:
        for _ in nn.train_step(model, loss_fn, optimizer, x, y, snapshot=False):
            pass
    assert copies == {"to host": len(rest), "to device": 2 * len(rest)}  # per-row losses; x, y
