"""Shared test setup: datasets come from ../shared/data (no test needs a network)."""

import os
from pathlib import Path

_shared_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "NUMBANET_DATA" not in os.environ and _shared_data.is_dir():
    os.environ["NUMBANET_DATA"] = str(_shared_data)
