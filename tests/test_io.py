"""Saving and loading models and optimizer state: round trips, atomic writes, clear errors."""

import os

import numpy as np
import pytest

import numbanet as nn
from numbanet.io import CheckpointError


def trained(steps=3):
    nn.seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.LeakyReLU(0.2), nn.Linear(5, 3))
    opt = nn.optim.Adam(model, lr=1e-2, betas=(0.8, 0.99))
    x, y = np.random.default_rng(0).random((8, 2, 3)), np.arange(8) % 3
    for _ in range(steps):
        for _ in nn.train_step(model, nn.CrossEntropyLoss(), opt, x, y):
            pass
    return model, opt, (x, y)


def test_save_and_load_restore_model_and_optimizer_exactly(tmp_path):
    model, opt, (x, y) = trained()
    path = tmp_path / "model.npz"
    nn.io.save(path, model, opt)
    loaded, loaded_opt = nn.io.load(path)
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(nn.predict(loaded, x), nn.predict(model, x))
    assert loaded_opt.betas == (0.8, 0.99) and loaded_opt.lr == 1e-2
    # one more identical step on both: same params, so the optimizer state came back whole
    for m, o in ((model, opt), (loaded, loaded_opt)):
        for _ in nn.train_step(m, nn.CrossEntropyLoss(), o, x, y):
            pass
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)


def test_saved_file_has_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        nn.io.save(tmp_path / "m.npz", nn.Sequential(nn.Linear(2, 2)))
    finally:
        os.umask(umask)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644


def test_save_without_optimizer_and_in_float64(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()).to(np.float64)
    nn.io.save(tmp_path / "m.npz", model)
    loaded, opt = nn.io.load(tmp_path / "m.npz")
    assert opt is None and loaded[0].params["weight"].dtype == np.float64


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, opt, _ = trained()
    path = tmp_path / "model.npz"
    nn.io.save(path, model, opt)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        nn.io.save(path, model, opt)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # no temp file left behind


def test_corrupt_or_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        nn.io.load(tmp_path / "nope.npz")
    path = tmp_path / "broken.npz"
    model, opt, _ = trained(1)
    nn.io.save(path, model, opt)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        nn.io.load(path)
    (tmp_path / "other.npz").write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="not a numbanet checkpoint"):
        nn.io.load(tmp_path / "other.npz")


def test_mismatched_params_are_a_clear_error(tmp_path):
    model, _, _ = trained(1)
    path = tmp_path / "m.npz"
    nn.io.save(path, model)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["param/1.weight"] = np.zeros((4, 6), np.float32)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=r"'1.weight' expected shape \(5, 6\), got \(4, 6\)"):
        nn.io.load(path)
