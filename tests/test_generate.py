"""``sample``: text generated from a character-level language model, one character at a time,
with the recurrent state carried between steps."""

import numpy as np
import pytest

import numbanet as nn
from numbanet import data

VOCAB = data.CharVocab("abcde ")


def tiny_language_model(cell="lstm", scale=3.0):
    """An untrained char model with its output weights scaled up, so that its predicted
    distributions are far from uniform (temperature then visibly changes them)."""
    nn.seed(1)
    model = nn.models.char_language_model(len(VOCAB), embedding=4, hidden=8, cell=cell)
    model.layers[-1].params["weight"] *= scale
    return model


def greedy_by_full_recompute(model, prompt, length):
    """The argmax path computed without carried state: the whole text so far through the model
    again for every character."""
    ids = list(VOCAB.encode(prompt))
    for _ in range(length):
        logits = model.forward(np.array([ids], np.int64))
        ids.append(int(np.argmax(logits[0, -1])))
    return VOCAB.decode(np.array(ids[len(prompt) :]))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sample_at_temperature_zero_is_the_argmax_path(cell):
    model = tiny_language_model(cell)
    text = nn.sample(model, VOCAB, "abc", 40, temperature=0, seed=0)
    assert text == greedy_by_full_recompute(model, "abc", 40)
    # as the temperature goes to 0, softmax(z / T) concentrates on the argmax (small enough
    # for the closest top-two logits on this path, 7e-5 apart for the LSTM)
    assert nn.sample(model, VOCAB, "abc", 40, temperature=1e-6, seed=3) == text


def test_sample_is_deterministic_for_a_seed_and_returns_vocab_characters():
    model = tiny_language_model()
    first = nn.sample(model, VOCAB, "a", 200, temperature=1.0, seed=7)
    assert nn.sample(model, VOCAB, "a", 200, temperature=1.0, seed=7) == first
    assert nn.sample(model, VOCAB, "a", 200, temperature=1.0, seed=8) != first
    assert len(first) == 200 and set(first) <= set(VOCAB.chars)
    assert model.training  # put back in the mode it was in


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_sample_draws_from_the_softmax_of_logits_over_temperature(temperature):
    model = tiny_language_model()
    logits = model.forward(VOCAB.encode("ab")[None, :])[0, -1].astype(np.float64)
    expected = np.exp(logits / temperature - (logits / temperature).max())
    expected /= expected.sum()
    draws = 2000
    firsts = [nn.sample(model, VOCAB, "ab", 1, temperature, seed=s) for s in range(draws)]
    observed = np.array([firsts.count(c) for c in VOCAB.chars]) / draws
    sigma = np.sqrt(expected * (1 - expected) / draws)
    np.testing.assert_array_less(np.abs(observed - expected), 5 * sigma + 1e-9)


def test_sample_rejects_an_empty_prompt_and_negative_settings():
    model = tiny_language_model()
    with pytest.raises(ValueError, match="prompt"):
        nn.sample(model, VOCAB, "", 5)
    with pytest.raises(ValueError, match="temperature"):
        nn.sample(model, VOCAB, "a", 5, temperature=-1)


def tiny_gpt(block_size=4):
    """An untrained GPT with its head scaled up, so that its predictions are far from uniform
    (nanoGPT's initial head gives logits within ±0.1)."""
    nn.seed(2)
    model = nn.models.gpt(len(VOCAB), block_size=block_size, n_layer=1, n_head=2, n_embd=8)
    model.layers[-1].params["weight"] *= 100
    return model


def test_sample_from_a_gpt_reads_the_context_cropped_to_its_positions():
    model = tiny_gpt(block_size=4)
    text = nn.sample(model, VOCAB, "abcde", 12, temperature=0, seed=0)  # prompt longer than 4
    ids = list(VOCAB.encode("abcde"))
    for _ in range(12):
        logits = model.forward(np.array([ids[-4:]], np.int64))
        ids.append(int(np.argmax(logits[0, -1])))
    assert text == VOCAB.decode(np.array(ids[5:]))


def test_top_k_draws_only_among_the_k_likeliest_and_is_seeded():
    model = tiny_gpt()
    logits = np.array(model.forward(VOCAB.encode("ab")[None, :])[0, -1])
    likeliest = {VOCAB.chars[i] for i in np.argsort(logits)[-2:]}
    draws = [nn.sample(model, VOCAB, "ab", 1, temperature=2.0, seed=s, top_k=2) for s in range(60)]
    assert set(draws) == likeliest
    first = nn.sample(model, VOCAB, "ab", 30, temperature=1.0, seed=5, top_k=3)
    assert nn.sample(model, VOCAB, "ab", 30, temperature=1.0, seed=5, top_k=3) == first
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        nn.sample(model, VOCAB, "ab", 1, top_k=0)
