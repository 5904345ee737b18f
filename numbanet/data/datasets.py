"""Datasets: XOR and spirals (generated), the 8×8 digits (shipped with scikit-learn, so offline),
and MNIST / Fashion-MNIST from the standard IDX .gz files, checked by MD5.

Images come as float32 (N, 1, H, W) in [0, 1] and labels as int64 (N,), ready for a model.
"""

import functools
import gzip
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np


class DataError(ValueError):
    """A dataset file that is missing, corrupt or unreadable; the message says how to fix it."""


class Dataset(NamedTuple):
    """Inputs ``x`` (N, ...) and targets ``y`` (N, ...); unpacks as ``x, y = dataset``."""

    x: np.ndarray
    y: np.ndarray


def standardize(dataset, mean, std):
    """The dataset with inputs x' = (x − mean) / std, in x's float dtype (targets unchanged):
    inputs centred near 0 with unit spread, which gradient descent handles better than pixels
    in [0, 1]. Use the training set's statistics for every split, e.g. for MNIST
    ``standardize(test, 0.1307, 0.3081)`` (torchvision's ``Normalize((0.1307,), (0.3081,))``).
    The dataset is not changed.
    """
    x, y = dataset
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"standardize: expected float inputs, got {x.dtype}")
    if not std > 0:
        raise ValueError(f"standardize: expected std > 0, got {std}")
    return Dataset(((x - mean) / std).astype(x.dtype), y)


def xor(dtype=np.float32):
    """The four XOR points: x (4, 2) in {0, 1}², y (4, 1) = x₀ xor x₁ as floats (for BCE/MSE)."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    return Dataset(x, np.array([[0], [1], [1], [0]], dtype))


def spirals(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms, one per class (CS231n's toy set that no linear model separates).

    Returns x (N, 2) float32 and y (N,) int64, N = n_per_class · n_classes.
    """
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    angle = (
        np.tile(np.linspace(0.0, 4.0, n_per_class), n_classes)
        + labels * 4.0
        + rng.standard_normal(n_per_class * n_classes) * noise
    )
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return Dataset(x.astype(np.float32), labels.astype(np.int64))


def digits(test_fraction=0.2, seed=0):
    """The 1,797 8×8 handwritten digits that ship with scikit-learn: (train, test) Datasets.

    x: (N, 1, 8, 8) float32 in [0, 1] (pixel counts 0..16 divided by 16); y: (N,) int64.
    The split is a seeded permutation: the first round(N · test_fraction) samples are the test set.
    """
    x, y = _digits_arrays()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train]), Dataset(x[test], y[test])


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    # read the file directly: importing scikit-learn itself would cost a second at start-up
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise DataError("the digits dataset ships with scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DataError(f"{path}: scikit-learn's digits file is missing; reinstall scikit-learn")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    x = (table[:, :64] / 16).reshape(-1, 1, 8, 8)
    return x, table[:, 64].astype(np.int64)


# ----- MNIST and Fashion-MNIST ---------------------------------------------------------------
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
IDX_SOURCES = {
    "mnist": {
        "title": "MNIST",
        "folder": "mnist",
        "mirrors": (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        "md5": dict(
            zip(
                IDX_FILES,
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            )
        ),
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "folder": "fashion-mnist",
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "md5": dict(
            zip(
                IDX_FILES,
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            )
        ),
    },
    # not IDX, but found, checked and downloaded by the same rules (``data.text``)
    "tinyshakespeare": {
        "title": "Tiny Shakespeare",
        "folder": "tinyshakespeare",
        "mirrors": (
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",
        ),
        "md5": {"input.txt": "6fb458f1232090904fb40fe944165e91"},
    },
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def mnist(root=None, download=True):
    """MNIST handwritten digits: (train, test) Datasets of 60,000 and 10,000 samples.

    x: (N, 1, 28, 28) float32 in [0, 1]; y: (N,) int64. Files are read from ``root`` (or its
    ``mnist/`` folder, when only that one has them), else ``$NUMBANET_DATA/mnist``, else
    ``~/.cache/numbanet/mnist``, and downloaded there if missing and ``download``. A folder
    named by ``root`` or ``NUMBANET_DATA`` must exist: only the default cache is created.
    The arrays are cached in memory and read-only: copy before changing them.
    """
    return _idx_dataset("mnist", root, download)


def fashion_mnist(root=None, download=True):
    """Fashion-MNIST clothing images, in MNIST's format and shapes; see ``mnist``."""
    return _idx_dataset("fashion-mnist", root, download)


def data_dir(name, root=None):
    """Where the files of dataset ``name`` are looked for (see ``mnist``)."""
    source = IDX_SOURCES[name]
    if root is not None:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{name}: {root} is not a folder; expected the folder of its files")
        inside = root / source["folder"]
        # the folder above the dataset's own, as NUMBANET_DATA is: take the files from there
        if not _present(name, root) and len(_present(name, inside)) == len(source["md5"]):
            return inside
        return root
    if os.environ.get("NUMBANET_DATA"):
        parent = Path(os.environ["NUMBANET_DATA"])
        if not parent.is_dir():
            raise DataError(f"NUMBANET_DATA={parent} is not a folder; expected the data folder")
        return parent / source["folder"]
    return Path.home() / ".cache" / "numbanet" / source["folder"]


def _present(name, directory):
    """The files of dataset ``name`` that ``directory`` holds."""
    return [file for file in IDX_SOURCES[name]["md5"] if (directory / file).is_file()]


def _missing(name, directory):
    """What is missing from ``directory``, for an error message: "no MNIST files in …" or the
    names of the files missing there."""
    files = IDX_SOURCES[name]["md5"]
    present = _present(name, directory)
    if not present:
        return f"no {IDX_SOURCES[name]['title']} files in {directory} (expected {', '.join(files)})"
    missing = [file for file in files if file not in present]
    return f"{', '.join(missing)} missing from {directory}"


def _idx_dataset(name, root, download):
    directory = data_dir(name, root).resolve()
    for file in IDX_FILES:
        _ensure_file(name, directory, file, download)
    return _load_idx(name, str(directory))


@functools.lru_cache(maxsize=4)
def _load_idx(name, directory):
    x_train, y_train, x_test, y_test = (
        _read_idx(Path(directory) / f, IMAGES_MAGIC if "images" in f else LABELS_MAGIC)
        for f in IDX_FILES
    )
    splits = []
    for images, labels in ((x_train, y_train), (x_test, y_test)):
        x = (images.astype(np.float32) / 255).reshape(-1, 1, *images.shape[1:])
        y = labels.astype(np.int64)
        x.flags.writeable = y.flags.writeable = False  # shared by every caller in this process
        splits.append(Dataset(x, y))
    return tuple(splits)


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ensure_file(name, directory, file, download):
    """Check ``file`` is present with the right MD5; download it first if missing and allowed."""
    path, expected = directory / file, IDX_SOURCES[name]["md5"][file]
    if not path.is_file():
        if not download:
            raise DataError(
                f"{name}: {_missing(name, directory)}. Put them there, or point to the folder "
                f"that has them (root=, numbanet train --data-dir, or NUMBANET_DATA)."
            )
        _download(name, directory, file, expected)
    actual = _md5(path)
    if actual != expected:
        raise DataError(
            f"{path}: MD5 {actual}, expected {expected}: the file is corrupt or not "
            f"{name}'s; delete it to download it again"
        )


def _download(name, directory, file, expected):
    """Fetch ``file`` from the first mirror that answers, into place only once its MD5 matches."""
    # imported here, as the progress bar: the network modules cost tens of ms of every
    # `import numbanet`, and most runs find their files on disk
    import http.client
    import urllib.request

    from tqdm.auto import tqdm

    directory.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in IDX_SOURCES[name]["mirrors"]:
        # a hidden temp file beside the target: os.replace is then atomic, and no partial file
        # is ever seen under the real name
        fd, tmp = tempfile.mkstemp(prefix=f".{file}.", dir=directory)
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(mirror + file, timeout=30) as response,
            ):
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"{name} {file}") as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        bar.update(len(block))
            actual = _md5(tmp)
            if actual != expected:
                raise DataError(f"MD5 {actual}, expected {expected}")
            os.replace(tmp, directory / file)
            return
        except (OSError, http.client.HTTPException, DataError) as exc:
            errors.append(f"{mirror}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataError(
        f"{name}: {_missing(name, directory)}, and downloading {file} failed "
        f"({'; '.join(errors)}). Copy the files there by hand, or point to the folder that has "
        f"them (root=, numbanet train --data-dir, or NUMBANET_DATA)."
    )


def _read_idx(path, magic):
    """The array in an IDX .gz file: a big-endian header (magic, then one int32 per dim), then
    the uint8 data. ``magic`` is 2051 for images (3 dims) and 2049 for labels (1 dim)."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError; a cut-off stream, EOFError
        raise DataError(f"{path}: not a readable .gz file ({exc}); delete it and reload") from exc
    found = int(np.frombuffer(raw[:4], ">i4")[0]) if len(raw) >= 4 else None
    if found != magic:
        raise DataError(f"{path}: IDX magic number {found}, expected {magic}")
    ndim = magic & 0xFF
    dims = tuple(int(d) for d in np.frombuffer(raw[4 : 4 + 4 * ndim], ">i4"))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: {data.size} bytes of data for dims {dims}: the file is truncated")
    return data.reshape(dims)
