"""Start-up cost: `import numbanet`, and the first training step in a new process with a cold
kernel cache (everything compiled) and with a warm one (compiled kernels loaded from disk).

    python benchmarks/startup.py [--record]            # the seed MLP
    python benchmarks/startup.py --model seed_cnn      # a zoo model for 28×28 images
"""

import argparse
import os
import subprocess
import sys
import tempfile

from results import record

FIRST_STEP = """
import time
t0 = time.perf_counter()
import numpy as np
import numbanet as nn
t1 = time.perf_counter()
model = nn.models.MODEL()
opt = nn.optim.Adam(model)
x, y = np.random.rand(64, 1, 28, 28).astype(np.float32), np.arange(64) % 10
for _ in nn.train_step(model, nn.CrossEntropyLoss(), opt, x, y, snapshot=False):
    pass
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def run(cache_dir, model):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    script = FIRST_STEP.replace("MODEL", model)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    parser.add_argument("--model", default="mlp", choices=["mlp", "lenet5", "seed_cnn"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        cold_import, cold_step = run(cache, args.model)
        warm = [run(cache, args.model) for _ in range(3)]
    warm_import = min(w[0] for w in warm)
    warm_step = min(w[1] for w in warm)
    lines = [
        f"| `import numbanet` | {warm_import:.2f} s |",
        f"| first training step, cold kernel cache (compiles) | {cold_step:.2f} s |",
        f"| first training step, warm kernel cache | {warm_step:.2f} s |",
    ]
    print("\n".join(lines))
    if args.record:
        title = "Start-up" if args.model == "mlp" else f"Start-up, {args.model}"
        record(title, "| what | time |\n|---|---:|\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
