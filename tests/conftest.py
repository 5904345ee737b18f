"""Shared test setup: datasets come from ../shared/data (no test needs a network); without a
GPU, CUDA kernels run in Numba's CUDA simulator."""

import ctypes.util
import os
from pathlib import Path

_shared_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "NUMBANET_DATA" not in os.environ and _shared_data.is_dir():
    os.environ["NUMBANET_DATA"] = str(_shared_data)

# Numba reads NUMBA_ENABLE_CUDASIM once, when it is first imported, so the simulator has to be
# chosen here, before any test module imports numbanet (and with it Numba). No CUDA driver
# library and no NVIDIA device node means no GPU: tests/cuda then runs in the simulator.
if ctypes.util.find_library("cuda") is None and not os.path.exists("/dev/nvidiactl"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
