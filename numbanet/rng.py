"""One seeded random generator for everything random in numbanet (init, shuffling, dropout).

``numbanet.seed(n)`` makes a run reproducible: the same seed gives the same initial weights,
the same batch order and the same dropout masks.
"""

import numpy as np

_generator = np.random.default_rng()


def seed(n):
    """Reseed numbanet's generator: everything random after this call is reproducible."""
    global _generator
    _generator = np.random.default_rng(n)


def generator():
    """The generator layers and loaders draw from (a ``numpy.random.Generator``)."""
    return _generator
