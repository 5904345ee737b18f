"""Text data: the character vocabulary, Tiny Shakespeare from ../shared/data, next-character
windows."""

import hashlib

import numpy as np
import pytest

import numbanet as nn
from numbanet.data import CharVocab, DataError, sequence_windows, text_file, tiny_shakespeare


def test_char_vocab_numbers_the_sorted_characters_and_round_trips():
    vocab = CharVocab("hello, world")
    assert vocab.chars == [" ", ",", "d", "e", "h", "l", "o", "r", "w"] and len(vocab) == 9
    ids = vocab.encode("hello")
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [4, 3, 5, 5, 6])
    assert vocab.decode(ids) == "hello"
    assert vocab.decode(np.array([[8, 6], [7, 5]])) == "worl"
    assert vocab.encode("").shape == (0,) and vocab.decode([]) == ""


def test_char_vocab_round_trips_text_beyond_ascii():
    text = "Ünïcödé — ∑ 𝄞 naïve\n\ttabs"
    vocab = CharVocab(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert len(vocab.encode(text)) == len(text)


def test_char_vocab_names_unknown_characters_and_bad_ids():
    vocab = CharVocab("abc")
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['z'\]"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"ids in \[0, 2\], got int64 ids in \[0, 3\]"):
        vocab.decode(np.array([0, 3]))
    with pytest.raises(ValueError, match="the text is empty"):
        CharVocab("")


def test_sequence_windows_pair_each_window_with_its_next_characters():
    ids = np.arange(11)
    x, y = sequence_windows(ids, 3)
    np.testing.assert_array_equal(x, [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    np.testing.assert_array_equal(y, x + 1)
    assert x.dtype == y.dtype == np.int64 and x.flags.c_contiguous and y.flags.c_contiguous
    x, y = sequence_windows(ids, 4, stride=2)
    np.testing.assert_array_equal(x[:, 0], [0, 2, 4, 6])
    np.testing.assert_array_equal(y[-1], [7, 8, 9, 10])
    assert len(sequence_windows(ids, 10).x) == 1


def test_sequence_windows_reject_what_cannot_make_a_window():
    with pytest.raises(ValueError, match="3 ids are too few for one window of 3"):
        sequence_windows(np.arange(3), 3)
    with pytest.raises(ValueError, match="1-D array of integer ids"):
        sequence_windows(np.zeros(10), 3)
    with pytest.raises(ValueError, match="seq_len and stride must be >= 1"):
        sequence_windows(np.arange(10), 0)


def test_text_file_reads_text_and_names_a_missing_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("to be, or not to be\n", encoding="utf-8")
    assert text_file(path) == "to be, or not to be\n"
    with pytest.raises(DataError, match="no such text file"):
        text_file(tmp_path / "missing.txt")


def test_tiny_shakespeare_splits_the_real_file_90_10():
    train, val, vocab = tiny_shakespeare()
    assert len(vocab) == 65 and vocab.chars[:3] == ["\n", " ", "!"]
    assert len(train) + len(val) == 1_115_394  # an ASCII file: one character per byte
    assert len(train) == round(0.9 * 1_115_394)
    assert train.dtype == np.int64 and train.min() >= 0 and train.max() < 65
    assert vocab.decode(train[:14]) == "First Citizen:"
    text = vocab.decode(np.concatenate([train, val]))
    assert hashlib.md5(text.encode()).hexdigest() == "6fb458f1232090904fb40fe944165e91"
    x, y = sequence_windows(val, 100)
    assert x.shape == (1115, 100)
    loader = nn.data.DataLoader(x, y, batch_size=32, shuffle=True, seed=0)
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb[:, 1:], yb[:, :-1])


def test_tiny_shakespeare_says_where_to_put_the_missing_file(tmp_path):
    expected = r"no Tiny Shakespeare files in .* \(expected input.txt\)\. Put them there"
    with pytest.raises(DataError, match=expected):
        tiny_shakespeare(root=tmp_path, download=False)


def test_tiny_shakespeare_rejects_a_file_that_is_not_the_corpus(tmp_path):
    (tmp_path / "input.txt").write_text("not Shakespeare")
    with pytest.raises(DataError, match="MD5"):
        tiny_shakespeare(root=tmp_path, download=False)
