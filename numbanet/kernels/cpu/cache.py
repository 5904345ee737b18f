"""Keeping Numba's cache of the CPU kernels true to their sources.

``cache=True`` stores each kernel's machine code in ``__pycache__`` beside its file and reuses
it while that one file is unchanged. But a kernel's machine code also holds the functions it
calls from other files (``scalar.py``, ``activation_in_place``, ...): after an edit there, Numba
would go on running the old code. So the cache carries a fingerprint of every kernel source and
is emptied, at import and before anything compiles, when the sources no longer match it.
"""

import hashlib
from pathlib import Path

import numba

KERNELS = Path(__file__).resolve().parent.parent  # numbanet/kernels: cpu/, cuda/, scalar.py
CACHE = Path(__file__).resolve().parent / "__pycache__"
STAMP = "kernel-sources.sha256"


def sources_fingerprint(root=KERNELS):
    """SHA-256 over the names and contents of every .py file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def drop_stale_cache(cache=CACHE, fingerprint=None):
    """Delete the compiled kernels in ``cache`` (Numba's .nbi/.nbc files) unless its stamp
    matches ``fingerprint`` (default: the kernel sources' now), then stamp it. Returns the
    number of files deleted. A cache elsewhere (``NUMBA_CACHE_DIR``) is its owner's to manage;
    a folder we may not write to is left as it is (Numba then caches in a folder of its own)."""
    if numba.config.CACHE_DIR:
        return 0
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
