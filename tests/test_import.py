"""What `import numbanet` loads: no GUI libraries, nothing compiled."""

import subprocess
import sys


def new_python(code):
    """What ``code`` prints when run by a new interpreter (the modules loaded are its own)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_import_loads_no_gui_no_progress_bar_and_no_network_module():
    """ipywidgets and matplotlib wait for the inspector, tqdm (with asyncio) and urllib's HTTP
    stack for the first progress bar or download: tens of ms of every ``import numbanet``
    otherwise; sklearn and torch are never the engine's."""
    late = (
        "ipywidgets", "matplotlib", "sklearn", "torch", "tqdm", "asyncio", "http.client",
        "urllib.request",
    )  # fmt: skip
    out = new_python(f"import sys, numbanet; print([m for m in {late!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_import_loads_no_compiler_no_blas_and_no_kernel():
    """Numba, SciPy's BLAS and the kernel modules wait for the first kernel table
    (``runtime.start``, ``Backend.kernels``): most of a second that ``import numbanet`` skips."""
    code = (
        "import numbanet, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numba', 'scipy', 'threadpoolctl', 'matplotlib') or "
        "m.startswith('numbanet.kernels.cpu') or m.startswith('numbanet.kernels.cuda')))"
    )
    out = new_python(code)
    assert out.strip() == "[]"


def test_public_names_are_all_importable():
    import numbanet

    for name in numbanet.__all__:
        assert hasattr(numbanet, name), name


def test_kernel_cache_is_emptied_when_any_kernel_source_changes(tmp_path):
    """Numba reuses a kernel's cached code while the kernel's own file is unchanged, even when
    a function it calls (scalar.py, ...) changed; the cache's fingerprint of every source
    catches that."""
    from numbanet.kernels.cpu import cache

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
    # the cache Numba uses for the package is stamped with its sources as they are
    assert (cache.cache_dir() / cache.STAMP).read_text() == cache.sources_fingerprint()


def test_compiling_says_so_once_and_counts_the_kernels_and_the_time():
    from numba import njit

    from numbanet.kernels.cpu import cache

    @njit
    def twice(x):
        return 2 * x

    @njit
    def thrice(x):
        return 3 * x

    lines = []
    with cache.compile_notice(lines.append) as compiled:
        assert twice(2) == 4 and thrice(2) == 6 and twice(3) == 6  # two compiles, one reuse
    assert lines == [
        f"compiling the kernels (first run only: they are cached in {cache.cache_dir()})"
    ]
    assert compiled.kernels == 2 and compiled.seconds > 0
    with cache.compile_notice(lines.append) as compiled:
        assert twice(4) == 8  # compiled already: nothing to say
    assert len(lines) == 1 and compiled.kernels == 0


def test_the_version_is_written_once():
    """numbanet.__version__ is the package metadata's version (pyproject.toml reads it)."""
    from importlib.metadata import version

    import numbanet

    assert numbanet.__version__ == version("numbanet") and numbanet.__version__.count(".") == 2


def test_widgets_without_their_extra_name_the_extra_to_install():
    # sys.modules[name] = None makes `import name` fail as if it were not installed
    code = (
        "import sys; sys.modules['ipywidgets'] = None\n"
        "try:\n    import numbanet.widgets\n"
        "except ModuleNotFoundError as error:\n    print(error.name, '|', error)"
    )
    out = new_python(code)
    assert out.startswith("ipywidgets |")
    assert 'pip install "numbanet[widgets]"' in out
