"""The ``numbanet`` command: ``numbanet train`` trains a model, ``numbanet compare`` runs every
kernel on the CPU and on CUDA side by side, ``numbanet info`` describes the setup (versions,
threads, the GPU, the kernel cache)."""

import argparse
import json
import os
import platform
import sys
import time

DATASETS = ("digits", "mnist", "fashion-mnist")


def load_dataset(name, data_dir):
    """(train, test) for a dataset name of ``DATASETS``."""
    from numbanet import data

    if name == "digits":
        return data.digits()
    loader = data.mnist if name == "mnist" else data.fashion_mnist
    return loader(root=data_dir)


def train(args):
    import numpy as np

    import numbanet as nn

    if args.threads:
        nn.set_num_threads(args.threads)
    nn.seed(args.seed)
    train_set, test_set = load_dataset(args.dataset, args.data_dir)
    activations = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leakyrelu": nn.LeakyReLU,
    }
    in_features = int(np.prod(train_set.x.shape[1:]))
    n_classes = int(train_set.y.max()) + 1
    model = nn.models.mlp(in_features, args.hidden, n_classes, activations[args.activation])
    model.to(args.device)
    optimizer_kwargs = {"lr": args.lr, "l1": args.l1, "l2": args.l2}
    if args.optimizer == "sgd":
        optimizer_kwargs["momentum"] = args.momentum
    optimizer = nn.optim.OPTIMIZERS[args.optimizer](model, **optimizer_kwargs)
    print(
        f"numbanet {nn.__version__}: {args.dataset} ({len(train_set.x)} train, "
        f"{len(test_set.x)} test), {model.num_params():,} params, {optimizer!r}, "
        f"on {args.device}"
    )
    print(model)
    start = time.perf_counter()
    history = nn.fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        train_set,
        epochs=args.epochs,
        batch_size=args.batch_size,
        val_data=test_set,
        seed=args.seed,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - start
    result = nn.evaluate(model, test_set)
    # the first epoch also compiles the kernels on a first run: the speed is the later epochs'
    later = history.seconds[1:] or history.seconds
    speed = len(later) * len(train_set.x) / sum(later)
    print(
        f"trained {args.epochs} epochs in {seconds:.1f} s (first epoch "
        f"{history.seconds[0]:.1f} s, compiling included on a first run; then {speed:,.0f} "
        f"samples/s with evaluation)"
    )
    print(f"test: {result}")
    if args.save:
        nn.io.save(args.save, model, optimizer)
        print(f"saved model and optimizer to {args.save}")
    return 0


def info(args):
    import numba
    import numpy as np

    import numbanet as nn
    from numbanet.runtime import flush_denormal_enabled, thread_info

    try:
        from importlib.metadata import version

        cuda_version = version("numba-cuda")
    except Exception:  # not installed: the CPU backend works without it
        cuda_version = "not installed"
    from numbanet.backend import describe_gpu

    threads = thread_info()
    kernels_dir = os.path.join(os.path.dirname(nn.__file__), "kernels", "cpu", "__pycache__")
    rows = [
        ("numbanet", nn.__version__),
        ("python", platform.python_version()),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("numba-cuda", cuda_version),
        ("numba threads", threads["numba_threads"]),
        ("numba threading layer", threads["numba_threading_layer"]),
        ("BLAS", ", ".join(f"{lib} ({n} threads)" for lib, n in threads["blas"]) or "none found"),
        ("flush denormals", "on" if flush_denormal_enabled() else "off"),
        ("GPU", describe_gpu()),
        ("kernel cache", numba.config.CACHE_DIR or kernels_dir),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def compare(args):
    from numbanet import compare as cmp

    if args.model:
        result = cmp.run_model(steps=args.steps, optimizer=args.optimizer, dtype=args.dtype[0])
        payload, text = result, cmp.format_model(result)
    elif args.sweep:
        result = cmp.sweep(args.sweep, dtype=args.dtype[0], repeat=args.repeat, progress=False)
        payload, text = result, cmp.format_sweep(result)
    else:
        rows = cmp.run(args.kernel, args.dtype, args.size, args.repeat, progress=not args.json)
        payload, text = {"rows": [row.as_dict() for row in rows]}, cmp.format_table(rows)
    if args.json:
        import dataclasses

        if dataclasses.is_dataclass(payload):
            payload = dataclasses.asdict(payload)
        payload = {**cmp.environment(), **payload}
        print(json.dumps(payload, indent=1, default=str))
    else:
        print(cmp.header())
        print()
        print(text)
    return 0


def in_simulator_if_no_gpu(argv):
    """Run ``numbanet compare`` again in Numba's CUDA simulator when this machine has no GPU:
    Numba reads NUMBA_ENABLE_CUDASIM once, at import, so the switch needs a fresh process."""
    from numbanet.backend import cuda_unavailable_reason

    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and cuda_unavailable_reason() is not None:
        env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
        os.execve(sys.executable, [sys.executable, "-m", "numbanet.cli", *argv], env)


def parser():
    p = argparse.ArgumentParser(prog="numbanet", description=__doc__)
    commands = p.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train an MLP classifier and report its test metrics")
    t.add_argument(
        "--dataset",
        choices=DATASETS,
        default="digits",
        help="digits ships with scikit-learn (offline); mnist and fashion-mnist are "
        "read from --data-dir, $NUMBANET_DATA or ~/.cache/numbanet (default: digits)",
    )
    t.add_argument("--model", choices=("mlp",), default="mlp", help="model family (default: mlp)")
    t.add_argument(
        "--hidden",
        type=lambda s: [int(h) for h in s.split(",") if h],
        default=[128, 256],
        help="hidden widths, comma-separated (default: 128,256)",
    )
    t.add_argument("--activation", choices=("relu", "tanh", "sigmoid", "leakyrelu"), default="relu")
    t.add_argument("--epochs", type=int, default=10, help="default: 10")
    t.add_argument("--batch-size", type=int, default=64, help="default: 64")
    t.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    t.add_argument("--l1", type=float, default=0.0, help="L1 penalty λ₁Σ|w| (default: 0)")
    t.add_argument("--l2", type=float, default=0.0, help="L2 penalty λ₂/2 Σw² (default: 0)")
    t.add_argument("--seed", type=int, default=0, help="default: 0")
    t.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    t.add_argument("--data-dir", default=None, help="folder with the dataset's IDX .gz files")
    t.add_argument(
        "--save", default=None, help="write the trained model and optimizer to this .npz"
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default: cpu")
    t.set_defaults(run=train)
    c = commands.add_parser(
        "compare",
        help="every kernel on the CPU and on CUDA: differences, times, launch geometry",
        description="Runs every kernel on both backends on the same random inputs and prints "
        "max abs/rel difference, ULPs, the dtype's tolerance, CPU and GPU times, compile times "
        "and the grid × block of each launch. Without a GPU, the CUDA side runs in Numba's "
        "simulator (its times mean nothing).",
    )
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument(
        "--kernel",
        action="append",
        help="only kernels whose name contains this (repeatable; default: every kernel)",
    )
    c.add_argument(
        "--dtype",
        action="append",
        choices=("float32", "float64"),
        help="repeatable (default: both; --model and --sweep use the first, default float32)",
    )
    c.add_argument(
        "--size",
        choices=("small", "large"),
        default=None,
        help="shapes: small (default in the simulator) or large (default on a GPU)",
    )
    c.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed calls per kernel (default: 5 on a GPU, 1 in the simulator)",
    )
    c.add_argument(
        "--model",
        action="store_true",
        help="train the same MLP a few steps on both devices and compare the params",
    )
    c.add_argument("--steps", type=int, default=5, help="--model: training steps (default: 5)")
    c.add_argument(
        "--optimizer",
        choices=("sgd", "adam", "adamw"),
        default="adam",
        help="--model: default adam",
    )
    c.add_argument(
        "--sweep",
        metavar="KERNEL",
        help="time one kernel (e.g. dense_forward) over batch sizes; says where the GPU wins",
    )
    c.set_defaults(run=compare)
    i = commands.add_parser("info", help="versions, threads, CUDA and the kernel cache")
    i.set_defaults(run=info)
    return p


def main(argv=None):
    """Entry point of the ``numbanet`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    if args.command == "compare":
        args.dtype = args.dtype or ["float32", "float64"]
        in_simulator_if_no_gpu(argv)
    if getattr(args, "epochs", 1) < 1 or getattr(args, "batch_size", 1) < 1:
        parser().error("--epochs and --batch-size must be >= 1")
    if args.command == "train" and not (args.lr > 0 and args.l1 >= 0 and args.l2 >= 0):
        parser().error(f"--lr must be > 0 and --l1, --l2 >= 0, got {args.lr}, {args.l1}, {args.l2}")
    from numbanet.backend import BackendError
    from numbanet.data import DataError

    try:
        return args.run(args)
    except (DataError, BackendError) as exc:
        print(f"numbanet: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
