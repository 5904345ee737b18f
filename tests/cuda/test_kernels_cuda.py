"""Every CUDA kernel against its CPU twin on the same inputs, float32 and float64, awkward shapes.

Without a GPU these run in Numba's CUDA simulator (tests/conftest.py turns it on before Numba
is imported), where every CUDA thread is a Python thread: shapes stay small, but they still
span several blocks and stop short of block and tile boundaries.
"""

import functools
import inspect

import numpy as np
import pytest
from numba import cuda

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


# --- inputs: each builder returns the kernel's arguments, outputs filled with noise ----------


def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def uniform(rng, shape, dtype, low, high):
    return rng.uniform(low, high, shape).astype(dtype)


def softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax_rows(x):
    return np.log(softmax_rows(x))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def probability(rng, shape, dtype):
    return uniform(rng, shape, dtype, 0.05, 0.95)


def dense_forward_args(rng, dtype, n, i, j):
    return [normal(rng, s, dtype) for s in [(n, i), (j, i), (j,), (n, j)]]


def dense_backward_args(rng, dtype, n, i, j, need_dx):
    shapes = [(n, i), (j, i), (n, j), (n, i), (j, i), (j,)]  # x, W, dy, dx, dW, db
    return [normal(rng, s, dtype) for s in shapes] + [need_dx]


def arrays_args(rng, dtype, *shape, count, slope=False, saved=None):
    """``count`` normal arrays of ``shape`` (activations: (n,) elementwise, (R, C) softmax); the
    first is ``saved(x)`` when the kernel takes its forward output (sigmoid, tanh, softmax);
    ``slope`` puts leaky ReLU's slope second."""
    args = [normal(rng, shape, dtype) for _ in range(count)]
    if saved is not None:
        args[0] = saved(args[0]).astype(dtype)
    if slope:
        args.insert(1, dtype(0.01))
    return args


def loss_args(rng, dtype, n, d, prediction, backward):
    """Prediction and target (N, D), then (scale, dy) for a backward kernel or row_loss."""
    args = [prediction(rng, (n, d), dtype), uniform(rng, (n, d), dtype, 0, 1)]
    return args + ([1 / n, normal(rng, (n, d), dtype)] if backward else [normal(rng, n, dtype)])


def cross_entropy_args(rng, dtype, n, c, backward):
    labels = rng.integers(0, c, n)
    if backward:
        return [softmax_rows(normal(rng, (n, c), dtype)), labels, 1 / n, normal(rng, (n, c), dtype)]
    return [normal(rng, (n, c), dtype), labels, normal(rng, (n, c), dtype), normal(rng, n, dtype)]


def sgd_args(rng, dtype, n, momentum, nesterov, first_step):
    arrays = [normal(rng, n, dtype) for _ in range(3)]
    lr, dampening, weight_decay = dtype(0.1), dtype(0.1 * (not nesterov)), dtype(0.01)
    return arrays + [lr, dtype(momentum), dampening, nesterov, weight_decay, first_step]


def adam_args(rng, dtype, n, decoupled):
    param, grad, exp_avg = [normal(rng, n, dtype) for _ in range(3)]
    exp_avg_sq = uniform(rng, n, dtype, 0, 1)
    lr, beta1, beta2, eps, weight_decay, step = 1e-3, 0.9, 0.999, 1e-8, 0.01, 3
    step_size, bias_correction2_sqrt = lr / (1 - beta1**step), (1 - beta2**step) ** 0.5
    hyper = [dtype(s) for s in (lr, beta1, beta2, eps, weight_decay)]
    bias_correction = [dtype(step_size), dtype(bias_correction2_sqrt)]
    return [param, grad, exp_avg, exp_avg_sq, *hyper, decoupled, *bias_correction]


def penalty_args(rng, dtype, n):
    param = normal(rng, n, dtype)
    param[0] = 0  # sign(0) = 0: the L1 gradient leaves it alone
    return [param, dtype(0.01), normal(rng, n, dtype)]


P = functools.partial
# Shapes that end inside a block: 130 elements are two blocks of 128 threads; 17 rows are two
# blocks of 16 rows in a 2-D grid; dense shapes (N, I, J) end inside 16 × 16 tiles.
N_1D = [1, 130]
ROWS = [(1, 1), (5, 7), (17, 3)]
DENSE = [(1, 1, 1), (5, 7, 3), (17, 19, 13), (33, 20, 18)]
CASES = {
    "dense_forward": (dense_forward_args, DENSE),
    "dense_backward": (P(dense_backward_args, need_dx=True), DENSE),
    "dense_backward[no dx]": (P(dense_backward_args, need_dx=False), [(5, 7, 3)]),
    "relu_forward": (P(arrays_args, count=2), N_1D),
    "relu_backward": (P(arrays_args, count=3), N_1D),
    "leaky_relu_forward": (P(arrays_args, count=2, slope=True), N_1D),
    "leaky_relu_backward": (P(arrays_args, count=3, slope=True), N_1D),
    "sigmoid_forward": (P(arrays_args, count=2), N_1D),
    "sigmoid_backward": (P(arrays_args, count=3, saved=sigmoid), N_1D),
    "tanh_forward": (P(arrays_args, count=2), N_1D),
    "tanh_backward": (P(arrays_args, count=3, saved=np.tanh), N_1D),
    "softmax_forward": (P(arrays_args, count=2), ROWS),
    "softmax_backward": (P(arrays_args, count=3, saved=softmax_rows), ROWS),
    "log_softmax_forward": (P(arrays_args, count=2), ROWS),
    "log_softmax_backward": (P(arrays_args, count=3, saved=log_softmax_rows), ROWS),
    "mse_forward": (P(loss_args, prediction=normal, backward=False), ROWS),
    "mse_backward": (P(loss_args, prediction=normal, backward=True), ROWS),
    "bce_forward": (P(loss_args, prediction=probability, backward=False), ROWS),
    "bce_backward": (P(loss_args, prediction=probability, backward=True), ROWS),
    "bce_with_logits_forward": (P(loss_args, prediction=normal, backward=False), ROWS),
    "bce_with_logits_backward": (P(loss_args, prediction=normal, backward=True), ROWS),
    "softmax_cross_entropy_forward": (P(cross_entropy_args, backward=False), ROWS),
    "softmax_cross_entropy_backward": (P(cross_entropy_args, backward=True), ROWS),
    "sgd_step": (P(sgd_args, momentum=0.0, nesterov=False, first_step=False), N_1D),
    "sgd_step[momentum, first step]": (
        P(sgd_args, momentum=0.9, nesterov=False, first_step=True),
        N_1D,
    ),
    "sgd_step[nesterov]": (P(sgd_args, momentum=0.9, nesterov=True, first_step=False), N_1D),
    "adam_step[adam]": (P(adam_args, decoupled=False), N_1D),
    "adam_step[adamw]": (P(adam_args, decoupled=True), N_1D),
    "l1_penalty_backward": (penalty_args, N_1D),
    "l2_penalty_backward": (penalty_args, N_1D),
}


def kernel_of(case):
    return case.split("[")[0]


def test_every_kernel_has_a_case():
    cpu_names = set().union(*(kernel_names(module) for module in cpu.MODULES))
    assert {kernel_of(case) for case in CASES} == cpu_names


def as_tuple(shape):
    return shape if isinstance(shape, tuple) else (shape,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "case, shape",
    [(case, shape) for case, (_, shapes) in CASES.items() for shape in shapes],
    ids=lambda value: "x".join(map(str, as_tuple(value))) if not isinstance(value, str) else value,
)
def test_cuda_kernel_matches_cpu_kernel(case, shape, dtype):
    build, _ = CASES[case]
    args = build(np.random.default_rng(0), dtype, *as_tuple(shape))
    name = kernel_of(case)
    cpu_kernel = kernel(cpu.MODULES, name)
    cpu_args = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    cpu_kernel(*cpu_args)
    cuda_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    kernel(gpu.MODULES, name)(*cuda_args)
    # every array is compared: the outputs, and the inputs, which neither kernel may modify
    arg_names = list(inspect.signature(cpu_kernel.py_func).parameters)
    for arg_name, expected, on_device in zip(arg_names, cpu_args, cuda_args):
        if isinstance(expected, np.ndarray):
            np.testing.assert_allclose(
                on_device.copy_to_host(), expected, **TOL[dtype], err_msg=f"{name}: {arg_name}"
            )
