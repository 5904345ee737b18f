"""How numbanet sets up the CPU (``numbanet/runtime.py``): the float mode and the threads once a
step ran, and the BLAS call sizes of a recurrent layer's per-step products."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from numbanet import runtime


@pytest.fixture(autouse=True)
def started():
    """The runtime started, so that a test's own ``_SMALL_PRODUCTS`` is not overwritten by the
    first ``start()``."""
    runtime.start()


def test_after_a_step_kernel_blas_is_on_one_thread_and_subnormals_are_flushed():
    """In a new process, with threads set before any kernel ran: the step starts the runtime."""
    code = """
import json
import numpy as np
import numbanet as nn
from numbanet.runtime import flush_denormal_enabled, thread_info
nn.set_num_threads(1)
model = nn.models.mlp(in_features=4, hidden=(3,), n_classes=2)
x, y = np.ones((2, 4), np.float32), np.array([0, 1])
nn.fit(model, nn.CrossEntropyLoss(), nn.optim.Adam(model), (x, y), epochs=1, progress=False)
print(json.dumps({"flush": bool(flush_denormal_enabled()), **thread_info()}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    info = json.loads(out.strip().splitlines()[-1])
    assert info["flush"]
    assert info["numba_threads"] == 1
    kernel_blas = [blas for blas in info["blas"] if blas["kernels"]]
    assert kernel_blas and all(blas["threads"] == 1 for blas in kernel_blas)


def blas(api, architecture):
    """A stand-in for a threadpoolctl controller."""
    return SimpleNamespace(internal_api=api, architecture=architecture)


def test_small_products_are_found_only_in_an_openblas_on_an_avx512_core():
    assert runtime.has_small_products([blas("openblas", "SkylakeX")])
    assert runtime.has_small_products([blas("mkl", None), blas("openblas", "SapphireRapids")])
    assert not runtime.has_small_products([blas("openblas", "Haswell")])
    assert not runtime.has_small_products([blas("openblas", "Zen")])
    assert not runtime.has_small_products([blas("mkl", None)])
    assert not runtime.has_small_products([])


@pytest.mark.parametrize(
    "k, n, rows",
    [
        (128, 512, 8),  # the LSTM's W_hh at H = 128: 16 rows would be 1.05·10⁶
        (128, 384, 16),  # the GRU's
        (128, 128, 56),  # the RNN's
        (256, 1024, 0),  # an LSTM at H = 256: not even 8 rows fit
    ],
)
def test_small_product_rows_are_whole_blocks_of_8_within_openblas_limit(monkeypatch, k, n, rows):
    monkeypatch.setattr(runtime, "_SMALL_PRODUCTS", True)
    assert runtime.small_product_rows(k, n) == rows
    assert rows * k * n <= runtime.SMALL_PRODUCT_SIZE < (rows + 8) * k * n


def test_without_small_products_each_product_is_one_call(monkeypatch):
    monkeypatch.setattr(runtime, "_SMALL_PRODUCTS", False)
    assert runtime.small_product_rows(128, 512) == 0
    assert runtime.small_product_rows(8, 8) == 0
