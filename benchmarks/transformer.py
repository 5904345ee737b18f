"""Training speed of a character GPT: nanoGPT's CPU model for Tiny Shakespeare
(``gpt(65, 64, n_layer=4, n_head=4, n_embd=128)``, context 64, AdamW with nanoGPT's decay groups,
gradients clipped to 1.0; gpt_recipe.py) in numbanet against the same model in PyTorch CPU (when
installed), built from its ``TransformerEncoderLayer`` (``MultiheadAttention``) and from
nanoGPT's block (``scaled_dot_product_attention``). Same run, same thread count, each engine in a
process of its own (see harness.py), training tokens per second (windows × 64).

    python benchmarks/transformer.py                    # batch 12 and 32 with 2 threads
    python benchmarks/transformer.py --record           # also append the table to RESULTS.md
    python benchmarks/transformer.py --profile          # where numbanet's step spends its time

One step = forward + loss + backward + clipping + AdamW update, on synthetic token ids.
"""

import argparse
import functools
import importlib.util
import sys
import time

import numpy as np

from gpt_recipe import BLOCK_SIZE, VOCAB, numbanet_trainer, torch_trainer
from harness import markdown_table, measure_all, worker
from results import record


def synthetic(batch):
    ids = np.random.default_rng(1).integers(0, VOCAB, (batch, BLOCK_SIZE + 1))
    return ids[:, :-1].copy(), ids[:, 1:].copy()


def numbanet_step(batch, threads):
    import numbanet as nn

    nn.set_num_threads(threads)
    _, step = numbanet_trainer()
    x, y = synthetic(batch)
    return lambda: step(x, y)


def torch_step(batch, threads, attention="mha"):
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    _, step = torch_trainer(attention=attention)
    x, y = (torch.from_numpy(a) for a in synthetic(batch))
    return lambda: step(x, y)


ENGINES = {
    "numbanet": numbanet_step,
    "pytorch-mha": functools.partial(torch_step, attention="mha"),
    "pytorch-sdpa": functools.partial(torch_step, attention="sdpa"),
}


def profile(batch, threads, steps=10):
    """Seconds per layer of numbanet's step (forward, then backward), clipping and update."""
    import numbanet as nn

    nn.set_num_threads(threads)
    model, step = numbanet_trainer()
    x, y = synthetic(batch)
    for _ in range(3):
        step(x, y)  # compile and allocate first
    loss_fn, opt, spent = nn.CrossEntropyLoss(), nn.optim.AdamW(model), {}

    def timed(key, run):
        start = time.perf_counter()
        result = run()
        spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
        return result

    for _ in range(steps):
        h = x
        for i, layer in enumerate(model):
            h = timed(f"forward  {layer.name}", lambda: layer.forward(h))
        dy = timed("loss", lambda: (loss_fn(h, y), loss_fn.backward())[1])
        for i in range(len(model) - 1, -1, -1):
            dy = timed(f"backward {model[i].name}", lambda: model[i].backward(dy, need_dx=i > 0))
        timed("clip", lambda: nn.clip_grad_norm(model, 1.0))
        timed("update", opt.step)
    total = sum(spent.values())
    for key, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{seconds / steps * 1e3:7.2f} ms  {seconds / total:5.1%}  {key}")
    print(f"{total / steps * 1e3:7.2f} ms per step at batch {batch}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="12,32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per engine per round")
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--profile", action="store_true", help="time each layer of numbanet's step")
    parser.add_argument("--worker", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(ENGINES, args.worker, int(args.batch_sizes), args.threads, args.seconds)
    if args.profile:
        return profile(int(args.batch_sizes.split(",")[0]), args.threads)
    engines = args.engines.split(",")
    if not importlib.util.find_spec("torch"):
        engines = [e for e in engines if not e.startswith("pytorch")]
        print("PyTorch not installed: numbanet's figures only", file=sys.stderr)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    rows = [
        (batch, {name: rate * BLOCK_SIZE for name, rate in rates.items()})
        for batch, rates in measure_all(__file__, engines, batches, args)
    ]
    ratios = [(f"vs {e}", "numbanet", e) for e in engines if e != "numbanet"]
    table = markdown_table(rows, engines, ratios, unit="tokens")
    print(table)
    if args.record:
        record(f"GPT training speed (Tiny Shakespeare shape), {args.threads} threads", table)


if __name__ == "__main__":
    main()
