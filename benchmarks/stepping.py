"""What stepping costs: the training step drained as events (what fit does) against the plain
explicit step, and one event in the Stepper and in the inspector widget, on the seed MLP at
batch 64.

    python benchmarks/stepping.py [--rounds 15] [--record]
"""

import argparse
import statistics
import time

import numpy as np

import numbanet as nn
from results import record

BATCH = 64


def setup():
    nn.seed(0)
    model = nn.models.mlp()
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    return model, nn.CrossEntropyLoss(), nn.optim.Adam(model), x, y


def rate(step, seconds):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return n * BATCH / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    args = parser.parse_args()

    model, loss_fn, opt, x, y = setup()

    def plain():
        loss_fn(model(x), y)
        model.backward(loss_fn.backward(), need_dx=False)
        opt.step()

    def events():
        for _ in nn.train_step(model, loss_fn, opt, x, y, snapshot=False):
            pass

    for step in (plain, events):
        for _ in range(20):
            step()
    rates = {"plain": [], "events": []}
    for _ in range(args.rounds):  # interleaved: the host's speed drifts
        rates["plain"].append(rate(plain, args.seconds))
        rates["events"].append(rate(events, args.seconds))
    # best round of each: host noise only ever slows a round down, and the two differ by ~1%
    plain_rate, events_rate = (max(rates[k]) for k in ("plain", "events"))

    stepper = nn.debug.Stepper(model, loss_fn, opt, (x, y), batch_size=BATCH)
    stepper.run_steps(2)
    start = time.perf_counter()
    stepper.run_steps(20)
    per_event = (time.perf_counter() - start) / (20 * stepper.n_events)
    start = time.perf_counter()
    for _ in range(3):
        stepper.goto(stepper.n_events - 1)
        stepper.goto(-1)
    per_rewind = (time.perf_counter() - start) / 3

    rows = [
        "| what | figure |",
        "|---|---:|",
        f"| plain step (forward, loss, backward, Adam) | {plain_rate:,.0f} samples/s |",
        f"| the same step drained as events (`fit`) | {events_rate:,.0f} samples/s |",
        f"| cost of the events | {100 * (plain_rate / events_rate - 1):+.1f}% |",
        f"| Stepper: one event, anomaly checks on | {1e3 * per_event:.2f} ms |",
        f"| Stepper: rewind a whole step (goto -1 from the end) | {1e3 * per_rewind:.1f} ms |",
    ]
    try:
        from numbanet.widgets import Inspector

        inspector = Inspector(model, loss_fn, opt, (x, y), batch_size=BATCH)
        clicks = []
        for _ in range(inspector.stepper.n_events * 2):
            start = time.perf_counter()
            inspector.buttons["step"].click()
            clicks.append(time.perf_counter() - start)
        rows.append(
            f"| Inspector: one click of step ▶, figures redrawn (median / max) | "
            f"{1e3 * statistics.median(clicks):.0f} / {1e3 * max(clicks):.0f} ms |"
        )
    except ImportError:
        rows.append("| Inspector | ipywidgets/matplotlib not installed |")
    print("\n".join(rows))
    if args.record:
        record("Stepping the seed MLP, batch 64", "\n".join(rows))


if __name__ == "__main__":
    main()
