"""Chapter 4 exercises (convolutional networks): im2col, the convolution as one matrix product,
and max pooling's backward."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from numbanet.exercises.engine import run_layer
from numbanet.exercises.grading import Exercise, Mistake
from numbanet.layers import Conv2d, MaxPool2d

CONV_CASES = ({"k": 3, "stride": 1, "padding": 0}, {"k": 2, "stride": 2, "padding": 1})


def out_size(size, k, stride, padding):
    return (size + 2 * padding - k) // stride + 1


def _im2col_inputs(rng, k, stride, padding):
    return {"x": rng.standard_normal((2, 2, 5, 6)), "k": k, "stride": stride, "padding": padding}


def _engine_cols(x, k, stride, padding):
    from numbanet.kernels.cpu.conv import im2col as engine_im2col  # compiles: when graded

    n, c, h, w = x.shape
    oh, ow = out_size(h, k, stride, padding), out_size(w, k, stride, padding)
    cols = np.zeros((c * k * k, n * oh * ow))
    engine_im2col(x, k, k, stride, stride, padding, padding, 1, 1, oh, ow, cols)
    return cols


def _without(name, value):
    """A mistake that ignores the argument ``name`` (as if it were ``value``), where it is set."""

    def variant(v, r):
        if v[name] == value:
            return {}
        settings = {key: v[key] for key in ("k", "stride", "padding")} | {name: value}
        return {"cols": _engine_cols(v["x"], **settings)}

    return variant


im2col = Exercise(
    name="im2col",
    chapter=4,
    title="im2col: every patch a column",
    signature="im2col(x, k, stride, padding) -> cols",
    task="x: (N, C, H, W), a square k × k filter, zero padding of `padding` pixels on every "
    "side, `stride`. OH = (H + 2·padding − k) // stride + 1, likewise OW. Return cols: "
    "(C·k·k, N·OH·OW) with cols[(c·k + i)·k + j, (n·OH + oh)·OW + ow] = "
    "x_padded[n, c, oh·stride + i, ow·stride + j]: one row per tap, one column per output "
    "position, as numbanet's kernel lays them out.",
    question="cols holds each input pixel up to k·k times. How many bytes does it take for a "
    "batch of 64 images of 32 channels, 28 × 28, 3 × 3 filters, float32? When is that a bad "
    "trade?",
    inputs=_im2col_inputs,
    cases=CONV_CASES,
    args=("x", "k", "stride", "padding"),
    outputs=("cols",),
    reference=lambda v: (_engine_cols(v["x"], v["k"], v["stride"], v["padding"]),),
    mistakes=(
        Mistake(
            "cols is transposed: numbanet puts one tap (c, i, j) per row and one output "
            "position (n, oh, ow) per column, so that the layer is one product W2 · cols",
            lambda v, r: {"cols": r["cols"].T},
        ),
        Mistake(
            "the padding is missing: pad x with zeros on H and W first "
            "(np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))))",
            _without("padding", 0),
        ),
        Mistake(
            "the stride is missing: output position oh reads rows oh·stride + i",
            _without("stride", 1),
        ),
    ),
)


def _conv_inputs(rng, k, stride, padding):
    return {
        "x": rng.standard_normal((2, 3, 6, 5)),
        "W": rng.standard_normal((4, 3, k, k)),
        "b": rng.standard_normal(4),
        "stride": stride,
        "padding": padding,
    }


def _engine_conv(v, W=None, padding=None):
    W = v["W"] if W is None else W
    padding = v["padding"] if padding is None else padding
    layer = Conv2d(3, 4, W.shape[-1], stride=v["stride"], padding=padding)
    return run_layer(layer, v["x"], params={"weight": W, "bias": v["b"]})


conv2d_forward = Exercise(
    name="conv2d_forward",
    chapter=4,
    title="A convolution as one matrix product",
    signature="conv2d_forward(x, W, b, stride, padding) -> y",
    task="x: (N, C, H, W), W: (O, C, k, k), b: (O,). y[n, o, oh, ow] = b[o] + Σ_c,i,j W[o, c, i, j]"
    " · x_padded[n, c, oh·stride + i, ow·stride + j], shape (N, O, OH, OW), as nn.Conv2d "
    "(cross-correlation, no flip). With your im2col it is one product: "
    "W.reshape(O, −1) @ cols, then reshape and move the axes to NCHW.",
    question="A 3 × 3 convolution from 64 to 64 channels has how many params? A Linear layer "
    "from a 64 × 28 × 28 input to an output of the same size? Why does weight sharing suit "
    "images?",
    inputs=_conv_inputs,
    cases=CONV_CASES,
    args=("x", "W", "b", "stride", "padding"),
    outputs=("y",),
    reference=lambda v: (_engine_conv(v),),
    mistakes=(
        Mistake(
            "you flipped the filter (convolution as signal processing defines it); deep "
            "learning's convolution is a cross-correlation: W[o, c, i, j] meets "
            "x[n, c, oh·stride + i, ow·stride + j], no flip",
            lambda v, r: {"y": _engine_conv(v, W=v["W"][:, :, ::-1, ::-1].copy())},
        ),
        Mistake(
            "the bias is missing: add b[o] at every position of channel o",
            lambda v, r: {"y": r["y"] - v["b"][:, None, None]},
        ),
        Mistake(
            "the padding is missing: pad x with zeros on H and W first",
            lambda v, r: {"y": _engine_conv(v, padding=0)} if v["padding"] else {},
        ),
        Mistake(
            "the output's axes are in the wrong order: the product gives (O, N, OH, OW); "
            "move O after N (transpose(1, 0, 2, 3))",
            lambda v, r: {"y": r["y"].transpose(1, 0, 2, 3)},
        ),
    ),
)


def _pool_inputs(rng, k, stride):
    x = rng.standard_normal((2, 2, 7, 6))
    oh, ow = out_size(7, k, stride, 0), out_size(6, k, stride, 0)
    return {"x": x, "dy": rng.standard_normal((2, 2, oh, ow)), "k": k, "stride": stride}


def max_pool(v):
    windows = sliding_window_view(v["x"], (v["k"], v["k"]), axis=(2, 3))
    return windows[:, :, :: v["stride"], :: v["stride"]].max(axis=(-2, -1))


def _spread(v, share):
    """dx when each dy[n, c, oh, ow] is spread over its whole window, ``share`` of it per input
    (1/k² is average pooling's backward)."""
    k, s, dy = v["k"], v["stride"], v["dy"]
    dx = np.zeros_like(v["x"])
    for oh in range(dy.shape[2]):
        for ow in range(dy.shape[3]):
            dx[:, :, oh * s : oh * s + k, ow * s : ow * s + k] += (
                share * dy[:, :, oh, ow, None, None]
            )
    return {"dx": dx}


def _assigned(v, r):
    """dx when each window's dy is assigned (=) to its max instead of added (+=)."""
    k, s, x, dy = v["k"], v["stride"], v["x"], v["dy"]
    dx = np.zeros_like(x)
    for n, c, oh, ow in np.ndindex(dy.shape):
        window = x[n, c, oh * s : oh * s + k, ow * s : ow * s + k]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, oh * s + i, ow * s + j] = dy[n, c, oh, ow]
    return {"dx": dx}


maxpool2d_backward = Exercise(
    name="maxpool2d_backward",
    chapter=4,
    title="Max pooling's backward",
    signature="maxpool2d_backward(x, dy, k, stride) -> dx",
    task="y[n, c, oh, ow] = max of x[n, c] over the k × k window at (oh·stride, ow·stride), no "
    "padding, as nn.MaxPool2d(k, stride). Given x: (N, C, H, W) and dy: (N, C, OH, OW), return "
    "dx: (N, C, H, W). Windows may overlap (k > stride).",
    question="Max pooling has no params, and its dx is mostly zeros. Which inputs get a "
    "gradient, and what would average pooling's backward do instead?",
    inputs=_pool_inputs,
    cases=({"k": 2, "stride": 2}, {"k": 3, "stride": 2}),
    args=("x", "dy", "k", "stride"),
    outputs=("dx",),
    reference=lambda v: (run_layer(MaxPool2d(v["k"], v["stride"]), v["x"], v["dy"])[1],),
    forward=max_pool,
    upstream=("dy",),
    wrt={"dx": "x"},
    mistakes=(
        Mistake(
            "dy spread evenly over the window is average pooling's backward: max pooling sends "
            "each dy to the one input that was the max",
            lambda v, r: _spread(v, 1 / v["k"] ** 2),
        ),
        Mistake(
            "dy copied to every input of its window: only the max gets it",
            lambda v, r: _spread(v, 1.0),
        ),
        Mistake(
            "overlapping windows: an input that is the max of two windows gets the sum of both "
            "dy (+=, not =)",
            _assigned,
        ),
    ),
)

EXERCISES = (im2col, conv2d_forward, maxpool2d_backward)
