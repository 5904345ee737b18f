"""Training speed of the seed MLP (784-128-256-10, ReLU, cross-entropy, Adam): numbanet against a
plain NumPy implementation and PyTorch CPU (when installed), same run, same thread count.

    python benchmarks/mlp.py                      # batch 64, 256, 1024 with 2 threads
    python benchmarks/mlp.py --record             # also append the table to RESULTS.md
                                                  # (numbanet-fused: mlp(fuse=True), each
                                                  # ReLU folded into its Linear)
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

from harness import markdown_table, measure_all, worker
from results import record

LAYERS = (784, 128, 256, 10)


def numbanet_step(batch, threads, device="cpu", fuse=False):
    from threadpoolctl import threadpool_limits

    import numbanet as nn

    # numbanet's default: kernels on one thread, BLAS on `threads` (see numbanet/runtime.py)
    threadpool_limits(threads, user_api="blas")
    nn.seed(0)
    model = nn.models.mlp(fuse=fuse).to(device)
    loss, opt = nn.CrossEntropyLoss(), nn.optim.Adam(model, lr=1e-3)
    x, y = synthetic(batch)
    x = x.reshape(batch, 1, 28, 28)

    def step():
        for _ in nn.train_step(model, loss, opt, x, y, snapshot=False):
            pass

    return step


def numpy_step(batch, threads):
    """The textbook NumPy MLP: np.dot forward/backward, fresh arrays every op, Adam by formula."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
        bound = 1 / np.sqrt(fan_in)
        params += [
            rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
            rng.uniform(-bound, bound, fan_out).astype(np.float32),
        ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    x, y = synthetic(batch)
    t = [0]

    def step():
        acts = [x]
        for i in range(0, len(params), 2):
            z = acts[-1] @ params[i].T + params[i + 1]
            acts.append(np.maximum(z, 0) if i < len(params) - 2 else z)
        logits = acts[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(batch), y] -= 1
        dz = p / batch
        grads = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            a = acts[i // 2]
            grads[i], grads[i + 1] = dz.T @ a, dz.sum(axis=0)
            if i:
                dz = (dz @ params[i]) * (a > 0)
        t[0] += 1
        for p_, g, m_, v_ in zip(params, grads, m, v):
            m_ *= 0.9
            m_ += 0.1 * g
            v_ *= 0.999
            v_ += 0.001 * g * g
            p_ -= 1e-3 / (1 - 0.9 ** t[0]) * m_ / (np.sqrt(v_ / (1 - 0.999 ** t[0])) + 1e-8)

    return step


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
    parser.add_argument("--worker", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(ENGINES, args.worker, int(args.batch_sizes), args.threads, args.seconds)
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
