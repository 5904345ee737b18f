"""Threads: Numba's parallel loops and the BLAS library's matrix products are two thread pools.

Left alone, both may start one thread per core and fight over the same cores (and a busy
neighbour process makes it far worse). ``set_num_threads(n)`` sets both pools at once.
"""

import numba
from threadpoolctl import threadpool_info, threadpool_limits


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
        "blas": [(pool["internal_api"], pool["num_threads"]) for pool in threadpool_info()
                 if pool["user_api"] == "blas"],
    }
