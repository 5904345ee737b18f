"""Test accuracy of the model zoo on MNIST (or Fashion-MNIST), each with its known recipe:
cross-entropy, Adam lr 1e-3, batch 64, inputs standardized with the training pixels' mean and
std (``data.standardize``; for MNIST 0.1307 and 0.3081, as torchvision's MNIST examples
normalize; ``--raw`` keeps pixels in [0, 1]).

    python benchmarks/mnist.py [--model mlp] [--epochs N] [--seed 0] [--raw] [--record]

    mlp       the seed MLP 784-128-256-10, 5 epochs (PyTorch with this recipe: 97.5–98.0%)
    seed_cnn  the seed CNN, 2 epochs: 98.54–99.01% over seeds 0–4; with raw pixels
              98.37–98.79%, as PyTorch's 98.10–98.80% (same data and recipe, seeds 0–4)
    lenet5    LeNet-5 with tanh and average pooling, 2 epochs
"""

import argparse

import numbanet as nn
from numbanet import data
from results import record

EPOCHS = {"mlp": 5, "seed_cnn": 2, "lenet5": 2}
NAMES = {"mlp": "Seed MLP", "seed_cnn": "Seed CNN", "lenet5": "LeNet-5"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(EPOCHS), default="mlp")
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--raw", action="store_true", help="pixels in [0, 1], not standardized")
    parser.add_argument("--record", action="store_true", help="append the result to RESULTS.md")
    args = parser.parse_args()
    epochs = args.epochs or EPOCHS[args.model]

    train, test = (data.mnist if args.dataset == "mnist" else data.fashion_mnist)()
    if not args.raw:  # the training set's statistics for both splits
        mean, std = float(train.x.mean()), float(train.x.std())
        train, test = (data.standardize(d, mean, std) for d in (train, test))
    nn.seed(args.seed)
    model = getattr(nn.models, args.model)()
    history = nn.fit(
        model,
        nn.CrossEntropyLoss(),
        nn.optim.Adam(model, lr=1e-3),
        train,
        epochs=epochs,
        batch_size=64,
        val_data=test,
        seed=args.seed,
    )
    result = nn.evaluate(model, test)
    seconds = sum(history.seconds)
    print(f"test after {epochs} epochs: {result}")
    print("per epoch test accuracy:", " ".join(f"{a:.4f}" for a in history.val_accuracy))
    print(
        f"{seconds:.1f} s in all "
        f"({epochs * len(train.x) / seconds:,.0f} samples/s, evaluation included)"
    )
    if args.record:
        per_epoch = ", ".join(f"{a:.4f}" for a in history.val_accuracy)
        record(
            f"{NAMES[args.model]} on {args.dataset}",
            f"seed {args.seed}, {epochs} epochs, batch 64, Adam 1e-3, "
            f"{'raw pixels' if args.raw else 'standardized inputs'}: test accuracy "
            f"**{result.accuracy:.4f}** (per epoch: {per_epoch}), macro F1 {result.f1:.4f}, "
            f"{seconds:.0f} s.",
        )


if __name__ == "__main__":
    main()
