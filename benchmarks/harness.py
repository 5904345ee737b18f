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


def markdown_table(rows, engines, ratios):
    """The figures as a markdown table; ratios: (column title, engine, reference engine)."""
    ratios = [r for r in ratios if r[1] in engines and r[2] in engines]
    header = "| batch | " + " | ".join(f"{n} samples/s" for n in engines)
    header += " | " + " | ".join(title for title, _, _ in ratios) + " |"
    table = [header, "|" + "---:|" * (header.count("|") - 1)]
    for batch, median in rows:
        cells = [f"{median[n]:,.0f}" for n in engines]
        cells += [f"{median[a] / median[b]:.2f}×" for _, a, b in ratios]
        table.append(f"| {batch} | " + " | ".join(cells) + " |")
    return "\n".join(table)
