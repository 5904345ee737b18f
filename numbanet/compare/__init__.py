"""CPU against CUDA: every kernel on both backends, side by side.

    rows = numbanet.compare.run()            # every kernel, a few shapes, float32 and float64
    print(numbanet.compare.format_table(rows))
    numbanet.compare.run_model()             # the same MLP trained on both devices
    numbanet.compare.sweep("dense_forward")  # over batch sizes: where the GPU starts to win

Each kernel runs on the same random inputs (``cases.py``) on the CPU and on the GPU; the
table gives their max abs / rel difference, the worst in ULPs, the tolerance its dtype
warrants, both run times and the speed-up, compile time apart from run time, and the launch
geometry (grid × block) of each CUDA launch. Without a GPU the CUDA side runs in Numba's
simulator (``NUMBA_ENABLE_CUDASIM=1``): the differences hold, the GPU timings mean nothing.
The command line is ``numbanet compare`` (the dense family by default; ``--family``,
``--kernel``, ``--all``, ``--json``, ``--model``, ``--sweep KERNEL``).
"""

import os
import platform

from numbanet.backend import cuda_simulated, describe_gpu
from numbanet.compare.cases import CASES
from numbanet.compare.kernels import (
    TOLERANCE,
    KernelRow,
    KernelRun,
    compare_kernel,
    difference,
    run,
    run_on_both,
)
from numbanet.compare.model import ModelComparison, model_tolerance, run_model
from numbanet.compare.sweep import BATCHES, Sweep, sweep

__all__ = [
    "BATCHES",
    "CASES",
    "TOLERANCE",
    "COLUMNS",
    "KernelRow",
    "KernelRun",
    "ModelComparison",
    "Sweep",
    "compare_kernel",
    "difference",
    "environment",
    "format_model",
    "format_sweep",
    "format_table",
    "header",
    "model_tolerance",
    "run",
    "row_cells",
    "run_model",
    "run_on_both",
    "sweep",
]


def cpu_name():
    """The CPU's model name (from /proc/cpuinfo on Linux), or what the platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment():
    """{"cpu": …, "gpu": …, "simulated": bool}: what was compared with what."""
    from numbanet.runtime import thread_info

    return {
        "cpu": f"{cpu_name()} ({os.cpu_count()} cores, "
        f"{thread_info()['numba_threads']} Numba kernel thread(s))",
        "gpu": describe_gpu(),
        "simulated": cuda_simulated(),
    }


def header():
    """Which CPU and GPU are compared; in the simulator, a warning that GPU times mean nothing."""
    env = environment()
    lines = [f"CPU: {env['cpu']}", f"GPU: {env['gpu']}"]
    if env["simulated"]:
        lines.append(
            "No GPU here: the CUDA kernels ran in Numba's simulator, so the differences are real "
            "but the GPU times and speed-ups mean nothing."
        )
    return "\n".join(lines)


def _table(headers, rows, left=(0,)):
    """Plain-text columns: those in ``left`` left-aligned, the rest right-aligned."""
    widths = [max(len(str(v)) for v in column) for column in zip(headers, *rows)]

    def line(values):
        cells = [
            str(v).ljust(w) if i in left else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(values, widths))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _shape(shape):
    return "×".join(map(str, shape))


def _speed(seconds):
    return f"{seconds * 1e6:,.1f}"


COLUMNS = (
    "kernel", "shape", "dtype", "max abs", "max rel", "ULPs", "tol", "ok",
    "CPU µs", "GPU µs", "speed-up", "CPU compile s", "GPU compile s", "grid × block",
)  # fmt: skip
"""The columns of the kernel table, in order."""


def row_cells(row):
    """The ``COLUMNS`` of one ``KernelRow``, as text."""
    return [
        row.case,
        _shape(row.shape),
        row.dtype,
        f"{row.max_abs:.1e}",
        f"{row.max_rel:.1e}",
        f"{row.max_ulps:.0f}",
        f"{row.tolerance:.0e}",
        "yes" if row.ok else "NO",
        _speed(row.cpu_run),
        _speed(row.gpu_run),
        f"{row.speedup:.2f}×",
        f"{row.cpu_compile:.2f}",
        f"{row.gpu_compile:.2f}",
        "; ".join(map(str, row.launches)),
    ]


def format_table(rows):
    """The kernel comparison as a text table, one line per ``KernelRow``."""
    return _table(COLUMNS, [row_cells(row) for row in rows], left=(0, len(COLUMNS) - 1))


def format_model(comparison):
    """A ``ModelComparison`` as text: the losses of both devices and each param's difference."""
    c = comparison
    tolerance = model_tolerance(c.dtype, c.steps)
    lines = [
        f"{c.model}, {c.optimizer}, {c.dtype}, {c.steps} steps of batch {c.batch_size} on "
        f"digits: CPU {c.cpu_seconds:.2f} s, GPU {c.gpu_seconds:.2f} s",
        "losses CPU:  " + "  ".join(f"{v:.6f}" for v in c.cpu_losses),
        "losses CUDA: " + "  ".join(f"{v:.6f}" for v in c.gpu_losses),
        _table(
            ["param", "shape", "max abs", "max rel", "ULPs"],
            [
                [
                    r.key,
                    _shape(r.shape),
                    f"{r.max_abs:.1e}",
                    f"{r.max_rel:.1e}",
                    f"{r.max_ulps:.0f}",
                ]
                for r in c.rows
            ],
        ),
        f"worst max rel {c.max_rel:.1e}: "
        + ("equal" if c.max_rel <= tolerance else "NOT equal")
        + f" within {tolerance:.0e} ({c.dtype} tolerance × 10 × steps)",
    ]
    return "\n".join(lines)


def format_sweep(result):
    """A ``Sweep`` as text: times per batch size and where the GPU starts to beat the CPU."""
    lines = [
        _table(
            ["batch", "shape", "CPU µs", "GPU µs", "speed-up"],
            [
                [b, _shape(r.shape), _speed(r.cpu_run), _speed(r.gpu_run), f"{r.speedup:.2f}×"]
                for b, r in zip(result.batches, result.rows)
            ],
        )
    ]  # fmt: skip
    crossover = result.crossover
    lines.append(
        f"{result.case} ({result.dtype}): "
        + (
            f"the GPU is faster from batch {crossover} on"
            if crossover is not None
            else "the GPU is not faster at any batch size measured"
        )
    )
    return "\n".join(lines)
