"""What flushing subnormal floats to zero is worth: the seed MLP trained on MNIST with the flush
on (numbanet's default) and off, counting subnormal values in params and Adam state and timing
an epoch late in training, when they have accumulated.

    python benchmarks/subnormals.py [--epochs 3] [--record]
"""

import argparse
import subprocess
import sys

from results import record

RUN = """
import sys, time
import numpy as np
import numbanet as nn
from numbanet import data

nn.set_flush_denormal(sys.argv[1] == "on")  # before any thread pool starts: they inherit it
epochs = int(sys.argv[2])
train, test = data.mnist()
nn.seed(0)
model = nn.models.mlp()
opt = nn.optim.Adam(model, lr=1e-3)
history = nn.fit(model, nn.CrossEntropyLoss(), opt, train, epochs=epochs, seed=0, progress=False)
tiny = np.finfo(np.float32).tiny
arrays = [p for _, p in model.named_params()] + [
    a for state in opt.state.values() for k, a in state.items() if k != "step"]
subnormal = sum(int(((a != 0) & (np.abs(a) < tiny)).sum()) for a in arrays)
zeros = sum(int((a == 0).sum()) for a in arrays)
print(history.seconds[-1], subnormal, zeros, nn.evaluate(model, test).accuracy)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    args = parser.parse_args()
    rows = [
        "| flush to zero | last epoch | subnormal values | exact zeros | test accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in ("on", "off"):
        out = subprocess.run(
            [sys.executable, "-c", RUN, mode, str(args.epochs)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        seconds, subnormal, zeros, accuracy = float(out[0]), int(out[1]), int(out[2]), float(out[3])
        rows.append(f"| {mode} | {seconds:.2f} s | {subnormal:,} | {zeros:,} | {accuracy:.4f} |")
        print(rows[-1], flush=True)
    if args.record:
        record(f"Subnormal floats after {args.epochs} epochs of the seed MLP", "\n".join(rows))


if __name__ == "__main__":
    main()
