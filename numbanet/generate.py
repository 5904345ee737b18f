"""Generating text with a trained character-level language model, one character at a time.

text = sample(model, vocab, prompt="ROMEO:", length=200, temperature=0.8, seed=0)

The model maps token ids (N, T) to next-token logits (N, T, V), e.g. Embedding → LSTM → Linear.
Its recurrent layers carry their state from one call to the next, so each new character costs
one step, not a pass over everything generated so far. A model with attention (a GPT) has no
state: it reads the whole context again for each character, cropped to the positions it has.
"""

import numpy as np

from numbanet.backend import to_host
from numbanet.layers import GRU, LSTM, RNN, MultiheadAttention, PositionalEmbedding
from numbanet.train import step_layers


def sample(model, vocab, prompt, length, temperature=1.0, seed=None, top_k=None):
    """``length`` characters that continue ``prompt``, drawn from the model's predictions.

    Each next id is drawn from softmax(z / temperature), z the logits at the last position:
    temperature 1 samples the model's own distribution, lower sharpens it (safer, more
    repetitive text), higher flattens it; temperature 0 takes the argmax every time (greedy).
    top_k: draw only among the k likeliest ids (None: among all).
    model: a Sequential of position-wise layers and recurrent layers (batch_first), or with
    attention layers (a GPT, whose context is cropped to the positions of its
    PositionalEmbedding), taking ids (1, T) to logits (1, T, len(vocab)); vocab: the CharVocab it
    was trained with; prompt: a non-empty str of vocab characters; seed: draws are reproducible
    for a seed.
    Returns the generated str (without the prompt). Runs in eval mode; restores the mode after.
    """
    if not prompt:
        raise ValueError("sample: the prompt must hold at least one character to start from")
    if temperature < 0 or length < 0:
        raise ValueError(
            f"sample: temperature and length must be >= 0, got {temperature} and {length}"
        )
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample: top_k must be >= 1 (or None for every id), got {top_k}")
    generator = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        layers = model.modules()
        if any(isinstance(layer, MultiheadAttention) for layer in layers):
            positions = [m.num_positions for m in layers if isinstance(m, PositionalEmbedding)]
            ids = _sample_with_context(
                model, vocab.encode(prompt), length, min(positions, default=None),
                lambda z: _draw(z, temperature, generator, top_k),
            )  # fmt: skip
        else:
            states = {}  # recurrent layer index -> its state after the last call
            logits = _next_logits(model, vocab.encode(prompt)[None, :], states)
            ids = []
            while len(ids) < length:
                ids.append(_draw(logits, temperature, generator, top_k))
                if len(ids) < length:  # the logits after the last id would go unused
                    logits = _next_logits(model, np.array([[ids[-1]]], np.int64), states)
    finally:
        model.train(was_training)
    return vocab.decode(np.array(ids, np.int64))


def _sample_with_context(model, prompt_ids, length, block_size, draw):
    """``length`` ids drawn one at a time by ``draw(logits)``, each from the model's logits after
    the context so far (prompt and drawn ids), its last ``block_size`` ids if not None."""
    context = list(prompt_ids)
    for _ in range(length):
        window = context[-block_size:] if block_size else context
        logits = to_host(model.forward(np.array([window], np.int64)))
        context.append(draw(logits[0, len(window) - 1].astype(np.float64)))
    return context[len(prompt_ids) :]


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


def _draw(logits, temperature, generator, top_k=None):
    """An id drawn from softmax(logits / temperature), among the ``top_k`` largest logits if
    given (the others get probability 0); the argmax when temperature is 0."""
    if temperature == 0:
        return int(np.argmax(logits))
    if top_k is not None and top_k < len(logits):
        kth = np.partition(logits, len(logits) - top_k)[len(logits) - top_k]
        logits = np.where(logits < kth, -np.inf, logits)
    scaled = logits / temperature
    p = np.exp(scaled - scaled.max())  # shifted by the max so exp cannot overflow
    return int(generator.choice(len(p), p=p / p.sum()))
