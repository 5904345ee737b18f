"""Batching: the DataLoader walks a dataset in mini-batches, reshuffled every epoch."""

import numpy as np

from numbanet import rng


class DataLoader:
    """Mini-batches (x[i:j], y[i:j]) of a dataset, optionally shuffled every epoch.

    DataLoader(x, y, batch_size=64, shuffle=False, seed=None, drop_last=False), or
    DataLoader(dataset, batch_size=...) with a Dataset / (x, y) pair. With ``seed`` (or after
    ``numbanet.seed(n)``) the order of every epoch is reproducible; ``drop_last`` drops a final
    batch smaller than ``batch_size``.
    """

    def __init__(self, x, y=None, batch_size=64, shuffle=False, seed=None, drop_last=False):
        if y is None:
            x, y = x
        x, y = np.asarray(x), np.asarray(y)  # no copy for arrays; lists become indexable
        if len(x) != len(y):
            raise ValueError(f"DataLoader: x has {len(x)} samples but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        # without a seed, draw one from numbanet's generator so that nn.seed(n) fixes the order
        self.rng = np.random.default_rng(  # orders the batches; public so a run can be replayed
            seed if seed is not None else rng.generator().integers(2**63)
        )

    @property
    def n_samples(self):
        """N, the number of samples in one epoch (before ``drop_last``)."""
        return len(self.x)

    def __len__(self):
        full, rest = divmod(self.n_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        order = self.rng.permutation(self.n_samples) if self.shuffle else None
        for batch in range(len(self)):
            start = batch * self.batch_size
            if order is None:
                yield (
                    self.x[start : start + self.batch_size],
                    self.y[start : start + self.batch_size],
                )
            else:
                rows = order[start : start + self.batch_size]
                yield self.x[rows], self.y[rows]

    def __repr__(self):
        return (
            f"DataLoader({self.n_samples} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
