"""Regenerate the outputs committed in the tutorial notebooks, so that each chapter reads with
its figures on GitHub, without running.

    python tutorials/execute.py                      # every notebook, on the full data
    python tutorials/execute.py tutorials/05_regularisation.ipynb
    python tutorials/execute.py --fast               # the test suite's quick run: a check only

Each notebook runs top to bottom in a fresh kernel started in tutorials/ and is written back in
place with its outputs. Inline figures are drawn at ``--dpi`` (the notebooks' first cell reads
NUMBANET_TUTORIAL_DPI) so that a notebook stays well under MAX_BYTES. ``--fast`` runs on small
data (NUMBANET_TUTORIAL_FAST=1, as tests/test_tutorials.py does) and writes nothing: outputs of
the quick run would mislead a reader. Run it under ``nice`` on a shared machine.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parent
MAX_BYTES = 3_000_000  # a committed notebook at most (tests/test_tutorials.py checks it)
DPI = 80  # inline figures: readable text at 9 pt, small PNGs


def execute(path, fast, dpi=DPI, timeout=3600):
    """Run the notebook at ``path`` in a fresh kernel and return it with its outputs (nothing is
    written). fast: the test suite's small data. A failing cell raises CellExecutionError."""
    os.environ["NUMBANET_TUTORIAL_FAST"] = "1" if fast else "0"
    os.environ["NUMBANET_TUTORIAL_DPI"] = str(dpi)
    os.environ["MPLBACKEND"] = "Agg"  # never a GUI window; the notebooks draw inline
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(TUTORIALS)}},  # the kernel's working directory
    ).execute()
    return notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every tutorial")
    parser.add_argument("--fast", action="store_true", help="small data, check only, no write")
    parser.add_argument("--dpi", type=int, default=DPI, help="of inline figures")
    args = parser.parse_args(argv)
    for path in args.notebooks or sorted(TUTORIALS.glob("*.ipynb")):
        start = time.perf_counter()
        notebook = execute(path, args.fast, args.dpi)
        seconds = time.perf_counter() - start
        if args.fast:
            print(f"{path.name}: ran in {seconds:.0f} s (fast, not written)")
            continue
        nbformat.write(notebook, path)
        size = path.stat().st_size
        print(f"{path.name}: ran in {seconds:.0f} s, {size / 1e6:.2f} MB with outputs")
        if size > MAX_BYTES:
            sys.exit(f"{path.name} is over {MAX_BYTES / 1e6:.0f} MB: lower --dpi or its figures")


if __name__ == "__main__":
    main()
