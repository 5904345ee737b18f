"""The inputs every kernel is compared on: one builder per kernel, random but well conditioned.

A builder takes (rng, dtype, *shape) and returns the kernel's arguments in order, outputs
filled with noise (so a kernel that skips an element is caught). Inputs a kernel takes from
its forward pass are made the way forward makes them (a sigmoid's output is in (0, 1)).
"""

import functools

import numpy as np

from numbanet.kernels.scalar import EPILOGUES


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


def dense_forward_args(rng, dtype, n, i, j, activation=None):
    """x, W, b, the fused activation's code and slope, y."""
    x, W, b, y = [normal(rng, s, dtype) for s in [(n, i), (j, i), (j,), (n, j)]]
    return [x, W, b, EPILOGUES[activation], dtype(0.01), y]


def conv_output_size(size, k, stride, pad, dil):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def conv2d_args(rng, dtype, n, c, h, w, o, k, stride, pad, dil, backward):
    """Forward: x, W, b, geometry, cols, rows, y. Backward: cols, W, dy, geometry, rows, dcols,
    dx, dW, db, need_dx. Square k × k filters, the same stride, pad, dilation both ways."""
    oh, ow = (conv_output_size(size, k, stride, pad, dil) for size in (h, w))
    geometry = [stride, stride, pad, pad, dil, dil]
    cols, rows = normal(rng, (c * k * k, n * oh * ow), dtype), normal(rng, (o, n * oh * ow), dtype)
    W = normal(rng, (o, c, k, k), dtype)
    if backward:
        dy, dx = normal(rng, (n, o, oh, ow), dtype), normal(rng, (n, c, h, w), dtype)
        grads = [dx, normal(rng, W.shape, dtype), normal(rng, o, dtype), True]
        return [cols, W, dy, *geometry, rows, normal(rng, cols.shape, dtype), *grads]
    x, b, y = (
        normal(rng, (n, c, h, w), dtype),
        normal(rng, o, dtype),
        normal(rng, (n, o, oh, ow), dtype),
    )
    return [x, W, b, *geometry, cols, rows, y]


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
# The three kinds of shape a kernel takes: a dense layer (N, I, J), rows (R, C) for the
# row-wise kernels (softmax, losses), a flat length n for the elementwise ones.
DENSE, ROWS, FLAT = "dense", "rows", "flat"
CONV = "conv"  # (N, C, H, W, O, K, stride, pad, dilation)
CASES = {
    "dense_forward": (dense_forward_args, DENSE),
    **{
        f"dense_forward[{activation}]": (P(dense_forward_args, activation=activation), DENSE)
        for activation in EPILOGUES
        if activation
    },
    "dense_backward": (P(dense_backward_args, need_dx=True), DENSE),
    "dense_backward[no dx]": (P(dense_backward_args, need_dx=False), DENSE),
    "conv2d_forward": (P(conv2d_args, backward=False), CONV),
    "conv2d_backward": (P(conv2d_args, backward=True), CONV),
    "add_forward": (P(arrays_args, count=3), FLAT),
    "relu_forward": (P(arrays_args, count=2), FLAT),
    "relu_backward": (P(arrays_args, count=3), FLAT),
    "leaky_relu_forward": (P(arrays_args, count=2, slope=True), FLAT),
    "leaky_relu_backward": (P(arrays_args, count=3, slope=True), FLAT),
    "sigmoid_forward": (P(arrays_args, count=2), FLAT),
    "sigmoid_backward": (P(arrays_args, count=3, saved=sigmoid), FLAT),
    "tanh_forward": (P(arrays_args, count=2), FLAT),
    "tanh_backward": (P(arrays_args, count=3, saved=np.tanh), FLAT),
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
    "sgd_step": (P(sgd_args, momentum=0.0, nesterov=False, first_step=False), FLAT),
    "sgd_step[momentum, first step]": (
        P(sgd_args, momentum=0.9, nesterov=False, first_step=True),
        FLAT,
    ),
    "sgd_step[nesterov]": (P(sgd_args, momentum=0.9, nesterov=True, first_step=False), FLAT),
    "adam_step[adam]": (P(adam_args, decoupled=False), FLAT),
    "adam_step[adamw]": (P(adam_args, decoupled=True), FLAT),
    "l1_penalty_backward": (penalty_args, FLAT),
    "l2_penalty_backward": (penalty_args, FLAT),
}

SHAPES = {
    # small: shapes that end inside a block, for the simulator (every CUDA thread is a Python
    # thread): 130 elements are two blocks of 128 threads; 17 rows are two blocks of 16 rows;
    # dense shapes (N, I, J) end inside 16 × 16 tiles.
    "small": {
        DENSE: [(1, 1, 1), (5, 7, 3), (17, 19, 13), (33, 20, 18)],
        ROWS: [(1, 1), (5, 7), (17, 3)],
        FLAT: [1, 130],
        CONV: [(2, 3, 5, 7, 4, 3, 1, 1, 1), (1, 2, 9, 8, 3, 3, 2, 0, 2)],
    },
    # large: the seed MLP's layers at batch 64 and 1024, and tensors of their sizes.
    "large": {
        DENSE: [(64, 784, 128), (1024, 784, 128), (1024, 256, 10)],
        ROWS: [(64, 10), (8192, 10)],
        FLAT: [100_352, 1_000_000],
        CONV: [(64, 1, 28, 28, 32, 3, 1, 0, 1), (64, 32, 13, 13, 64, 3, 1, 0, 1)],
    },
}


def kernel_of(case):
    """The kernel a case runs: "sgd_step[nesterov]" -> "sgd_step"."""
    return case.split("[")[0]


def as_tuple(shape):
    return shape if isinstance(shape, tuple) else (shape,)


def shapes_of(case, size="small"):
    """The shapes ``case`` is compared on, for "small" (simulator) or "large" (GPU) runs."""
    kind = CASES[case][1]
    shapes = SHAPES[size][kind]
    # variants of a dense kernel (no dx, a fused activation) on one shape that spans tiles
    return shapes[2:3] if case.startswith("dense") and "[" in case else shapes


def batch_shape(case, batch, size="large"):
    """The case's shape at batch size ``batch`` (for sweeps). "large": a 784→128 dense layer,
    10-class rows, or batch × 128 elements (a hidden layer's activations); "small" (for the
    simulator): a 20→18 dense layer, 10-class rows, batch × 8 elements; convolutions: the
    seed CNN's second layer (32→64 channels, 3×3, on 13×13) or a 2→3 channel one on 6×6."""
    kind = CASES[case][1]
    features, hidden = (784, 128) if size == "large" else (20, 18)
    flat = 128 if size == "large" else 8
    conv = (32, 13, 13, 64, 3, 1, 0, 1) if size == "large" else (2, 6, 6, 3, 3, 1, 1, 1)
    shapes = {DENSE: (batch, features, hidden), ROWS: (batch, 10), FLAT: batch * flat}
    return {**shapes, CONV: (batch, *conv)}[kind]


def arguments(case, shape, dtype, seed=0):
    """The kernel arguments of ``case`` at ``shape`` (host arrays and scalars)."""
    build, _ = CASES[case]
    return build(np.random.default_rng(seed), np.dtype(dtype).type, *as_tuple(shape))
