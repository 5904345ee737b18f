"""Appending measured figures to RESULTS.md, each under a heading with the date and the machine."""

import os
import platform
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def record(title, body):
    """Append ``body`` (markdown) under "### <title> — <date> — <machine>" to RESULTS.md. The
    machine line names the CPU: the same-run ratios to PyTorch differ between CPU models."""
    # Imported here: every engine's worker process imports this module, and importing numbanet
    # sets process-wide thread settings that PyTorch's OpenMP threads share.
    from numbanet.compare import cpu_name

    machine = (
        f"{cpu_name()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    with open(RESULTS, "a") as f:
        f.write(f"\n### {title} — {date.today()} — {machine}\n\n{body.rstrip()}\n")
