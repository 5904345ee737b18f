"""How numbanet sets up the CPU (``numbanet/runtime.py``): the BLAS call sizes of a recurrent
layer's per-step products."""

from types import SimpleNamespace

import pytest

from numbanet import runtime


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
