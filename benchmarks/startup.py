"""Start-up cost of each zoo model: `import numbanet`, and the first training step in a new
process with a cold kernel cache (everything compiled) and with a warm one (compiled kernels
loaded from disk).

    python benchmarks/startup.py [--record]            # every model of numbanet/models.py
    python benchmarks/startup.py --model seed_cnn      # one (repeatable)

The step is ``numbanet.warmup``'s: the model's own loss on a synthetic batch shaped as its data
(what ``numbanet warmup`` runs to fill the cache).
"""

import argparse
import compileall
import os
import subprocess
import sys
import tempfile

from results import record

import numbanet
from numbanet.warmup import MODELS

FIRST_STEP = """
import sys, time
t0 = time.perf_counter()
import numbanet
t1 = time.perf_counter()
from numbanet.warmup import run_step
run_step(sys.argv[1])
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""
WARM_RUNS = 3


def run(cache_dir, model):
    """(seconds to import numbanet, seconds of the first step) in a new process whose Numba
    cache is ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", FIRST_STEP, model], env=env, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    return float(out[-2]), float(out[-1])


def measure(model):
    """(import, cold first step, warm first step) in seconds, in a cache of the model's own:
    the cold step compiles everything; import and warm step are the least of ``WARM_RUNS``."""
    with tempfile.TemporaryDirectory() as cache:
        _, cold_step = run(cache, model)
        warm = [run(cache, model) for _ in range(WARM_RUNS)]
    return min(w[0] for w in warm), cold_step, min(w[1] for w in warm)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    parser.add_argument(
        "--model", action="append", choices=["all", *MODELS], help="repeatable (default: all)"
    )
    args = parser.parse_args()
    models = MODELS if not args.model or "all" in args.model else args.model
    # pip compiles an installed package's bytecode; a checkout run with PYTHONDONTWRITEBYTECODE=1
    # has none, and every new process would compile numbanet's sources again (about 0.15 s of
    # the import): compiled here first, the import measured is the installed one
    compileall.compile_dir(os.path.dirname(numbanet.__file__), quiet=1)
    lines = [
        "| model | `import numbanet` | cold first step | warm first step |",
        "|---|---:|---:|---:|",
    ]
    for model in models:
        figures = measure(model)
        lines.append(f"| {model} | " + " | ".join(f"{s:.2f} s" for s in figures) + " |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(f"\n{table}")
    if args.record:
        method = (
            f"Each model in new processes with a Numba cache of its own (NUMBA_CACHE_DIR, a new "
            f"temporary folder): one process with the cache empty (cold: every kernel the step "
            f"needs compiles), then {WARM_RUNS} with it filled, whose least `import numbanet` "
            f"and first step are given. The step is `numbanet.warmup.run_step`'s (one training "
            f"step on a synthetic batch shaped as the model's data); it includes loading Numba, "
            f"SciPy's BLAS and the kernel modules, which `import numbanet` leaves to it. numbanet's "
            f"bytecode is compiled first, as pip compiles an installed package's."
        )
        record("Start-up, every zoo model", f"{table}\n\n{method}")


if __name__ == "__main__":
    main()
