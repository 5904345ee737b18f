"""The CPU-vs-CUDA view driven headless: its table, its choices and redrawn figures, and the
block/thread geometry it draws, checked by hand and against what CUDA kernels report."""

import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from numba import cuda  # noqa: E402

from numbanet.backend import cuda_simulated  # noqa: E402
from numbanet.compare import compare_kernel, run_on_both  # noqa: E402
from numbanet.kernels.cuda.launch import (  # noqa: E402
    Launch,
    grid_1d,
    grid_2d,
    recording_launches,
)
from numbanet.widgets import CompareView  # noqa: E402
from numbanet.widgets.compare import launch_of, owner_of_elements  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rows():
    # repeat=0: the compared call only; timings are not what these tests check
    return [
        compare_kernel("relu_forward", 130, "float32", repeat=0),
        compare_kernel("dense_forward", (17, 19, 13), "float32", repeat=0),
    ]


@pytest.fixture(scope="module")
def view(rows):
    return CompareView(rows)


def table_cells(table_html):
    """The cells of each body row of the view's HTML table, tags stripped."""
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", line)]
        for line in re.findall(r"<tr>(.*?)</tr>", table_html)[1:]
    ]


def test_table_lists_each_row_with_its_numbers_and_ok(view, rows):
    cells = table_cells(view.table.value)
    assert [line[:3] for line in cells] == [
        ["relu_forward", "130", "float32"],
        ["dense_forward", "17×19×13", "float32"],
    ]
    assert [line[7] for line in cells] == ["yes", "yes"]
    assert cells[1][3] == f"{rows[1].max_abs:.1e}" and cells[1][5] == f"{rows[1].max_ulps:.0f}"
    assert cells[0][-1] == "relu_forward 2 × 128" and cells[1][-1] == "matmul 1×2 × 16×16"
    assert ("simulator" in view.header.value) == cuda_simulated()


def test_without_rows_it_runs_the_comparison_of_the_kernels_named():
    view = CompareView(kernels=["relu_forward"])  # also matches leaky_relu_forward
    cases = {(row.case, row.shape) for row in view.rows}
    assert cases == {(c, s) for c in ("relu_forward", "leaky_relu_forward") for s in [(1,), (130,)]}
    assert all(row.ok for row in view.rows) and table_cells(view.table.value)[0][7] == "yes"


def test_choosing_another_kernel_reruns_it_and_redraws_both_figures(view):
    view.choice.value = 0
    before = bytes(view.difference_image.value), bytes(view.geometry_image.value)
    assert all(png.startswith(PNG) for png in before)
    view.choice.value = 1
    after = bytes(view.difference_image.value), bytes(view.geometry_image.value)
    assert all(png.startswith(PNG) for png in after)
    assert after[0] != before[0] and after[1] != before[1]
    labels = [label for label, _ in view.array.options]
    assert labels == ["x (read)", "W (read)", "b (read)", "y (written)"]
    assert view.array.value == "y" and view.difference.shape == (17, 13)


def test_difference_heatmap_peaks_at_the_tables_max_abs(view, rows):
    view.choice.value = 1
    view.array.value = "y"
    assert view.difference.max() == rows[1].max_abs
    written = bytes(view.geometry_image.value)
    view.array.value = "x"  # an input: no kernel may change it
    assert view.difference.max() == 0.0 and bytes(view.geometry_image.value) != written


def test_owner_of_elements_by_hand():
    blocks, threads = owner_of_elements(Launch("relu_forward", (2,), (128,)), (130,))
    assert blocks.shape == threads.shape == (130, 1)
    assert (blocks[129, 0], threads[129, 0]) == (1, 1)
    assert (blocks[127, 0], threads[127, 0]) == (0, 127)
    blocks, threads = owner_of_elements(Launch("matmul", (2, 2), (16, 16)), (17, 19))
    assert tuple(blocks[16, 18]) == (1, 1) and tuple(threads[16, 18]) == (2, 0)
    assert tuple(blocks[3, 17]) == (1, 0) and tuple(threads[3, 17]) == (1, 3)
    # a row kernel: one thread per row, the same thread along the row
    blocks, threads = owner_of_elements(Launch("softmax_forward", (1,), (17,)), (17, 3))
    assert threads[5].ravel().tolist() == [5, 5, 5] and blocks.max() == 0
    # grid_2d with narrow blocks: x spans the 3 columns, y 16 rows
    blocks, threads = owner_of_elements(Launch("mse_backward", (1, 2), (3, 16)), (17, 3))
    assert tuple(blocks[16, 2]) == (0, 1) and tuple(threads[16, 2]) == (2, 0)


@grid_1d
def who_computes_1d(block, thread):
    """block[i], thread[i] = blockIdx.x, threadIdx.x of the thread with cuda.grid(1) == i."""
    i = cuda.grid(1)
    if i < block.shape[0]:
        block[i] = cuda.blockIdx.x
        thread[i] = cuda.threadIdx.x


@grid_2d
def who_computes_2d(block_x, block_y, thread_x, thread_y):
    """The blockIdx and threadIdx of the thread with cuda.grid(2) == (col, row), at [row, col]."""
    col, row = cuda.grid(2)
    if row < block_x.shape[0] and col < block_x.shape[1]:
        block_x[row, col], block_y[row, col] = cuda.blockIdx.x, cuda.blockIdx.y
        thread_x[row, col], thread_y[row, col] = cuda.threadIdx.x, cuda.threadIdx.y


@pytest.mark.parametrize("kernel, shape", [(who_computes_1d, (130,)), (who_computes_2d, (17, 19))])
def test_owner_of_elements_matches_what_cuda_reports(kernel, shape):
    dims = 1 if kernel is who_computes_1d else 2
    outputs = [cuda.to_device(np.full(shape, -1)) for _ in range(2 * dims)]
    with recording_launches() as launches:
        kernel(*outputs)
    [launch] = launches
    reported = np.stack([a.copy_to_host() for a in outputs], axis=-1)  # blocks' x (y), threads'
    blocks, threads = owner_of_elements(launch, shape)
    np.testing.assert_array_equal(np.concatenate([blocks, threads], axis=-1), reported)


def test_each_output_of_dense_backward_is_drawn_with_the_launch_that_wrote_it():
    run = run_on_both("dense_backward", (17, 19, 13), "float32")
    assert run.written == ["dx", "dW", "db"]
    drawn = {name: str(launch_of(run.launches, run.cpu[name].shape)) for name in run.written}
    assert drawn == {
        "dW": "matmul 2×1 × 16×16",  # (13, 19): two tiles across, one down
        "db": "column_sum 1 × 13",
        "dx": "matmul 2×2 × 16×16",  # (17, 19)
    }
