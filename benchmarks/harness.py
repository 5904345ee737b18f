"""What every training-speed benchmark shares: timing a step, one process per engine, rounds,
the markdown table.

A benchmark script defines ENGINES = {name: function(batch, threads) -> step} and calls
``worker`` when run with ``--worker`` (``measure`` runs the script again that way, so each
engine gets a process of its own: thread pools of two engines in one process fight over the
cores).
"""

import statistics
import subprocess
import sys
import time


def samples_per_second(step, batch, seconds):
    """Run ``step`` for about ``seconds`` and return samples/s."""
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        n += 1
    return n * batch / elapsed


def worker(engines, engine, batch, threads, seconds):
    """Measure one engine in this process (each engine gets a process of its own, so no
    engine's thread pools or floating-point mode can slow another down)."""
    step = engines[engine](batch, threads)
    if not engine.startswith("numbanet") and "numbanet" in sys.modules:
        # numbanet sets the process's OpenMP spin time at import and BLAS threads at its first
        # kernel (runtime.py), which PyTorch shares (a sleeping policy slowed it by a third): the others run
        # without it.
        raise RuntimeError(f"{engine}: numbanet was imported in this engine's worker process")
    for _ in range(20):  # warm up: compile or load kernels, grow buffers, fill caches
        step()
    print(samples_per_second(step, batch, seconds))


def measure(script, engine, batch, threads, seconds):
    out = subprocess.run(
        [
            sys.executable,
            script,
            "--worker",
            engine,
            "--batch-sizes",
            str(batch),
            "--threads",
            str(threads),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def measure_all(script, engines, batches, args):
    """[(batch, {engine: median samples/s})], engines interleaved within each round."""
    rows = []
    for batch in batches:
        rounds = {name: [] for name in engines}
        for _ in range(args.rounds):
            for name in engines:
                rounds[name].append(measure(script, name, batch, args.threads, args.seconds))
        median = {name: statistics.median(r) for name, r in rounds.items()}
        rows.append((batch, median))
        line = "  ".join(f"{name} {rate:>10,.0f}" for name, rate in median.items())
        print(f"batch {batch:>5}: {line} samples/s", flush=True)
    return rows


def markdown_table(rows, engines, ratios, unit="samples"):
    """The figures as a markdown table; ratios: (column title, engine, reference engine); unit:
    what the rates count ("tokens" for a language model's rows scaled by its context)."""
    ratios = [r for r in ratios if r[1] in engines and r[2] in engines]
    header = "| batch | " + " | ".join(f"{n} {unit}/s" for n in engines)
    header += " | " + " | ".join(title for title, _, _ in ratios) + " |"
    table = [header, "|" + "---:|" * (header.count("|") - 1)]
    for batch, median in rows:
        cells = [f"{median[n]:,.0f}" for n in engines]
        cells += [f"{median[a] / median[b]:.2f}×" for _, a, b in ratios]
        table.append(f"| {batch} | " + " | ".join(cells) + " |")
    return "\n".join(table)


def numbanet_trainer(net, x, y):
    """One numbanet training step of ``net`` on (x, y) (cross-entropy, Adam 1e-3), as the speed
    runs time it: the events drained as ``fit`` drains them."""
    import numbanet as nn

    loss, opt = nn.CrossEntropyLoss(), nn.optim.Adam(net, lr=1e-3)

    def step():
        for _ in nn.train_step(net, loss, opt, x, y, snapshot=False):
            pass

    return step


def profile_step(net, x, y, steps=200):
    """Print where a numbanet training step of ``net`` on (x, y) (cross-entropy, Adam) spends
    its time, event by event, largest first, in µs per step averaged over ``steps`` steps: the
    event's time, the part of it inside compiled kernels (each kernel of the CPU table timed
    by a wrapper, which adds well under a µs per call) and the rest — the engine's Python
    around the kernels (checks, buffers, events)."""
    import numbanet as nn

    kernels = nn.get_backend("cpu").kernels
    inside = {"seconds": 0.0, "calls": 0}

    def timed(kernel):
        def call(*args):
            start = time.perf_counter()
            result = kernel(*args)
            inside["seconds"] += time.perf_counter() - start
            inside["calls"] += 1
            return result

        return call

    originals = dict(vars(kernels))
    loss, opt = nn.CrossEntropyLoss(), nn.optim.Adam(net, lr=1e-3)
    for _ in nn.train_step(net, loss, opt, x, y, snapshot=False):
        pass  # compile and allocate first
    spent = {}
    try:
        for name, kernel in originals.items():
            setattr(kernels, name, timed(kernel))
        for _ in range(steps):
            start = time.perf_counter()
            for event in nn.train_step(net, loss, opt, x, y, snapshot=False):
                now = time.perf_counter()
                key = f"{event.phase:8s} {event.name}"
                total, in_kernels, calls = spent.get(key, (0.0, 0.0, 0))
                spent[key] = (
                    total + now - start, in_kernels + inside["seconds"], calls + inside["calls"]
                )
                inside["seconds"], inside["calls"] = 0.0, 0
                start = time.perf_counter()  # the wrapper's own bookkeeping is not counted
    finally:
        vars(kernels).update(originals)
    print("| event | µs per step | in kernels | engine's Python | kernel calls |")
    print("|---|---:|---:|---:|---:|")
    for key, (total, in_kernels, calls) in sorted(spent.items(), key=lambda item: -item[1][0]):
        print(
            f"| {key} | {total / steps * 1e6:.1f} | {in_kernels / steps * 1e6:.1f} | "
            f"{(total - in_kernels) / steps * 1e6:.1f} | {calls // steps} |"
        )
    total, in_kernels, calls = (sum(column) for column in zip(*spent.values()))
    print(
        f"| **step, batch {len(x)}** | **{total / steps * 1e6:.1f}** | "
        f"**{in_kernels / steps * 1e6:.1f}** | **{(total - in_kernels) / steps * 1e6:.1f}** | "
        f"**{calls // steps}** |"
    )
