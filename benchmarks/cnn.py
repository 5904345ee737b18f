"""Training speed of LeNet-5 and the seed CNN on 28×28 images (cross-entropy, Adam): numbanet
against PyTorch CPU (when installed) and the plain NumPy reference (numpy_reference.py: im2col
and np.dot), same run, same thread count, each engine in a process of its own (see harness.py).

    python benchmarks/cnn.py                      # batch 64 and 256 with 2 threads
    python benchmarks/cnn.py --models seed_cnn    # one model only
    python benchmarks/cnn.py --record             # also append the table to RESULTS.md
    python benchmarks/cnn.py --profile seed_cnn   # where numbanet's step spends its time
    python benchmarks/cnn.py --profile seed_cnn --fused

numbanet runs each model as built (an activation layer after each conv and linear layer) and
with fuse=True (the activation applied by the layer before it, ``models.then``).

One step = forward + loss + backward + Adam update, on synthetic data.
"""

import argparse
import functools
import importlib.util
import sys

import numpy as np

import numpy_reference
from harness import markdown_table, measure_all, numbanet_trainer, profile_step, worker
from results import record


def synthetic(batch):
    rng = np.random.default_rng(1)
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


def numbanet_step(batch, threads, model="seed_cnn", fuse=False):
    import numbanet as nn

    nn.set_num_threads(threads)
    nn.seed(0)
    return numbanet_trainer(getattr(nn.models, model)(fuse=fuse), *synthetic(batch))


def numpy_step(batch, threads, model="seed_cnn"):
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")
    return numpy_reference.trainer(getattr(numpy_reference, model)(), *synthetic(batch))


def torch_model(model):
    import torch.nn as tnn

    if model == "seed_cnn":
        return tnn.Sequential(
            tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(32, 64, 3), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(64, 64, 3), tnn.ReLU(),
            tnn.Flatten(), tnn.Linear(576, 64), tnn.ReLU(), tnn.Linear(64, 10),
        )  # fmt: skip
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.Tanh(), tnn.AvgPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.Tanh(), tnn.AvgPool2d(2),
        tnn.Flatten(), tnn.Linear(400, 120), tnn.Tanh(), tnn.Linear(120, 84), tnn.Tanh(),
        tnn.Linear(84, 10),
    )  # fmt: skip


def torch_step(batch, threads, model="seed_cnn"):
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    net = torch_model(model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = (torch.from_numpy(a) for a in synthetic(batch))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    return step


ENGINES = {
    f"{engine}-{model}": functools.partial(step, model=model)
    for model in ("lenet5", "seed_cnn")
    for engine, step in (
        ("numbanet", numbanet_step),
        ("numbanet-fused", functools.partial(numbanet_step, fuse=True)),
        ("numpy", numpy_step),
        ("pytorch", torch_step),
    )
}


def profile(batch, threads, model, fuse):
    """Where numbanet's step spends its time, event by event, on ``threads`` threads as in the
    speed runs."""
    import numbanet as nn

    nn.set_num_threads(threads)
    nn.seed(0)
    profile_step(getattr(nn.models, model)(fuse=fuse), *synthetic(batch))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per engine per round")
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    parser.add_argument("--models", default="lenet5,seed_cnn", help="comma-separated")
    parser.add_argument(
        "--profile", choices=("lenet5", "seed_cnn"), help="time each event of this model's step"
    )
    parser.add_argument("--fused", action="store_true", help="profile the fused model")
    parser.add_argument("--worker", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(ENGINES, args.worker, int(args.batch_sizes), args.threads, args.seconds)
    if args.profile:
        batch = int(args.batch_sizes.split(",")[0])
        return profile(batch, args.threads, args.profile, args.fused)
    models = args.models.split(",")
    engines = [e for e in ENGINES if e.rsplit("-", 1)[1] in models]
    if not importlib.util.find_spec("torch"):
        engines = [e for e in engines if not e.startswith("pytorch")]
        print("PyTorch not installed: comparing with NumPy only", file=sys.stderr)
    ratios = [
        (f"{m}{fused} vs {name}", f"numbanet{fused}-{m}", f"{engine}-{m}")
        for m in models
        for fused in ("", "-fused")
        for name, engine in (("NumPy", "numpy"), ("PyTorch", "pytorch"))
    ]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    table = markdown_table(measure_all(__file__, engines, batches, args), engines, ratios)
    print(table)
    if args.record:
        record(f"CNN training speed, {args.threads} threads", table)


if __name__ == "__main__":
    main()
