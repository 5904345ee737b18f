"""Every CPU kernel against a plain NumPy reference, float32 and float64, awkward shapes."""

import numpy as np
import pytest

from numbanet.backend import get_backend
from numbanet.kernels import FAMILIES, KernelTableError, device_table
from numbanet.kernels.codes import EPILOGUES as EPILOGUE_CODES
from numbanet.kernels.scalar import gate_sigmoid, gate_tanh

K = get_backend("cpu").kernels
DTYPES = [np.float32, np.float64]
SHAPES_2D = [(1, 1), (1, 7), (5, 3), (13, 17), (64, 10)]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def log_softmax_ref(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def test_cpu_kernel_table_holds_every_listed_kernel_and_nothing_else():
    listed = {name for names in FAMILIES.values() for name in names}
    assert set(vars(K)) == listed


def test_a_missing_kernel_is_named_with_its_device_when_the_table_is_built():
    with pytest.raises(KernelTableError, match=r"cpu device lacks the kernel 'dense_sideways'"):
        device_table("cpu", {"dense": ("dense_forward", "dense_sideways")})
    with pytest.raises(KernelTableError, match=r"cpu device has no 'teleport' kernels"):
        device_table("cpu", {"teleport": ("teleport_forward",)})


def test_asking_a_table_for_an_unlisted_kernel_points_to_the_family_list():
    with pytest.raises(AttributeError, match=r"no kernel 'teleport_forward'.*FAMILIES"):
        K.teleport_forward


@pytest.mark.parametrize("dtype", DTYPES)
# (300, 9, 150): the bias gradient's column sums run in blocks of 64 columns; a partial last one
@pytest.mark.parametrize(
    "n, i, j", [(1, 1, 1), (4, 3, 5), (31, 17, 13), (64, 784, 128), (300, 9, 150)]
)
def test_dense_forward_and_backward_match_numpy(dtype, n, i, j):
    rng = np.random.default_rng(0)
    x, W, b, dy = (
        rand(rng, (n, i), dtype),
        rand(rng, (j, i), dtype),
        rand(rng, j, dtype),
        rand(rng, (n, j), dtype),
    )
    y = np.empty((n, j), dtype)
    # float32 sums of i products carry rounding errors that grow with i: compare with atol
    tol = TOL[dtype] | ({"atol": 1e-5 * max(1, i) ** 0.5} if dtype == np.float32 else {})
    K.dense_forward(x, W, b, 0, 0.0, y)
    np.testing.assert_allclose(y, x.astype(np.float64) @ W.T + b, **tol, err_msg="y")
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    K.dense_backward(x, W, dy, dx, dW, db, True)
    np.testing.assert_allclose(dx, dy.astype(np.float64) @ W, **tol, err_msg="dx")
    np.testing.assert_allclose(dW, dy.T.astype(np.float64) @ x, **tol, err_msg="dW")
    np.testing.assert_allclose(db, dy.sum(axis=0, dtype=np.float64), **tol, err_msg="db")


EPILOGUES = {
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.1 * z),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", EPILOGUES)
def test_dense_forward_applies_its_fused_activation(activation, dtype):
    rng = np.random.default_rng(2)
    x, W, b = rand(rng, (9, 5), dtype), rand(rng, (7, 5), dtype), rand(rng, 7, dtype)
    y = np.empty((9, 7), dtype)
    K.dense_forward(x, W, b, EPILOGUE_CODES[activation], 0.1, y)
    z = x.astype(np.float64) @ W.T + b
    np.testing.assert_allclose(y, EPILOGUES[activation](z), **TOL[dtype])


def test_dense_backward_skips_dx_when_not_needed():
    rng = np.random.default_rng(1)
    x, W, dy = (
        rand(rng, (4, 3), np.float32),
        rand(rng, (2, 3), np.float32),
        rand(rng, (4, 2), np.float32),
    )
    dx = np.full_like(x, 7.0)
    K.dense_backward(x, W, dy, dx, np.empty_like(W), np.empty(2, np.float32), False)
    assert (dx == 7.0).all()


ELEMENTWISE = {
    # name: (forward reference, backward reference given x, y, dy, whether backward takes y)
    "relu": (lambda x: np.maximum(x, 0), lambda x, y, dy: dy * (x > 0), "x"),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x, y, dy: dy * y * (1 - y), "y"),
    "tanh": (np.tanh, lambda x, y, dy: dy * (1 - y * y), "y"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_elementwise_activation_kernels_match_numpy(dtype, name, size):
    forward_ref, backward_ref, saves = ELEMENTWISE[name]
    rng = np.random.default_rng(2)
    x, dy = rand(rng, size, dtype, 3.0), rand(rng, size, dtype)
    y, dx = np.empty_like(x), np.empty_like(x)
    getattr(K, f"{name}_forward")(x, y)
    np.testing.assert_allclose(y, forward_ref(x.astype(np.float64)), **TOL[dtype])
    getattr(K, f"{name}_backward")(x if saves == "x" else y, dy, dx)
    np.testing.assert_allclose(dx, backward_ref(x, y.astype(np.float64), dy), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_kernels_match_numpy(dtype):
    rng = np.random.default_rng(3)
    x, dy = rand(rng, 257, dtype), rand(rng, 257, dtype)
    y, dx = np.empty_like(x), np.empty_like(x)
    K.leaky_relu_forward(x, dtype(0.2), y)
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.2 * x), **TOL[dtype])
    K.leaky_relu_backward(x, dtype(0.2), dy, dx)
    np.testing.assert_allclose(dx, np.where(x > 0, dy, 0.2 * dy), **TOL[dtype])


@pytest.mark.parametrize("rational", [True, False])
def test_gate_activations_are_within_their_stated_error(rational):
    """The recurrent cells' tanh and σ: float32's rational forms within 6 ulps (tanh) and 2e-7
    absolute (σ) of the float64 truth; the exp forms (float64) within 1e-14 relative."""
    dtype = np.float32 if rational else np.float64
    x = np.concatenate([np.linspace(-20, 20, 20001), [-1e-30, 0.0, 1e-30, 1e4, -1e4]])
    x = x.astype(dtype)
    tanh = np.array([gate_tanh(v, rational) for v in x])
    sigmoid = np.array([gate_sigmoid(v, rational) for v in x])
    exact_tanh = np.tanh(x.astype(np.float64))
    exact_sigmoid = np.exp(-np.logaddexp(0, -x.astype(np.float64)))
    if rational:
        nonzero = exact_tanh != 0
        ulp = np.spacing(np.abs(exact_tanh[nonzero]).astype(np.float32))
        assert (np.abs(tanh - exact_tanh)[nonzero] / ulp).max() <= 6
        assert np.abs(sigmoid - exact_sigmoid).max() <= 2e-7
    else:
        np.testing.assert_allclose(tanh, exact_tanh, rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(sigmoid, exact_sigmoid, rtol=1e-14, atol=1e-300)


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1000.0, -80.0, 0.0, 80.0, 1000.0])
    y = np.empty_like(x)
    K.sigmoid_forward(x, y)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, [0.0, 1.8048513878454153e-35, 0.5, 1.0, 1.0], rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
def test_softmax_and_log_softmax_kernels_match_numpy(dtype, shape):
    rng = np.random.default_rng(4)
    x, dy = rand(rng, shape, dtype, 5.0), rand(rng, shape, dtype)
    ref_log = log_softmax_ref(x.astype(np.float64))
    ref = np.exp(ref_log)
    y, dx = np.empty_like(x), np.empty_like(x)
    K.softmax_forward(x, y)
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    K.softmax_backward(y, dy, dx)
    np.testing.assert_allclose(dx, ref * (dy - (dy * ref).sum(axis=1, keepdims=True)), **TOL[dtype])
    K.log_softmax_forward(x, y)
    np.testing.assert_allclose(y, ref_log, **TOL[dtype])
    K.log_softmax_backward(y, dy, dx)
    np.testing.assert_allclose(dx, dy - ref * dy.sum(axis=1, keepdims=True), **TOL[dtype])


def test_softmax_kernels_are_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [1e30, 1e30, 0.0]], np.float32)
    y = np.empty_like(x)
    K.softmax_forward(x, y)
    np.testing.assert_allclose(y, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-7)
    K.log_softmax_forward(x, y)
    np.testing.assert_allclose(y[0], [0, -1000, -2000], rtol=1e-6)
    assert np.isfinite(y).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
def test_loss_kernels_match_numpy(dtype, shape):
    rng = np.random.default_rng(5)
    y, t = rand(rng, shape, dtype), rand(rng, shape, dtype)
    p, bits = rng.uniform(0.05, 0.95, shape).astype(dtype), rng.integers(0, 2, shape).astype(dtype)
    rows, grad = np.empty(shape[0], dtype), np.empty(shape, dtype)
    y64, t64, p64, z64 = (a.astype(np.float64) for a in (y, t, p, y))

    K.mse_forward(y, t, rows)
    np.testing.assert_allclose(rows, ((y64 - t64) ** 2).sum(axis=1), **TOL[dtype])
    K.mse_backward(y, t, 0.5, grad)
    np.testing.assert_allclose(grad, 2 * (y64 - t64) * 0.5, **TOL[dtype])

    K.bce_forward(p, bits, rows)
    np.testing.assert_allclose(
        rows, -(bits * np.log(p64) + (1 - bits) * np.log(1 - p64)).sum(axis=1), **TOL[dtype]
    )
    K.bce_backward(p, bits, 0.5, grad)
    np.testing.assert_allclose(grad, (p64 - bits) / (p64 * (1 - p64)) * 0.5, **TOL[dtype])

    K.bce_with_logits_forward(y, bits, rows)
    sig = 1 / (1 + np.exp(-z64))
    np.testing.assert_allclose(
        rows, -(bits * np.log(sig) + (1 - bits) * np.log(1 - sig)).sum(axis=1), **TOL[dtype]
    )
    K.bce_with_logits_backward(y, bits, 0.5, grad)
    np.testing.assert_allclose(grad, (sig - bits) * 0.5, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
def test_softmax_cross_entropy_kernels_match_numpy(dtype, shape):
    rng = np.random.default_rng(6)
    z = rand(rng, shape, dtype, 4.0)
    labels = rng.integers(0, shape[1], shape[0])
    probs, rows, dz = np.empty_like(z), np.empty(shape[0], dtype), np.empty_like(z)
    K.softmax_cross_entropy_forward(z, labels, probs, rows)
    ref_log = log_softmax_ref(z.astype(np.float64))
    np.testing.assert_allclose(rows, -ref_log[np.arange(shape[0]), labels], **TOL[dtype])
    K.softmax_cross_entropy_backward(probs, labels, 0.25, dz)
    onehot = np.eye(shape[1])[labels]
    np.testing.assert_allclose(dz, (np.exp(ref_log) - onehot) * 0.25, **TOL[dtype])


def test_bce_clamps_log_at_minus_100_like_torch():
    p, t, rows = np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]), np.empty(1)
    K.bce_forward(p, t, rows)
    assert rows[0] == 200.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_penalty_kernels_match_numpy(dtype):
    rng = np.random.default_rng(7)
    w, g = rand(rng, 101, dtype), rand(rng, 101, dtype)
    w[3] = 0
    out = g.copy()
    K.l1_penalty_backward(w, dtype(0.1), out)
    np.testing.assert_allclose(out, g + 0.1 * np.sign(w), **TOL[dtype])
    out = g.copy()
    K.l2_penalty_backward(w, dtype(0.1), out)
    np.testing.assert_allclose(out, g + 0.1 * w, **TOL[dtype])


def sgd_reference(p, g, buf, lr, momentum, dampening, nesterov, wd, first):
    g = g + wd * p
    if momentum:
        buf = g.copy() if first else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "momentum, dampening, nesterov, wd",
    [
        (0.0, 0.0, False, 0.0),
        (0.9, 0.0, False, 0.0),
        (0.9, 0.1, False, 1e-2),
        (0.9, 0.0, True, 1e-3),
    ],
)
def test_sgd_step_matches_reference(dtype, momentum, dampening, nesterov, wd):
    rng = np.random.default_rng(8)
    p, buf = rand(rng, 50, dtype), np.zeros(50, dtype)
    ref_p, ref_buf = p.astype(np.float64), buf.astype(np.float64)
    for step in range(1, 4):
        g = rand(rng, 50, dtype)
        K.sgd_step(
            p, g, buf, dtype(0.1), dtype(momentum), dtype(dampening), nesterov, dtype(wd), step == 1
        )
        ref_p, ref_buf = sgd_reference(
            ref_p, g, ref_buf, 0.1, momentum, dampening, nesterov, wd, step == 1
        )
    np.testing.assert_allclose(p, ref_p, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled, wd", [(False, 0.0), (False, 1e-2), (True, 1e-2)])
def test_adam_step_matches_reference(dtype, decoupled, wd):
    rng = np.random.default_rng(9)
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    p, m, v = rand(rng, 50, dtype), np.zeros(50, dtype), np.zeros(50, dtype)
    ref_p, ref_m, ref_v = p.astype(np.float64), np.zeros(50), np.zeros(50)
    for t in range(1, 6):
        g = rand(rng, 50, dtype)
        K.adam_step(
            p,
            g,
            m,
            v,
            dtype(lr),
            dtype(b1),
            dtype(b2),
            dtype(eps),
            dtype(wd),
            decoupled,
            dtype(lr / (1 - b1**t)),
            dtype(np.sqrt(1 - b2**t)),
        )
        g = g.astype(np.float64)
        if decoupled:
            ref_p = ref_p * (1 - lr * wd)
        else:
            g = g + wd * ref_p
        ref_m = b1 * ref_m + (1 - b1) * g
        ref_v = b2 * ref_v + (1 - b2) * g * g
        m_hat, v_hat = ref_m / (1 - b1**t), ref_v / (1 - b2**t)
        ref_p = ref_p - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(
        p,
        ref_p,
        rtol=1e-5 if dtype == np.float32 else 1e-11,
        atol=1e-6 if dtype == np.float32 else 1e-12,
    )
    np.testing.assert_allclose(m, ref_m, **TOL[dtype])
    np.testing.assert_allclose(v, ref_v, **TOL[dtype])
