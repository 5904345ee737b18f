"""Accuracy of the seed MLP on MNIST: 784-128-256-10, ReLU, cross-entropy, Adam lr 1e-3,
batch 64, 5 epochs (PyTorch with this recipe: 97.5–98.0% test accuracy).

    python benchmarks/mnist_mlp.py [--epochs 5] [--seed 0] [--record]
"""

import argparse
import numbanet as nn
from numbanet import data
from results import record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--record", action="store_true", help="append the result to RESULTS.md")
    args = parser.parse_args()

    train, test = (data.mnist if args.dataset == "mnist" else data.fashion_mnist)()
    nn.seed(args.seed)
    model = nn.models.mlp()  # the seed MLP: 784-128-256-10, ReLU
    history = nn.fit(
        model,
        nn.CrossEntropyLoss(),
        nn.optim.Adam(model, lr=1e-3),
        train,
        epochs=args.epochs,
        batch_size=64,
        val_data=test,
        seed=args.seed,
    )
    result = nn.evaluate(model, test)
    seconds = sum(history.seconds)
    print(f"test after {args.epochs} epochs: {result}")
    print("per epoch test accuracy:", " ".join(f"{a:.4f}" for a in history.val_accuracy))
    print(
        f"{seconds:.1f} s in all "
        f"({args.epochs * len(train.x) / seconds:,.0f} samples/s, evaluation included)"
    )
    if args.record:
        per_epoch = ", ".join(f"{a:.4f}" for a in history.val_accuracy)
        record(
            f"Seed MLP on {args.dataset}",
            f"seed {args.seed}, {args.epochs} epochs, batch 64, Adam 1e-3: test accuracy "
            f"**{result.accuracy:.4f}** (per epoch: {per_epoch}), macro F1 {result.f1:.4f}, "
            f"{seconds:.0f} s.",
        )


if __name__ == "__main__":
    main()
