"""Generating text with a trained character-level language model, one character at a time.

text = sample(model, vocab, prompt="ROMEO:", length=200, temperature=0.8, seed=0)

The model maps token ids (N, T) to next-token logits (N, T, V), e.g. Embedding → LSTM → Linear.
Its recurrent layers carry their state from one call to the next, so each new character costs
one step, not a pass over everything generated so far.
"""

import numpy as np

from numbanet.backend import to_host
from numbanet.layers import GRU, LSTM, RNN
from numbanet.train import step_layers


def sample(model, vocab, prompt, length, temperature=1.0, seed=None):
    """``length`` characters that continue ``prompt``, drawn from the model's predictions.

    Each next id is drawn from softmax(z / temperature), z the logits at the last position:
    temperature 1 samples the model's own distribution, lower sharpens it (safer, more
    repetitive text), higher flattens it; temperature 0 takes the argmax every time (greedy).
    model: a Sequential of position-wise layers and recurrent layers (batch_first) taking ids
    (1, T) to logits (1, T, len(vocab)); vocab: the CharVocab it was trained with; prompt: a
    non-empty str of vocab characters; seed: draws are reproducible for a seed.
    Returns the generated str (without the prompt). Runs in eval mode; restores the mode after.
    """
    if not prompt:
        raise ValueError("sample: the prompt must hold at least one character to start from")
    if temperature < 0 or length < 0:
        raise ValueError(
            f"sample: temperature and length must be >= 0, got {temperature} and {length}"
        )
    generator = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        states = {}  # recurrent layer index -> its state after the last call
        logits = _next_logits(model, vocab.encode(prompt)[None, :], states)
        ids = []
        while len(ids) < length:
            ids.append(_draw(logits, temperature, generator))
            if len(ids) < length:  # the logits after the last id would go unused
                logits = _next_logits(model, np.array([[ids[-1]]], np.int64), states)
    finally:
        model.train(was_training)
    return vocab.decode(np.array(ids, np.int64))


def _next_logits(model, ids, states):
    """Logits (V,) after the last of ``ids`` (1, T), every recurrent layer starting from its
    state in ``states`` (zeros when absent) and leaving its final state there."""
    x = ids
    for index, layer in enumerate(step_layers(model)):
        if isinstance(layer, (RNN, LSTM, GRU)):
            if not layer.batch_first:
                raise ValueError(f"sample: expected batch_first recurrent layers, got {layer!r}")
            # final_state is overwritten by the layer's next forward, which first copies its
            # initial state in: so it can be handed straight back
            x = layer.forward(x, states.get(index))
            states[index] = layer.final_state
        else:
            x = layer.forward(x)
    logits = to_host(x)
    return logits.reshape(-1, logits.shape[-1])[-1].astype(np.float64)


def _draw(logits, temperature, generator):
    """An id drawn from softmax(logits / temperature); the argmax when temperature is 0."""
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    p = np.exp(scaled - scaled.max())  # shifted by the max so exp cannot overflow
    return int(generator.choice(len(p), p=p / p.sum()))
