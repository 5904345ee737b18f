"""The ``numbanet`` command: ``numbanet train`` trains a model, ``numbanet compare`` runs the
kernels on the CPU and on CUDA side by side, ``numbanet info`` describes the setup (versions,
threads, the GPU, the kernel cache), ``numbanet warmup`` compiles the zoo's kernels into the
cache ahead of the first training step.

Every option's value is checked before any work starts, the folder a result will be saved in
included, so that no training is lost to a typo at its end: a bad value gets a one-line error
under its subcommand's usage (exit status 2)."""

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

from numbanet.warmup import MODELS
from numbanet.warmup import warmup as compile_models

DATASETS = ("digits", "mnist", "fashion-mnist")


def plural(n, word):
    """"1 epoch", "2 epochs"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def duration(seconds):
    """"40 s", "3 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


# ----- option values: argparse types whose errors say what was expected and what was given ---
def number(kind, low, high=None, above=False):
    """An argparse type: a finite ``kind`` (int or float) >= ``low`` (> ``low`` if ``above``)
    and <= ``high`` if given (a number, or a function that gives it when the option is read)."""

    def parse(text):
        top = high() if callable(high) else high
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None
            or not math.isfinite(value)
            or (value <= low if above else value < low)
            or (top is not None and value > top)
        ):
            noun = "a whole number" if kind is int else "a number"
            bound = f"from {low} to {top}" if top is not None else f"{'>' if above else '>='} {low}"
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}")
        return value

    return parse


def cpu_threads():
    """The most threads the kernels can use (Numba's pool: the cores, or NUMBA_NUM_THREADS)."""
    import numba

    return numba.config.NUMBA_NUM_THREADS


def hidden_widths(text):
    """--hidden: comma-separated layer widths, each >= 1 ("" for no hidden layer)."""
    try:
        widths = [int(width) for width in text.split(",") if width.strip()]
    except ValueError:
        widths = None
    if widths is None or any(width < 1 for width in widths):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated widths >= 1 such as 128,256, got {text!r}"
        )
    return widths


def existing_folder(text):
    """--data-dir: a folder that exists (never created: a typo would go unnoticed)."""
    if not Path(text).is_dir():
        problem = "a file" if Path(text).exists() else "no such folder"
        raise argparse.ArgumentTypeError(f"expected an existing folder, got {text!r} ({problem})")
    return text


def output_file(text):
    """--save: a file name in a folder that exists and may be written to."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        problem = "a folder: give a file name such as model.npz"
    elif not folder.is_dir():
        problem = f"the folder {folder} does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"no permission to write in {folder}"
    else:
        return text
    raise argparse.ArgumentTypeError(f"expected a file to write, got {text!r} ({problem})")


# ----- the subcommands -----------------------------------------------------------------------
def load_dataset(name, data_dir):
    """(train, test) for a dataset name of ``DATASETS``."""
    from numbanet import data

    if name == "digits":
        return data.digits()
    loader = data.mnist if name == "mnist" else data.fashion_mnist
    return loader(root=data_dir)


def check_train(args):
    """What is wrong with a combination of ``train``'s options, or None."""
    from numbanet.backend import cuda_unavailable_reason

    if args.data_dir is not None and args.dataset == "digits":
        return "--data-dir is for mnist and fashion-mnist (digits ships with scikit-learn)"
    if args.device == "cuda" and cuda_unavailable_reason() is not None:
        return f"--device cuda is not available here: {cuda_unavailable_reason()}"
    return None


def train(args):
    import numpy as np
    from tqdm.auto import tqdm

    import numbanet as nn
    from numbanet.kernels.cpu.cache import compile_notice

    if args.threads is not None:
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
    with compile_notice(tqdm.write) as compiled:  # says so when the kernels compile
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
    # the first epoch also loads or compiles the kernels: the speed is the later epochs'
    timing = [f"first epoch {history.seconds[0]:.1f} s"]
    if compiled.kernels:
        timing.append(
            f"{compiled.seconds:.1f} s of it compiling {plural(compiled.kernels, 'kernel')}, "
            "which later runs load from the cache"
        )
    if len(history.seconds) > 1:
        later = history.seconds[1:]
        speed = len(later) * len(train_set.x) / sum(later)
        timing.append(f"then {speed:,.0f} samples/s with evaluation")
    print(f"trained {plural(args.epochs, 'epoch')} in {seconds:.1f} s ({'; '.join(timing)})")
    print(f"test: {result}")
    if args.save:
        nn.io.save(args.save, model, optimizer)
        print(f"saved model and optimizer to {args.save}")
    return 0


def describe_blas(blas):
    """One line per BLAS library of ``runtime.thread_info()``: which it is, its threads, and
    whether numbanet's kernels call it."""
    lines = []
    for lib in sorted(blas, key=lambda lib: not lib["kernels"]):  # the kernels' first
        use = (
            "the one numbanet's kernels call"
            if lib["kernels"]
            else f"{lib['folder'].removesuffix('.libs')}'s own, not called by numbanet's kernels"
        )
        lines.append(
            f"{lib['library']} {lib['version']} from {lib['folder']}, "
            f"{plural(lib['threads'], 'thread')}: {use}"
        )
    return lines or ["none found"]


def describe_cache():
    """Where the compiled kernels are cached, and why there."""
    import numba

    import numbanet as nn
    from numbanet.kernels.cpu.cache import cache_dir

    folder = cache_dir()
    if numba.config.CACHE_DIR:
        why = "NUMBA_CACHE_DIR"
    elif Path(nn.__file__).parent in folder.parents:
        why = "beside the kernels' sources"
    else:
        why = "the package's folder is read-only, so the user's cache"
    return f"{folder} ({why})"


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
    first_blas, *other_blas = describe_blas(threads["blas"])
    rows = [
        ("numbanet", nn.__version__),
        ("python", platform.python_version()),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("numba-cuda", cuda_version),
        ("numba threads", threads["numba_threads"]),
        ("numba threading layer", threads["numba_threading_layer"]),
        ("BLAS", first_blas),
        *(("", line) for line in other_blas),
        ("flush denormals", "on" if flush_denormal_enabled() else "off"),
        ("GPU", describe_gpu()),
        ("kernel cache", describe_cache()),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def warmup(args):
    seconds = compile_models(args.model, progress=not args.no_progress)
    width = max(len(name) for name in seconds)
    for name, spent in seconds.items():
        print(f"{name:<{width}}  {spent:.1f} s")
    print(f"the kernels of {plural(len(seconds), 'model')} are in the cache: {describe_cache()}")
    return 0


DEFAULT_FAMILY = "dense"  # the matrix products: BLAS against the tiled shared-memory kernel


def check_compare(args):
    """What is wrong with a combination of ``compare``'s options, or None."""
    from numbanet.compare.cases import CASES
    from numbanet.compare.kernels import families, unknown_case_hint

    if not args.model and (args.steps is not None or args.optimizer is not None):
        return "--steps and --optimizer are for --model"
    if (args.model or args.sweep or args.list) and (args.kernel or args.family or args.all):
        return "--kernel, --family, --all choose the kernel table: not for --model, --sweep, --list"
    for name in args.family or ():
        if name not in families():
            return f"--family: no family {name!r}; families are {', '.join(families())}"
    for name in args.kernel or ():
        if not any(name in case for case in CASES):
            return f"--kernel {name!r} matches no kernel ({unknown_case_hint(name)})"
    if args.sweep and args.sweep not in CASES:
        return f"--sweep: no kernel {args.sweep!r} ({unknown_case_hint(args.sweep)})"
    return None


def compare_table(args):
    """The kernel table's rows, and a closing line saying what was compared, how long it took,
    and what the full table holds and would take at this pace."""
    from numbanet import compare as cmp
    from numbanet.backend import cuda_simulated
    from numbanet.compare.kernels import families, jobs

    size = args.size or ("small" if cuda_simulated() else "large")
    family = args.family or ([] if args.kernel or args.all else [DEFAULT_FAMILY])
    start = time.perf_counter()
    rows = cmp.run(
        args.kernel,
        args.dtype,
        size,
        args.repeat,
        progress=not args.json,
        all_shapes=args.all,
        family=family,
    )
    seconds = time.perf_counter() - start
    every = len(jobs(None, args.dtype, size, all_shapes=True))
    chosen = ", ".join([*(f"family {name}" for name in family), *(args.kernel or ())])
    summary = (
        f"{plural(len(rows), 'row')} ({chosen or 'every kernel'}, "
        f"{'every shape' if args.all else 'one shape per kernel'}) in {duration(seconds)}."
    )
    if len(rows) < every:
        summary += (
            f" Families: {', '.join(families())} (--family NAME). Every kernel on every shape "
            f"(--all): {every} rows, roughly {duration(seconds * every / len(rows))} at this pace."
        )
    return rows, summary


def compare(args):
    from numbanet import compare as cmp

    if args.list:
        print("\n".join(sorted(cmp.CASES)))
        return 0
    if args.model:
        result = cmp.run_model(
            steps=args.steps or 5, optimizer=args.optimizer or "adam", dtype=args.dtype[0]
        )
        payload, text = result, cmp.format_model(result)
    elif args.sweep:
        result = cmp.sweep(args.sweep, dtype=args.dtype[0], repeat=args.repeat, progress=False)
        payload, text = result, cmp.format_sweep(result)
    else:
        rows, summary = compare_table(args)
        payload = {"rows": [row.as_dict() for row in rows]}
        text = f"{cmp.format_table(rows)}\n\n{summary}"
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
        type=hidden_widths,
        default=[128, 256],
        help="hidden widths, comma-separated (default: 128,256)",
    )
    t.add_argument("--activation", choices=("relu", "tanh", "sigmoid", "leakyrelu"), default="relu")
    t.add_argument("--epochs", type=number(int, 1), default=10, help="default: 10")
    t.add_argument("--batch-size", type=number(int, 1), default=64, help="default: 64")
    t.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    t.add_argument(
        "--lr",
        type=number(float, 0, above=True),
        default=1e-3,
        help="learning rate (default: 1e-3)",
    )
    t.add_argument(
        "--momentum", type=number(float, 0), default=0.9, help="SGD momentum (default: 0.9)"
    )
    t.add_argument(
        "--l1", type=number(float, 0), default=0.0, help="L1 penalty λ₁Σ|w| (default: 0)"
    )
    t.add_argument(
        "--l2", type=number(float, 0), default=0.0, help="L2 penalty λ₂/2 Σw² (default: 0)"
    )
    t.add_argument("--seed", type=number(int, 0), default=0, help="default: 0")
    t.add_argument(
        "--threads",
        type=number(int, 1, high=cpu_threads),
        default=None,
        help="CPU threads for the kernels (default: all cores)",
    )
    t.add_argument(
        "--data-dir",
        type=existing_folder,
        default=None,
        help="folder with the dataset's IDX .gz files (or with its mnist/ or fashion-mnist/ "
        "folder); mnist and fashion-mnist only",
    )
    t.add_argument(
        "--save",
        type=output_file,
        default=None,
        help="write the trained model and optimizer to this .npz (its folder must exist)",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default: cpu")
    t.set_defaults(run=train, check=check_train, usage=t)
    c = commands.add_parser(
        "compare",
        help="every kernel on the CPU and on CUDA: differences, times, launch geometry",
        description="Runs every kernel on both backends on the same random inputs and prints "
        "max abs/rel difference, ULPs, the dtype's tolerance, CPU and GPU times, compile times "
        "and the grid × block of each launch: by default the dense family, one shape per "
        "kernel and dtype; --family, --kernel and --all choose others. Without a GPU, the CUDA "
        "side runs in Numba's simulator (its times mean nothing).",
    )
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument(
        "--family",
        action="append",
        help=f"the kernels of one file of numbanet/kernels/cpu/, e.g. conv (repeatable; "
        f"default: {DEFAULT_FAMILY}, unless --kernel or --all is given)",
    )
    c.add_argument(
        "--kernel",
        action="append",
        help="the kernels whose name contains this (repeatable; --list names them all)",
    )
    c.add_argument(
        "--all",
        action="store_true",
        help="every shape of each kernel, and every kernel if none is chosen (default: one "
        "representative shape per kernel)",
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
        type=number(int, 1),
        default=None,
        help="timed calls per kernel (default: 5 on a GPU, 1 in the simulator)",
    )
    mode = c.add_mutually_exclusive_group()
    mode.add_argument(
        "--model",
        action="store_true",
        help="train the same MLP a few steps on both devices and compare the params",
    )
    mode.add_argument(
        "--sweep",
        metavar="KERNEL",
        help="time one kernel (e.g. dense_forward) over batch sizes; says where the GPU wins",
    )
    mode.add_argument("--list", action="store_true", help="print every kernel's name and stop")
    c.add_argument(
        "--steps", type=number(int, 1), default=None, help="--model: training steps (default: 5)"
    )
    c.add_argument(
        "--optimizer",
        choices=("sgd", "adam", "adamw"),
        default=None,
        help="--model: default adam",
    )
    c.set_defaults(run=compare, check=check_compare, usage=c)
    i = commands.add_parser("info", help="versions, threads, CUDA and the kernel cache")
    i.set_defaults(run=info, check=lambda args: None, usage=i)
    w = commands.add_parser(
        "warmup",
        help="compile the CPU kernels of zoo models into the kernel cache",
        description="Runs one training step of each zoo model on a synthetic batch, so that "
        "Numba's on-disk cache holds every CPU kernel its training needs and the first real "
        "step loads them instead of compiling them (seconds to a minute a model). Run it once "
        "after installing numbanet or changing a kernel.",
    )
    w.add_argument(
        "--model",
        action="append",
        choices=MODELS,
        help="a zoo model (repeatable; default: all of them, since a learner meets most in the "
        "course and compiling them all takes a few minutes, once; --model mlp for one)",
    )
    w.add_argument("--no-progress", action="store_true", help="no progress bar")
    w.set_defaults(run=warmup, check=lambda args: None, usage=w)
    return p


def main(argv=None):
    """Entry point of the ``numbanet`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    if args.command == "compare":
        args.dtype = args.dtype or ["float32", "float64"]
        in_simulator_if_no_gpu(argv)
    problem = args.check(args)
    if problem:
        args.usage.error(problem)
    from numbanet.backend import BackendError
    from numbanet.data import DataError

    try:
        return args.run(args)
    except (DataError, BackendError) as exc:
        print(f"numbanet: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
