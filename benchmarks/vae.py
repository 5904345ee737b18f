"""The variational autoencoder of pytorch/examples on MNIST, trained by numbanet and by PyTorch
with one recipe: the test loss per image after each epoch, and the seconds each epoch took.

    python benchmarks/vae.py [--epochs 10] [--seed 0] [--train-size N] [--threads 2] [--record]

Recipe: ``nn.models.vae()`` (784 → 400 → [μ | log σ²] 2·20 → z 20 → 400 → 784 logits, ReLU),
``fit(model, BCEWithLogitsLoss(reduction="sum"), Adam(model, lr=1e-3), (x, x), batch_size=128)``
with x the training pixels (N, 784) in [0, 1], shuffled every epoch; Reparameterize sums its
KL over the batch too, so the objective is the negative ELBO. The test loss per image is
pytorch/examples' test loss: BCE summed over the 784 pixels + KL, with z sampled (their
``reparameterize`` draws ε in evaluation mode too). numbanet runs its model in training mode
for it, which in this model only makes Reparameterize sample; the test images go through in
batches of 1,000.

PyTorch's twin is pytorch/examples' model (its fc21 and fc22 as one Linear 400 → 40: the same
initialization, whose bounds depend only on fan-in) with ``binary_cross_entropy_with_logits``,
the same as their sigmoid and ``binary_cross_entropy`` without taking log 0. pytorch/examples
reports a test loss "around 104" after 10 epochs. Each engine runs in a process of its own
(``harness.py`` says why), on the same images, which the parent process loads and hands over
in a temporary .npz file.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from results import record

ENGINES = ("numbanet", "pytorch")
BATCH, LR, LATENT, HIDDEN, TEST_BATCH = 128, 1e-3, 20, 400, 1000


def numbanet_run(x, x_test, epochs, seed, threads):
    """Yield (test loss per image, training seconds) after each epoch of numbanet's recipe."""
    import numbanet as nn
    from numbanet.layers.base import objective_addition

    nn.set_num_threads(threads)
    nn.seed(seed)
    model = nn.models.vae(LATENT, HIDDEN)
    loss_fn, optimizer = nn.BCEWithLogitsLoss(reduction="sum"), nn.optim.Adam(model, lr=LR)
    loader = nn.data.DataLoader(x, x, batch_size=BATCH, shuffle=True, seed=seed)
    for _ in range(epochs):
        history = nn.fit(model, loss_fn, optimizer, loader, progress=False)
        model.train()  # z sampled in the test loss too, as pytorch/examples' test loop does
        total = 0.0
        for start in range(0, len(x_test), TEST_BATCH):
            xb = x_test[start : start + TEST_BATCH]
            total += loss_fn(model.forward(xb), xb) + objective_addition(model, len(xb))
        yield total / len(x_test), history.seconds[0]


def pytorch_run(x, x_test, epochs, seed, threads):
    """Yield (test loss per image, training seconds) after each epoch of PyTorch's twin."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)

    class VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(784, HIDDEN), torch.nn.Linear(HIDDEN, 2 * LATENT)
            self.fc3, self.fc4 = torch.nn.Linear(LATENT, HIDDEN), torch.nn.Linear(HIDDEN, 784)

        def forward(self, x):
            mu, logvar = self.fc2(F.relu(self.fc1(x))).chunk(2, dim=1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            return self.fc4(F.relu(self.fc3(z))), mu, logvar

    def loss_function(logits, x, mu, logvar):
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    x, x_test, order = torch.from_numpy(x), torch.from_numpy(x_test), np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for batch in torch.from_numpy(order.permutation(len(x))).split(BATCH):
            xb = x[batch]
            optimizer.zero_grad()
            logits, mu, logvar = model(xb)
            loss_function(logits, xb, mu, logvar).backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        total = 0.0
        with torch.no_grad():
            for xb in x_test.split(TEST_BATCH):
                logits, mu, logvar = model(xb)
                total += loss_function(logits, xb, mu, logvar).item()
        yield total / len(x_test), seconds


RUNS = {"numbanet": numbanet_run, "pytorch": pytorch_run}


def worker(engine, data_file, epochs, seed, threads):
    """One engine's run in this process: a line per epoch, JSON at the end."""
    arrays = np.load(data_file)
    for epoch, (test_loss, seconds) in enumerate(
        RUNS[engine](arrays["x"], arrays["x_test"], epochs, seed, threads), start=1
    ):
        print(json.dumps({"epoch": epoch, "test_loss": test_loss, "seconds": seconds}), flush=True)


def run_engine(engine, data_file, args):
    """Run ``engine`` in a process of its own, printing its epochs as they end."""
    command = [sys.executable, __file__, "--worker", engine, "--data", data_file,
               "--epochs", str(args.epochs), "--seed", str(args.seed),
               "--threads", str(args.threads)]  # fmt: skip
    rows = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            row = json.loads(line)
            rows.append(row)
            print(f"{engine:>8} epoch {row['epoch']:>2}: test loss {row['test_loss']:.2f} per "
                  f"image, {row['seconds']:.1f} s", flush=True)  # fmt: skip
    if process.returncode:
        raise RuntimeError(f"{engine} worker failed (exit code {process.returncode})")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=None, help="the first N images only")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--record", action="store_true", help="append the result to RESULTS.md")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.data, args.epochs, args.seed, args.threads)

    from numbanet import data

    train, test = data.mnist()
    x = np.asarray(train.x, np.float32).reshape(-1, 784)[: args.train_size]
    x_test = np.asarray(test.x, np.float32).reshape(-1, 784)
    with tempfile.TemporaryDirectory() as folder:
        data_file = str(Path(folder) / "mnist.npz")
        np.savez(data_file, x=x, x_test=x_test)
        results = {engine: run_engine(engine, data_file, args) for engine in args.engines}
    if args.record:
        header = "| epoch | " + " | ".join(
            f"{engine} test loss | {engine} s" for engine in results
        ) + " |"  # fmt: skip
        table = [header, "|" + "---:|" * (header.count("|") - 1)]
        for epoch in range(args.epochs):
            cells = [f"{rows[epoch]['test_loss']:.2f} | {rows[epoch]['seconds']:.1f}"
                     for rows in results.values()]  # fmt: skip
            table.append(f"| {epoch + 1} | " + " | ".join(cells) + " |")
        last = ", ".join(f"{e} **{r[-1]['test_loss']:.2f}**" for e, r in results.items())
        size = f"the first {len(x):,} training images" if args.train_size else "60,000 images"
        record(
            "VAE on MNIST (pytorch/examples' recipe)",
            f"seed {args.seed}, {args.epochs} epochs on {size}, batch {BATCH}, Adam {LR:g}, "
            f"{args.threads} threads; test loss per image (BCE summed over pixels + KL, z "
            f"sampled) after the last epoch: {last}.\n\n" + "\n".join(table),
        )


if __name__ == "__main__":
    main()
