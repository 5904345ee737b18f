"""What every tutorial's first code cell sets up: the fast mode of the test suite, the size of
inline figures, and a word about the wait before the first compile."""

import os

# tutorials/execute.py and the test suite set these before the kernel starts.
FAST = os.environ.get("NUMBANET_TUTORIAL_FAST") == "1"  # small data, few epochs
DPI = os.environ.get("NUMBANET_TUTORIAL_DPI")  # pixels per inch of inline figures, if given


def setup():
    """Inline figures at DPI when it is given (small PNGs in a committed notebook), and the
    notice that the first call of each layer waits for its kernels to compile. Returns FAST."""
    import logging

    import matplotlib.pyplot as plt

    if DPI:
        plt.rcParams["figure.dpi"] = int(DPI)
    # A matplotlib installed without its STIX fonts logs one line per missing font at the first
    # formula drawn (a log axis's 10⁻²): noise in a saved notebook, and DejaVu draws it well.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    print(
        "The first call of each layer compiles its kernels: seconds to a minute, once, then they "
        "load from Numba's cache (`numbanet warmup` compiles them ahead)."
    )
    return FAST
