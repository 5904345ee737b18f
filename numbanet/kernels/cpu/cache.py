"""Keeping Numba's cache of the CPU kernels true to their sources, wherever it is.

``cache=True`` stores each kernel's machine code and reuses it while that one file is
unchanged. Numba keeps it in ``__pycache__`` beside the kernels when that folder is writable
(a checkout, a user's own virtual environment) and otherwise in the user's cache folder
(``~/.cache/numba/cpu_<hash of this folder's path>``: a system-wide or read-only install), or
under ``NUMBA_CACHE_DIR`` when that is set; ``cache_dir()`` asks Numba which.

A kernel's machine code also holds the functions it calls from other files (``scalar.py``,
``activation_in_place``, ...): after an edit there, Numba would go on running the old code. So
the cache carries a fingerprint of every kernel source and is emptied, at import and before
anything compiles, when the sources no longer match it.
"""

import hashlib
import time
from pathlib import Path

from numba.core import event

KERNELS = Path(__file__).resolve().parent.parent  # numbanet/kernels: cpu/, cuda/, scalar.py
STAMP = "kernel-sources.sha256"


def cache_dir():
    """The folder where Numba caches the kernels of this folder, chosen by Numba's own rules
    (its cache of a function defined here); Numba creates it if need be."""
    from numba.core.caching import FunctionCache

    return Path(FunctionCache(cache_dir).cache_path)


def sources_fingerprint(root=KERNELS):
    """SHA-256 over the names and contents of every .py file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def drop_stale_cache(cache=None, fingerprint=None):
    """Delete the compiled kernels in ``cache`` (default ``cache_dir()``: Numba's .nbi/.nbc
    files) unless its stamp matches ``fingerprint`` (default: the kernel sources' now), then
    stamp it. Returns the number of files deleted. The folder holds this folder's kernels
    only (Numba names a cache folder outside the sources after their path), so nothing else
    is touched; a folder we may not write to is left as it is."""
    cache = cache_dir() if cache is None else Path(cache)
    fingerprint = fingerprint or sources_fingerprint()
    stamp = cache / STAMP
    try:
        if stamp.read_text() == fingerprint:
            return 0
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        stale = [*cache.glob("*.nbi"), *cache.glob("*.nbc")]
        for path in stale:
            path.unlink(missing_ok=True)
        stamp.write_text(fingerprint)
    except OSError:
        return 0
    return len(stale)


class CompileNotice(event.Listener):
    """Listens to Numba's compile events (a kernel compiled because nothing is cached for its
    argument types yet; loading from the cache is no such event): says so once, through
    ``write``, when the first one starts, and adds up how many kernels compiled and for how
    long. Nested events (a kernel compiling a function it calls) count in their caller's.

        with numba.core.event.install_listener("numba:compile", CompileNotice(print)) as c:
            ...
        c.kernels, c.seconds
    """

    def __init__(self, write):
        self.write, self.kernels, self.seconds = write, 0, 0.0
        self._depth, self._start = 0, 0.0

    def on_start(self, event):
        if self._depth == 0:
            if self.kernels == 0:
                self.write(
                    f"compiling the kernels (first run only: they are cached in {cache_dir()})"
                )
            self._start = time.perf_counter()
        self._depth += 1

    def on_end(self, event):
        self._depth -= 1
        if self._depth == 0:
            self.kernels += 1
            self.seconds += time.perf_counter() - self._start


def compile_notice(write=print):
    """A context in which the first kernel compile says so through ``write`` (e.g.
    ``tqdm.write``, which keeps a progress bar intact); it yields the ``CompileNotice``."""
    return event.install_listener("numba:compile", CompileNotice(write))
