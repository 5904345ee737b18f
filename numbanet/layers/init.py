"""Weight initialisation schemes: PyTorch's default, Xavier/Glorot and Kaiming/He.

The scale of the initial weights decides whether signals and gradients keep their size
through many layers; each scheme picks it from the fan-in (inputs per output) and fan-out.
"""

import math

INIT_SCHEMES = ("torch", "xavier", "kaiming")


def init_weight_and_bias(scheme, weight_shape, fan_in, fan_out, rng, n_out=None):
    """(weight, bias) float64 arrays drawn from ``rng`` under ``scheme``, the bias of length
    ``n_out`` (default weight_shape[0]):

    torch   : W, b ~ U(-1/√fan_in, 1/√fan_in)   (torch's kaiming_uniform(a=√5) for Linear/Conv)
    xavier  : W ~ U(-√(6/(fan_in+fan_out)), +…), b = 0   (keeps variance for tanh/sigmoid)
    kaiming : W ~ N(0, 2/fan_in), b = 0                    (keeps variance through ReLU)
    """
    n_out = weight_shape[0] if n_out is None else n_out
    if scheme == "torch":
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        return rng.uniform(-bound, bound, weight_shape), rng.uniform(-bound, bound, n_out)
    if scheme == "xavier":
        bound = math.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, weight_shape), rng.uniform(0, 0, n_out)
    if scheme == "kaiming":
        return rng.normal(0, math.sqrt(2 / fan_in), weight_shape), rng.uniform(0, 0, n_out)
    raise ValueError(f"unknown init {scheme!r}: expected one of {INIT_SCHEMES}")
