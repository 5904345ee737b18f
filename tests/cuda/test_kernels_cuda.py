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
from numbanet.kernels import cpu
from numbanet.kernels import cuda as gpu

SUFFIXES = ("_forward", "_backward", "_step")
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def kernel_names(module):
    return {name for name in dir(module) if name.endswith(SUFFIXES)}


def kernel(modules, name):
    (found,) = [getattr(module, name) for module in modules if hasattr(module, name)]
    return found


def test_cuda_and_cpu_kernel_tables_have_the_same_names():
    for cpu_module, cuda_module in zip(cpu.MODULES, gpu.MODULES, strict=True):
        assert cuda_module.__name__.split(".")[-1] == cpu_module.__name__.split(".")[-1]
        assert kernel_names(cuda_module) == kernel_names(cpu_module), cuda_module.__name__


def test_cuda_kernels_take_the_cpu_kernels_arguments_in_the_same_order():
    for cpu_module in cpu.MODULES:
        for name in kernel_names(cpu_module):
            cpu_kernel = getattr(cpu_module, name)
            cpu_signature = inspect.signature(getattr(cpu_kernel, "py_func", cpu_kernel))
            assert inspect.signature(kernel(gpu.MODULES, name)) == cpu_signature, name


def test_every_kernel_has_a_case():
    cpu_names = set().union(*(kernel_names(module) for module in cpu.MODULES))
    assert {kernel_of(case) for case in CASES} == cpu_names


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "case, shape",
    [(case, shape) for case in CASES for shape in shapes_of(case, "small")],
    ids=lambda value: "x".join(map(str, as_tuple(value))) if not isinstance(value, str) else value,
)
def test_cuda_kernel_matches_cpu_kernel(case, shape, dtype):
    args = arguments(case, shape, dtype)
    name = kernel_of(case)
    cpu_kernel = kernel(cpu.MODULES, name)
    cpu_args = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    cpu_kernel(*cpu_args)
    cuda_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    kernel(gpu.MODULES, name)(*cuda_args)
    # every array is compared: the outputs, and the inputs, which neither kernel may modify
    # (but work arrays each device may use its own way)
    arg_names = list(inspect.signature(cpu_kernel.py_func).parameters)
    for arg_name, expected, on_device in zip(arg_names, cpu_args, cuda_args):
        if isinstance(expected, np.ndarray) and arg_name not in WORK_ARRAYS.get(name, ()):
            np.testing.assert_allclose(
                on_device.copy_to_host(), expected, **TOL[dtype], err_msg=f"{name}: {arg_name}"
            )
