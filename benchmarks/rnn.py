"""Training speed of RNN (tanh), LSTM and GRU classifiers on row-by-row MNIST (each 28×28
image read as 28 steps of 28 features): recurrent layer, hidden 128, one layer, batch_first →
last step → Linear(128, 10), cross-entropy, Adam, no gradient clipping. numbanet against
PyTorch CPU (when installed), same run, same thread count, each engine in a process of its
own (see harness.py).

    python benchmarks/rnn.py                      # batch 64 with 2 threads, all three cells
    python benchmarks/rnn.py --models lstm        # one cell only
    python benchmarks/rnn.py --record             # also append the table to RESULTS.md
    python benchmarks/rnn.py --profile lstm       # where numbanet's step spends its time

One step = forward + loss + backward + Adam update, on synthetic data.
"""

import argparse
import functools
import importlib.util
import sys

import numpy as np

from harness import markdown_table, measure_all, numbanet_trainer, profile_step, worker
from results import record

HIDDEN = 128
CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}  # --models name -> torch.nn class


def synthetic(batch):
    rng = np.random.default_rng(1)
    return rng.random((batch, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


def numbanet_model(model):
    import numbanet as nn

    nn.seed(0)
    return nn.models.sequence_classifier(28, HIDDEN, 10, cell=model)


def numbanet_step(batch, threads, model="lstm"):
    import numbanet as nn

    nn.set_num_threads(threads)
    return numbanet_trainer(numbanet_model(model), *synthetic(batch))


def torch_step(batch, threads, model="lstm"):
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    cell = getattr(torch.nn, CELLS[model])(28, HIDDEN, batch_first=True)
    head = torch.nn.Linear(HIDDEN, 10)
    opt = torch.optim.Adam([*cell.parameters(), *head.parameters()], lr=1e-3)
    x, y = (torch.from_numpy(a) for a in synthetic(batch))

    def step():
        opt.zero_grad()
        outputs, _ = cell(x)
        torch.nn.functional.cross_entropy(head(outputs[:, -1]), y).backward()
        opt.step()

    return step


ENGINES = {
    f"{engine}-{model}": functools.partial(step, model=model)
    for model in CELLS
    for engine, step in (("numbanet", numbanet_step), ("pytorch", torch_step))
}


def profile(batch, threads, model):
    """Where numbanet's step spends its time, event by event, on ``threads`` threads as in the
    speed runs."""
    import numbanet as nn

    nn.set_num_threads(threads)
    profile_step(numbanet_model(model), *synthetic(batch))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per engine per round")
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    parser.add_argument("--models", default="rnn,lstm,gru", help="comma-separated")
    parser.add_argument("--profile", choices=sorted(CELLS), help="time each event of its step")
    parser.add_argument("--worker", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(ENGINES, args.worker, int(args.batch_sizes), args.threads, args.seconds)
    if args.profile:
        return profile(int(args.batch_sizes.split(",")[0]), args.threads, args.profile)
    models = args.models.split(",")
    engines = [e for e in ENGINES if e.rsplit("-", 1)[1] in models]
    if not importlib.util.find_spec("torch"):
        engines = [e for e in engines if not e.startswith("pytorch")]
        print("PyTorch not installed: numbanet's figures only", file=sys.stderr)
    ratios = [(f"{m} vs PyTorch", f"numbanet-{m}", f"pytorch-{m}") for m in models]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    table = markdown_table(measure_all(__file__, engines, batches, args), engines, ratios)
    print(table)
    if args.record:
        record(f"Recurrent training speed (row-by-row MNIST), {args.threads} threads", table)


if __name__ == "__main__":
    main()
