"""Text for character-level language models: a file, its alphabet, and next-character pairs.

train_ids, val_ids, vocab = tiny_shakespeare()
x, y = sequence_windows(train_ids, seq_len=64)     # y is x shifted by one character
vocab.decode(x[0]), vocab.decode(y[0])
"""

from pathlib import Path

import numpy as np

from numbanet.data.datasets import DataError, Dataset, _ensure_file, data_dir


def text_file(path, encoding="utf-8"):
    """The whole text of the file at ``path``, as a str."""
    path = Path(path)
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such text file") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not {encoding} text ({exc}); pass encoding=") from exc


class CharVocab:
    """The characters of a text, sorted, each numbered by its place: the tokens of a
    character-level model.

    vocab = CharVocab(text); len(vocab) = the number of distinct characters;
    vocab.encode("to be") -> int64 ids (n,); vocab.decode(ids) -> "to be"; vocab.chars: the list.
    """

    def __init__(self, text):
        self.chars = sorted(set(text))
        if not self.chars:
            raise ValueError("CharVocab: the text is empty: no characters to number")
        codes = np.array([ord(c) for c in self.chars])
        # code point -> id, -1 for characters not in the text: encoding is one array lookup
        self._ids = np.full(codes.max() + 1, -1, np.int64)
        self._ids[codes] = np.arange(len(codes))
        self._chars = np.array(self.chars)

    def encode(self, text):
        """The ids of the characters of ``text``: an int64 array (len(text),)."""
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32).astype(np.int64)
        ids = np.full(codes.shape, -1, np.int64)
        known = codes < len(self._ids)
        ids[known] = self._ids[codes[known]]
        if (ids < 0).any():
            unknown = sorted({text[i] for i in np.flatnonzero(ids < 0)[:20]})
            raise ValueError(f"CharVocab.encode: characters not in the vocabulary: {unknown}")
        return ids

    def decode(self, ids):
        """The text of ``ids`` (a sequence of ints in [0, len(vocab)))."""
        ids = np.asarray(ids)
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(
                f"CharVocab.decode: expected integer ids in [0, {len(self) - 1}], got "
                f"{ids.dtype} ids" + (f" in [{ids.min()}, {ids.max()}]" if ids.size else "")
            )
        return "".join(self._chars[ids.reshape(-1)]) if ids.size else ""

    def __len__(self):
        return len(self.chars)

    def __repr__(self):
        return f"CharVocab({len(self)} characters)"


def tiny_shakespeare(root=None, download=True, val_fraction=0.1):
    """Tiny Shakespeare (1.1 MB, 65 characters), the corpus of char-rnn and nanoGPT, as ids.

    Returns (train_ids, val_ids, vocab): the first 90% of the text and the last 10%
    (``val_fraction``), int64 (n,) arrays of ids, and the CharVocab of the whole text.
    The file is read from ``root``, else ``$NUMBANET_DATA/tinyshakespeare``, else
    ``~/.cache/numbanet/tinyshakespeare`` (downloaded there if missing and ``download``), and
    checked by MD5.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"tiny_shakespeare: val_fraction must be in (0, 1), got {val_fraction}")
    directory = data_dir("tinyshakespeare", root).resolve()
    _ensure_file("tinyshakespeare", directory, "input.txt", download)
    text = text_file(directory / "input.txt")
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    split = round(len(ids) * (1 - val_fraction))
    return ids[:split], ids[split:], vocab


def sequence_windows(ids, seq_len, stride=None):
    """Next-token training pairs cut from one long sequence of ids: a Dataset (x, y) with
    x[i] = ids[s : s + T] and y[i] = ids[s + 1 : s + T + 1], s = i · stride (T = seq_len), so
    the model learns to predict every next character. Ready for DataLoader or ``fit``.

    ids: (n,) ints; stride: default T (windows side by side, every id a target once).
    x, y: int64 (M, T), M = (n − T − 1) // stride + 1 windows.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(
            f"sequence_windows: expected a 1-D array of integer ids, got {ids.dtype} {ids.shape}"
        )
    stride = seq_len if stride is None else stride
    if seq_len < 1 or stride < 1:
        raise ValueError(
            f"sequence_windows: seq_len and stride must be >= 1, got {seq_len}, {stride}"
        )
    if len(ids) < seq_len + 1:
        raise ValueError(
            f"sequence_windows: {len(ids)} ids are too few for one window of {seq_len} inputs "
            f"and its {seq_len} next-token targets (needs {seq_len + 1})"
        )
    windows = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::stride]
    return Dataset(
        np.ascontiguousarray(windows[:, :-1], np.int64),
        np.ascontiguousarray(windows[:, 1:], np.int64),
    )
