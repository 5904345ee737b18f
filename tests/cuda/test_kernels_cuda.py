"""Every CUDA kernel against its CPU twin on the same inputs, float32 and float64, awkward shapes.

Without a GPU these run in Numba's CUDA simulator (tests/conftest.py turns it on before Numba
is imported), where every CUDA thread is a Python thread: shapes stay small, but they still
span several blocks and stop short of block and tile boundaries.
"""

import inspect

import numpy as np
import pytest
from numba import cuda

from numbanet.compare.cases import (
    CASES,
    WORK_ARRAYS,
    arguments,
    as_tuple,
    kernel_of,
    shapes_of,
)
from numbanet.kernels import FAMILIES, PLAN, device_table

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
CPU, GPU = device_table("cpu"), device_table("cuda")


def listed(families):
    """Every name the families list."""
    return {name for names in families.values() for name in names}


def test_cuda_and_cpu_kernel_tables_hold_every_listed_kernel():
    assert set(vars(CPU)) == set(vars(GPU)) == listed(FAMILIES)
    assert set(vars(device_table("cpu", PLAN))) == set(vars(device_table("cuda", PLAN)))


@pytest.mark.parametrize("families", [FAMILIES, PLAN], ids=["kernels", "plan"])
def test_cuda_kernels_take_the_cpu_kernels_arguments_in_the_same_order(families):
    cpu, gpu = device_table("cpu", families), device_table("cuda", families)
    for name in listed(families):
        assert inspect.signature(getattr(gpu, name)) == inspect.signature(getattr(cpu, name)), name


def test_cuda_plan_takes_the_whole_batch_in_one_chunk():
    x, W = np.zeros((5, 3, 8, 8), np.float32), np.zeros((4, 3, 3, 3), np.float32)
    cols, rows = device_table("cuda", PLAN).conv2d_scratch_shapes(x, W, 36)
    assert cols == (1, 27, 5 * 36) and rows == (1, 4, 5 * 36)


def test_every_kernel_has_a_case():
    assert {kernel_of(case) for case in CASES} == listed(FAMILIES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "case, shape",
    [(case, shape) for case in CASES for shape in shapes_of(case, "small")],
    ids=lambda value: "x".join(map(str, as_tuple(value))) if not isinstance(value, str) else value,
)
def test_cuda_kernel_matches_cpu_kernel(case, shape, dtype):
    args = arguments(case, shape, dtype)
    name = kernel_of(case)
    cpu_kernel = getattr(CPU, name)
    cpu_args = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    cpu_kernel(*cpu_args)
    cuda_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    getattr(GPU, name)(*cuda_args)
    # every array is compared: the outputs, and the inputs, which neither kernel may modify
    # (but work arrays each device may use its own way)
    arg_names = list(inspect.signature(cpu_kernel).parameters)
    for arg_name, expected, on_device in zip(arg_names, cpu_args, cuda_args):
        if isinstance(expected, np.ndarray) and arg_name not in WORK_ARRAYS.get(name, ()):
            np.testing.assert_allclose(
                on_device.copy_to_host(), expected, **TOL[dtype], err_msg=f"{name}: {arg_name}"
            )
