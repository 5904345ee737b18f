"""numbanet.compare: the kernel table, ULPs, launch geometry, --model, --sweep and the command."""

import json

import numpy as np
import pytest

import numbanet as nn
from numbanet import cli, compare
from numbanet.backend import get_backend
from numbanet.compare import kernels
from numbanet.compare.kernels import KernelRow, difference, ulp
from numbanet.compare.sweep import Sweep


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ulp_is_the_gap_to_the_next_number(dtype):
    values = np.array([1.0, -3.0, 1e-3, 7e5], dtype)
    np.testing.assert_array_equal(ulp(values, dtype), np.spacing(np.abs(values)))


def test_difference_counts_ulps_and_scales_the_relative_difference():
    cpu = np.array([1.0, 2.0, -4.0], np.float32)
    gpu = cpu + np.array([0, 3, 0], np.float32) * np.spacing(np.float32(2.0))
    d = difference(cpu, gpu)
    assert d.max_ulps == 3 and d.max_abs == pytest.approx(3 * 2.0**-22)
    assert d.max_rel == pytest.approx(d.max_abs / 4)


def test_run_compares_each_kernel_on_each_shape_and_dtype_within_tolerance():
    rows = compare.run(["dense_backward[no", "softmax_cross_entropy", "adam_step[adamw]"])
    cases = [(r.case, r.shape, r.dtype) for r in rows]
    assert len(cases) == len(set(cases)) == 2 * (1 + 2 * 3 + 2)
    for row in rows:
        assert row.ok and row.max_rel <= row.tolerance, row
        assert row.cpu_run > 0 and row.gpu_run > 0 and row.cpu_compile >= 0
    [dense] = [r for r in rows if r.case.startswith("dense") and r.dtype == "float32"]
    assert [str(launch) for launch in dense.launches] == [
        "matmul 2×1 × 16×16",  # dW (13, 19): two 16 × 16 tiles side by side
        "column_sum 1 × 13",  # db: one thread per output
    ]
    [row_kernel] = [
        r
        for r in rows
        if r.case == "softmax_cross_entropy_forward" and r.shape == (17, 3) and r.dtype == "float64"
    ]
    assert [(l.blocks, l.threads) for l in row_kernel.launches] == [((1,), (17,))]


def test_a_wrong_cuda_kernel_is_caught(monkeypatch):
    cuda = get_backend("cuda")
    monkeypatch.setattr(cuda.kernels, "relu_forward", cuda.kernels.sigmoid_forward)
    row = compare.compare_kernel("relu_forward", 130, np.float32, repeat=0)
    assert not row.ok and row.max_rel > 0.1
    assert "NO" in compare.format_table([row])


def test_format_table_has_every_column():
    rows = compare.run(["relu_backward"], dtypes=("float64",))
    table = compare.format_table(rows)
    for column in ("max abs", "max rel", "ULPs", "tol", "CPU µs", "GPU µs", "speed-up"):
        assert column in table
    assert "relu_backward 2 × 128" in table and "1e-12" in table


def test_run_model_trains_the_same_model_to_equal_params():
    result = compare.run_model(steps=2, batch_size=8, optimizer="sgd", dtype="float64")
    assert len(result.rows) == 4 and len(result.cpu_losses) == 2
    np.testing.assert_allclose(result.gpu_losses, result.cpu_losses, rtol=1e-12)
    assert result.max_rel < compare.model_tolerance("float64", 2)
    assert "equal within" in compare.format_model(result)


def row(speedup):
    return KernelRow("relu_forward", "relu_forward", (1,), "float32", 0, 0, 0, 1e-5, True,
                     speedup, 1.0, 0, 0)  # fmt: skip


def test_sweep_crossover_is_where_the_gpu_stays_faster():
    result = Sweep("relu_forward", "float32", [1, 8, 64, 512], [row(s) for s in (0.5, 2, 0.9, 3)])
    assert result.crossover == 512
    result.rows[2] = row(1.5)
    assert result.crossover == 8
    assert Sweep("relu_forward", "float32", [1], [row(0.5)]).crossover is None


def test_sweep_times_a_kernel_over_batch_sizes():
    result = compare.sweep("relu_forward", batches=(1, 4), progress=False)
    assert result.batches == [1, 4] and [r.shape for r in result.rows] == [(8,), (32,)]
    assert "relu_forward (float32)" in compare.format_sweep(result)
    with pytest.raises(ValueError, match="unknown kernel case 'relu'"):
        compare.sweep("relu")


def test_the_command_prints_json_for_machines(capsys):
    assert cli.main(["compare", "--kernel", "tanh_forward", "--json", "--all"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["simulated"] is True and "simulator" in report["gpu"]
    assert {(tuple(r["shape"]), r["dtype"]) for r in report["rows"]} == {
        ((1,), "float32"), ((130,), "float32"), ((1,), "float64"), ((130,), "float64")
    }  # fmt: skip
    assert all(r["ok"] and r["launches"][0]["threads"] for r in report["rows"])


def test_the_command_says_when_timings_mean_nothing(capsys):
    assert cli.main(["compare", "--kernel", "l2_penalty", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "GPU times and speed-ups mean nothing" in out and "l2_penalty_backward" in out


def test_the_command_compares_one_shape_per_kernel_unless_asked_for_all(capsys):
    assert cli.main(["compare", "--kernel", "sgd_step[nesterov]", "--kernel", "tanh_b"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[:2] for line in out.splitlines() if line.startswith(("sgd", "tanh"))]
    assert sorted(rows) == [["sgd_step[nesterov]", "130"]] * 2 + [["tanh_backward", "130"]] * 2
    assert "4 rows (sgd_step[nesterov], tanh_b, one shape per kernel) in " in out
    assert cli.main(["compare", "--list"]) == 0
    names = capsys.readouterr().out.split("\n")
    assert "dense_forward" in names and len(names) == len(compare.CASES) + 1


def test_the_command_compares_the_dense_family_by_default_and_says_what_all_would_take(
    monkeypatch, capsys
):
    calls = []

    def compare_kernel(case, shape, dtype, repeat, seed):
        calls.append((case, shape, dtype))
        return KernelRow(case, kernels.kernel_of(case), kernels.as_tuple(shape), dtype, 0, 0, 0,
                         1e-5, True, 1e-6, 1e-3, 0, 0)  # fmt: skip

    monkeypatch.setattr(kernels, "compare_kernel", compare_kernel)
    assert cli.main(["compare"]) == 0
    dense = kernels.families()["dense"]
    assert dense[:2] == ["dense_forward", "dense_forward[relu]"]
    assert calls == [
        (case, kernels.representative_shape(case), dtype)
        for case in dense
        for dtype in ("float32", "float64")
    ]
    out = capsys.readouterr().out
    every = len(kernels.jobs(None, ("float32", "float64"), "small"))
    assert f"{2 * len(dense)} rows (family dense, one shape per kernel) in " in out
    assert f"Every kernel on every shape (--all): {every} rows, roughly " in out
    calls.clear()
    assert cli.main(["compare", "--family", "penalty", "--all", "--dtype", "float32"]) == 0
    assert calls == [
        (case, shape, "float32")
        for case in ("l1_penalty_backward", "l2_penalty_backward")
        for shape in (1, 130)
    ]
    assert "4 rows (family penalty, every shape) in " in capsys.readouterr().out


def test_info_names_the_gpu(capsys):
    assert cli.main(["info"]) == 0
    assert "GPU" in capsys.readouterr().out


def test_compare_is_part_of_the_package():
    assert nn.compare.run is compare.run and "dense_forward" in nn.compare.CASES
