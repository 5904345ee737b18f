"""Validation loss of a character GPT on Tiny Shakespeare with nanoGPT's CPU recipe, numbanet
and PyTorch in the same run.

    python benchmarks/gpt.py                        # 2000 iterations, numbanet then PyTorch
    python benchmarks/gpt.py --iters 30             # a smoke run
    python benchmarks/gpt.py --record               # also append the result to RESULTS.md
    python benchmarks/gpt.py --engines numbanet     # numbanet only

The recipe (gpt_recipe.py): characters, the first 90% to train and the last 10% to validate,
random windows of 64 characters in batches of 12, ``gpt(65, 64, n_layer=4, n_head=4,
n_embd=128)``, dropout 0, AdamW lr 1e-3 with betas (0.9, 0.99) and weight decay 0.1 on the
weights only, 100 warm-up iterations then cosine decay to 1e-4 at iteration 2000, gradients
clipped to norm 1.0. nanoGPT reports a validation loss of 1.88 after those 2000 iterations.
PyTorch trains the same model (``torch.nn.TransformerEncoderLayer`` blocks, nanoGPT's
initialisation) on the same batches. The validation loss is the mean over the whole validation
split, cut into windows of 64 (nanoGPT estimates the same mean from 20 random batches); it is
also printed every ``--every`` iterations from 20 fixed random batches. Each engine trains in a
process of its own (see harness.py); the time is the training loop's, evaluations excluded, with
the first step (compiling or loading the kernels, growing buffers) shown apart.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gpt_recipe import BLOCK_SIZE, lr_at, numbanet_trainer, torch_trainer

BATCH, EVAL_BATCHES, PROMPT = 12, 20, "\n"
ENGINES = ("numbanet", "pytorch")


def shakespeare():
    """(text, train ids, validation ids, characters): the file from $NUMBANET_DATA or
    ../shared/data, its sorted characters numbered, split 90% / 10% as nanoGPT."""
    root = os.environ.get("NUMBANET_DATA") or Path(__file__).resolve().parents[2] / "shared/data"
    text = (Path(root) / "tinyshakespeare" / "input.txt").read_text()
    chars = sorted(set(text))
    lookup = np.zeros(max(map(ord, chars)) + 1, np.int64)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    ids = lookup[np.frombuffer(text.encode("utf-32-le"), np.uint32)]
    split = int(0.9 * len(ids))
    return text, ids[:split], ids[split:], chars


def random_windows(ids, count, rng):
    """(x, y) of ``count`` random windows of BLOCK_SIZE ids and their next ids, as nanoGPT's
    ``get_batch``."""
    starts = rng.integers(0, len(ids) - BLOCK_SIZE, count)
    x = np.stack([ids[s : s + BLOCK_SIZE] for s in starts])
    return x, np.stack([ids[s + 1 : s + 1 + BLOCK_SIZE] for s in starts])


def all_windows(ids):
    """(x, y): the whole split in windows of BLOCK_SIZE side by side (the last partial one
    dropped)."""
    count = (len(ids) - 1) // BLOCK_SIZE
    x = ids[: count * BLOCK_SIZE].reshape(count, BLOCK_SIZE)
    return x, ids[1 : count * BLOCK_SIZE + 1].reshape(count, BLOCK_SIZE)


def train(engine, iters, every, threads, seed):
    """Train one engine; returns {val_loss, seconds, tokens_per_s, curve, sample}."""
    _, train_ids, val_ids, chars = shakespeare()
    if engine == "numbanet":
        loss_of, step, generate = numbanet_engine(threads, len(chars), seed, chars)
    else:
        loss_of, step, generate = torch_engine(threads, len(chars), seed)
    rng = np.random.default_rng(seed)
    probe = random_windows(val_ids, EVAL_BATCHES * BATCH, np.random.default_rng(seed + 1))
    curve, seconds, losses, first_step = [], 0.0, [], 0.0
    for iteration in range(iters):
        x, y = random_windows(train_ids, BATCH, rng)
        start = time.perf_counter()
        losses.append(step(x, y, lr_at(iteration)))
        seconds += time.perf_counter() - start
        if iteration == 0:  # compiling (or loading cached kernels), growing buffers: apart
            first_step, seconds = seconds, 0.0
        if (iteration + 1) % every == 0 or iteration + 1 == iters:
            curve.append((iteration + 1, seconds, float(np.mean(losses)), loss_of(*probe)))
            print(f"{engine} iter {iteration + 1:>5}  {seconds:6.0f} s  train {curve[-1][2]:.3f}  "
                  f"val (20 batches) {curve[-1][3]:.3f}", file=sys.stderr, flush=True)  # fmt: skip
            losses = []
    return {
        "val_loss": loss_of(*all_windows(val_ids)),
        "seconds": first_step + seconds,
        "first_step": first_step,
        "tokens_per_s": (iters - 1) * BATCH * BLOCK_SIZE / seconds if iters > 1 else 0.0,
        "curve": curve,
        "sample": generate(300),
    }


def numbanet_engine(threads, vocab, seed, chars):
    """(loss of windows, training step, sample(length)) for numbanet's GPT."""
    import numbanet as nn

    nn.set_num_threads(threads)
    model, step = numbanet_trainer(vocab, seed)
    loss_fn = nn.CrossEntropyLoss()

    def loss_of(x, y, batch=64):
        model.eval()
        total = sum(
            loss_fn(model.forward(x[i : i + batch]), y[i : i + batch]) * len(x[i : i + batch])
            for i in range(0, len(x), batch)
        )
        model.train()
        return total / len(x)

    def generate(length):
        vocab_ = nn.data.CharVocab("".join(chars))
        return nn.sample(model, vocab_, PROMPT, length, temperature=0.8, seed=seed, top_k=200)

    return loss_of, step, generate


def torch_engine(threads, vocab, seed):
    """(loss of windows, training step, sample(length)) for the PyTorch twin."""
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    model, torch_step = torch_trainer(vocab, "mha", seed)

    def step(x, y, lr):
        return torch_step(torch.from_numpy(x), torch.from_numpy(y), lr)

    @torch.no_grad()
    def loss_of(x, y, batch=64):
        model.eval()
        total = 0.0
        for i in range(0, len(x), batch):
            logits = model(torch.from_numpy(x[i : i + batch]))
            targets = torch.from_numpy(y[i : i + batch]).reshape(-1)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), targets)
            total += loss.item() * len(x[i : i + batch])
        model.train()
        return total / len(x)

    @torch.no_grad()
    def generate(length):
        _, _, _, chars = shakespeare()
        model.eval()
        generator, ids = torch.Generator().manual_seed(seed), [chars.index(PROMPT)]
        for _ in range(length):
            logits = model(torch.tensor([ids[-BLOCK_SIZE:]]))[0, -1] / 0.8
            logits[logits < torch.topk(logits, min(200, vocab)).values[-1]] = -float("inf")
            ids.append(int(torch.multinomial(logits.softmax(-1), 1, generator=generator)))
        return "".join(chars[i] for i in ids[1:])

    return loss_of, step, generate


def run_worker(engine, args):
    """Train ``engine`` in a process of its own; its result is the last line of its output."""
    command = [sys.executable, __file__, "--worker", engine, "--iters", str(args.iters),
               "--every", str(args.every), "--threads", str(args.threads), "--seed",
               str(args.seed)]  # fmt: skip
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(results, args):
    """The markdown of a run: a table per engine, numbanet's curve, a sample."""
    lines = [
        "| engine | validation loss | training time | first step in it | tokens/s after it |",
        "|---|---:|---:|---:|---:|",
    ]
    for engine, r in results.items():
        lines.append(f"| {engine} | **{r['val_loss']:.3f}** | {r['seconds'] / 60:.1f} min "
                     f"| {r['first_step']:.1f} s | {r['tokens_per_s']:,.0f} |")  # fmt: skip
    lines += ["", "| iteration | " + " | ".join(f"{e} train / val (20 batches)" for e in results)
              + " |", "|---:|" + "---:|" * len(results)]  # fmt: skip
    for row in zip(*(r["curve"] for r in results.values())):
        cells = " | ".join(f"{train:.3f} / {val:.3f}" for _, _, train, val in row)
        lines.append(f"| {row[0][0]} | {cells} |")
    sample = results.get("numbanet", next(iter(results.values())))["sample"]
    lines += ["", f"Sample (numbanet, temperature 0.8, top-k 200, seed {args.seed}):", ""]
    lines += ["    " + line for line in (PROMPT + sample).splitlines()]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--every", type=int, default=250, help="print the loss every N iters")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--record", action="store_true", help="append the result to RESULTS.md")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = train(args.worker, args.iters, args.every, args.threads, args.seed)
        print(json.dumps(result))
        return
    results = {engine: run_worker(engine, args) for engine in args.engines.split(",")}
    body = (
        f"`python benchmarks/gpt.py --iters {args.iters} --threads {args.threads} --seed "
        f"{args.seed}` (nanoGPT's CPU recipe; nanoGPT reports 1.88 after 2000 iterations)\n\n"
        + report(results, args)
    )
    print(body)
    if args.record:
        from results import record

        record(f"Tiny Shakespeare GPT, nanoGPT's CPU recipe, {args.iters} iterations", body)


if __name__ == "__main__":
    main()
