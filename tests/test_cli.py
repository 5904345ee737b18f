"""The numbanet command: train on the offline default and report, info, bad arguments."""

import os
import subprocess
import sys

import pytest

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


def test_train_reads_mnist_from_the_folder_above_its_own(capsys):
    data = os.environ["NUMBANET_DATA"]  # tests/conftest.py: ../shared/data, which holds mnist/
    argv = ["train", "--dataset", "mnist", "--data-dir", data, "--epochs", "1", "--hidden", "16"]
    assert cli.main([*argv, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "mnist (60000 train, 10000 test)" in out and "trained 1 epoch in" in out


def test_info_names_versions_threads_cuda_and_cache(capsys):
    from numbanet.kernels.cpu.cache import cache_dir

    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for field in (
        "numba ",
        "numba threading layer",
        "GPU ",
        "flush denormals",
        f"kernel cache           {cache_dir()} (",
    ):
        assert field in out
    # which BLAS is which: numbanet's kernels call one, on one thread
    assert out.count("the one numbanet's kernels call") == 1
    [ours] = [line for line in out.splitlines() if "the one numbanet's kernels call" in line]
    assert ", 1 thread: " in ours and "1 threads" not in out


def test_warmup_runs_a_model_and_runs_again_in_a_new_process():
    """The second run loads what the first compiled; its time is not asserted (a busy machine
    would make that test fail for nothing), only that each run named the model and succeeded."""
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-m", "numbanet.cli", "warmup", "--model", "mlp", "--no-progress"],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith("mlp  ")
        assert "the kernels of 1 model are in the cache" in run.stdout


def test_console_script_rejects_bad_arguments():
    run = subprocess.run(
        [sys.executable, "-m", "numbanet.cli", "train", "--epochs", "0"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "train: error: argument --epochs: expected" in run.stderr


@pytest.mark.parametrize(
    "argv, error",
    [
        (["train", "--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
        (["train", "--model", "cnn"], "argument --model: invalid choice: 'cnn'"),
        (["train", "--hidden", "abc"], "--hidden: expected comma-separated widths >= 1 such as "
         "128,256, got 'abc'"),
        (["train", "--hidden", "64,0"], "--hidden: expected comma-separated widths >= 1"),
        (["train", "--activation", "gelu"], "argument --activation: invalid choice: 'gelu'"),
        (["train", "--epochs", "0"], "argument --epochs: expected a whole number >= 1, got '0'"),
        (["train", "--batch-size", "2.5"], "--batch-size: expected a whole number >= 1, got '2.5'"),
        (["train", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
        (["train", "--lr", "0"], "argument --lr: expected a number > 0, got '0'"),
        (["train", "--lr", "inf"], "argument --lr: expected a number > 0, got 'inf'"),
        (["train", "--momentum", "-0.5"], "--momentum: expected a number >= 0, got '-0.5'"),
        (["train", "--l1", "-1"], "argument --l1: expected a number >= 0, got '-1'"),
        (["train", "--l2", "nan"], "argument --l2: expected a number >= 0, got 'nan'"),
        (["train", "--seed", "-1"], "argument --seed: expected a whole number >= 0, got '-1'"),
        (["train", "--threads", "0"], "argument --threads: expected a whole number from 1 to "),
        (["train", "--threads", "-1"], "argument --threads: expected a whole number from 1 to "),
        (["train", "--threads", "100000"], "--threads: expected a whole number from 1 to "),
        (["train", "--data-dir", "{tmp}/none"], "--data-dir: expected an existing folder, got "
         "'{tmp}/none' (no such folder)"),
        (["train", "--data-dir", "{tmp}"], "--data-dir is for mnist and fashion-mnist"),
        (["train", "--save", "{tmp}/none/m.npz"], "--save: expected a file to write, got "
         "'{tmp}/none/m.npz' (the folder {tmp}/none does not exist)"),
        (["train", "--save", "{tmp}"], "--save: expected a file to write, got '{tmp}' (a folder"),
        (["train", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
        (["compare", "--kernel", "nosuch"], "--kernel 'nosuch' matches no kernel "
         "(`numbanet compare --list` lists all "),
        (["warmup", "--model", "resnet50"], "argument --model: invalid choice: 'resnet50'"),
        (["compare", "--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
        (["compare", "--size", "huge"], "argument --size: invalid choice: 'huge'"),
        (["compare", "--repeat", "0"], "argument --repeat: expected a whole number >= 1, got '0'"),
        (["compare", "--model", "--steps", "-1"], "--steps: expected a whole number >= 1, got"),
        (["compare", "--steps", "3"], "--steps and --optimizer are for --model"),
        (["compare", "--optimizer", "sgd"], "--steps and --optimizer are for --model"),
        (["compare", "--model", "--optimizer", "lion"], "--optimizer: invalid choice: 'lion'"),
        (["compare", "--model", "--all"], "--kernel, --family, --all choose the kernel table"),
        (["compare", "--family", "convolution"], "--family: no family 'convolution'; families "
         "are dense, conv, "),
        (["compare", "--model", "--sweep", "relu_forward"], "argument --sweep: not allowed with "
         "argument --model"),
        (["compare", "--sweep", "dense_forwrd"], "--sweep: no kernel 'dense_forwrd' (nearest: "
         "dense_forward, "),
    ],
)  # fmt: skip
def test_a_bad_option_value_is_one_line_under_its_subcommands_usage(argv, error, tmp_path, capsys):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and out == ""  # nothing ran
    usage, message = err.split(f"numbanet {argv[0]}: error: ")
    assert usage.startswith(f"usage: numbanet {argv[0]} ") and "\n" not in message.rstrip()
    assert error.format(tmp=tmp_path) in message
