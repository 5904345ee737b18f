"""How numbanet runs on the CPU: floating-point mode and threads, set up once at import.

Two decisions, made here so that training is fast by default (``numbanet info`` shows them):

* **Subnormal floats are flushed to zero** (the x86 FTZ and DAZ bits, as
  ``torch.set_flush_denormal(True)``). After a few hundred Adam steps many weights and
  optimizer-state values drift below 1.2e-38 (float32's smallest normal number), where x86
  arithmetic is up to 100× slower; flushed, they become 0. Results change only in values
  that small. The mode is per thread and inherited by threads started later, so it is set at
  import, before Numba and BLAS start their thread pools. ``set_flush_denormal(False)`` undoes
  it for the calling thread.
* **Numba's parallel kernels start on one thread; BLAS keeps its own pool.** Numba's parallel
  loops and the BLAS library's matrix products are two thread pools. On a 2-core machine the
  seed MLP trains fastest with the kernels on one thread and BLAS free to use both cores
  (89,000 samples/s at batch 64 against 70,000 with both pools on 2 threads; see
  benchmarks/RESULTS.md): waking a second thread for each small elementwise kernel costs more
  than the work it takes over. ``set_num_threads(n)`` sets both pools to n, for kernels big
  enough to share. Idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``
  unless you set it): spinning threads took the cores BLAS needed and made a step 80× slower.
  PyTorch's CPU wheel loads the same ``libgomp.so.1``, so in one process with numbanet
  imported first PyTorch's threads sleep too, and its steps run slower (seed CNN, batch 64:
  17 → 22 ms). Import torch first (or set ``OMP_WAIT_POLICY`` yourself) when timing PyTorch
  beside numbanet; the benchmarks run each engine in a process of its own for this reason.
"""

import ctypes
import os
import platform
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when Numba loads OpenMP

import numba  # noqa: E402  (after the environment it reads)
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

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
    """Use ``n`` threads in Numba's parallel kernels and in BLAS."""
    if n < 1:
        raise ValueError(f"set_num_threads: expected n >= 1, got {n}")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(n, user_api="blas")


def thread_info():
    """{"numba_threads", "numba_threading_layer", "blas": [(library, threads)]}."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet, so no layer has been chosen
        layer = f"not started yet (configured: {numba.config.THREADING_LAYER})"
    return {
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "blas": [
            (pool["internal_api"], pool["num_threads"])
            for pool in threadpool_info()
            if pool["user_api"] == "blas"
        ],
    }


set_flush_denormal(True)
numba.set_num_threads(1)
