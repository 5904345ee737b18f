"""The speed benchmarks run each engine in a process of its own; the PyTorch and NumPy workers
must not import numbanet, whose import sets process-wide thread settings (OpenMP's wait policy,
then ``OMP_WAIT_POLICY=PASSIVE``, slowed PyTorch's seed CNN step from ~17 to ~23 ms and made every
ratio look better; now its spin count and BLAS's threads)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", ["cnn", "rnn", "mlp", "vae", "gan", "transformer", "gpt"])
def test_importing_a_speed_benchmark_does_not_import_numbanet(script):
    code = (
        f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import {script}; "
        "print('numbanet' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"
