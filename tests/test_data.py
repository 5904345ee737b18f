"""Datasets and the DataLoader: shapes, values, checksums, clear errors, batching."""

import gzip
import io
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import numbanet as nn
from numbanet import data
from numbanet.data import datasets
from numbanet.data.datasets import IDX_FILES, _ensure_file, _read_idx

DATA = os.environ.get("NUMBANET_DATA")  # tests/conftest.py points it at ../shared/data
needs_idx_files = pytest.mark.skipif(
    DATA is None or not os.path.isdir(os.path.join(DATA, "mnist")),
    reason="NUMBANET_DATA with mnist/ and fashion-mnist/ is not set",
)


def test_xor_is_the_truth_table():
    x, y = data.xor()
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert y.ravel().tolist() == [0, 1, 1, 0] and y.dtype == np.float32


def test_spirals_are_seeded_and_balanced():
    a, b = data.spirals(50, 3, seed=1), data.spirals(50, 3, seed=1)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (150, 2) and np.bincount(a.y).tolist() == [50, 50, 50]
    assert not np.array_equal(a.x, data.spirals(50, 3, seed=2).x)


def test_digits_offline_default():
    train, test = data.digits()
    assert train.x.shape == (1438, 1, 8, 8) and test.x.shape == (359, 1, 8, 8)
    assert train.x.dtype == np.float32 and 0 <= train.x.min() and train.x.max() == 1
    assert set(np.unique(train.y)) == set(range(10)) and train.y.dtype == np.int64
    again, _ = data.digits()
    np.testing.assert_array_equal(again.y, train.y)


@needs_idx_files
@pytest.mark.parametrize("loader, mean", [(data.mnist, 0.1307), (data.fashion_mnist, 0.2860)])
def test_idx_datasets_load_with_their_known_statistics(loader, mean):
    train, test = loader()
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert train.y.shape == (60000,) and train.y.dtype == np.int64
    assert train.y.min() == 0 and train.y.max() == 9
    assert abs(float(train.x.mean()) - mean) < 1e-3
    assert not train.x.flags.writeable  # shared in memory: callers copy before changing it
    assert loader()[0].x is train.x  # the second call is served from memory


@needs_idx_files
def test_standardize_with_mnists_statistics_centres_its_training_pixels():
    train, _ = data.mnist()
    standard = data.standardize(train, 0.1307, 0.3081)
    assert standard.x.dtype == np.float32 and standard.y is train.y
    assert abs(float(standard.x.mean(dtype=np.float64))) < 1e-3
    assert abs(float(standard.x.std(dtype=np.float64)) - 1) < 1e-3
    np.testing.assert_allclose(standard.x[0], (train.x[0] - 0.1307) / 0.3081, rtol=1e-6)
    assert train.x.min() == 0  # the shared arrays are left as they were


def test_standardize_rejects_integer_inputs_and_a_zero_spread():
    x, y = np.zeros((2, 3), np.uint8), np.zeros(2)
    with pytest.raises(TypeError, match="standardize: expected float inputs, got uint8"):
        data.standardize((x, y), 0.5, 0.2)
    with pytest.raises(ValueError, match="standardize: expected std > 0, got 0"):
        data.standardize((x.astype(np.float32), y), 0.5, 0)


def copy_mnist(tmp_path):
    for file in IDX_FILES:
        shutil.copy(os.path.join(DATA, "mnist", file), tmp_path / file)
    return tmp_path


@needs_idx_files
def test_corrupt_file_is_caught_by_checksum(tmp_path):
    root = copy_mnist(tmp_path)
    path = root / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(
        data.DataError, match=r"t10k-labels-idx1-ubyte.gz: MD5 .* expected ec29112d"
    ):
        data.mnist(root=root, download=False)


def test_missing_files_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(
        data.DataError,
        match=rf"no MNIST files in .*{tmp_path.name} \(expected train-images-idx3.*NUMBANET_DATA",
    ):
        data.mnist(root=tmp_path, download=False)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    missing = "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-labels-idx1-ubyte.gz"
    with pytest.raises(data.DataError, match=f"{missing} missing from"):
        data.mnist(root=tmp_path, download=False)


def test_a_root_that_is_not_a_folder_is_an_error_and_is_not_created(tmp_path, monkeypatch):
    with pytest.raises(data.DataError, match=r"mnist: .*nowhere/mnist is not a folder"):
        data.mnist(root=tmp_path / "nowhere" / "mnist")
    monkeypatch.setenv("NUMBANET_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match=r"NUMBANET_DATA=.*nowhere is not a folder"):
        data.fashion_mnist()
    assert os.listdir(tmp_path) == []


@needs_idx_files
def test_a_root_above_the_datasets_folder_finds_its_files(tmp_path):
    (tmp_path / "mnist").mkdir()
    copy_mnist(tmp_path / "mnist")
    assert datasets.data_dir("mnist", tmp_path) == tmp_path / "mnist"
    assert datasets.data_dir("mnist", tmp_path / "mnist") == tmp_path / "mnist"
    assert data.mnist(root=tmp_path, download=False)[1].x.shape == (10000, 1, 28, 28)
    with pytest.raises(data.DataError, match="no Fashion-MNIST files in"):
        data.fashion_mnist(root=tmp_path, download=False)


class FakeResponse(io.BytesIO):
    """What urllib.request.urlopen returns, serving ``body`` (no network in tests)."""

    def __init__(self, body):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


@needs_idx_files
def test_download_moves_a_checked_file_into_place(tmp_path, monkeypatch):
    file = "t10k-labels-idx1-ubyte.gz"
    body = Path(DATA, "mnist", file).read_bytes()
    urls = []
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, timeout: urls.append(url) or FakeResponse(body),
    )
    _ensure_file("mnist", tmp_path / "new", file, download=True)
    assert urls == ["https://ossci-datasets.s3.amazonaws.com/mnist/" + file]
    assert os.listdir(tmp_path / "new") == [file]  # no temporary file left beside it
    assert _read_idx(tmp_path / "new" / file, 2049).shape == (10000,)


def test_failed_download_leaves_no_file_and_says_what_to_do(tmp_path, monkeypatch):
    def urlopen(url, timeout):
        if "ossci" in url:
            raise OSError("connection refused")
        return FakeResponse(b"not the labels")  # the second mirror answers with the wrong bytes

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(data.DataError) as caught:
        _ensure_file("mnist", tmp_path, "t10k-labels-idx1-ubyte.gz", download=True)
    message = str(caught.value)
    assert f"no MNIST files in {tmp_path}" in message
    assert "downloading t10k-labels-idx1-ubyte.gz failed" in message
    assert (
        "connection refused" in message and "expected ec29112dd5afa0611ce80d1b7f02629c" in message
    )
    assert "NUMBANET_DATA" in message and os.listdir(tmp_path) == []


def test_idx_reader_checks_the_magic_number(tmp_path):
    path = tmp_path / "fake.gz"
    with gzip.open(path, "wb") as f:
        f.write(np.array([2049, 3], ">i4").tobytes() + bytes([1, 2, 3]))
    assert _read_idx(path, 2049).tolist() == [1, 2, 3]
    with pytest.raises(data.DataError, match="magic number 2049, expected 2051"):
        _read_idx(path, 2051)
    path.write_bytes(b"plain bytes")
    with pytest.raises(data.DataError, match="fake.gz: not a readable .gz file"):
        _read_idx(path, 2049)


def test_dataloader_takes_a_dataset_and_yields_its_rows():
    ds = data.Dataset(np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6))
    loader = data.DataLoader(ds, batch_size=4)
    assert loader.n_samples == 6 and loader.batch_size == 4 and loader.x is ds.x
    (_, y0), (x1, y1) = loader
    np.testing.assert_array_equal(x1, [[8, 9], [10, 11]])
    assert y0.tolist() == [0, 1, 2, 3] and y1.tolist() == [4, 5]


def test_dataloader_batches_cover_every_sample_once():
    x, y = np.arange(10)[:, None], np.arange(10)
    loader = data.DataLoader(x, y, batch_size=4)
    assert len(loader) == 3 and [len(b) for b, _ in loader] == [4, 4, 2]
    assert len(data.DataLoader(x, y, batch_size=4, drop_last=True)) == 2
    shuffled = data.DataLoader(x, y, batch_size=3, shuffle=True, seed=0)
    first = np.concatenate([b for _, b in shuffled])
    second = np.concatenate([b for _, b in shuffled])
    assert sorted(first) == list(range(10)) and not np.array_equal(first, second)
    again = np.concatenate(
        [b for _, b in data.DataLoader(x, y, batch_size=3, shuffle=True, seed=0)]
    )
    np.testing.assert_array_equal(first, again)
    for xb, yb in shuffled:
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_dataloader_order_follows_numbanet_seed():
    x = np.arange(20)

    def first_epoch():
        nn.seed(5)
        return np.concatenate([b for b, _ in data.DataLoader(x, x, batch_size=8, shuffle=True)])

    np.testing.assert_array_equal(first_epoch(), first_epoch())


def test_dataloader_rejects_mismatched_lengths_and_bad_batch_size():
    with pytest.raises(ValueError, match="x has 3 samples but y has 2"):
        data.DataLoader(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        data.DataLoader(np.zeros(3), np.zeros(3), batch_size=0)


def test_plot_images_draws_a_labelled_grid():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    train, _ = data.digits()
    fig = data.plot_images(train.x[:10], train.y[:10], predictions=train.y[:10], ncols=5)
    visible = [ax for ax in fig.axes if ax.images]
    assert len(visible) == 10 and visible[0].get_title() == f"{train.y[0]} →{train.y[0]}"
    assert len(fig.axes) == 10  # two full rows of five


def test_plot_images_takes_flat_and_channel_free_images_and_marks_mistakes():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    images = np.random.default_rng(0).random((5, 8, 8))
    fig = data.plot_images(
        images.reshape(5, 64), [[1], [2], [3], [4], [5]], [1, 2, 0, 4, 5], ncols=3
    )
    assert len(fig.axes) == 6 and sum(bool(ax.images) for ax in fig.axes) == 5
    assert fig.axes[1].images[0].get_array().shape == (8, 8)
    colors = [matplotlib.colors.to_hex(ax.title.get_color()) for ax in fig.axes[:5]]
    assert colors == ["#000000", "#000000", "#ff0000", "#000000", "#000000"]
    assert fig.axes[2].get_title() == "3 →0"
    mine = Figure()
    assert data.plot_images(images, max_images=2, fig=mine) is mine and len(mine.axes) == 2
    with pytest.raises(ValueError, match="square images of 63 pixels"):
        data.plot_images(np.zeros((2, 63)))
