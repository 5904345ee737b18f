"""A DCGAN on MNIST, trained by numbanet and by PyTorch with one recipe, its samples judged by
an MNIST classifier: are they digits, and every digit (no mode collapse)?

    python benchmarks/gan.py [--epochs 5] [--seed 0] [--threads 2] [--record]
    python benchmarks/gan.py --epochs 1 --limit 3000 --samples 200    # a smoke run

Recipe: ``nn.models.mnist_gan(latent_dim=64)`` (G: z 64 → Linear 128·7·7 → BatchNorm → ReLU →
ConvTranspose2d 128 → 64 → BatchNorm → ReLU → ConvTranspose2d 64 → 1 → tanh; D: Conv2d 1 → 64
→ LeakyReLU → Conv2d 64 → 128 → BatchNorm → LeakyReLU → Linear 1), Adam(lr=2e-4,
betas=(0.5, 0.999)) for both networks and ``fit_gan(..., epochs=5, batch_size=64)`` on the
60,000 training images scaled to [−1, 1]. PyTorch's twin has the same layers and the same step
(D on the real batch and on the fakes, its two BCE-with-logits losses summed; then G's
non-saturating loss through the updated D).

The judge: a CNN trained here with numbanet on the MNIST training set (Conv 32 → BatchNorm →
ReLU → MaxPool, Conv 64 → BatchNorm → ReLU → MaxPool, Linear 128 → ReLU → Dropout →
Linear 10; Adam 1e-3 halved each epoch), kept in ``benchmarks/.cache/`` (gitignored) and
retrained when missing. Its test accuracy is printed and must reach ``--min-accuracy`` (99%)
for any judgement. Each generator, in eval mode, draws ``--samples`` (1,000) images from the
same noise; the classifier reads them (mapped back to [0, 1]), and the benchmark reports its
mean top-class probability (goal ≥ 0.85: they look like digits) and the share of each digit
(goal: each ≥ 1.5%, no collapse), with the training time (goal ≤ 10 minutes for 5 epochs on
a 2-core machine). A grid of the first 64 samples of each engine goes to
``benchmarks/figures/gan_<engine>.png``.

Each engine trains in a process of its own (``harness.py`` says why), on the same images,
which the parent process loads and hands over in a temporary .npz file; the worker hands its
samples back the same way.
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
LATENT, BATCH, LR, BETAS = 64, 64, 2e-4, (0.5, 0.999)
CACHE = Path(__file__).with_name(".cache")
FIGURES = Path(__file__).with_name("figures")
GOAL_CONFIDENCE, GOAL_SHARE, GOAL_SECONDS = 0.85, 0.015, 600


def numbanet_run(x, z, epochs, seed, threads):
    """Train numbanet's GAN on x; returns (G's images of z in eval mode, seconds per epoch)."""
    import numbanet as nn

    nn.set_num_threads(threads)
    nn.seed(seed)
    generator, discriminator = nn.models.mnist_gan(latent_dim=LATENT)
    g_opt = nn.optim.Adam(generator, lr=LR, betas=BETAS)
    d_opt = nn.optim.Adam(discriminator, lr=LR, betas=BETAS)
    history = nn.fit_gan(generator, discriminator, g_opt, d_opt, x, epochs=epochs,
                         batch_size=BATCH, seed=seed, fixed_noise=0)  # fmt: skip
    return nn.predict(generator, z), history.seconds


def pytorch_run(x, z, epochs, seed, threads):
    """Train PyTorch's twin on x; returns (G's images of z in eval mode, seconds per epoch)."""
    import torch
    from torch import nn as tnn
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    generator = tnn.Sequential(
        tnn.Linear(LATENT, 128 * 7 * 7, bias=False), tnn.BatchNorm1d(128 * 7 * 7), tnn.ReLU(),
        tnn.Unflatten(1, (128, 7, 7)),
        tnn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(),
        tnn.ConvTranspose2d(64, 1, 4, 2, 1), tnn.Tanh(),
    )  # fmt: skip
    discriminator = tnn.Sequential(
        tnn.Conv2d(1, 64, 4, 2, 1), tnn.LeakyReLU(0.2),
        tnn.Conv2d(64, 128, 4, 2, 1, bias=False), tnn.BatchNorm2d(128), tnn.LeakyReLU(0.2),
        tnn.Flatten(), tnn.Linear(128 * 7 * 7, 1),
    )  # fmt: skip
    g_opt = torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS)
    x, order, seconds = torch.from_numpy(x), np.random.default_rng(seed), []
    for _ in range(epochs):
        start = time.perf_counter()
        for batch in torch.from_numpy(order.permutation(len(x))).split(BATCH):
            real = x[batch]
            fake = generator(torch.randn(len(real), LATENT))
            d_opt.zero_grad()
            real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
            d_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(
                fake_logits, torch.zeros_like(fake_logits)
            )
            d_loss.backward()
            d_opt.step()
            g_opt.zero_grad()
            fake_logits = discriminator(fake)  # the updated D; its grads are zeroed before use
            bce(fake_logits, torch.ones_like(fake_logits)).backward()
            g_opt.step()
        seconds.append(time.perf_counter() - start)
    generator.eval()
    with torch.no_grad():
        return generator(torch.from_numpy(z)).numpy(), seconds


RUNS = {"numbanet": numbanet_run, "pytorch": pytorch_run}


def worker(engine, data_file, out_file, epochs, seed, threads):
    """One engine's run in this process: its samples to ``out_file``, its epochs' seconds."""
    arrays = np.load(data_file)
    samples, seconds = RUNS[engine](arrays["x"], arrays["z"], epochs, seed, threads)
    np.save(out_file, np.asarray(samples, np.float32))
    print(json.dumps({"seconds": list(seconds)}), flush=True)


def run_engine(engine, data_file, folder, args):
    """Run ``engine`` in a process of its own; returns (samples, seconds per epoch, wall s)."""
    out_file = str(Path(folder) / f"{engine}_samples.npy")
    command = [sys.executable, __file__, "--worker", engine, "--data", data_file,
               "--out", out_file, "--epochs", str(args.epochs), "--seed", str(args.seed),
               "--threads", str(args.threads)]  # fmt: skip
    start = time.perf_counter()
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if out.returncode:
        raise RuntimeError(f"{engine} worker failed (exit code {out.returncode})")
    wall = time.perf_counter() - start
    return np.load(out_file), json.loads(out.stdout.splitlines()[-1])["seconds"], wall


def classifier(seed, epochs, limit, threads):
    """The judge: the MNIST CNN from the cache, or trained now and cached; with its test
    accuracy."""
    import numbanet as nn
    from numbanet import data

    nn.set_num_threads(threads)
    train, test = data.mnist()
    path = CACHE / f"mnist_classifier_seed{seed}_epochs{epochs}_n{limit or len(train.x)}.npz"
    if path.exists():
        model, _ = nn.io.load(path)
    else:
        nn.seed(seed)
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, 10),
        )  # fmt: skip
        print(f"training the judge, an MNIST CNN ({epochs} epochs); cached in {path}")
        nn.fit(model, nn.CrossEntropyLoss(), nn.optim.Adam(model, lr=1e-3),
               (train.x[:limit], train.y[:limit]), epochs=epochs, batch_size=64, seed=seed,
               lr_schedule=lambda epoch: 1e-3 * 0.5**epoch)  # fmt: skip
        CACHE.mkdir(exist_ok=True)
        nn.io.save(path, model)
    return model, nn.evaluate(model, test).accuracy


def judge(model, samples):
    """(mean top-class probability, share of each digit 0–9) of the classifier on samples in
    [−1, 1] (N, 1, 28, 28)."""
    import numbanet as nn

    logits = nn.predict(model, (samples + 1) / 2)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return float(p.max(axis=1).mean()), np.bincount(p.argmax(axis=1), minlength=10) / len(p)


def save_grid(samples, path):
    """The first 64 samples as an 8 × 8 grid, a small grey PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from numbanet.data.plot import image_grid

    path.parent.mkdir(exist_ok=True)
    plt.imsave(path, image_grid((samples[:64] + 1) / 2, ncols=8), cmap="gray", vmin=0, vmax=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="the first N training images")
    parser.add_argument("--samples", type=int, default=1000, help="images drawn per generator")
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--classifier-limit", type=int, default=None,
                        help="train the judge on the first N images (smoke runs)")  # fmt: skip
    parser.add_argument("--min-accuracy", type=float, default=0.99,
                        help="judge only with a classifier this accurate")  # fmt: skip
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where the grids go")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--record", action="store_true", help="append the result to RESULTS.md")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.data, args.out, args.epochs, args.seed, args.threads)
    if args.record and args.min_accuracy < 0.99:
        parser.error("--record judges with a classifier of at least 99% test accuracy only")

    from numbanet import data

    model, accuracy = classifier(args.seed, args.classifier_epochs, args.classifier_limit,
                                 args.threads)  # fmt: skip
    print(f"judge: MNIST CNN, test accuracy {accuracy:.4f}")
    if accuracy < args.min_accuracy:
        sys.exit(f"gan.py: the judge's test accuracy {accuracy:.4f} is below "
                 f"{args.min_accuracy:.2f}: no judgement (delete {CACHE} to retrain)")  # fmt: skip
    x = np.asarray(data.mnist()[0].x, np.float32)[: args.limit] * 2 - 1
    z = np.random.default_rng(args.seed + 1).standard_normal((args.samples, LATENT))
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        data_file = str(Path(folder) / "mnist.npz")
        np.savez(data_file, x=x, z=z.astype(np.float32))
        for engine in args.engines:
            samples, seconds, wall = run_engine(engine, data_file, folder, args)
            confidence, shares = judge(model, samples)
            save_grid(samples, args.figures / f"gan_{engine}.png")
            rows[engine] = (confidence, shares, sum(seconds), wall)
            met = (confidence >= GOAL_CONFIDENCE and shares.min() >= GOAL_SHARE
                   and sum(seconds) <= GOAL_SECONDS)  # fmt: skip
            print(f"{engine:>8}: mean top-class probability {confidence:.3f}, digits 0–9 "
                  + " ".join(f"{share:.1%}" for share in shares)
                  + f" (min {shares.min():.1%}), training {sum(seconds):.0f} s "
                  + f"({' '.join(f'{s:.0f}' for s in seconds)} per epoch), {wall:.0f} s wall; "
                  + ("goals met" if met else "goals NOT met"), flush=True)  # fmt: skip
    if args.record:
        table = ["| engine | mean top-class p | min digit share | digits 0–9 (%) | training s | "
                 "wall s |", "|---|---:|---:|---|---:|---:|"]  # fmt: skip
        for engine, (confidence, shares, seconds, wall) in rows.items():
            table.append(f"| {engine} | {confidence:.3f} | {shares.min():.1%} | "
                         + " ".join(f"{100 * s:.1f}" for s in shares)
                         + f" | {seconds:.0f} | {wall:.0f} |")  # fmt: skip
        size = f"the first {len(x):,} training images" if args.limit else "60,000 images"
        record(
            "DCGAN on MNIST (mnist_gan, judged by a classifier)",
            f"`python benchmarks/gan.py --seed {args.seed} --epochs {args.epochs}`: "
            f"{args.epochs} epochs on {size}, batch {BATCH}, Adam {LR:g} betas {BETAS}, "
            f"{args.threads} threads; {args.samples:,} samples per generator in eval mode from "
            f"the same noise, judged by a numbanet CNN of test accuracy {accuracy:.4f}. Goals: "
            f"mean top-class probability ≥ {GOAL_CONFIDENCE}, every digit ≥ "
            f"{GOAL_SHARE:.1%}, training ≤ {GOAL_SECONDS // 60} min. Sample grids: "
            + ", ".join(f"`figures/gan_{engine}.png`" for engine in rows)
            + ".\n\n" + "\n".join(table),
        )


if __name__ == "__main__":
    main()
