"""The recurrent layers learn real sequence tasks: small, fast versions of
benchmarks/sequences.py (row-by-row MNIST, a character-level language model)."""

import numpy as np

import numbanet as nn
from numbanet import data

# measured (seeds 0-2): 0.63-0.66 test accuracy after 2 epochs on 2,000 images; chance is 0.1
ROW_MNIST_MIN_ACCURACY = 0.45
# measured (seeds 0-2): 2.65-2.68 nats/char over the last 10 of 40 steps
CHAR_LM_MAX_LOSS = 2.9


def test_row_by_row_mnist_lstm_learns_well_above_chance_on_a_subset():
    train, test = data.mnist()
    x_train, y_train = train.x[:2000].reshape(-1, 28, 28), train.y[:2000]
    x_test, y_test = test.x[:1000].reshape(-1, 28, 28), test.y[:1000]
    nn.seed(0)
    model = nn.models.sequence_classifier(28, 64, 10, cell="lstm")
    nn.fit(
        model, nn.CrossEntropyLoss(), nn.optim.Adam(model, lr=3e-3), (x_train, y_train),
        epochs=2, batch_size=32, seed=0, progress=False,
    )  # fmt: skip
    accuracy = nn.evaluate(model, (x_test, y_test)).accuracy
    assert accuracy > ROW_MNIST_MIN_ACCURACY, f"accuracy {accuracy:.3f} (chance: 0.1)"


def test_char_lstm_loss_falls_on_a_slice_of_tiny_shakespeare():
    train_ids, _, vocab = data.tiny_shakespeare()
    x, y = data.sequence_windows(train_ids[:20_000], seq_len=32)
    nn.seed(0)
    model = nn.models.char_language_model(len(vocab), embedding=16, hidden=64)
    loss_fn, opt = nn.CrossEntropyLoss(), nn.optim.Adam(model, lr=1e-2)
    losses, loader = [], data.DataLoader(x, y, batch_size=32, shuffle=True, seed=0)
    for _epoch in range(2):
        for xb, yb in loader:
            losses.append(loss_fn(model.forward(xb), yb))
            model.backward(loss_fn.backward())
            nn.clip_grad_norm(model, 5.0)
            opt.step()
    # starts near ln 65 = 4.17 (uniform guessing); the characters' frequencies alone give ~3.3
    assert losses[0] > 3.9
    final = np.mean(losses[-10:])
    assert final < CHAR_LM_MAX_LOSS, f"mean loss of the last 10 steps {final:.3f}"
