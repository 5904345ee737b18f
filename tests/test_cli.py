"""The numbanet command: train on the offline default and report, info, bad arguments."""

import subprocess
import sys

import numbanet as nn
from numbanet import cli


def test_train_on_digits_reports_test_metrics_and_saves(tmp_path, capsys):
    path = tmp_path / "digits.npz"
    assert cli.main(["train", "--no-progress", "--save", str(path)]) == 0
    out = capsys.readouterr().out
    assert "digits (1438 train, 359 test)" in out
    accuracy = float(out.split("accuracy ")[1].split()[0])
    assert accuracy > 0.95
    model, opt = nn.io.load(path)
    assert repr(model[1]) == "Linear(64→128)" and opt is not None


def test_train_takes_l1_and_l2_penalties_and_reports_them(tmp_path, capsys):
    path = tmp_path / "digits.npz"
    argv = ["train", "--no-progress", "--l1", "1e-4", "--l2", "0.01"]
    assert cli.main([*argv, "--save", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Adam(lr=0.001, l1=0.0001, l2=0.01" in out
    assert float(out.split("accuracy ")[1].split()[0]) > 0.9
    _, opt = nn.io.load(path)
    assert (opt.l1, opt.l2) == (1e-4, 0.01)


def test_train_reads_mnist_from_the_data_folder(capsys):
    assert (
        cli.main(
            ["train", "--dataset", "mnist", "--epochs", "1", "--hidden", "16", "--no-progress"]
        )
        == 0
    )
    assert "mnist (60000 train, 10000 test)" in capsys.readouterr().out


def test_info_names_versions_threads_cuda_and_cache(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for field in (
        "numba ",
        "numba threading layer",
        "GPU ",
        "kernel cache",
        "flush denormals",
    ):
        assert field in out


def test_console_script_rejects_bad_arguments():
    run = subprocess.run(
        [sys.executable, "-m", "numbanet.cli", "train", "--epochs", "0"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "--epochs" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "numbanet.cli", "train", "--l2", "-1"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "--l1, --l2 >= 0, got 0.001, 0.0, -1.0" in run.stderr
