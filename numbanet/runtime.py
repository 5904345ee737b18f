"""How numbanet runs on the CPU: floating-point mode and threads, set up once.

Two decisions, made here so that training is fast by default (``numbanet info`` shows them).
What must precede every thread pool (the float mode, ``GOMP_SPINCOUNT``) happens at import;
what needs Numba, SciPy's BLAS and threadpoolctl waits for ``start()``, which the first CPU
kernel table runs, so that ``import numbanet`` stays quick.

* **Subnormal floats are flushed to zero** (the x86 FTZ and DAZ bits, as
  ``torch.set_flush_denormal(True)``). After a few hundred Adam steps many weights and
  optimizer-state values drift below 1.2e-38 (float32's smallest normal number), where x86
  arithmetic is up to 100× slower; flushed, they become 0. Results change only in values
  that small. The mode is per thread and inherited by threads started later, so it is set at
  import, before Numba and BLAS start their thread pools. ``set_flush_denormal(False)`` undoes
  it for the calling thread.
* **One pool of threads: Numba's.** Every kernel, matrix products included, runs on Numba's
  threads (all cores); the BLAS library Numba calls runs on one thread, and ``kernels/cpu/
  dense.py``'s ``gemm`` splits each product over Numba's threads, one single-threaded BLAS call
  per part. Two pools on the same cores fight: a thread of one pool waiting for work (spinning)
  holds the core a thread of the other pool needs, and a pool whose idle threads sleep pays a
  wake-up per parallel loop (through a hypervisor, longer than most of our kernels take). With
  one pool its threads may spin between kernels, so a parallel loop starts at once: idle
  OpenMP threads spin 10,000 rounds before they sleep (``GOMP_SPINCOUNT``, unless you set it; a
  fraction of a millisecond). One pool made the CNN's and the recurrent networks' steps faster
  than two did, and the MLP's no slower (figures: benchmarks/RESULTS.md, "figures moved from
  docstrings").
  ``set_num_threads(n)`` sets Numba's threads; BLAS stays on one.
  Raising BLAS's threads yourself (threadpoolctl) brings the two fighting pools back.
  PyTorch's CPU wheel loads the same ``libgomp.so.1``, so in one process with numbanet
  imported first PyTorch's threads spin as briefly; the benchmarks run each engine in a process
  of its own.
"""

import ctypes
import os
import platform
import sys

os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # read once, when Numba loads OpenMP

_FTZ_DAZ = 0x8040  # MXCSR bits: flush-to-zero (15) and denormals-are-zero (6)
_SUPPORTED = sys.platform == "linux" and platform.machine() == "x86_64"
_libm = ctypes.CDLL("libm.so.6") if _SUPPORTED else None


def _fenv():
    """The calling thread's floating-point environment (glibc's x86-64 fenv_t, 32 bytes)."""
    env = (ctypes.c_uint32 * 8)()
    _libm.fegetenv(env)
    return env


def set_flush_denormal(enabled=True):
    """Flush subnormal floats to zero in this thread (and threads it starts later).

    Returns True if the mode was set, False where it is not supported (only x86-64 Linux).
    """
    if not _SUPPORTED:
        return False
    env = _fenv()
    env[7] = env[7] | _FTZ_DAZ if enabled else env[7] & ~_FTZ_DAZ  # MXCSR is the last word
    return _libm.fesetenv(env) == 0


def flush_denormal_enabled():
    """Whether subnormals are flushed to zero in the calling thread."""
    return _SUPPORTED and _fenv()[7] & _FTZ_DAZ == _FTZ_DAZ


def set_num_threads(n):
    """Use ``n`` threads in the kernels (at most Numba's pool size, the core count); matrix
    products split over them too (BLAS itself stays on one thread)."""
    if n < 1:
        raise ValueError(f"set_num_threads: expected n >= 1, got {n}")
    start()
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def numba_blas():
    """The BLAS libraries Numba's matrix products call, as threadpoolctl controllers: Numba
    calls BLAS through ``scipy.linalg.cython_blas``, so SciPy's. A SciPy wheel brings its own
    OpenBLAS (in ``scipy.libs``, which NumPy's own BLAS is not); a SciPy built against a shared
    BLAS (conda) uses that one, NumPy's too, and then every BLAS library is returned."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS, if not loaded yet)
    from threadpoolctl import ThreadpoolController

    libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    bundled = [
        library
        for library in libraries
        if os.path.basename(os.path.dirname(library.filepath)) == "scipy.libs"
    ]
    return bundled or libraries


# OpenBLAS's AVX-512 cores have a small-matrix kernel: a product of at most 10⁶ multiply-adds
# (m·n·k) whose first matrix is not transposed runs straight from the operands, without the
# packing (a reordered copy of b) that the general kernel makes on every call. A recurrent
# layer multiplies by the same W_hh at every step, so its per-step products pay that copy
# T times, where calls of a few rows each skip it (figures: benchmarks/RESULTS.md, "figures
# moved from docstrings").
SMALL_PRODUCT_CORES = ("SkylakeX", "Cooperlake", "SapphireRapids")
SMALL_PRODUCT_SIZE = 10**6  # m·n·k at most (OpenBLAS's own limit for these cores)


def has_small_products(libraries):
    """Whether one of ``libraries`` (threadpoolctl controllers, as ``numba_blas`` returns them)
    is an OpenBLAS running its AVX-512 small-matrix kernels."""
    return any(
        library.internal_api == "openblas"
        and getattr(library, "architecture", None) in SMALL_PRODUCT_CORES
        for library in libraries
    )


def small_product_rows(k, n):
    """Rows per BLAS call that keep a product (rows, k) by (k, n) on OpenBLAS's small-matrix
    kernel: whole blocks of 8 rows (its kernel's block), as many as stay within
    SMALL_PRODUCT_SIZE. 0 — one call for all rows — where not even 8 rows fit or the BLAS has
    no such kernel (there, each call packs b, so fewer calls are better)."""
    start()
    if not _SMALL_PRODUCTS:
        return 0
    return 8 * (SMALL_PRODUCT_SIZE // (8 * k * n))


def thread_info():
    """{"numba_threads", "numba_threading_layer", "blas": [one dict per BLAS library loaded]}.

    A BLAS's dict: "library" and "version" (e.g. openblas, 0.3.30), "folder" (where it was
    loaded from: a wheel's ``scipy.libs`` or ``numpy.libs``, or a shared library's folder),
    "threads", and "kernels": whether numbanet's kernels call it (``numba_blas``). NumPy's
    wheel brings a BLAS of its own for NumPy's operators; numbanet leaves its threads alone.
    """
    start()
    import numba
    from threadpoolctl import threadpool_info

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet, so no layer has been chosen
        layer = f"not started yet (configured: {numba.config.THREADING_LAYER})"
    ours = {library.filepath for library in _BLAS}
    return {
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "blas": [
            {
                "library": pool["internal_api"],
                "version": pool["version"],
                "folder": os.path.basename(os.path.dirname(pool["filepath"])),
                "threads": pool["num_threads"],
                "kernels": pool["filepath"] in ours,
            }
            for pool in threadpool_info()
            if pool["user_api"] == "blas"
        ],
    }


_BLAS = None  # numba_blas(), once start() ran
_SMALL_PRODUCTS = False  # has_small_products(_BLAS), once start() ran


def start():
    """Put the BLAS Numba calls on one thread and find whether it has small-matrix kernels;
    only the first call does anything.

    Deferred from import because it loads SciPy's BLAS and threadpoolctl, as the kernel table
    after it loads Numba: most of a second, which a script that only builds a model, or
    ``numbanet --help``, never needs. The first CPU kernel table (``Backend.kernels``) runs it
    before any kernel, as do the functions here that need it. BLAS's threads are set right
    after SciPy loads its BLAS, before any product runs.
    """
    global _BLAS, _SMALL_PRODUCTS
    if _BLAS is not None:
        return
    blas = numba_blas()
    for library in blas:
        library.set_num_threads(1)
    _SMALL_PRODUCTS = has_small_products(blas)
    _BLAS = blas


set_flush_denormal(True)
