"""NaN passes through the GPU's activations as through the CPU's (IEEE arithmetic, as torch):
the same kernels' scalar math, compiled for the device (the simulator where there is no GPU)."""

import numpy as np
import pytest

import numbanet as nn

X = np.array([[np.nan, -1.0, 0.0, 2.0, -np.inf, np.inf]], dtype=np.float32)


@pytest.mark.parametrize(
    "build",
    [nn.ReLU, lambda: nn.LeakyReLU(0.1), lambda: nn.Linear(6, 4, activation="relu")],
    ids=["ReLU", "LeakyReLU", "Linear+relu"],
)
def test_the_gpu_passes_nan_through_like_the_cpu(build):
    nn.seed(0)
    cpu = build()
    gpu = cpu.clone("cuda")
    x = X if cpu.params == {} else np.where(np.isinf(X), 1.0, X).astype(np.float32)
    expected = np.array(cpu.forward(x))
    got = nn.backend.to_host(gpu.forward(x))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isnan(got).any()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    dy = np.ones_like(expected)
    np.testing.assert_allclose(nn.backend.to_host(gpu.backward(dy)), cpu.backward(dy), rtol=1e-6)
