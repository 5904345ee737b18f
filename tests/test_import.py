"""What `import numbanet` loads: no GUI libraries, nothing compiled."""

import subprocess
import sys


def test_import_loads_neither_ipywidgets_nor_matplotlib():
    code = (
        "import sys, numbanet; bad = [m for m in ('ipywidgets', 'matplotlib', 'sklearn', 'torch') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_public_names_are_all_importable():
    import numbanet

    for name in numbanet.__all__:
        assert hasattr(numbanet, name), name


def test_kernel_cache_is_emptied_when_any_kernel_source_changes(tmp_path, monkeypatch):
    """Numba reuses a kernel's cached code while the kernel's own file is unchanged, even when
    a function it calls (scalar.py, ...) changed; the cache's fingerprint of every source
    catches that."""
    from numbanet.kernels.cpu import cache

    cached_beside_sources = not cache.numba.config.CACHE_DIR
    monkeypatch.setattr(cache.numba.config, "CACHE_DIR", "")
    sources = tmp_path / "kernels"
    (sources / "cpu").mkdir(parents=True)
    (sources / "scalar.py").write_text("def relu(x):\n    return max(x, 0)\n")
    compiled = tmp_path / "__pycache__"
    compiled.mkdir()
    files = [
        compiled / "dense.dense_forward-9.py311.nbi",
        compiled / "dense.dense_forward-9.py311.1.nbc",
    ]

    def fill():
        for path in files:
            path.write_bytes(b"machine code")

    fill()
    first = cache.sources_fingerprint(sources)
    assert cache.drop_stale_cache(compiled, first) == 2  # no stamp yet: nothing to trust
    fill()
    assert cache.drop_stale_cache(compiled, first) == 0 and all(p.exists() for p in files)
    (sources / "scalar.py").write_text("def relu(x):\n    return x if x > 0 else 0.0\n")
    edited = cache.sources_fingerprint(sources)
    assert edited != first
    assert cache.drop_stale_cache(compiled, edited) == 2 and not any(p.exists() for p in files)
    assert (compiled / cache.STAMP).read_text() == edited
    if cached_beside_sources:  # the package's own cache is stamped with its sources as they are
        assert (cache.CACHE / cache.STAMP).read_text() == cache.sources_fingerprint()
