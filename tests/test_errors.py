"""Bad input gets a clear error naming the layer, expected and got; and changes nothing."""

import numpy as np
import pytest

import numbanet as nn


def seed_model():
    nn.seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def test_wrong_feature_count_names_layer_expected_and_got():
    with pytest.raises(nn.LayerInputError, match=r"1: Linear\(784→128\).*\(N, 784\).*\(2, 785\)"):
        seed_model().forward(np.zeros((2, 785)))


def test_wrong_rank_names_layer_and_shape():
    with pytest.raises(nn.LayerInputError, match=r"Linear\(3→2\).*\(N, 3\).*\(3,\)"):
        nn.Linear(3, 2).forward(np.zeros(3))


def test_labels_out_of_range_or_of_the_wrong_kind():
    loss = nn.CrossEntropyLoss()
    logits = np.zeros((3, 10), np.float32)
    with pytest.raises(nn.LayerInputError, match=r"labels in \[0, 9\].*got labels in \[0, 10\]"):
        loss(logits, np.array([0, 10, 3]))
    with pytest.raises(nn.LayerInputError, match=r"integer class labels.*float64"):
        loss(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(nn.LayerInputError, match=r"probabilities in \[0, 1\]"):
        nn.BCELoss()(np.array([[1.5]]), np.array([[1.0]]))


def test_mismatched_batch_sizes():
    with pytest.raises(nn.LayerInputError, match=r"shape \(3,\).*batch of 3, got \(4,\)"):
        nn.CrossEntropyLoss()(np.zeros((3, 10)), np.zeros(4, np.int64))
    with pytest.raises(nn.LayerInputError, match=r"prediction's shape \(3, 1\), got \(4, 1\)"):
        nn.MSELoss()(np.zeros((3, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="4.*3|3.*4"):
        nn.fit(
            seed_model(),
            nn.CrossEntropyLoss(),
            nn.optim.SGD(seed_model()),
            (np.zeros((4, 784)), np.zeros(3, np.int64)),
            progress=False,
        )


def test_backward_before_forward():
    with pytest.raises(nn.LayerInputError, match=r"Linear\(3→2\): backward called before forward"):
        nn.Linear(3, 2).backward(np.zeros((1, 2)))
    with pytest.raises(nn.LayerInputError, match="before forward"):
        nn.CrossEntropyLoss().backward()


def test_gradient_of_the_wrong_shape():
    layer = nn.Linear(3, 2)
    layer.forward(np.zeros((4, 3)))
    with pytest.raises(
        nn.LayerInputError, match=r"dy of the output's shape \(4, 2\), got \(4, 3\)"
    ):
        layer.backward(np.zeros((4, 3)))


def test_non_numeric_input_is_a_clear_error():
    with pytest.raises(nn.LayerInputError, match="numeric"):
        nn.Linear(2, 2).forward([["a", "b"]])


def test_bad_state_dict_changes_nothing():
    model = seed_model()
    before = model.state_dict()
    bad = model.state_dict()
    bad["1.weight"] = np.ones((128, 784))
    del bad["3.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['3.bias'\]"):
        model.load_state_dict(bad)
    bad = model.state_dict()
    bad["1.weight"] = np.ones((128, 784))
    bad["3.weight"] = np.ones((10, 127))
    with pytest.raises(ValueError, match=r"'3.weight' expected shape \(10, 128\), got \(10, 127\)"):
        model.load_state_dict(bad)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_failed_training_step_leaves_params_and_optimizer_state_unchanged():
    model = seed_model()
    opt = nn.optim.Adam(model)
    x = np.random.default_rng(0).random((4, 1, 28, 28))
    for _ in nn.train_step(model, nn.CrossEntropyLoss(), opt, x, np.array([0, 1, 2, 3])):
        pass
    params, state = model.state_dict(), {k: opt.state_of(k) for k in opt.state}
    with pytest.raises(nn.LayerInputError, match="labels"):
        for _ in nn.train_step(model, nn.CrossEntropyLoss(), opt, x, np.array([0, 1, 2, 30])):
            pass
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, params[key])
    for key in opt.state:
        assert opt.state[key]["step"] == 1
        for name, value in opt.state_of(key).items():
            np.testing.assert_array_equal(value, state[key][name])


def test_float64_and_list_inputs_give_the_float32_answer():
    model = seed_model()
    x = np.random.default_rng(0).random((3, 784))
    expected = np.array(model.forward(x.astype(np.float32)))
    np.testing.assert_array_equal(model.forward(x), expected)
    np.testing.assert_array_equal(model.forward(x.tolist()), expected)
    np.testing.assert_array_equal(model.forward(np.asfortranarray(x)), expected)


def test_empty_batch_gives_empty_outputs_and_zero_gradients():
    model = seed_model()
    y = model.forward(np.zeros((0, 1, 28, 28)))
    assert y.shape == (0, 10)
    loss = nn.CrossEntropyLoss()
    assert loss(y, np.zeros(0, np.int64)) == 0.0
    dx = model.backward(loss.backward())
    assert dx.shape == (0, 1, 28, 28)
    assert not model[1].grads["weight"].any()


def test_unknown_device_and_dtype():
    with pytest.raises(nn.BackendError, match="unknown device 'tpu'"):
        nn.Linear(2, 2).to("tpu")
    with pytest.raises(ValueError, match="float32 or float64"):
        nn.Linear(2, 2).to(np.int32)
