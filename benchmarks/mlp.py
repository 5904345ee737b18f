"""Training speed of the seed MLP (784-128-256-10, ReLU, cross-entropy, Adam): numbanet against a
plain NumPy implementation and PyTorch CPU (when installed), same run, same thread count.

    python benchmarks/mlp.py                      # batch 64, 256, 1024 with 2 threads
    python benchmarks/mlp.py --record             # also append the table to RESULTS.md
                                                  # (numbanet-fused: mlp(fuse=True), each
                                                  # ReLU folded into its Linear)
    python benchmarks/mlp.py --profile            # where numbanet's step spends its time
                                                  # (batch 64 unless --batch-sizes says)
    python benchmarks/mlp.py --gpu --record       # numbanet on CUDA against its CPU backend
                                                  # and PyTorch on the GPU: batch 64, 1024, 8192

One step = forward + loss + backward + Adam update, on synthetic data. Each engine runs in a
process of its own (thread pools of two engines in one process fight over the cores), in
interleaved rounds (the host's speed drifts between runs); the median round is reported.
On the GPU every step ends waiting for the GPU (numbanet's step does, since it reads the loss;
PyTorch's is made to, with ``torch.cuda.synchronize()``), so the steps timed are finished ones.
"""

import argparse
import functools
import importlib.util
import sys

import numpy as np

import numpy_reference
from harness import markdown_table, measure_all, numbanet_trainer, profile_step, worker
from results import record


def numbanet_step(batch, threads, device="cpu", fuse=False):
    import numbanet as nn

    nn.set_num_threads(threads)  # its kernels and matrix products (see numbanet/runtime.py)
    nn.seed(0)
    x, y = synthetic(batch)
    return numbanet_trainer(nn.models.mlp(fuse=fuse).to(device), x.reshape(batch, 1, 28, 28), y)


def profile(batch, threads):
    """Where numbanet's step spends its time, event by event, on ``threads`` threads as in the
    speed runs."""
    import numbanet as nn

    nn.set_num_threads(threads)
    nn.seed(0)
    x, y = synthetic(batch)
    profile_step(nn.models.mlp(), x.reshape(batch, 1, 28, 28), y)


def numpy_step(batch, threads):
    """The textbook NumPy MLP of numpy_reference.py: np.dot forward/backward, fresh arrays every
    op, Adam by formula."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")
    return numpy_reference.trainer(numpy_reference.mlp(), *synthetic(batch))


def torch_step(batch, threads, device="cpu"):
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    ).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = synthetic(batch)
    x, y = torch.from_numpy(x.reshape(batch, 1, 28, 28)), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        # the batch comes from the host each step, as numbanet's does
        loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return step


def synthetic(batch):
    rng = np.random.default_rng(1)
    return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)


ENGINES = {
    "numbanet": numbanet_step,
    "numpy": numpy_step,
    "pytorch": torch_step,
    "numbanet-fused": functools.partial(numbanet_step, fuse=True),
    "numbanet-cuda": functools.partial(numbanet_step, device="cuda"),
    "pytorch-cuda": functools.partial(torch_step, device="cuda"),
}


def torch_has_gpu():
    if not importlib.util.find_spec("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batch-sizes", default=None, help="default: 64,256,1024 (--gpu: 64,1024,8192)"
    )
    parser.add_argument(
        "--gpu", action="store_true", help="numbanet on CUDA vs CPU and PyTorch GPU"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per engine per round")
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    parser.add_argument("--profile", action="store_true", help="time each event of the step")
    parser.add_argument("--worker", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(ENGINES, args.worker, int(args.batch_sizes), args.threads, args.seconds)
    if args.profile:
        return profile(int(args.batch_sizes or 64), args.threads)
    if args.gpu:
        engines = ["numbanet-cuda", "numbanet"] + (["pytorch-cuda"] if torch_has_gpu() else [])
        if "pytorch-cuda" not in engines:
            print(
                "PyTorch with CUDA not installed: comparing with the CPU backend", file=sys.stderr
            )
        batches, title = "64,1024,8192", "Seed MLP training speed on the GPU"
        ratios = [("GPU vs CPU", "numbanet-cuda", "numbanet"),
                  ("vs PyTorch GPU", "numbanet-cuda", "pytorch-cuda")]  # fmt: skip
    else:
        engines = ["numbanet", "numbanet-fused", "numpy"]
        if importlib.util.find_spec("torch"):
            engines.append("pytorch")
        else:
            print("PyTorch not installed: comparing with NumPy only", file=sys.stderr)
        batches, title = "64,256,1024", f"Seed MLP training speed, {args.threads} threads"
        ratios = [("vs NumPy", "numbanet", "numpy"), ("vs PyTorch", "numbanet", "pytorch"),
                  ("fused vs PyTorch", "numbanet-fused", "pytorch")]  # fmt: skip
    batches = [int(b) for b in (args.batch_sizes or batches).split(",")]
    table = markdown_table(measure_all(__file__, engines, batches, args), engines, ratios)
    print(table)
    if args.record:
        if args.gpu:
            from numbanet.backend import describe_gpu

            title += f": {describe_gpu()}"
        record(title, table)


if __name__ == "__main__":
    main()
