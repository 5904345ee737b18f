"""The inputs every kernel is compared on: one builder per kernel, random but well conditioned.

A builder takes (rng, dtype, *shape) and returns the kernel's arguments in order, outputs
filled with noise (so a kernel that skips an element is caught). Inputs a kernel takes from
its forward pass are made the way forward makes them (a sigmoid's output is in (0, 1)).
"""

import functools

import numpy as np

from numbanet.kernels.codes import EPILOGUES, GELU_FORMS


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


def conv2d_args(rng, dtype, n, c, h, w, o, k, stride, pad, dil, backward, activation=None):
    """Forward: x, W, b, the fused activation's code and slope, geometry, xp, cols, rows, y.
    Backward: x, xp, W, y, the activation's code and slope, dy, geometry, cols, rows, dcols,
    dxp, dx, dW, db, need_dx, with xp the padded x as forward leaves it. Square k × k filters,
    the same stride, pad, dilation both ways; stride 1 takes the wide layout (R = W + 2·pad
    columns per output row, xp the padded image, empty without padding); cols and rows hold
    the whole batch (one chunk)."""
    oh, ow = (conv_output_size(size, k, stride, pad, dil) for size in (h, w))
    width = w + 2 * pad if stride == 1 else ow
    geometry = [stride, stride, pad, pad, dil, dil]
    cols = normal(rng, (1, c * k * k, n * oh * width), dtype)  # one thread's scratch, all N
    rows = normal(rng, (1, o, n * oh * width), dtype)
    W, fused = normal(rng, (o, c, k, k), dtype), [EPILOGUES[activation], dtype(0.01)]
    x = normal(rng, (n, c, h, w), dtype)
    padded = (n, c, h + 2 * pad, w + 2 * pad) if stride == 1 and pad else (0, 0, 0, 0)
    if backward:
        pads = ((0, 0), (0, 0), (pad, pad), (pad, pad))
        xp = np.pad(x, pads) if padded[0] else np.empty(padded, dtype)
        y = probability(rng, (n, o, oh, ow), dtype)  # an output of any of the activations
        dy, dx = normal(rng, (n, o, oh, ow), dtype), normal(rng, (n, c, h, w), dtype)
        grads = [normal(rng, padded, dtype), dx, normal(rng, W.shape, dtype), normal(rng, o, dtype)]
        work = [cols, rows, normal(rng, cols.shape, dtype)]
        return [x, xp, W, y, *fused, dy, *geometry, *work, *grads, True]
    b, y = normal(rng, o, dtype), normal(rng, (n, o, oh, ow), dtype)
    return [x, W, b, *fused, *geometry, normal(rng, padded, dtype), cols, rows, y]


def conv2d_input_grad_args(rng, dtype, n, c, h, w, o, k, stride, pad, dil, activation=None):
    """``conv2d_backward``'s arguments less dW, db and need_dx."""
    return conv2d_args(rng, dtype, n, c, h, w, o, k, stride, pad, dil, True, activation)[:-3]


def conv_transpose2d_args(rng, dtype, n, c, h, w, o, k, stride, pad, dil):
    """x (N, C, H, W), W (C, O, K, K), b (O,), the geometry, rows (1, C, N·H·R), dcols
    (1, O·K·K, N·H·R), yp and y (N, O, OH, OW): a transposed convolution from C to O channels
    (square, the same stride, pad and dilation both ways; no output padding); with stride 1,
    yp is the wide image y is cut from, R its width (empty when y is all of it)."""
    oh, ow = ((size - 1) * stride - 2 * pad + dil * (k - 1) + 1 for size in (h, w))
    wide = (n, o, h + dil * (k - 1), w + dil * (k - 1))  # ≥ pad + OH: the padding only cuts
    padded = wide if stride == 1 and pad else (0, 0, 0, 0)
    width = wide[3] if stride == 1 else w
    x, W, b = (
        normal(rng, (n, c, h, w), dtype),
        normal(rng, (c, o, k, k), dtype),
        normal(rng, o, dtype),
    )
    work = [
        normal(rng, (1, c, n * h * width), dtype),
        normal(rng, (1, o * k * k, n * h * width), dtype),
    ]
    outputs = [normal(rng, padded, dtype), normal(rng, (n, o, oh, ow), dtype)]
    return [x, W, b, stride, stride, pad, pad, dil, dil, *work, *outputs]


def channel_sums_args(rng, dtype, n, c, h, w, o, k, stride, pad, dil):
    """dy (N, O, OH, OW) of a transposed convolution's output, db (O,)."""
    oh, ow = ((size - 1) * stride - 2 * pad + dil * (k - 1) + 1 for size in (h, w))
    return [normal(rng, (n, o, oh, ow), dtype), normal(rng, o, dtype)]


# Work arrays a kernel may use its own way on each device, left out of CPU–CUDA comparisons:
# the CPU's direct convolution (few filters) never writes cols, nor forward's wide rows'
# unused columns, where the GPU's im2col + GEMM does.
WORK_ARRAYS = {"conv2d_forward": ("cols", "rows"), "conv2d_backward": ("cols",),
               "conv2d_input_grad": ("cols",),
               "conv_transpose2d_forward": ("rows", "dcols")}  # fmt: skip


# Pooling geometries (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w): the
# usual 2 × 2 window, and windows that overlap, read padding and (max pooling) skip columns.
POOL_2X2 = (2, 2, 2, 2, 0, 0, 1, 1)
POOL_3X2 = (3, 2, 2, 1, 1, 1, 1, 2)


def pool_output_shape(n, c, h, w, geometry):
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    return n, c, conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)


def max_pool2d_args(rng, dtype, n, c, h, w, geometry, backward):
    """Forward: x, geometry, y, argmax. Backward: argmax, dy, dx, the argmax anywhere in its
    plane: the kernel only routes dy there, and indices that collide more often than windows
    overlap put its sums to a harder test."""
    out = pool_output_shape(n, c, h, w, geometry)
    argmax = rng.integers(0, h * w, out)
    if backward:
        return [argmax, normal(rng, out, dtype), normal(rng, (n, c, h, w), dtype)]
    return [normal(rng, (n, c, h, w), dtype), *geometry, normal(rng, out, dtype), argmax]


def avg_pool2d_args(rng, dtype, n, c, h, w, geometry, count_include_pad, backward):
    """Forward: x, geometry, count_include_pad, y. Backward: dy, geometry, count_include_pad,
    dx. Average pooling has no dilation: the geometry's is left out."""
    geometry = (*geometry[:6], 1, 1)
    x_shape, y_shape = (n, c, h, w), pool_output_shape(n, c, h, w, geometry)
    first, last = (y_shape, x_shape) if backward else (x_shape, y_shape)
    return [normal(rng, first, dtype), *geometry[:6], count_include_pad, normal(rng, last, dtype)]


def global_avg_pool2d_args(rng, dtype, n, c, h, w, backward):
    """Forward: x (N, C, H, W), y (N, C, 1, 1). Backward: dy (N, C, 1, 1), dx (N, C, H, W)."""
    x, y = normal(rng, (n, c, h, w), dtype), normal(rng, (n, c, 1, 1), dtype)
    return [y, x] if backward else [x, y]


def upsample_args(rng, dtype, n, c, h, w, scale, backward):
    """Forward: x (N, C, H, W), the scale factors, y (N, C, H·sh, W·sw). Backward: dy, the
    scale factors, dx."""
    small, large = (n, c, h, w), (n, c, h * scale[0], w * scale[1])
    first, last = (large, small) if backward else (small, large)
    return [normal(rng, first, dtype), *scale, normal(rng, last, dtype)]


def dense_backward_args(rng, dtype, n, i, j, need_dx):
    shapes = [(n, i), (j, i), (n, j), (n, i), (j, i), (j,)]  # x, W, dy, dx, dW, db
    return [normal(rng, s, dtype) for s in shapes] + [need_dx]


def dense_input_grad_args(rng, dtype, n, i, j):
    shapes = [(j, i), (n, j), (n, i)]  # W, dy, dx
    return [normal(rng, s, dtype) for s in shapes]


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


def scale_rows_args(rng, dtype, r, c):
    """x (R, C), a weight per row w (R,), y (R, C)."""
    return [normal(rng, (r, c), dtype), normal(rng, r, dtype), normal(rng, (r, c), dtype)]


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


def channels_input(rng, dtype, n, c, length):
    """x (N, C, L) whose channels each have a mean and a spread of their own."""
    mean, spread = 3 * rng.standard_normal((1, c, 1)), rng.uniform(0.5, 2, (1, c, 1))
    return (mean + spread * rng.standard_normal((n, c, length))).astype(dtype)


def batch_norm_forward_args(rng, dtype, n, c, length, use_batch_stats, update_running):
    """x, γ, β, running mean and variance, num_batches_tracked (1,), the two flags, momentum,
    eps, then the outputs y, mean, inv_std."""
    x, weight, bias, running_mean = [channels_input(rng, dtype, n, c, length)] + [
        normal(rng, c, dtype) for _ in range(3)
    ]
    running = [running_mean, uniform(rng, c, dtype, 0.5, 2), np.array([3], np.int64)]
    hyper = [use_batch_stats, update_running, dtype(0.1), dtype(1e-5)]
    outputs = [normal(rng, (n, c, length), dtype), normal(rng, c, dtype), normal(rng, c, dtype)]
    return [x, weight, bias, *running, *hyper, *outputs]


def batch_norm_backward_args(rng, dtype, n, c, length, use_batch_stats, need_dx):
    """x, γ, the mean and inv_std forward saved (the batch's, or running statistics), dy, the
    flag, then the outputs dx, dγ, dβ, and need_dx."""
    x, weight = channels_input(rng, dtype, n, c, length), normal(rng, c, dtype)
    if use_batch_stats:
        mean, inv_std = x.mean(axis=(0, 2)), 1 / np.sqrt(x.var(axis=(0, 2)) + 1e-5)
    else:
        mean, inv_std = normal(rng, c, dtype), uniform(rng, c, dtype, 0.5, 2)
    dy, dx = normal(rng, x.shape, dtype), normal(rng, x.shape, dtype)
    grads = [dx, normal(rng, c, dtype), normal(rng, c, dtype), need_dx]
    return [x, weight, mean.astype(dtype), inv_std.astype(dtype), dy, use_batch_stats, *grads]


def dropout_args(rng, dtype, n, backward, p=0.3):
    """Forward: x, p, seed (uint64), y, mask (uint8 noise). Backward: a mask kept with
    probability 1 − p, p, dy, dx."""
    if backward:
        mask = (rng.uniform(size=n) >= p).astype(np.uint8)
        return [mask, dtype(p), normal(rng, n, dtype), normal(rng, n, dtype)]
    seed, noise_mask = rng.integers(2**64, dtype=np.uint64), rng.integers(0, 2, n, np.uint8)
    return [normal(rng, n, dtype), dtype(p), seed, normal(rng, n, dtype), noise_mask]


def reparameterize_args(rng, dtype, n, d, backward, sample=True):
    """Forward: x (N, 2D) = [μ | log σ²] with log σ² in [−2, 1], seed (uint64), sample, then
    z, eps (N, D) and kl (N,). Backward: dz (N, D), x, eps, weight 1/N, dx (N, 2D)."""
    x = np.concatenate([normal(rng, (n, d), dtype), uniform(rng, (n, d), dtype, -2, 1)], axis=1)
    if backward:
        dz, eps = normal(rng, (n, d), dtype), normal(rng, (n, d), dtype)
        return [dz, x, eps, dtype(1 / n), normal(rng, (n, 2 * d), dtype)]
    z, eps = normal(rng, (n, d), dtype), normal(rng, (n, d), dtype)
    return [x, rng.integers(2**64, dtype=np.uint64), sample, z, eps, normal(rng, n, dtype)]


def embedding_args(rng, dtype, m, d, backward, padding_idx=-1, vocab=6):
    """Forward: ids (M,) from a vocabulary of 6 (so tokens repeat), W (V, D), y. Backward: the
    positions grouped by token (order, offsets), dy (M, D), padding_idx, dW (V, D)."""
    ids = rng.integers(0, vocab, m)
    if backward:
        order = np.argsort(ids, kind="stable")
        offsets = np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=vocab))])
        return [
            order,
            offsets,
            normal(rng, (m, d), dtype),
            padding_idx,
            normal(rng, (vocab, d), dtype),
        ]
    return [ids, normal(rng, (vocab, d), dtype), normal(rng, (m, d), dtype)]


def last_step_args(rng, dtype, b, t, f, backward):
    """Forward: x (B, T, F), y (B, F). Backward: dy (B, F), dx (B, T, F)."""
    x, y = normal(rng, (b, t, f), dtype), normal(rng, (b, f), dtype)
    return [y, x] if backward else [x, y]


def grad_norm_args(rng, dtype, n):
    """grad (n,) and about n / 3 partial sums, so that each sums a few strided elements."""
    return [normal(rng, n, dtype), normal(rng, max(1, min(n // 3, 1024)), dtype)]


def rnn_cell_args(rng, dtype, n, h, activation, backward):
    """Forward: gi, gh (N, H), b_ih, b_hh (H,), the activation's code and slope, h. Backward: h
    (the cell's output: tanh or relu of a normal), dy, dh_next, code, slope, dgate."""
    code, slope = EPILOGUES[activation], dtype(0)
    if backward:
        out = np.tanh if activation == "tanh" else (lambda v: np.maximum(v, 0))
        saved = out(normal(rng, (n, h), dtype)).astype(dtype)
        return [saved, normal(rng, (n, h), dtype), normal(rng, (n, h), dtype), code, slope,
                normal(rng, (n, h), dtype)]  # fmt: skip
    return [normal(rng, (n, h), dtype), normal(rng, (n, h), dtype), normal(rng, h, dtype),
            normal(rng, h, dtype), code, slope, normal(rng, (n, h), dtype)]  # fmt: skip


def saved_gates(rng, dtype, n, h, squash):
    """Gates as a cell keeps them, (N, len(squash)·H): block k is squash[k] of a normal
    (sigmoid for σ gates, np.tanh for g or n, None for a raw projection like GRU's gh_n)."""
    blocks = [normal(rng, (n, h), dtype) for _ in squash]
    blocks = [b if f is None else f(b) for b, f in zip(blocks, squash)]
    return np.concatenate(blocks, axis=1).astype(dtype)


def lstm_cell_args(rng, dtype, n, h, backward):
    """Forward: gi, gh (N, 4H), b_ih, b_hh (4H,), c_prev, then gates (N, 4H), c, h. Backward: gates
    (i, f, g, o as forward keeps them), c_prev, c, dy, dh_next, dc_next, then dgate (N, 4H),
    dc_prev."""
    unit = [normal(rng, (n, h), dtype) for _ in range(6)]
    if backward:
        gates = saved_gates(rng, dtype, n, h, [sigmoid, sigmoid, np.tanh, sigmoid])
        return [gates, *unit[:5], normal(rng, (n, 4 * h), dtype), unit[5]]
    wide = [normal(rng, (n, 4 * h), dtype) for _ in range(3)]
    biases = [normal(rng, 4 * h, dtype) for _ in range(2)]
    return [wide[0], wide[1], *biases, unit[0], wide[2], unit[1], unit[2]]


def gru_cell_args(rng, dtype, n, h, backward):
    """Forward: gi, gh (N, 3H), b_ih, b_hh (3H,), h_prev, then gates (N, 4H), h. Backward: gates
    (r, z, n, gh_n as forward keeps them), h_prev, dy, dh_next, skip_next, then dgi, dgh (N, 3H),
    skip."""
    unit = [normal(rng, (n, h), dtype) for _ in range(5)]
    if backward:
        gates = saved_gates(rng, dtype, n, h, [sigmoid, sigmoid, np.tanh, None])
        wide = [normal(rng, (n, 3 * h), dtype) for _ in range(2)]
        return [gates, *unit[:4], *wide, unit[4]]
    wide = [normal(rng, (n, 3 * h), dtype) for _ in range(2)]
    biases = [normal(rng, 3 * h, dtype) for _ in range(2)]
    return [*wide, *biases, unit[0], normal(rng, (n, 4 * h), dtype), unit[1]]


def hidden_projection_backward_args(rng, dtype, n, h, gates=4):
    """dgh (N, 4H), W_hh (4H, H), dh_prev (N, H): an LSTM's shapes."""
    return [normal(rng, s, dtype) for s in [(n, gates * h), (gates * h, h), (n, h)]]


def sequence_args(rng, dtype, n, t, h, cell, backward):
    """One stacked layer of ``cell`` ("rnn", "lstm", "gru") over T steps, N sequences, H units
    and I = H + 1 input features, as the ``*_sequence_*`` kernels take it. Forward: x (T, N, I),
    W_ih, b_ih, W_hh, b_hh, [RNN: the activation's code and slope], then h (T + 1, N, H) (h[0]
    the initial state), [LSTM: c, likewise], [gates (T, N, 4H)], gi (T, N, G·H), gh (N, G·H).
    Backward: x, W_ih, W_hh, what forward keeps (h; LSTM: c, gates; GRU: gates), dy (T, N, H),
    [RNN: code, slope], then the gradients of the projections (T, N, G·H; GRU: dgi, dgh), dh
    (T + 1, N, H) [LSTM: dc, GRU: skip, likewise], the last step given, dx, dW_ih, dW_hh,
    db_ih, db_hh and need_dx. Weights are scaled by 1/√H, as initialized, so the states stay in
    range."""
    rows, size = {"rnn": 1, "lstm": 4, "gru": 3}[cell] * h, h + 1
    x = normal(rng, (t, n, size), dtype)
    w_ih, w_hh = (
        (normal(rng, shape, dtype) / np.sqrt(h)).astype(dtype)
        for shape in ((rows, size), (rows, h))
    )
    states = normal(rng, (t + 1, n, h), dtype)
    code = [EPILOGUES["tanh"], dtype(0)] if cell == "rnn" else []
    if not backward:
        c = [normal(rng, (t + 1, n, h), dtype)] if cell == "lstm" else []
        gates = [normal(rng, (t, n, 4 * h), dtype)] if cell != "rnn" else []
        biases = [normal(rng, rows, dtype) for _ in range(2)]
        scratch = [normal(rng, (t, n, rows), dtype), normal(rng, (n, rows), dtype)]
        return [x, w_ih, biases[0], w_hh, biases[1], *code, states, *c, *gates, *scratch]
    squash = [sigmoid, sigmoid, np.tanh, sigmoid if cell == "lstm" else None]  # GRU: gh_n raw
    gates = np.stack([saved_gates(rng, dtype, n, h, squash) for _ in range(t)])
    kept = {"rnn": [np.tanh(states).astype(dtype)], "lstm": [states, normal(rng, (t + 1, n, h),
            dtype), gates], "gru": [states, gates]}[cell]  # fmt: skip
    dgates = [normal(rng, (t, n, rows), dtype) for _ in range(2 if cell == "gru" else 1)]
    chains = [normal(rng, (t + 1, n, h), dtype) for _ in range(1 if cell == "rnn" else 2)]
    grads = [normal(rng, shape, dtype) for shape in ((t, n, size), (rows, size), (rows, h))]
    grads += [normal(rng, rows, dtype) for _ in range(2)]
    dy = normal(rng, (t, n, h), dtype)
    return [x, w_ih, w_hh, *kept, dy, *code, *dgates, *chains, *grads, True]


def swap_batch_time_args(rng, dtype, b, t, f):
    """x (B, T, F), y (T, B, F)."""
    return [normal(rng, (b, t, f), dtype), normal(rng, (t, b, f), dtype)]


def layer_norm_args(rng, dtype, r, d, backward, need_dx=True):
    """Forward: x (R, D) whose rows have means and spreads of their own, γ, β, eps, then the
    outputs y, mean, rstd. Backward: x, γ, the mean and rstd of x's rows, dy, then the outputs
    dx, dγ, dβ, and need_dx."""
    x = (3 * normal(rng, (r, 1), dtype) + uniform(rng, (r, 1), dtype, 0.5, 2)
         * normal(rng, (r, d), dtype)).astype(dtype)  # fmt: skip
    weight, bias = normal(rng, d, dtype), normal(rng, d, dtype)
    if backward:
        mean, rstd = x.mean(axis=1), 1 / np.sqrt(x.var(axis=1) + 1e-5)
        grads = [normal(rng, (r, d), dtype), normal(rng, d, dtype), normal(rng, d, dtype)]
        saved = [mean.astype(dtype), rstd.astype(dtype)]
        return [x, weight, *saved, normal(rng, (r, d), dtype), *grads, need_dx]
    outputs = [normal(rng, (r, d), dtype), normal(rng, r, dtype), normal(rng, r, dtype)]
    return [x, weight, bias, dtype(1e-5), *outputs]


def gelu_args(rng, dtype, n, approximate, backward):
    """x, the form's code (0 erf, 1 tanh), then y (forward) or dy, dx (backward)."""
    arrays = [normal(rng, n, dtype) for _ in range(3 if backward else 2)]
    return [arrays[0], GELU_FORMS[approximate], *arrays[1:]]


def position_embedding_args(rng, dtype, n, t, d, backward):
    """Forward: x (N, T, D), a table of T + 2 positions (L, D), y. Backward: dy (N, T, D),
    dtable (L, D) (its last two rows are not used by the sequence: they get 0)."""
    table = normal(rng, (t + 2, d), dtype)
    if backward:
        return [normal(rng, (n, t, d), dtype), table]
    return [normal(rng, (n, t, d), dtype), table, normal(rng, (n, t, d), dtype)]


def heads_split_args(rng, dtype, n, h, t, d, backward, groups=3):
    """Forward: x (N, T, G·H·D), y (G, N, H, T, D). Backward: dy (G, N, H, T, D), dx."""
    x, y = normal(rng, (n, t, groups * h * d), dtype), normal(rng, (groups, n, h, t, d), dtype)
    return [y, x] if backward else [x, y]


def attention_weights(rng, dtype, pairs, t, causal):
    """Softmax rows (B, T, T) as the attention softmax leaves them (causal: 0 above the
    diagonal)."""
    scores = normal(rng, (pairs, t, t), dtype)
    if causal:
        scores = np.where(np.tri(t, dtype=bool), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=2, keepdims=True))
    return (e / e.sum(axis=2, keepdims=True)).astype(dtype)


def attention_args(rng, dtype, n, h, t, d, kernel, causal=False):
    """The arguments of attention kernel ``kernel`` for N·H pairs of T positions of D features:
    q, k, v, o, dq, … (B, T, D); s, p, dp, ds (B, T, T), p a row-softmax; scale 1/√D."""
    pairs, scale = n * h, dtype(1 / np.sqrt(d))

    def block(kind):
        return normal(rng, (pairs, t, d) if kind == "d" else (pairs, t, t), dtype)

    p = attention_weights(rng, dtype, pairs, t, causal)
    return {
        "attention_scores_forward": lambda: [block("d"), block("d"), block("t")],
        "attention_scores_backward": lambda: [
            block("d"),
            block("d"),
            block("t"),
            block("d"),
            block("d"),
        ],  # fmt: skip
        "attention_softmax_forward": lambda: [block("t"), scale, causal, block("t")],
        "attention_softmax_backward": lambda: [p, scale, block("t"), block("t")],
        "attention_values_forward": lambda: [p, block("d"), block("d")],
        "attention_values_backward": lambda: [p, block("d"), block("d"), block("t"), block("d")],
    }[kernel]()


P = functools.partial
# The three kinds of shape a kernel takes: a dense layer (N, I, J), rows (R, C) for the
# row-wise kernels (softmax, losses), a flat length n for the elementwise ones.
DENSE, ROWS, FLAT = "dense", "rows", "flat"
CONV = "conv"  # (N, C, H, W, O, K, stride, pad, dilation)
IMAGE = "image"  # (N, C, H, W), for pooling; the window's geometry is in the case
CHANNELS = "channels"  # (N, C, L): batch norm's view of (N, C), (N, C, L) and (N, C, H, W)
SEQUENCE = "sequence"  # (B, T, F): a batch of B sequences of T steps of F features
CELL = "cell"  # (N, H): one time step of a recurrent cell, N sequences of H hidden units
ATTENTION = "attention"  # (N, H, T, D): N sequences of T positions, H heads of D features
CASES = {
    "dense_forward": (dense_forward_args, DENSE),
    **{
        f"dense_forward[{activation}]": (P(dense_forward_args, activation=activation), DENSE)
        for activation in EPILOGUES
        if activation
    },
    "dense_backward": (P(dense_backward_args, need_dx=True), DENSE),
    "dense_backward[no dx]": (P(dense_backward_args, need_dx=False), DENSE),
    "dense_input_grad": (dense_input_grad_args, DENSE),
    **{
        f"conv2d_{direction}{f'[{activation}]' if activation else ''}": (
            P(conv2d_args, backward=backward, activation=activation),
            CONV,
        )
        for direction, backward in (("forward", False), ("backward", True))
        for activation in EPILOGUES
    },
    "conv2d_input_grad[relu]": (P(conv2d_input_grad_args, activation="relu"), CONV),
    "conv_transpose2d_forward": (conv_transpose2d_args, CONV),
    "conv_transpose2d_bias_backward": (channel_sums_args, CONV),
    "max_pool2d_forward": (P(max_pool2d_args, geometry=POOL_2X2, backward=False), IMAGE),
    "max_pool2d_forward[3x2 overlapping padded dilated]": (
        P(max_pool2d_args, geometry=POOL_3X2, backward=False),
        IMAGE,
    ),
    "max_pool2d_backward": (P(max_pool2d_args, geometry=POOL_2X2, backward=True), IMAGE),
    "max_pool2d_backward[3x2 overlapping]": (
        P(max_pool2d_args, geometry=POOL_3X2, backward=True),
        IMAGE,
    ),
    **{
        f"avg_pool2d_{direction}{variant}": (
            P(avg_pool2d_args, geometry=geometry, count_include_pad=include, backward=backward),
            IMAGE,
        )
        for direction, backward in (("forward", False), ("backward", True))
        for variant, geometry, include in (
            ("", POOL_2X2, True),
            ("[3x2 overlapping padded]", POOL_3X2, True),
            ("[3x2 overlapping padded, pad not counted]", POOL_3X2, False),
        )
    },
    "global_avg_pool2d_forward": (P(global_avg_pool2d_args, backward=False), IMAGE),
    "global_avg_pool2d_backward": (P(global_avg_pool2d_args, backward=True), IMAGE),
    **{
        f"upsample_nearest2d_{direction}{variant}": (
            P(upsample_args, scale=scale, backward=backward),
            IMAGE,
        )
        for direction, backward in (("forward", False), ("backward", True))
        for variant, scale in (("", (2, 2)), ("[3x1]", (3, 1)))
    },
    "add": (P(arrays_args, count=3), FLAT),
    "scale_rows": (scale_rows_args, ROWS),
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
    "batch_norm_forward": (
        P(batch_norm_forward_args, use_batch_stats=True, update_running=True),
        CHANNELS,
    ),
    "batch_norm_forward[eval]": (
        P(batch_norm_forward_args, use_batch_stats=False, update_running=False),
        CHANNELS,
    ),
    "batch_norm_forward[no running stats]": (
        P(batch_norm_forward_args, use_batch_stats=True, update_running=False),
        CHANNELS,
    ),
    "batch_norm_backward": (
        P(batch_norm_backward_args, use_batch_stats=True, need_dx=True),
        CHANNELS,
    ),
    "batch_norm_backward[eval]": (
        P(batch_norm_backward_args, use_batch_stats=False, need_dx=True),
        CHANNELS,
    ),
    "batch_norm_backward[no dx]": (
        P(batch_norm_backward_args, use_batch_stats=True, need_dx=False),
        CHANNELS,
    ),
    "dropout_forward": (P(dropout_args, backward=False), FLAT),
    "dropout_backward": (P(dropout_args, backward=True), FLAT),
    "reparameterize_forward": (P(reparameterize_args, backward=False), ROWS),
    "reparameterize_forward[eval]": (P(reparameterize_args, backward=False, sample=False), ROWS),
    "reparameterize_backward": (P(reparameterize_args, backward=True), ROWS),
    "embedding_forward": (P(embedding_args, backward=False), ROWS),
    "embedding_backward": (P(embedding_args, backward=True), ROWS),
    "embedding_backward[padding_idx]": (P(embedding_args, backward=True, padding_idx=2), ROWS),
    "last_step_forward": (P(last_step_args, backward=False), SEQUENCE),
    "last_step_backward": (P(last_step_args, backward=True), SEQUENCE),
    "squared_norm_partials": (grad_norm_args, FLAT),
    "scale_in_place": (P(arrays_args, count=1, slope=True), FLAT),
    **{
        f"rnn_cell_{direction}[{activation}]": (
            P(rnn_cell_args, activation=activation, backward=backward),
            CELL,
        )
        for direction, backward in (("forward", False), ("backward", True))
        for activation in ("tanh", "relu")
    },
    "lstm_cell_forward": (P(lstm_cell_args, backward=False), CELL),
    "lstm_cell_backward": (P(lstm_cell_args, backward=True), CELL),
    "gru_cell_forward": (P(gru_cell_args, backward=False), CELL),
    "gru_cell_backward": (P(gru_cell_args, backward=True), CELL),
    "hidden_projection_backward": (hidden_projection_backward_args, CELL),
    **{
        f"{cell}_sequence_{direction}": (P(sequence_args, cell=cell, backward=backward), SEQUENCE)
        for cell in ("rnn", "lstm", "gru")
        for direction, backward in (("forward", False), ("backward", True))
    },
    "swap_batch_time": (swap_batch_time_args, SEQUENCE),
    **{
        f"gelu_{direction}{'' if form == 'none' else '[tanh]'}": (
            P(gelu_args, approximate=form, backward=backward),
            FLAT,
        )
        for direction, backward in (("forward", False), ("backward", True))
        for form in ("none", "tanh")
    },
    "layer_norm_forward": (P(layer_norm_args, backward=False), ROWS),
    "layer_norm_backward": (P(layer_norm_args, backward=True), ROWS),
    "layer_norm_backward[no dx]": (P(layer_norm_args, backward=True, need_dx=False), ROWS),
    "position_embedding_forward": (P(position_embedding_args, backward=False), SEQUENCE),
    "position_embedding_backward": (P(position_embedding_args, backward=True), SEQUENCE),
    "heads_split_forward": (P(heads_split_args, backward=False), ATTENTION),
    "heads_split_backward": (P(heads_split_args, backward=True), ATTENTION),
    "heads_split_backward[merge]": (P(heads_split_args, backward=True, groups=1), ATTENTION),
    **{
        f"attention_{part}_{direction}": (
            P(attention_args, kernel=f"attention_{part}_{direction}"),
            ATTENTION,
        )
        for part in ("scores", "softmax", "values")
        for direction in ("forward", "backward")
    },
    "attention_softmax_forward[causal]": (
        P(attention_args, kernel="attention_softmax_forward", causal=True),
        ATTENTION,
    ),
    "attention_softmax_backward[causal]": (
        P(attention_args, kernel="attention_softmax_backward", causal=True),
        ATTENTION,
    ),
}

SHAPES = {
    # small: shapes that end inside a block, for the simulator (every CUDA thread is a Python
    # thread): 130 elements are two blocks of 128 threads; 17 rows are two blocks of 16 rows;
    # dense shapes (N, I, J) end inside 16 × 16 tiles.
    "small": {
        DENSE: [(1, 1, 1), (5, 7, 3), (17, 19, 13), (33, 20, 18)],
        ROWS: [(1, 1), (5, 7), (17, 3)],
        FLAT: [1, 130],
        CONV: [
            (2, 3, 5, 7, 4, 3, 1, 1, 1),
            (1, 2, 9, 8, 3, 3, 2, 0, 2),
            (2, 2, 6, 5, 3, 2, 1, 0, 2),
            (2, 2, 6, 5, 9, 3, 1, 1, 1),  # stride 1 with more filters than a direct convolution
        ],
        IMAGE: [(2, 3, 5, 7), (1, 2, 9, 8)],
        # a channel of 150 elements spans more than one 128-thread block's first pass
        CHANNELS: [(4, 3, 5), (7, 2, 1), (3, 2, 50)],
        SEQUENCE: [(1, 1, 1), (3, 4, 5), (2, 7, 17)],
        # 17 rows or 17 units are two blocks of a 16 × 16 grid
        CELL: [(1, 1), (17, 2), (3, 17)],
        # 17 positions are two 16 × 16 tiles of the batched products
        ATTENTION: [(1, 1, 1, 1), (2, 2, 3, 2), (1, 1, 17, 3)],
    },
    # large: the seed MLP's layers at batch 64 and 1024, and tensors of their sizes.
    "large": {
        DENSE: [(64, 784, 128), (1024, 784, 128), (1024, 256, 10)],
        ROWS: [(64, 10), (8192, 10)],
        FLAT: [100_352, 1_000_000],
        CONV: [(64, 1, 28, 28, 32, 3, 1, 0, 1), (64, 32, 13, 13, 64, 3, 1, 0, 1)],
        IMAGE: [(64, 32, 28, 28), (64, 64, 14, 14)],
        CHANNELS: [(64, 32, 784), (1024, 128, 1)],
        SEQUENCE: [(64, 100, 128), (256, 50, 512)],
        CELL: [(64, 128), (1024, 256)],
        ATTENTION: [(12, 4, 64, 32), (32, 4, 64, 32)],
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
    seed CNN's second layer (32→64 channels, 3×3, on 13×13) or a 2→3 channel one on 6×6;
    images (pooling): 32 channels of 28×28 or 2 of 6×6; batch norm: 32 channels of 14×14 or 3
    of 4 elements; sequences: 50 steps of 128 features or 5 of 8; recurrent cells: 128 hidden
    units or 8; attention: 4 heads of 32 features over 64 positions, or 2 of 4 over 5."""
    kind = CASES[case][1]
    features, hidden = (784, 128) if size == "large" else (20, 18)
    flat = 128 if size == "large" else 8
    conv = (32, 13, 13, 64, 3, 1, 0, 1) if size == "large" else (2, 6, 6, 3, 3, 1, 1, 1)
    shapes = {DENSE: (batch, features, hidden), ROWS: (batch, 10), FLAT: batch * flat}
    image = (32, 28, 28) if size == "large" else (2, 6, 6)
    shapes[CHANNELS] = (batch, 32, 196) if size == "large" else (batch, 3, 4)
    shapes[SEQUENCE] = (batch, 50, 128) if size == "large" else (batch, 5, 8)
    shapes[CELL] = (batch, 128) if size == "large" else (batch, 8)
    shapes[ATTENTION] = (batch, 4, 64, 32) if size == "large" else (batch, 2, 5, 4)
    return {**shapes, CONV: (batch, *conv), IMAGE: (batch, *image)}[kind]


def arguments(case, shape, dtype, seed=0):
    """The kernel arguments of ``case`` at ``shape`` (host arrays and scalars)."""
    build, _ = CASES[case]
    return build(np.random.default_rng(seed), np.dtype(dtype).type, *as_tuple(shape))
