"""The plain NumPy reference the speed benchmarks measure numbanet against: the same networks
(the seed MLP, the seed CNN, LeNet-5) trained with textbook NumPy, one array operation at a
time, a fresh array for every result, float32.

Convolution is im2col + one matrix product, as in numbanet, with im2col written the NumPy way:
``sliding_window_view`` sees every window of the image without copying, one reshape copies them
into rows. Pooling windows sit side by side (stride = window). Params and grads are keyed like
numbanet's (and torch's) ``state_dict``, so a network can start from a numbanet model's weights;
tests/test_benchmarks_reference.py checks that one training step of each network gives
numbanet's loss, gradients and updated weights.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def torch_uniform(rng, fan_in, shape):
    """U(-1/√fan_in, 1/√fan_in): torch's default initialisation of Linear and Conv2d."""
    bound = 1 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


class Linear:
    """y = x Wᵀ + b.  x: (N, I), W: (J, I), b: (J,) -> y: (N, J)."""

    def __init__(self, in_features, out_features, rng):
        self.params = {
            "weight": torch_uniform(rng, in_features, (out_features, in_features)),
            "bias": torch_uniform(rng, in_features, out_features),
        }

    def forward(self, x):
        self.x = x
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, dy, need_dx=True):
        """dW = dyᵀ x, db = Σ_n dy, dx = dy W (skipped for the network's first layer)."""
        self.grads = {"weight": dy.T @ self.x, "bias": dy.sum(axis=0)}
        return dy @ self.params["weight"] if need_dx else None


class Conv2d:
    """y[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, c], stride 1, ``padding`` zeros on every side.
    x: (N, C, H, W), W: (O, C, K, K) -> y: (N, O, OH, OW), OH = H + 2·padding − K + 1."""

    def __init__(self, in_channels, out_channels, kernel_size, rng, padding=0):
        fan_in = in_channels * kernel_size * kernel_size
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.params = {
            "weight": torch_uniform(rng, fan_in, shape),
            "bias": torch_uniform(rng, fan_in, out_channels),
        }
        self.padding = padding

    def forward(self, x):
        p = self.padding
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        o, c, kh, kw = self.params["weight"].shape
        windows = sliding_window_view(x, (kh, kw), axis=(2, 3))  # (N, C, OH, OW, KH, KW), a view
        n, _, oh, ow = windows.shape[:4]
        self.padded_shape = x.shape
        # im2col: one row per output position (n, oh, ow), one column per tap (c, kh, kw)
        self.cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
        rows = self.cols @ self.params["weight"].reshape(o, -1).T + self.params["bias"]
        return rows.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)

    def backward(self, dy, need_dx=True):
        """dW = dy_rowsᵀ cols, db = Σ dy, dx = col2im(dy_rows W2): each window's gradient added
        back onto the pixels it read."""
        W = self.params["weight"]
        o, c, kh, kw = W.shape
        n, _, oh, ow = dy.shape
        dy_rows = dy.transpose(0, 2, 3, 1).reshape(n * oh * ow, o)
        self.grads = {"weight": (dy_rows.T @ self.cols).reshape(W.shape), "bias": dy_rows.sum(0)}
        if not need_dx:
            return None
        dcols = (dy_rows @ W.reshape(o, -1)).reshape(n, oh, ow, c, kh, kw)
        dx = np.zeros(self.padded_shape, dy.dtype)
        for i in range(kh):  # col2im, one tap at a time: tap (i, j) read x[:, :, i:i+OH, j:j+OW]
            for j in range(kw):
                dx[:, :, i : i + oh, j : j + ow] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        p = self.padding
        return dx[:, :, p : dx.shape[2] - p, p : dx.shape[3] - p]


def pool_windows(x, k):
    """The k×k windows of x side by side, as (N, C, H // k, W // k, k·k); rows and columns left
    over at the bottom and right are dropped, as torch does."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    windows = x[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k)
    return windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, k * k)


def unpool_windows(dwindows, x_shape, k):
    """pool_windows backwards: (N, C, OH, OW, k·k) gradients put back in an x-shaped array
    (0 for the dropped rows and columns)."""
    n, c, oh, ow = dwindows.shape[:4]
    dx = np.zeros(x_shape, dwindows.dtype)
    dx[:, :, : oh * k, : ow * k] = (
        dwindows.reshape(n, c, oh, ow, k, k)
        .transpose(0, 1, 2, 4, 3, 5)
        .reshape(n, c, oh * k, ow * k)
    )
    return dx


class MaxPool2d:
    """y = the max of each k×k window; backward routes dy to the window's argmax alone.
    x: (N, C, H, W) -> y: (N, C, H // k, W // k)."""

    params = {}

    def __init__(self, k):
        self.k = k

    def forward(self, x):
        windows = pool_windows(x, self.k)
        self.x_shape, self.argmax = x.shape, windows.argmax(axis=-1)  # the first max, as torch
        return np.take_along_axis(windows, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, dy):
        dwindows = np.zeros((*dy.shape, self.k * self.k), dy.dtype)
        np.put_along_axis(dwindows, self.argmax[..., None], dy[..., None], axis=-1)
        return unpool_windows(dwindows, self.x_shape, self.k)


class AvgPool2d:
    """y = the mean of each k×k window; backward gives each input of a window dy / k².
    x: (N, C, H, W) -> y: (N, C, H // k, W // k)."""

    params = {}

    def __init__(self, k):
        self.k = k

    def forward(self, x):
        self.x_shape = x.shape
        return pool_windows(x, self.k).mean(axis=-1)

    def backward(self, dy):
        share = dy[..., None] / (self.k * self.k)
        return unpool_windows(
            np.broadcast_to(share, (*dy.shape, self.k * self.k)), self.x_shape, self.k
        )


class ReLU:
    """y = max(x, 0); dx = dy · [x > 0]."""

    params = {}

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * self.positive


class Tanh:
    """y = tanh(x); dx = dy · (1 − y²)."""

    params = {}

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y * self.y)


class Flatten:
    """(N, ...) -> (N, features)."""

    params = {}

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.x_shape)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of (N, K) logits against (N,) integer labels, and its gradient
    (softmax − onehot) / N. Loss per sample: log Σ_k e^z_k − z_label."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # no overflow in exp
    exp = np.exp(shifted)
    total = exp.sum(axis=1)
    rows = np.arange(len(labels))
    loss = (np.log(total) - shifted[rows, labels]).mean()
    dlogits = exp / total[:, None]
    dlogits[rows, labels] -= 1
    return loss, dlogits / len(labels)


class Network:
    """Layers in a row; params keyed "<index>.<name>" as numbanet's Sequential."""

    def __init__(self, *layers):
        self.layers = layers
        self.first_with_params = next(i for i, layer in enumerate(layers) if layer.params)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        """Fills every layer's grads; stops at the first layer with params (nothing before it
        learns, so no dx is computed for it)."""
        for index in reversed(range(self.first_with_params, len(self.layers))):
            if index == self.first_with_params:
                self.layers[index].backward(dy, need_dx=False)
            else:
                dy = self.layers[index].backward(dy)

    def state_dict(self):
        """{"<index>.<name>": param}, the arrays themselves (not copies)."""
        return {
            f"{index}.{name}": value
            for index, layer in enumerate(self.layers)
            for name, value in layer.params.items()
        }

    def grad_dict(self):
        """{"<index>.<name>": gradient}, the same keys as state_dict, after backward."""
        return {
            f"{index}.{name}": layer.grads[name]
            for index, layer in enumerate(self.layers)
            for name in layer.params
        }

    def load_state_dict(self, state):
        """Take the arrays of ``state`` (a numbanet model's state_dict), dtype included."""
        for index, layer in enumerate(self.layers):
            for name in layer.params:
                layer.params[name] = np.array(state[f"{index}.{name}"])


class Adam:
    """torch.optim.Adam: m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g²,
    p ← p − lr · m̂ / (√v̂ + ε) with m̂ = m / (1 − β1ᵗ), v̂ = v / (1 − β2ᵗ)."""

    def __init__(self, network, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.network, self.lr, self.betas, self.eps, self.t = network, lr, betas, eps, 0
        self.m = {k: np.zeros_like(p) for k, p in network.state_dict().items()}
        self.v = {k: np.zeros_like(p) for k, p in network.state_dict().items()}

    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        params, grads = self.network.state_dict(), self.network.grad_dict()
        for key, p in params.items():
            g, m, v = grads[key], self.m[key], self.v[key]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= self.lr / (1 - beta1**self.t) * m / (np.sqrt(v / (1 - beta2**self.t)) + self.eps)


def train_step(network, optimizer, x, labels):
    """Forward, cross-entropy, backward, Adam update; returns the loss."""
    loss, dlogits = softmax_cross_entropy(network.forward(x), labels)
    network.backward(dlogits)
    optimizer.step()
    return loss


def trainer(network, x, labels, lr=1e-3):
    """A function of no arguments that runs one training step of ``network`` on (x, labels):
    what a benchmark times."""
    optimizer = Adam(network, lr)
    return lambda: train_step(network, optimizer, x, labels)


def mlp(seed=0):
    """numbanet.models.mlp(): Flatten → 784-128 → ReLU → 128-256 → ReLU → 256-10."""
    rng = np.random.default_rng(seed)
    return Network(
        Flatten(), Linear(784, 128, rng), ReLU(), Linear(128, 256, rng), ReLU(),
        Linear(256, 10, rng),
    )  # fmt: skip


def seed_cnn(seed=0):
    """numbanet.models.seed_cnn() on 28×28 images: three 3×3 convolutions with ReLU, max pooling
    after the first two, then 576-64-10."""
    rng = np.random.default_rng(seed)
    return Network(
        Conv2d(1, 32, 3, rng), ReLU(), MaxPool2d(2),
        Conv2d(32, 64, 3, rng), ReLU(), MaxPool2d(2),
        Conv2d(64, 64, 3, rng), ReLU(),
        Flatten(), Linear(576, 64, rng), ReLU(), Linear(64, 10, rng),
    )  # fmt: skip


def lenet5(seed=0):
    """numbanet.models.lenet5() on 28×28 images: 5×5 convolutions with tanh and average pooling,
    then 400-120-84-10."""
    rng = np.random.default_rng(seed)
    return Network(
        Conv2d(1, 6, 5, rng, padding=2), Tanh(), AvgPool2d(2),
        Conv2d(6, 16, 5, rng), Tanh(), AvgPool2d(2),
        Flatten(), Linear(400, 120, rng), Tanh(), Linear(120, 84, rng), Tanh(),
        Linear(84, 10, rng),
    )  # fmt: skip
