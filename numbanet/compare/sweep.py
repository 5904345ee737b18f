"""One kernel timed over batch sizes on both devices: where does the GPU start to win?"""

from dataclasses import dataclass, field

from numbanet.backend import cuda_simulated
from numbanet.compare.cases import CASES, batch_shape
from numbanet.compare.kernels import compare_kernel, unknown_case_hint

BATCHES = (1, 8, 64, 256, 1024, 4096, 16384)
SIMULATOR_BATCHES = (1, 4, 16)  # every CUDA thread a Python thread: a taste, not a measurement


@dataclass
class Sweep:
    """The ``KernelRow`` of each batch size, and the smallest batch from which the GPU is
    faster at every larger batch measured (None if it never is)."""

    case: str
    dtype: str
    batches: list = field(default_factory=list)
    rows: list = field(default_factory=list)

    @property
    def crossover(self):
        faster = [row.speedup > 1 for row in self.rows]
        for index in range(len(faster)):
            if all(faster[index:]):
                return self.batches[index]
        return None


def sweep(case="dense_forward", batches=None, dtype="float32", repeat=None, progress=True):
    """Time ``case`` on both devices at each batch size (shapes from ``cases.batch_shape``:
    a 784→128 dense layer, 10-class rows, or batch × 128 elements); returns a ``Sweep``.
    batches: default ``BATCHES`` on a GPU, ``SIMULATOR_BATCHES`` (on small shapes) in the
    simulator. repeat: timed calls per batch size (default 5 on a GPU, 1 in the simulator)."""
    from tqdm.auto import tqdm

    if case not in CASES:
        raise ValueError(f"sweep: unknown kernel case {case!r} ({unknown_case_hint(case)})")
    simulated = cuda_simulated()
    batches = batches or (SIMULATOR_BATCHES if simulated else BATCHES)
    repeat = (1 if simulated else 5) if repeat is None else repeat
    size = "small" if simulated else "large"
    result = Sweep(case, dtype)
    for batch in tqdm(batches, desc=f"sweep {case}", unit="batch size", disable=not progress):
        result.batches.append(batch)
        result.rows.append(compare_kernel(case, batch_shape(case, batch, size), dtype, repeat))
    return result
