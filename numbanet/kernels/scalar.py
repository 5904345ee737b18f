"""Per-element math, written once and inlined into every kernel that needs it.

Each function is compiled with ``njit(inline="always")`` so a kernel that calls it pays no
call overhead; the CUDA backend compiles the same functions as device functions.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload
from numba.np import numpy_support

from numbanet.kernels.codes import GELU_TANH, LEAKY_RELU, RELU, SIGMOID, TANH

scalar = njit(inline="always", cache=True, error_model="numpy")


def as_type_of(value, like):
    """``value`` as a number of ``like``'s type: ``as_type_of(1, x)`` is a float32 1 for a
    float32 x. A number written in a formula (the 1 of 1 − β) is a float64 to Numba, and one
    float64 turns a float32 formula into float64 arithmetic, at half the vector width."""
    return type(like)(value)


@overload(as_type_of, inline="always")
def as_type_of_compiled(value, like):
    scalar_type = numpy_support.as_dtype(like).type
    return lambda value, like: scalar_type(value)


@scalar
def relu(x):
    """max(x, 0), NaN passing through as in IEEE arithmetic and torch: the test is written
    ``x <= 0`` (false for NaN) so that a NaN reaching a ReLU stays NaN, and the anomaly check
    downstream sees it, instead of turning into a harmless-looking 0."""
    return 0.0 if x <= 0 else x


@scalar
def relu_grad(x):
    """d relu / dx = 0 if x <= 0 else 1 (torch's choice at x == 0: the subgradient 0). For a
    NaN x it is 1, as torch's ``threshold_backward``: dy passes on."""
    return 0.0 if x <= 0 else 1.0


@scalar
def leaky_relu(x, slope):
    """x if x > 0 else slope * x (NaN gives slope · NaN = NaN: it passes through)."""
    return x if x > 0 else slope * x


@scalar
def leaky_relu_grad(x, slope):
    """1 if x > 0 else slope."""
    return 1.0 if x > 0 else slope


@scalar
def sigmoid(x):
    """1 / (1 + e^-x), without overflow: with e = e^-|x| (never above 1), σ(x) = 1 / (1 + e)
    for x >= 0 and e / (1 + e) for x < 0. Both sides are computed and one is picked, a select
    rather than a branch, so a loop over elements vectorizes.
    """
    e = math.exp(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0 else e * s


@scalar
def tanh(x):
    """tanh x = sign(x) (1 − e) / (1 + e) with e = e^-2|x|, written with exp because a loop of
    exp vectorizes where one of libm's tanh does not. Near 0, 1 − e cancels, so |x| < 0.03
    uses the series x − x³/3 + 2x⁵/15 − 17x⁷/315 (error below 1e-14 there).
    """
    a = abs(x)
    e = math.exp(-2.0 * a)
    t = (1.0 - e) / (1.0 + e)
    x2 = x * x
    series = x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0 - x2 * (17.0 / 315.0))))
    return series if a < 0.03 else (t if x >= 0 else -t)


# tanh as a rational function, for float32: Eigen's minimax approximation (the one TensorFlow
# and XLA use for float32), p(x)/q(x) with x clamped to ±7.9 where tanh rounds to ±1.
TANH_CLAMP = np.float32(7.90531110763549805)
TANH_P = tuple(
    np.float32(c)
    for c in (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
              5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
              4.89352455891786e-03)
)  # fmt: skip
TANH_Q = tuple(
    np.float32(c)
    for c in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
              4.89352518554385e-03)
)  # fmt: skip


@scalar
def odd_rational(x, clamp, p_coefficients, q_coefficients):
    """x·p(x²)/q(x²) with x clamped to ±clamp, p and q by Horner's rule from their highest
    coefficient: only multiplies, adds and one division, so a loop of it vectorizes."""
    x = clamp if x > clamp else (-clamp if x < -clamp else x)
    x2 = x * x
    p = p_coefficients[0]
    for c in p_coefficients[1:]:
        p = p * x2 + c
    q = q_coefficients[0]
    for c in q_coefficients[1:]:
        q = q * x2 + c
    return x * p / q


@scalar
def tanh_float32(x):
    """tanh x for float32 as p(x)/q(x) (``TANH_P``, ``TANH_Q``: odd over even polynomials,
    ``odd_rational``): within 6 float32 ulps of tanh, and it vectorizes, where tanh through exp
    calls libm per element (benchmarks/RESULTS.md has the speed-up)."""
    return odd_rational(x, TANH_CLAMP, TANH_P, TANH_Q)


@scalar
def epilogue(z, kind, slope):
    """The activation numbered ``kind`` in ``codes.EPILOGUES`` applied to z (kind 0: z itself);
    slope is leaky ReLU's."""
    if kind == RELU:
        return relu(z)
    if kind == LEAKY_RELU:
        return leaky_relu(z, slope)
    if kind == SIGMOID:
        return sigmoid(z)
    if kind == TANH:
        return tanh(z)
    return z


@scalar
def epilogue_grad(y, kind, slope):
    """f′(z) of the activation numbered ``kind`` in ``codes.EPILOGUES``, from its output
    y = f(z) (what a fused layer keeps): 1 or 0 for ReLU and 1 or slope for leaky ReLU (y > 0
    exactly when z > 0), y (1 − y) for sigmoid, 1 − y² for tanh, and 1 without an activation."""
    if kind == RELU:
        return relu_grad(y)
    if kind == LEAKY_RELU:
        return leaky_relu_grad(y, slope)
    if kind == SIGMOID:
        return y * (1.0 - y)
    if kind == TANH:
        return 1.0 - y * y
    return 1.0


# GELU, x·Φ(x) with Φ the standard normal CDF, in torch's two forms: "none" uses erf, "tanh" the
# approximation Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715 x³))) of GPT-2 and BERT (the form's
# code: ``codes.GELU_FORMS``).
SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
GELU_CUBIC = 0.044715


@scalar
def gelu(x, form):
    """x·Φ(x): ½x(1 + erf(x/√2)) (form GELU_NONE), or ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    if form == GELU_TANH:
        return 0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)))
    return 0.5 * x * (1.0 + math.erf(x * SQRT_HALF))


@scalar
def gelu_grad(x, form):
    """d gelu / dx: Φ(x) + x·φ(x) for the erf form; for the tanh form, with u = √(2/π)(x +
    0.044715x³) and t = tanh u: ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)."""
    if form == GELU_TANH:
        t = tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x))
        du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
    return 0.5 * (1.0 + math.erf(x * SQRT_HALF)) + x * INV_SQRT_2PI * math.exp(-0.5 * x * x)


# erf as a rational function, for float32: Eigen's minimax approximation (as for tanh above),
# x·p(x²)/q(x²) with x clamped to ±4, where erf rounds to ±1 in float32; within 4.2e-7 of erf.
ERF_CLAMP = np.float32(4.0)
ERF_P = tuple(
    np.float32(c)
    for c in (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
              -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
              -1.60960333262415e-02)
)  # fmt: skip
ERF_Q = tuple(
    np.float32(c)
    for c in (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
              -7.37332916720468e-03, -1.42647390514189e-02)
)  # fmt: skip

# e^z for float32 (``exp_nonpositive``): ln 2 in two parts (Cody and Waite), the high one with
# few enough bits that n·LN2_HI is exact for every n used, and the Taylor coefficients of e^r.
LOG2_E = np.float32(1.4426950408889634)
LN2_HI = np.float32(0.693359375)
LN2_LO = np.float32(-2.12194440e-4)
EXP_TERMS = tuple(np.float32(1 / math.factorial(k)) for k in range(7))
EXP_CLAMP = np.float32(-87.0)  # e^−87 ≈ 1.6e-38, just above float32's smallest normal number


def power_of_two(n):
    """2ⁿ as a float32, for a whole number n (a float32) in [−126, 127]. Compiled, it is the
    float whose exponent bits are n + 127 and whose mantissa bits are 0, made with integer
    operations on its bits (``float32_with_exponent``: it vectorizes, where ``math.ldexp``
    calls libm once per element); this Python body runs under ``NUMBA_DISABLE_JIT``."""
    return np.float32(math.ldexp(1.0, int(n)))


@intrinsic
def float32_with_exponent(typingctx, n):
    """The compiled ``power_of_two``: the bits (n + 127) << 23 read as a float32."""
    if n != types.float32:
        return None

    def codegen(context, builder, signature, args):
        int32 = ir.IntType(32)
        exponent = builder.add(builder.fptosi(args[0], int32), ir.Constant(int32, 127))
        return builder.bitcast(builder.shl(exponent, ir.Constant(int32, 23)), ir.FloatType())

    return types.float32(types.float32), codegen


@overload(power_of_two, inline="always")
def power_of_two_compiled(n):
    if n == types.float32:
        return lambda n: float32_with_exponent(n)


@scalar
def erf_float32(x):
    """erf x for float32 as x·p(x²)/q(x²) (``ERF_P``, ``ERF_Q``, ``odd_rational``): it
    vectorizes, where libm's erf is called once per element."""
    return odd_rational(x, ERF_CLAMP, ERF_P, ERF_Q)


@scalar
def exp_nonpositive(z):
    """e^z for float32 z <= 0 without calling exp, so a loop of it vectorizes (libm's exp is
    called once per element): e^z = 2ⁿ · e^r with n = round(z / ln 2) and r = z − n ln 2, so
    |r| <= ln 2 / 2; e^r by its Taylor series to r⁶, 2ⁿ from its bits (``power_of_two``). z is
    clamped at −87, below which e^z is 0 to float32 (its subnormals aside). Within 3e-7 of e^z
    relatively: for float32 kernels."""
    z = max(np.float32(z), EXP_CLAMP)
    n = np.floor(z * LOG2_E + np.float32(0.5))
    r = z - n * LN2_HI - n * LN2_LO  # in two parts: n·LN2_HI is exact, so r keeps its digits
    e = EXP_TERMS[6]
    for k in range(5, -1, -1):
        e = e * r + EXP_TERMS[k]
    return e * power_of_two(n)


@scalar
def gaussian_float32(x):
    """e^(−x²/2) through ``exp_nonpositive`` (vectorizes)."""
    x = np.float32(x)
    return exp_nonpositive(np.float32(-0.5) * x * x)


@scalar
def sigmoid_pair_float32(z):
    """(σ(z), 1 − σ(z)) through ``exp_nonpositive``: e = e^−|z| is never above 1, and both halves
    are computed without 1 − σ cancelling (vectorizes)."""
    e = exp_nonpositive(-abs(z))
    a = 1.0 / (1.0 + e)
    return (a, e * a) if z >= 0 else (e * a, a)


@scalar
def gelu_float32(x, form):
    """``gelu`` for float32 kernels through ``erf_float32`` and, for the tanh form, its equal
    x·σ(2u) (½(1 + tanh u) = σ(2u)), which does not cancel where tanh u is near −1: a loop of
    either vectorizes (within a few float32 ulps, or 4e-7 absolute, of ``gelu``)."""
    if form == GELU_TANH:
        u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)
        return x * sigmoid_pair_float32(2.0 * u)[0]
    return np.float32(0.5) * x * (np.float32(1) + erf_float32(x * np.float32(SQRT_HALF)))


@scalar
def gelu_grad_float32(x, form):
    """``gelu_grad`` for float32 kernels: erf form through ``erf_float32`` and
    ``gaussian_float32``; tanh form as d/dx x·σ(2u) = s + 2x·s(1 − s)·u′ with s = σ(2u)."""
    if form == GELU_TANH:
        u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)
        s, s_neg = sigmoid_pair_float32(2.0 * u)
        return s + 2.0 * x * s * s_neg * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x)
    cdf = np.float32(0.5) * (np.float32(1) + erf_float32(x * np.float32(SQRT_HALF)))
    return cdf + x * np.float32(INV_SQRT_2PI) * np.float32(gaussian_float32(x))


@scalar
def softplus_neg_abs(x):
    """log(1 + e^-|x|): the stable tail of log-sigmoid and of BCE with logits."""
    return math.log1p(math.exp(-abs(x)))


# torch clamps log(p) at -100 in BCE, so a confident wrong answer costs 100, not inf.
LOG_CLAMP = -100.0


@scalar
def binary_cross_entropy(p, t):
    """-(t log p + (1 - t) log(1 - p)), each log clamped at -100 as torch does."""
    log_p = max(math.log(p) if p > 0 else LOG_CLAMP, LOG_CLAMP)
    log_q = max(math.log(1 - p) if p < 1 else LOG_CLAMP, LOG_CLAMP)
    return -(t * log_p + (1 - t) * log_q)


# torch's lower bound on p(1 - p) in the BCE gradient, which would otherwise divide by zero.
BCE_GRAD_EPS = 1e-12


@scalar
def binary_cross_entropy_grad(p, t):
    """∂/∂p of binary_cross_entropy: (p - t) / max(p (1 - p), 1e-12)."""
    return (p - t) / max(p * (1 - p), BCE_GRAD_EPS)


@scalar
def sgd_update(p, g, b, lr, momentum, dampening, nesterov, weight_decay, first_step):
    """One element of torch's SGD: returns (new p, new momentum buffer b).
    g += wd·p;  b = g at the first step, else μ·b + (1 - dampening)·g;
    p ← p - lr · (g + μ·b if nesterov else b)   (b unused and returned as is when μ = 0)
    """
    g = g + weight_decay * p
    if momentum != 0:
        b = g if first_step else momentum * b + (as_type_of(1, p) - dampening) * g
        g = g + momentum * b if nesterov else b
    return p - lr * g, b


@scalar
def adam_update(
    p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step_size, bias_correction2_sqrt
):
    """One element of torch's Adam (decoupled=False) or AdamW (True): returns (p, m, v).
    AdamW: p ← p (1 - lr·wd)           Adam: g = g + wd·p
    m ← m + (1 - β₁)(g - m)             v ← β₂ v + (1 - β₂) g²
    p ← p - step_size · m / (√v / bias_correction2_sqrt + ε)
    In the params' dtype throughout (``as_type_of``), as torch computes a float32 update.
    """
    one = as_type_of(1, p)
    if decoupled:
        p = p * (one - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = m + (one - beta1) * (g - m)
    v = beta2 * v + (one - beta2) * g * g
    return p - step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps), m, v


@scalar
def conv_source(o, k, stride, pad, dil):
    """The input row (or column) that output row o reads at kernel tap k: o·stride − pad + k·dil
    (outside [0, size) it reads the zero padding)."""
    return o * stride - pad + k * dil


@scalar
def conv_inside(k, stride, pad, dil, size, o_size):
    """[lo, hi) with 0 <= lo <= hi <= o_size: the output rows (or columns) o whose tap k reads
    inside the input, i.e. 0 <= conv_source(o, k, ...) < size. The others read the zero
    padding, so loops over [lo, hi) need no test per element (and vectorize)."""
    offset = k * dil - pad
    lo = min(o_size, max(0, -(offset // stride)))  # ⌈−offset / stride⌉, inside [0, o_size]
    hi = min(o_size, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


@scalar
def conv_target(i, k, stride, pad, dil, o_size):
    """The output row whose kernel tap k reads input row i, or -1 if none: conv_source solved for
    o, which exists only when i + pad − k·dil is a multiple of the stride inside [0, o_size)."""
    t = i + pad - k * dil
    if t < 0 or t % stride != 0 or t // stride >= o_size:
        return -1
    return t // stride


@scalar
def standardize(x, mean, inv_std):
    """x̂ = (x − μ) / σ, given inv_std = 1 / σ."""
    return (x - mean) * inv_std


@scalar
def inverse_std(var, eps):
    """1 / √(σ² + ε): ε keeps a channel that does not vary (σ² = 0) finite."""
    return 1 / math.sqrt(var + eps)


@scalar
def moving_average(average, value, momentum):
    """torch's update of a running statistic: momentum · value + (1 − momentum) · average."""
    return momentum * value + (1 - momentum) * average


@scalar
def batch_norm_input_grad(dy, x_hat, weight, inv_std, count, sum_dy, sum_dy_x_hat, batch_stats):
    """∂L/∂x of batch norm, y = γ x̂ + β, for one element of a channel of ``count`` elements.
    With batch statistics μ and σ depend on x too: dx = γ/(M σ) (M dy − Σdy − x̂ Σ(dy x̂));
    with fixed running statistics: dx = γ dy / σ.
    """
    if batch_stats:
        return weight * inv_std / count * (count * dy - sum_dy - x_hat * sum_dy_x_hat)
    return weight * inv_std * dy


# splitmix64 (Steele, Lea & Flood, 2014) is counter-based: its i-th number is a function of
# (seed, i) alone, so every CPU iteration and every CUDA thread draws its own with no shared
# state, and both devices draw the same numbers. All of it is uint64 arithmetic (wrapping
# mod 2⁶⁴), which the CPU and the GPU compute identically; the constants are uint64 so that
# Numba never mixes in a signed type (uint64 with int64 would give float64).
SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
SPLITMIX_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
SPLITMIX_MUL2 = np.uint64(0x94D049BB133111EB)
SHIFT_30, SHIFT_27, SHIFT_31, SHIFT_11 = (np.uint64(s) for s in (30, 27, 31, 11))
ONE = np.uint64(1)
UNIT_53 = 2.0**-53  # the gap between consecutive 53-bit uniforms


@scalar
def counter_uniform(seed, index):
    """A uniform number in [0, 1) for element ``index`` of a draw with ``seed``: the index-th
    output of splitmix64 started at seed, its top 53 bits as a float64 (exact on both devices).
    """
    z = np.uint64(seed) + (np.uint64(index) + ONE) * SPLITMIX_GAMMA
    z = (z ^ (z >> SHIFT_30)) * SPLITMIX_MUL1
    z = (z ^ (z >> SHIFT_27)) * SPLITMIX_MUL2
    z = z ^ (z >> SHIFT_31)
    return np.float64(z >> SHIFT_11) * UNIT_53


@scalar
def counter_normal(seed, index):
    """A standard normal number for element ``index`` of a draw with ``seed``, by Box–Muller
    from the uniforms 2·index and 2·index + 1 of ``counter_uniform``: √(−2 ln(1 − u₁))·cos 2πu₂
    (1 − u₁ is in (0, 1], so the log is finite). Counter-based like them: the same numbers on
    both devices, each element independent of the others."""
    u1 = counter_uniform(seed, 2 * index)
    u2 = counter_uniform(seed, 2 * index + 1)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@scalar
def reparameterize_row(x, n, seed, sample, z, eps):
    """Sample n of the reparameterization trick (``kernels/cpu/variational.py``): for each unit
    j, eps[n, j] = ε (``counter_normal(seed, n·D + j)``, or 0 unless sample) and
    z[n, j] = μ + exp(½ log σ²)·ε with x[n] = [μ | log σ²]; returns the sample's
    KL = −½ Σ_j (1 + log σ² − μ² − σ²)."""
    size = z.shape[1]
    total = 0.0
    for j in range(size):
        mu, log_var = x[n, j], x[n, size + j]
        eps[n, j] = counter_normal(seed, n * size + j) if sample else 0.0
        z[n, j] = mu + math.exp(0.5 * log_var) * eps[n, j]
        total += 1.0 + log_var - mu * mu - math.exp(log_var)
    return -0.5 * total


@scalar
def reparameterize_unit_grad(mu, log_var, e, dz, weight):
    """(∂/∂μ, ∂/∂log σ²) of dz·z + weight·KL for one latent unit: dz + w·μ and
    dz·ε·σ/2 + w·(σ² − 1)/2."""
    var = math.exp(log_var)
    return dz + weight * mu, 0.5 * (dz * e * math.sqrt(var) + weight * (var - 1.0))


@scalar
def dropout_factor(kept, p):
    """What inverted dropout multiplies an element by: 1 / (1 − p) if it is kept, else 0, so the
    expected output is the input and evaluation needs no rescaling (p = 1 keeps nothing)."""
    return 1 / (1 - p) if kept else 0.0


# Pooling windows. Output (i, j) of a pool reads input rows i·stride − pad + a·dil (a < kernel)
# and likewise columns; rows outside [0, size) are padding. The functions that take arrays work
# on one (H, W) plane of one image and channel; the CUDA kernels compile their Python bodies
# (``.py_func``) as device functions, since Numba's simulator cannot pass its arrays to @njit.


@scalar
def window_span(i, kernel, stride, pad, size):
    """[start, stop) of the inputs along one axis under output i's undilated window, padding
    cut off."""
    start = i * stride - pad
    return max(start, 0), min(start + kernel, size)


@scalar
def pool_divisor(h0, h1, w0, w1, kernel_h, kernel_w, count_include_pad):
    """What an average pool divides the sum over the window [h0, h1) × [w0, w1) of inputs by:
    the whole window, padding included (torch's default), or only the inputs under it."""
    return kernel_h * kernel_w if count_include_pad else (h1 - h0) * (w1 - w0)


@scalar
def window_max(plane, i, j, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h,
               dil_w):  # fmt: skip
    """(max, h·W + w of the max) over output (i, j)'s window of one (H, W) plane. Padding is
    never the max; ties keep the first in row-major order and a NaN wins, as torch (a NaN shows
    in the output). A window of -inf alone still names its first input, so backward has one."""
    best, index = plane.dtype.type(-math.inf), -1
    for a in range(kernel_h):
        h = i * stride_h - pad_h + a * dil_h
        for b in range(kernel_w):
            w = j * stride_w - pad_w + b * dil_w
            if 0 <= h < plane.shape[0] and 0 <= w < plane.shape[1]:
                v = plane[h, w]
                if index < 0 or v > best or math.isnan(v):
                    best, index = v, h * plane.shape[1] + w
    return best, index


@scalar
def route_to_argmax(argmax, dy, dx):
    """dx = 0, then dx.flat[argmax[i, j]] += dy[i, j] for every output (i, j) of one plane, in
    row-major order (the same order, so the same sums, on both devices).
    argmax, dy: (OH, OW); writes dx: (H, W)."""
    for h in range(dx.shape[0]):
        for w in range(dx.shape[1]):
            dx[h, w] = 0
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            index = argmax[i, j]
            dx[index // dx.shape[1], index % dx.shape[1]] += dy[i, j]


@scalar
def window_mean(plane, i, j, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                count_include_pad):  # fmt: skip
    """The average over output (i, j)'s window of one (H, W) plane (padding adds 0)."""
    h0, h1 = window_span(i, kernel_h, stride_h, pad_h, plane.shape[0])
    w0, w1 = window_span(j, kernel_w, stride_w, pad_w, plane.shape[1])
    total = plane.dtype.type(0)
    for h in range(h0, h1):
        for w in range(w0, w1):
            total += plane[h, w]
    return total / plane.dtype.type(pool_divisor(h0, h1, w0, w1, kernel_h, kernel_w,
                                                 count_include_pad))  # fmt: skip


@scalar
def plane_mean(plane):
    """The average of one (H, W) plane: global average pooling's output for it."""
    total = plane.dtype.type(0)
    for h in range(plane.shape[0]):
        for w in range(plane.shape[1]):
            total += plane[h, w]
    return total / plane.dtype.type(plane.shape[0] * plane.shape[1])


# The activations of the recurrent cells' gates, in two forms: ``rational`` (float32 on the CPU)
# uses ``tanh_float32``, which vectorizes, and the exp forms otherwise (float64, for gradient
# checks, and the GPU, whose exp is fast). A kernel passes ``rational`` as a constant, so the
# test disappears once the function is inlined.


@scalar
def gate_tanh(x, rational):
    """tanh x: ``tanh_float32`` if rational (within 6 ulps), else the exp form ``tanh``."""
    return tanh_float32(x) if rational else tanh(x)


@scalar
def gate_sigmoid(x, rational):
    """σ(x): ½ + ½ tanh(x/2) with ``tanh_float32`` if rational, else the exp form ``sigmoid``.
    The rational form is within 2e-7 of σ, which is what a gate scaling a value needs; where σ
    is tiny its relative error grows, so the sigmoid activation (whose output may reach a log)
    keeps the exp form."""
    half = np.float32(0.5)
    return half * tanh_float32(half * x) + half if rational else sigmoid(x)


# One hidden unit of a recurrent cell: the gate math a CPU kernel runs in its loop and a GPU
# thread runs once (``kernels/*/recurrent.py``, where the equations are in the docstrings). The
# functions take and return numbers; the kernels read and write the arrays (gate block k of
# unit j sits at column k·H + j).


@scalar
def lstm_unit(a_i, a_f, a_g, a_o, c_prev, rational):
    """(i, f, g, o, c, h) from the pre-activations a = gi + gh of the four gates:
    i, f, g, o = σ, σ, tanh, σ of a;  c = f c_prev + i g;  h = o tanh(c)."""
    i = gate_sigmoid(a_i, rational)
    f = gate_sigmoid(a_f, rational)
    g = gate_tanh(a_g, rational)
    o = gate_sigmoid(a_o, rational)
    c = f * c_prev + i * g
    return i, f, g, o, c, o * gate_tanh(c, rational)


@scalar
def lstm_unit_grad(i, f, g, o, c_prev, c, dh, dc_next, rational):
    """(da_i, da_f, da_g, da_o, dc_prev): the gradients of the four pre-activations and of
    c_prev, from the gates, dh = ∂L/∂h and dc_next (what reaches c from the next step)."""
    tanh_c = gate_tanh(c, rational)
    dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
    da_i = dc * g * i * (1 - i)
    da_f = dc * c_prev * f * (1 - f)
    da_g = dc * i * (1 - g * g)
    da_o = dh * tanh_c * o * (1 - o)
    return da_i, da_f, da_g, da_o, dc * f


@scalar
def gru_unit(a_r, a_z, gi_n, gh_n, h_prev, rational):
    """(r, z, n, h): r, z = σ of their pre-activations a = gi + gh; n = tanh(gi_n + r gh_n);
    h = (1 − z) n + z h_prev."""
    r = gate_sigmoid(a_r, rational)
    z = gate_sigmoid(a_z, rational)
    new = gate_tanh(gi_n + r * gh_n, rational)
    return r, z, new, (1 - z) * new + z * h_prev


@scalar
def gru_unit_grad(r, z, new, gh_n, h_prev, dh):
    """(da_r, da_z, da_n, r da_n, skip): the gradients of the pre-activations (gi's blocks;
    gh_n's is r da_n) and h_prev's direct share skip = dh z, from the gates and dh = ∂L/∂h."""
    da_n = dh * (1 - z) * (1 - new * new)
    da_z = dh * (h_prev - new) * z * (1 - z)
    da_r = da_n * gh_n * r * (1 - r)
    return da_r, da_z, da_n, da_n * r, dh * z


# Rows of softmax, layer normalisation and attention's softmax: one row is one CPU iteration and
# one GPU thread, so the row's math is written once here (the CUDA kernels compile the Python
# bodies, ``.py_func``, as device functions, as for pooling). Sums run in float64 unless said.


@scalar
def softmax_row(x, y):
    """y = softmax(x) for one row, returning log Σₖ e^x_k. Subtracting m = max x first keeps
    every exponent <= 0, so nothing overflows: log Σ e^x = m + log Σ e^(x - m). The sum in the
    row's dtype.
    Loops, not x.max() and y /= total: array methods do not exist on the GPU, and on the CPU,
    inside a parallel loop, each becomes a loop of its own that costs a second to compile."""
    m = x[0]
    for c in range(1, x.shape[0]):
        m = max(m, x[c])
    total = y.dtype.type(0)
    for c in range(x.shape[0]):
        y[c] = math.exp(x[c] - m)
        total += y[c]
    for c in range(x.shape[0]):
        y[c] /= total
    return m + math.log(total)


@scalar
def layer_norm_row(x, weight, bias, eps, y):
    """y = γ (x − μ) / √(σ² + ε) + β for one row x (D,), μ and σ² (biased) its own mean and
    variance, two passes (no cancellation as in Σx² − Dμ²). Returns (μ, 1/√(σ² + ε))."""
    width = x.shape[0]
    total = 0.0
    for d in range(width):
        total += x[d]
    mean = total / width
    squares = 0.0
    for d in range(width):
        squares += (x[d] - mean) ** 2
    rstd = inverse_std(squares / width, eps)
    for d in range(width):
        y[d] = standardize(x[d], mean, rstd) * weight[d] + bias[d]
    return mean, rstd


@scalar
def layer_norm_row_grad(x, weight, mean, rstd, dy, dx):
    """dx = rstd (g − mean(g) − x̂ mean(g x̂)), g = γ dy, x̂ = (x − μ) rstd, for one row (D,):
    the gradient through the row's own mean and variance."""
    width = x.shape[0]
    sum_g, sum_g_x_hat = 0.0, 0.0
    for d in range(width):
        g = weight[d] * dy[d]
        sum_g += g
        sum_g_x_hat += g * standardize(x[d], mean, rstd)
    mean_g, mean_g_x_hat = sum_g / width, sum_g_x_hat / width
    for d in range(width):
        x_hat = standardize(x[d], mean, rstd)
        dx[d] = rstd * (weight[d] * dy[d] - mean_g - x_hat * mean_g_x_hat)


@scalar
def masked_softmax_row(s, scale, seen, p, fast_exp):
    """p[j] = e^(scale·s[j]) / Σₖ e^(scale·s[k]) over the first ``seen`` entries of a row, 0 after
    them (the keys a causal mask hides). The max m is subtracted first, so no exponent is above
    0 (scale > 0); max, exponentials and sum in one visit of the row. ``fast_exp``: e^z by
    ``exp_nonpositive`` (float32 on the CPU: it vectorizes), else libm's exp."""
    m = s[0]
    for j in range(1, seen):
        m = max(m, s[j])
    total = 0.0
    for j in range(seen):
        z = scale * (s[j] - m)
        p[j] = exp_nonpositive(z) if fast_exp else math.exp(z)
        total += p[j]
    inverse = 1.0 / total
    for j in range(seen):
        p[j] *= inverse
    for j in range(seen, p.shape[0]):
        p[j] = 0


@scalar
def scaled_softmax_row_grad(p, scale, dp, ds):
    """ds = scale · p ⊙ (dp − Σⱼ dp[j] p[j]) for one row: the softmax's Jacobian times dp, and
    the scale of its input. Masked entries (p = 0) get 0."""
    dot = 0.0
    for j in range(p.shape[0]):
        dot += dp[j] * p[j]
    for j in range(p.shape[0]):
        ds[j] = scale * p[j] * (dp[j] - dot)
